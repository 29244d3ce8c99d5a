//! Agents removed while the scheduler was down: the master reports a removal only to a scheduler
//! subscribed when it happens, so after a restart the node's ready steps would wait for offers
//! forever. A node that waits for an offer for `--agent-lost-timeout` (counted from the later of
//! its readiness, the subscription and its last offer or update) with none coming is marked lost
//! by the scheduler itself, through the same path as a removal the master reports. Table-driven
//! over where the deployment stood when the agent vanished; then the cases the rule must never
//! fire on: nodes held back behind a barrier or by the long filters of declined offers, an agent
//! whose offers are too small, and a paused plan.
//!
//! The agents offer here as a Mesos allocator lets them (the plain `Sim` offers every agent every
//! round): not while a filter this scheduler set on a declined or accepted offer holds them back,
//! not while an offer of theirs is outstanding, and every filter is lifted by REVIVE.

use std::collections::{HashMap, HashSet};

use mesos::v1::TaskState;
use scaleio::topology::Mode;
use scheduler::core::state::Command;
use scheduler::core::{Decision, Input, Persisted, Settings, State, StepStatus, Time};
use scheduler::snapshot::{LoopFacts, view};
use scheduler::view::{HealthStatus, NodeStatus};

use crate::core_support::{
    Agent, Sim, five_agents, node_steps, offer, preconfigured, settings, status, three_small,
};

/// The master's side of offers: which agent may offer when.
#[derive(Debug, Default)]
struct Allocator {
    /// Offer id → hostname, for the filter an answer sets.
    offered: HashMap<String, String>,
    /// Hostname → until when a filter of ours holds its offers back.
    filters: HashMap<String, Time>,
    next: u32,
    /// Hostname → when it last offered.
    last_offer: HashMap<String, Time>,
    /// Hostname → the longest time in seconds between two of its offers.
    longest_quiet: HashMap<String, u64>,
}

impl Allocator {
    /// The offers the allocator makes now, applied; then decide, and the filters its answers set.
    fn offer_and_decide(&mut self, sim: &mut Sim) {
        let now = sim.now;
        let held: HashSet<String> = sim.state.offers().iter().map(|o| o.hostname.clone()).collect();
        let mut offers = Vec::new();
        for a in &sim.agents {
            if held.contains(&a.host) || self.filters.get(&a.host).is_some_and(|t| *t > now) {
                continue;
            }
            self.next += 1;
            let id = format!("A{}", self.next);
            self.offered.insert(id.clone(), a.host.clone());
            offers.push(offer(&id, a));
            if let Some(last) = self.last_offer.insert(a.host.clone(), now) {
                let quiet = self.longest_quiet.entry(a.host.clone()).or_default();
                *quiet = (*quiet).max(now.secs_since(last));
            }
        }
        if !offers.is_empty() {
            sim.apply(Input::Offers(offers));
        }
        for d in sim.decide() {
            match d {
                Decision::Launch { offer_id, refuse_seconds, .. } => {
                    self.filter(&offer_id.value, refuse_seconds, now)
                }
                Decision::Decline { offer_ids, refuse_seconds, .. } => {
                    for id in offer_ids {
                        self.filter(&id.value, refuse_seconds, now);
                    }
                }
                Decision::Revive => self.filters.clear(),
                _ => {}
            }
        }
    }

    fn filter(&mut self, offer: &str, secs: f64, now: Time) {
        if let Some(host) = self.offered.remove(offer) {
            self.filters.insert(host, Time(now.0 + (secs * 1000.0) as u64));
        }
    }

    /// One second of the cluster: offers, decisions, the executors' answers, a tick.
    fn round(&mut self, sim: &mut Sim) {
        self.offer_and_decide(sim);
        sim.finish_all();
        sim.now = sim.now.plus_secs(1);
        sim.apply(Input::Tick);
    }
}

fn lost_nodes(sim: &Sim) -> Vec<String> {
    sim.state.durable().nodes.values().filter(|n| n.lost).map(|n| n.hostname.clone()).collect()
}

/// Whether `host` waits for an offer: a ready step that its next offer would launch.
fn waiting(sim: &Sim, host: &str) -> bool {
    sim.state
        .next_step(host, sim.now)
        .is_some_and(|pos| sim.state.plan().at(pos).status == StepStatus::Prepared)
}

fn facts() -> LoopFacts {
    LoopFacts { subscribed: true, master: Some("http://m:5050/".into()), ..LoopFacts::default() }
}

const TIMEOUT: u64 = 60;

struct Case {
    name: &'static str,
    mode: fn() -> Mode,
    agents: fn() -> Vec<Agent>,
    /// The scheduler is killed once this step was launched, before its task finished.
    down_after: &'static str,
    /// The agent the master removes while the scheduler is down.
    removed: &'static str,
    /// Whether the other nodes can finish without it (not when `mdm-cluster` needs it).
    others_finish: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "a data node whose step was running",
        mode: || Mode::Full,
        agents: five_agents,
        down_after: "sds.agent-5",
        removed: "agent-5",
        others_finish: true,
    },
    Case {
        name: "a data node waiting behind the cluster phase",
        mode: || Mode::Full,
        agents: five_agents,
        down_after: "mdm-cluster.packages.agent-2",
        removed: "agent-4",
        others_finish: true,
    },
    Case {
        name: "a node of a pre-configured cluster during preflight",
        mode: preconfigured,
        agents: three_small,
        down_after: "preflight.agent-3",
        removed: "agent-3",
        others_finish: true,
    },
    Case {
        name: "the secondary MDM during the cluster phase",
        mode: || Mode::Full,
        agents: five_agents,
        down_after: "mdm-cluster.packages.agent-2",
        removed: "agent-2",
        others_finish: false,
    },
];

#[test]
fn an_agent_removed_while_the_scheduler_was_down_is_marked_lost_after_the_timeout() {
    for case in CASES {
        let name = case.name;
        let host = case.removed;
        let settings = Settings { agent_lost_timeout_secs: TIMEOUT, ..settings((case.mode)()) };
        let mut sim = Sim::new(settings.clone(), (case.agents)());
        let mut alloc = Allocator::default();
        for _ in 0..300 {
            alloc.offer_and_decide(&mut sim);
            if sim.launches.iter().any(|l| l.step == case.down_after) {
                break;
            }
            sim.finish_all();
            sim.now = sim.now.plus_secs(1);
            sim.apply(Input::Tick);
        }
        assert!(sim.launches.iter().any(|l| l.step == case.down_after), "{name}: launched");
        let complete_before: Vec<String> = node_steps(&sim.state, host)
            .filter(|s| s.status == StepStatus::Complete)
            .map(|s| s.id.clone())
            .collect();

        // The scheduler is killed; while it is down the master removes the agent (the host
        // died with its executor and task) and tells nobody; the rest runs on.
        let saved = sim.state.persisted_json();
        let i = sim.agents.iter().position(|a| a.host == host).expect("agent");
        let mut agent = sim.agents.remove(i);
        let gone: Vec<_> = sim.running.iter().filter(|l| l.host == host).cloned().collect();
        sim.running.retain(|l| l.host != host);
        sim.now = sim.now.plus_secs(3 * TIMEOUT);

        // A new scheduler resumes from the store. Reconciliation answers for the removed
        // agent's task: the master does not know it (no uuid: the master's own update).
        let restored = Persisted::from_json(&saved).expect("the store's document");
        sim.state = State::restore(settings.clone(), restored);
        sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
        let subscribed_at = sim.now;
        for l in &gone {
            let mut lost = status(&l.task, &l.agent, TaskState::Lost, None, None);
            lost.message = Some("Reconciliation: Task is unknown".into());
            sim.apply(Input::Update(lost));
        }
        let launches_before = sim.launches.len();

        let mut waiting_since: Option<Time> = None;
        let mut marked_at = None;
        for _ in 0..(TIMEOUT as usize * 3) {
            alloc.round(&mut sim);
            if waiting_since.is_none() && waiting(&sim, host) {
                waiting_since = Some(sim.now);
            }
            let lost = lost_nodes(&sim);
            if lost.is_empty() {
                continue;
            }
            assert_eq!(lost, vec![host.to_owned()], "{name}: only the removed node is lost");
            marked_at = Some(sim.now);
            break;
        }
        let marked_at = marked_at.unwrap_or_else(|| panic!("{name}: {host} is never marked lost"));
        let waiting_since = waiting_since.expect("the node waited for an offer");
        // Its task's retry backoff (10 s), or the cluster phase, came first: the count starts
        // when the node waits for an offer, not at the subscription.
        assert!(waiting_since.secs_since(subscribed_at) >= 10, "{name}");
        let counted = marked_at.secs_since(waiting_since);
        assert!(
            (TIMEOUT..=TIMEOUT + 1).contains(&counted),
            "{name}: marked {counted} s after its step was ready (--agent-lost-timeout {TIMEOUT} s)"
        );

        // The others finish what they can without it.
        for _ in 0..300 {
            alloc.round(&mut sim);
        }
        for s in node_steps(&sim.state, host) {
            if complete_before.contains(&s.id) {
                assert_eq!(s.status, StepStatus::Complete, "{name}: {} stays complete", s.id);
                continue;
            }
            assert_eq!(s.status, StepStatus::Error, "{name}: {} is given up on", s.id);
            assert!(s.lost_node, "{name}: {} is marked as held by a lost node", s.id);
            let message = s.message.as_deref().unwrap_or("");
            for part in [
                format!("the agent on {host} ({}) has made no offer for ", agent.agent_id),
                "--agent-lost-timeout 60 s".to_owned(),
                "runs again by itself when the agent offers again".to_owned(),
            ] {
                assert!(message.contains(&part), "{name}: {}: `{part}` in {message}", s.id);
            }
        }
        let others_done = sim
            .state
            .plan()
            .steps()
            .filter(|s| &*s.node != host)
            .all(|s| s.status == StepStatus::Complete);
        assert_eq!(others_done, case.others_finish, "{name}: the other nodes finish");
        assert!(
            sim.launches[launches_before..].iter().all(|l| l.host != host),
            "{name}: nothing is launched on the removed node"
        );
        let v = view(&sim.state, &facts());
        let health = v.health();
        assert_eq!(health.status, HealthStatus::Unhealthy, "{name}");
        let named = format!("on {host} ({}) has made no offer", agent.agent_id);
        assert!(health.reasons.iter().any(|r| r.contains(&named)), "{name}: {health:?}");
        let node = v.nodes.iter().find(|n| n.hostname == host).expect("node");
        assert_eq!(node.status, NodeStatus::Lost, "{name}");

        // The mark is in the store: a restart keeps it.
        let saved = Persisted::from_json(&sim.state.persisted_json()).expect("round trip");
        sim.state = State::restore(settings.clone(), saved);
        sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
        assert_eq!(lost_nodes(&sim), vec![host.to_owned()], "{name}: still lost after a restart");

        // The agent comes back (its host rebooted: no executor) and offers: its steps run again
        // by themselves and the deployment completes.
        agent.executor_running = false;
        agent.held = (0.0, 0.0);
        sim.agents.push(agent);
        alloc.offer_and_decide(&mut sim);
        assert!(lost_nodes(&sim).is_empty(), "{name}: back");
        for s in node_steps(&sim.state, host).filter(|s| !complete_before.contains(&s.id)) {
            assert!(!s.lost_node, "{name}: {} no longer held", s.id);
            assert!(
                !matches!(s.status, StepStatus::Error | StepStatus::Complete),
                "{name}: {} runs again, found {:?}",
                s.id,
                s.status
            );
        }
        let relaunch_from = sim.launches.len();
        for _ in 0..400 {
            if sim.state.plan().is_complete() {
                break;
            }
            alloc.round(&mut sim);
        }
        let open: Vec<String> = sim
            .state
            .plan()
            .steps()
            .filter(|s| s.status != StepStatus::Complete)
            .map(|s| format!("{} {:?} {:?}", s.id, s.status, s.message))
            .collect();
        assert!(open.is_empty(), "{name}: completes once the agent is back: {open:#?}");
        for l in &sim.launches[relaunch_from..] {
            assert!(!complete_before.contains(&l.step), "{name}: {} ran again", l.step);
        }
        assert_eq!(view(&sim.state, &facts()).health().status, HealthStatus::Healthy, "{name}");
    }
}

#[test]
fn healthy_agents_held_back_by_barriers_and_filters_are_never_marked_lost() {
    struct Healthy {
        mode: fn() -> Mode,
        agents: fn() -> Vec<Agent>,
        new_id_on_reboot: bool,
        /// A step whose task runs long.
        slow: &'static str,
    }
    let cases = [
        Healthy {
            mode: || Mode::Full,
            agents: five_agents,
            new_id_on_reboot: false,
            slow: "mdm-cluster.create-cluster.agent-1",
        },
        Healthy {
            mode: || Mode::Full,
            agents: five_agents,
            new_id_on_reboot: true,
            slow: "mdm-cluster.create-cluster.agent-1",
        },
        Healthy {
            mode: preconfigured,
            agents: three_small,
            new_id_on_reboot: false,
            slow: "mdm-cluster.protection-domain.agent-1",
        },
    ];
    // Shorter than the filters of declined offers (120 s), than the cluster phase's wait, and
    // than the 5 s filter on the offers of a host that is about to reboot.
    let timeout = 3;
    for (n, case) in cases.iter().enumerate() {
        let settings = Settings { agent_lost_timeout_secs: timeout, ..settings((case.mode)()) };
        let mut sim = Sim::new(settings.clone(), (case.agents)());
        sim.new_agent_id_on_reboot = case.new_id_on_reboot;
        let mut alloc = Allocator::default();
        // One cluster step runs long (150 s): meanwhile every other node waits behind the
        // cluster phase's barrier, its offers declined with long filters and no REVIVE.
        let mut slow_for = 150;
        // A host takes 3 s to go down after its reboot step reported: its offers still show
        // the executor, and are declined with a short filter.
        let mut going_down: HashMap<String, u32> = HashMap::new();
        for round in 0..800 {
            if sim.state.plan().is_complete() {
                break;
            }
            alloc.offer_and_decide(&mut sim);
            let slow = sim.running.iter().position(|l| l.step == case.slow);
            match slow {
                Some(i) if slow_for > 0 => {
                    let l = sim.running.remove(i);
                    if slow_for == 150 {
                        let running =
                            status(&l.task, &l.agent, TaskState::Running, None, Some(200));
                        sim.apply(Input::Update(running));
                    }
                    sim.finish_all();
                    sim.running.push(l);
                    slow_for -= 1;
                }
                _ => sim.finish_all(),
            }
            for agent in &mut sim.agents {
                let rebooting = node_steps(&sim.state, &agent.host)
                    .any(|s| s.reboot_from.is_some() && s.status == StepStatus::Prepared);
                if rebooting && !going_down.contains_key(&agent.host) {
                    going_down.insert(agent.host.clone(), 3);
                }
                match going_down.get_mut(&agent.host) {
                    Some(0) | None => {}
                    Some(left) => {
                        *left -= 1;
                        agent.executor_running = *left > 0;
                    }
                }
            }
            // More allocations before the tick, as a master allocating more often than the loop
            // ticks makes them: a REVIVE, the offers it brings and their answers can all come
            // before the tick sees a node waiting.
            for _ in 0..2 {
                alloc.offer_and_decide(&mut sim);
            }
            sim.now = sim.now.plus_secs(1);
            sim.apply(Input::Tick);
            assert!(lost_nodes(&sim).is_empty(), "case {n}, round {round}: {:?}", lost_nodes(&sim));
            if round == 40 {
                // And across a restart: the count starts again at SUBSCRIBED.
                let saved = Persisted::from_json(&sim.state.persisted_json()).expect("json");
                sim.state = State::restore(settings.clone(), saved);
                sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
            }
        }
        assert_eq!(slow_for, 0, "case {n}: {} ran long", case.slow);
        assert!(sim.state.plan().is_complete(), "case {n}: the deployment completes");
        assert_eq!(going_down.len(), sim.agents.len(), "case {n}: every host rebooted slowly");
        assert!(sim.state.plan().steps().all(|s| !s.lost_node), "case {n}");
        // The test has teeth: agents went far longer than the timeout without offering.
        let longest = alloc.longest_quiet.values().max().copied().unwrap_or(0);
        assert!(longest >= 100, "case {n}: longest quiet {longest} s");
    }
}

#[test]
fn an_agent_whose_offers_are_too_small_is_not_marked_lost() {
    let settings = Settings { agent_lost_timeout_secs: 10, ..settings(preconfigured()) };
    // The data-node executor needs 0.5 CPUs and 512 MB: agent-2's offers are declined with a
    // 30 s filter, three times the timeout.
    let agents = vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 0.3, 300.0)];
    let mut sim = Sim::new(settings, agents);
    let mut alloc = Allocator::default();
    for round in 0..200 {
        alloc.round(&mut sim);
        assert!(lost_nodes(&sim).is_empty(), "round {round}");
    }
    assert!(alloc.longest_quiet["agent-2"] >= 30, "{:?}", alloc.longest_quiet);
    assert!(sim.state.problems().iter().any(|p| p.contains("agent-2 offers 0.3 CPUs")));
    // agent-1 got as far as the barrier before the reboot phase, which waits for agent-2.
    assert!(
        node_steps(&sim.state, "agent-1")
            .filter(|s| !s.id.starts_with("reboot.") && !s.id.starts_with("verify."))
            .all(|s| s.status == StepStatus::Complete)
    );
}

#[test]
fn a_paused_plan_does_not_count_and_the_count_starts_again_at_resume() {
    let timeout = 30;
    let settings = Settings { agent_lost_timeout_secs: timeout, ..settings(preconfigured()) };
    let mut sim = Sim::new(settings, three_small());
    let mut alloc = Allocator::default();
    for _ in 0..20 {
        alloc.round(&mut sim);
        let preflight_done = node_steps(&sim.state, "agent-3")
            .any(|s| s.id == "preflight.agent-3" && s.status == StepStatus::Complete);
        if preflight_done && waiting(&sim, "agent-3") {
            break;
        }
    }
    assert!(waiting(&sim, "agent-3"), "agent-3 waits for an offer");
    // The agent vanishes without the master saying so, and an operator pauses the plan.
    sim.agents.retain(|a| a.host != "agent-3");
    let reply = sim.apply(Input::ApiCommand(Command::Pause));
    assert!(reply.expect("reply").is_ok());
    for round in 0..(3 * timeout) {
        alloc.round(&mut sim);
        assert!(lost_nodes(&sim).is_empty(), "round {round}: paused, nothing counts");
    }
    // agent-1 and agent-2's offers were declined with long filters while paused.
    assert!(!alloc.filters.is_empty());
    let reply = sim.apply(Input::ApiCommand(Command::Resume));
    assert!(reply.expect("reply").is_ok());
    let resumed = sim.now;
    let mut marked = None;
    for _ in 0..(2 * timeout) {
        alloc.round(&mut sim);
        let lost = lost_nodes(&sim);
        if !lost.is_empty() {
            assert_eq!(lost, vec!["agent-3".to_owned()]);
            marked = Some(sim.now);
            break;
        }
    }
    let marked = marked.expect("agent-3 is marked lost after the resume");
    let counted = marked.secs_since(resumed);
    assert!((timeout..=timeout + 2).contains(&counted), "marked {counted} s after the resume");
}

//! The plan's index (steps by id, task and node; barrier sets; retry times; the nodes marked for
//! a readiness check) answers exactly as a scan of the plan does, through restores, new agents,
//! agent id changes, retries, operator retries and plan growth, and under random event orders
//! and duplicates.

use mesos::v1::{OfferID, TaskState};
use proptest::prelude::*;
use scaleio::topology::Mode;
use scheduler::core::plan::{StepPos, Strategy as Order};
use scheduler::core::state::Command;
use scheduler::core::{Input, Persisted, State, StepStatus, Time};

use crate::core_support::{Agent, Sim, five_agents, preconfigured, settings, status};

/// The step a node runs next, by a scan of the plan (what `State::next_step` answered before the
/// index).
fn next_step_by_scan(state: &State, host: &str, now: Time) -> Option<StepPos> {
    let plan = state.plan();
    if plan.steps().any(|s| &*s.node == host && s.status.in_flight()) {
        return None;
    }
    plan.positions().into_iter().find(|&pos| {
        let s = plan.at(pos);
        let due = match s.status {
            StepStatus::Prepared | StepStatus::Pending => true,
            StepStatus::Failed { next_attempt_at } => next_attempt_at <= now,
            _ => false,
        };
        let phase = &plan.phases()[pos.0];
        let serial_busy = phase.name.strategy() == Order::Serial
            && phase.steps.iter().any(|s| s.status.in_flight());
        &*s.node == host && due && plan.deps_complete(pos) && !serial_busy
    })
}

/// Every indexed answer equals the scan's, and the last input (at `now`) left no step pending
/// with its barriers met and no retry due.
fn check(state: &State, now: Time) {
    let plan = state.plan();
    let positions = plan.positions();
    assert_eq!(plan.len(), positions.len());
    assert_eq!(plan.is_empty(), positions.is_empty());
    for &pos in &positions {
        let s = plan.at(pos);
        let by_id = positions.iter().copied().find(|&p| plan.at(p).id == s.id);
        assert_eq!(plan.find(&s.id), by_id, "find({})", s.id);
        if let Some(task) = &s.task_id {
            let by_task =
                positions.iter().copied().find(|&p| plan.at(p).task_id.as_ref() == Some(task));
            assert_eq!(plan.find_task(task), by_task, "find_task({task})");
        }
        assert_eq!(plan.ready(pos), plan.deps_complete(pos), "ready({})", s.id);
        assert!(
            !(s.status == StepStatus::Pending && plan.deps_complete(pos)),
            "{} is still pending with its barriers met",
            s.id
        );
        if let StepStatus::Failed { next_attempt_at } = s.status {
            assert!(next_attempt_at > now, "{}: its retry is due but it was not prepared", s.id);
        }
    }
    assert_eq!(plan.find("no-such.step"), None);
    assert_eq!(plan.find_task("scaleio.no-such.step.1"), None);
    let mut hosts: Vec<&str> = plan.steps().map(|s| s.node.as_ref()).collect();
    hosts.extend(state.durable().nodes.keys().map(String::as_str));
    hosts.push("no-such-host");
    hosts.sort_unstable();
    hosts.dedup();
    for host in hosts {
        let scan: Vec<StepPos> =
            positions.iter().copied().filter(|&p| &*plan.at(p).node == host).collect();
        assert_eq!(plan.node_positions(host), scan.as_slice(), "node_positions({host})");
        assert_eq!(plan.has_node(host), !scan.is_empty(), "has_node({host})");
        assert_eq!(state.next_step(host, now), next_step_by_scan(state, host, now), "{host}");
    }
    let statuses: Vec<StepStatus> = plan.steps().map(|s| s.status).collect();
    let complete = statuses.iter().filter(|s| **s == StepStatus::Complete).count();
    let error = statuses.iter().filter(|s| **s == StepStatus::Error).count();
    assert_eq!(plan.is_complete(), !statuses.is_empty() && complete == statuses.len());
    assert_eq!(plan.is_settled(), !statuses.is_empty() && complete + error == statuses.len());
    let starting: Vec<StepPos> =
        positions.iter().copied().filter(|&p| plan.at(p).status == StepStatus::Starting).collect();
    assert_eq!(plan.starting().collect::<Vec<_>>(), starting);
    for (pi, phase) in plan.phases().iter().enumerate() {
        let busy = phase.name.strategy() == Order::Serial
            && phase.steps.iter().any(|s| s.status.in_flight());
        assert_eq!(plan.serial_busy(pi), busy, "serial_busy({:?})", phase.name);
    }
}

/// One allocation round with a check after every input.
fn round(sim: &mut Sim) {
    sim.offer_all();
    check(&sim.state, sim.now);
    sim.decide();
    check(&sim.state, sim.now);
    for input in sim.answers() {
        sim.apply(input);
        check(&sim.state, sim.now);
    }
    sim.now = sim.now.plus_secs(1);
    sim.apply(Input::Tick);
    check(&sim.state, sim.now);
}

fn run_checked(sim: &mut Sim, rounds: usize) -> bool {
    for _ in 0..rounds {
        if sim.state.plan().is_complete() {
            break;
        }
        round(sim);
    }
    sim.state.plan().is_complete()
}

/// The same state, written to the store and read back.
fn restored(state: &State) -> State {
    let bytes = state.persisted_json();
    assert_eq!(bytes, state.persisted().to_json(), "both ways of writing the store agree");
    let persisted = Persisted::from_json(&bytes).expect("the store reads back");
    let back = State::restore(state.settings().clone(), persisted);
    assert_eq!(back.plan(), state.plan());
    back
}

/// Each node's hostname and agent id exist once, shared by its steps (a copy per step was ~7 MiB
/// at 10,000 agents), in a running plan and in one read back from the store; a new agent id is
/// a new shared copy, and steps that went to the old agent keep theirs.
#[test]
fn steps_share_their_nodes_hostname_and_agent_id() {
    use std::sync::Arc;
    fn check_shared(state: &State) -> usize {
        let plan = state.plan();
        let mut checked = 0;
        for a in plan.steps() {
            for b in plan.steps().filter(|b| b.node == a.node) {
                assert!(Arc::ptr_eq(&a.node, &b.node), "{} and {}", a.id, b.id);
                if let (Some(x), Some(y)) = (&a.agent_id, &b.agent_id)
                    && x == y
                {
                    assert!(Arc::ptr_eq(x, y), "{} and {}: {x}", a.id, b.id);
                    checked += 1;
                }
            }
        }
        checked
    }
    let mut sim = Sim::new(settings(Mode::Full), five_agents());
    run_checked(&mut sim, 8);
    let before = check_shared(&sim.state);
    assert!(before > 0, "steps have launched");
    let host = sim.agents[4].host.clone();
    sim.agents[4].agent_id = format!("{}-restarted", sim.agents[4].agent_id);
    assert!(run_checked(&mut sim, 60), "the deployment completes");
    let agents: std::collections::BTreeSet<&str> = sim
        .state
        .plan()
        .steps()
        .filter(|s| *s.node == *host)
        .filter_map(|s| s.agent_id.as_deref())
        .collect();
    assert_eq!(agents.len(), 2, "steps went to both incarnations: {agents:?}");
    check_shared(&sim.state);
    check_shared(&restored(&sim.state));
}

#[test]
fn the_index_is_rebuilt_when_the_plan_is_read_from_the_store() {
    let mut sim = Sim::new(settings(Mode::Full), five_agents());
    run_checked(&mut sim, 6);
    // Mid-deployment, with launches in flight.
    sim.offer_all();
    sim.decide();
    assert!(!sim.running.is_empty());
    let running = sim.running.clone();
    let state = restored(&sim.state);
    let mut sim = Sim::resume(state, five_agents());
    check(&sim.state, sim.now);
    // The executors still answer the launches made before the restart.
    sim.running = running;
    assert!(run_checked(&mut sim, 60), "the resumed deployment completes");
}

#[test]
fn agents_that_join_mid_deployment_are_indexed_and_reboot_before_the_schedulers_host() {
    let mut sim = Sim::new(settings(Mode::Full), five_agents());
    run_checked(&mut sim, 4);
    sim.agents.push(Agent::new(6, 2.0, 4096.0));
    run_checked(&mut sim, 3);
    sim.agents.push(Agent::new(7, 2.0, 4096.0));
    assert!(run_checked(&mut sim, 80), "the grown plan completes");
    let reboot = sim
        .state
        .plan()
        .phases()
        .iter()
        .find(|p| p.steps.iter().any(|s| s.id.starts_with("reboot.")));
    let order: Vec<&str> =
        reboot.expect("reboot phase").steps.iter().map(|s| s.node.as_ref()).collect();
    assert_eq!(order.last(), Some(&"agent-1"), "the scheduler's host reboots last: {order:?}");
    assert!(order.contains(&"agent-7"));
}

#[test]
fn a_new_agent_id_and_retries_keep_the_index_right() {
    let mut sim = Sim::new(
        settings(preconfigured()),
        vec![Agent::new(1, 4.0, 8192.0), Agent::new(2, 4.0, 8192.0)],
    );
    sim.offer_all();
    sim.decide();
    check(&sim.state, sim.now);
    // A retryable failure, then its retry after the backoff.
    sim.fail("preflight.agent-1", true);
    check(&sim.state, sim.now);
    sim.now = sim.now.plus_secs(10);
    sim.apply(Input::Tick);
    check(&sim.state, sim.now);
    assert_eq!(
        sim.state.plan().at(sim.state.plan().find("preflight.agent-1").expect("step")).status,
        StepStatus::Prepared
    );
    // agent-2's agent restarts under a new id while its task runs: the step fails and retries.
    sim.running.retain(|l| l.host != "agent-2");
    sim.agents[1].agent_id = "S2-new".into();
    sim.agents[1].executor_running = false;
    sim.agents[1].held = (0.0, 0.0);
    round(&mut sim);
    // A failure retrying cannot fix, then an operator's retry.
    run_checked(&mut sim, 2);
    sim.offer_all();
    sim.decide();
    let step =
        sim.running.iter().find(|l| l.host == "agent-1").expect("a running step").step.clone();
    sim.fail(&step, false);
    check(&sim.state, sim.now);
    let pos = sim.state.plan().find(&step).expect("step");
    assert_eq!(sim.state.plan().at(pos).status, StepStatus::Error);
    let reply = sim.apply(Input::ApiCommand(Command::Retry(step.clone())));
    assert!(matches!(reply, Some(Ok(_))), "{reply:?}");
    check(&sim.state, sim.now);
    assert!(run_checked(&mut sim, 60), "the deployment completes after the operator's retry");
}

#[test]
fn only_launches_and_acknowledgements_make_calls_wait_for_a_save() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 4.0, 8192.0)]);
    assert!(!sim.state.calls_wait_for_save());
    sim.offer_all();
    let decisions = scheduler::core::decide(&sim.state, sim.now);
    sim.state.commit(sim.now, &decisions);
    assert!(sim.state.is_dirty());
    assert!(sim.state.calls_wait_for_save(), "a launch waits for its save");
    sim.state.mark_saved();
    sim.record(&decisions);
    assert!(!sim.state.calls_wait_for_save());
    // An update changes the plan, but only its acknowledgement waits for a save.
    let answers = sim.answers();
    sim.apply(answers[0].clone());
    assert!(sim.state.is_dirty());
    assert!(!sim.state.calls_wait_for_save());
    let decisions = scheduler::core::decide(&sim.state, sim.now);
    assert!(decisions.iter().any(|d| matches!(d, scheduler::core::Decision::Acknowledge(_))));
    sim.state.commit(sim.now, &decisions);
    assert!(sim.state.calls_wait_for_save(), "an acknowledgement waits for its save");
    sim.state.mark_saved();
    // Time passing changes nothing that needs a save before a call.
    sim.now = sim.now.plus_secs(5);
    sim.apply(Input::Tick);
    let decisions = scheduler::core::decide(&sim.state, sim.now);
    sim.state.commit(sim.now, &decisions);
    assert!(!sim.state.calls_wait_for_save());
}

/// One thing that can happen to the scheduler, for the property test.
#[derive(Debug, Clone)]
enum Op {
    /// Every agent offers.
    OfferAll,
    /// Some agents offer.
    OfferSome(Vec<prop::sample::Index>),
    /// decide + commit.
    Decide,
    /// The executors answer: in this order (by sort key), with these updates sent twice.
    Answer { keys: Vec<u8>, twice: Vec<prop::sample::Index> },
    /// A running task fails.
    Fail(prop::sample::Index, bool),
    /// Time passes.
    Wait(u64),
    /// A new agent joins.
    Join,
    /// An agent re-registers under a new id (its running task is gone).
    NewAgentId(prop::sample::Index),
    /// The operator retries every failed or errored step.
    OperatorRetry,
    /// The master rescinds a held offer.
    Rescind(prop::sample::Index),
    /// The master removes an agent.
    Lost(prop::sample::Index),
    /// The subscription ends and comes back.
    Resubscribe,
    /// The scheduler restarts from the store.
    Restart,
    /// A stale update for a task that is not in flight.
    Stale(prop::sample::Index),
}

fn op() -> impl Strategy<Value = Op> {
    use proptest::collection::vec;
    prop_oneof![
        4 => Just(Op::OfferAll),
        2 => vec(any::<prop::sample::Index>(), 1..4).prop_map(Op::OfferSome),
        5 => Just(Op::Decide),
        4 => (vec(any::<u8>(), 0..32), vec(any::<prop::sample::Index>(), 0..3))
            .prop_map(|(keys, twice)| Op::Answer { keys, twice }),
        2 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, r)| Op::Fail(i, r)),
        2 => (1u64..40).prop_map(Op::Wait),
        1 => Just(Op::Join),
        1 => any::<prop::sample::Index>().prop_map(Op::NewAgentId),
        1 => Just(Op::OperatorRetry),
        1 => any::<prop::sample::Index>().prop_map(Op::Rescind),
        1 => any::<prop::sample::Index>().prop_map(Op::Lost),
        1 => Just(Op::Resubscribe),
        1 => Just(Op::Restart),
        1 => any::<prop::sample::Index>().prop_map(Op::Stale),
    ]
}

fn play(sim: &mut Sim, op: &Op, joined: &mut u32) {
    match op {
        Op::OfferAll => sim.offer_all(),
        Op::OfferSome(picks) => {
            let all = sim.offers();
            let offers = picks.iter().map(|i| all[i.index(all.len())].clone()).collect();
            sim.apply(Input::Offers(offers));
        }
        Op::Decide => {
            sim.decide();
        }
        Op::Answer { keys, twice } => {
            let answers = sim.answers();
            let mut order: Vec<(u8, usize)> =
                (0..answers.len()).map(|i| (keys.get(i).copied().unwrap_or(0), i)).collect();
            order.sort_unstable();
            for (_, i) in order {
                sim.apply(answers[i].clone());
                check(&sim.state, sim.now);
            }
            for pick in twice {
                if !answers.is_empty() {
                    sim.apply(answers[pick.index(answers.len())].clone());
                }
            }
        }
        Op::Fail(pick, retryable) => {
            if !sim.running.is_empty() {
                let step = sim.running[pick.index(sim.running.len())].step.clone();
                sim.fail(&step, *retryable);
            }
        }
        Op::Wait(secs) => {
            sim.now = sim.now.plus_secs(*secs);
            sim.apply(Input::Tick);
        }
        Op::Join => {
            *joined += 1;
            sim.agents.push(Agent::new(10 + *joined, 2.0, 4096.0));
        }
        Op::NewAgentId(pick) => {
            let i = pick.index(sim.agents.len());
            let host = sim.agents[i].host.clone();
            sim.running.retain(|l| l.host != host);
            let agent = &mut sim.agents[i];
            let old = agent.agent_id.clone();
            agent.agent_id = format!("{old}-n");
            agent.executor_running = false;
            agent.held = (0.0, 0.0);
            // As the master does: the old incarnation's offers are rescinded.
            let stale: Vec<OfferID> = sim
                .state
                .offers()
                .iter()
                .filter(|o| o.agent_id.value == old)
                .map(|o| o.id.clone())
                .collect();
            for id in stale {
                sim.apply(Input::Rescind(id));
            }
        }
        Op::OperatorRetry => {
            let ids: Vec<String> = sim
                .state
                .plan()
                .steps()
                .filter(|s| matches!(s.status, StepStatus::Failed { .. } | StepStatus::Error))
                .map(|s| s.id.clone())
                .collect();
            for id in ids {
                let reply = sim.apply(Input::ApiCommand(Command::Retry(id)));
                assert!(matches!(reply, Some(Ok(_))), "{reply:?}");
                check(&sim.state, sim.now);
            }
        }
        Op::Rescind(pick) => {
            let offers = sim.state.offers();
            let id = if offers.is_empty() {
                OfferID::new("O-none")
            } else {
                offers[pick.index(offers.len())].id.clone()
            };
            sim.apply(Input::Rescind(id));
        }
        Op::Lost(pick) => {
            let agent = &sim.agents[pick.index(sim.agents.len())];
            sim.apply(Input::AgentLost(mesos::v1::AgentID::new(agent.agent_id.clone())));
        }
        Op::Resubscribe => {
            sim.apply(Input::Disconnected);
            check(&sim.state, sim.now);
            sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
        }
        Op::Restart => {
            sim.state = restored(&sim.state);
            sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
        }
        Op::Stale(pick) => {
            let finished: Vec<(String, String)> = sim
                .state
                .plan()
                .steps()
                .filter(|s| !s.status.in_flight())
                .filter_map(|s| Some((s.task_id.clone()?, s.agent_id.as_deref()?.to_owned())))
                .collect();
            if !finished.is_empty() {
                let (task, agent) = &finished[pick.index(finished.len())];
                sim.apply(Input::Update(status(task, agent, TaskState::Running, None, Some(7))));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random event orders, duplicates, failures, restarts and new agents: after every input the
    /// index answers as a scan of the plan, and no ready step is left unprepared.
    #[test]
    fn the_index_agrees_with_a_scan_of_the_plan_after_every_input(
        full in any::<bool>(),
        new_id_on_reboot in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..70),
    ) {
        let mode = if full { Mode::Full } else { preconfigured() };
        let mut sim = Sim::new(settings(mode), five_agents());
        sim.new_agent_id_on_reboot = new_id_on_reboot;
        let mut joined = 0;
        check(&sim.state, sim.now);
        for op in &ops {
            play(&mut sim, op, &mut joined);
            check(&sim.state, sim.now);
        }
        // Whatever happened, running rounds (with an operator's retry for what waits on one)
        // still agrees with the scan all the way.
        for _ in 0..3 {
            play(&mut sim, &Op::OperatorRetry, &mut joined);
            run_checked(&mut sim, 30);
            sim.now = sim.now.plus_secs(600);
            sim.apply(Input::Tick);
            check(&sim.state, sim.now);
        }
    }
}

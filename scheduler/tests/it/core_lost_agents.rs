//! Agents that never come back: after `--agent-lost-timeout` a removed agent's unfinished steps go
//! to error with a message naming it, the other nodes finish everything they can (the reboot
//! phase no longer waits for it), a lost MDM host keeps the cluster phase blocked, and an agent
//! that does come back has its steps run again by themselves. Table-driven over who is lost when.

use mesos::v1::{AgentID, TaskState};
use scaleio::topology::Mode;
use scheduler::core::state::Command;
use scheduler::core::{Input, Persisted, PhaseName, Settings, State, StepStatus};

use crate::core_support::{
    Agent, Sim, five_agents, node_steps, preconfigured, settings, status, three_small,
};

const TIMEOUT: u64 = 600;

/// The master removes `host`'s agent: its running tasks are reported TASK_LOST (master-made, no
/// uuid), then FAILURE with only the agent id. It makes no offer afterwards.
fn lose(sim: &mut Sim, host: &str) -> Agent {
    let i = sim.agents.iter().position(|a| a.host == host).expect("agent");
    let agent = sim.agents.remove(i);
    let lost: Vec<_> = sim.running.iter().filter(|l| l.host == host).cloned().collect();
    sim.running.retain(|l| l.host != host);
    for l in lost {
        sim.apply(Input::Update(status(&l.task, &l.agent, TaskState::Lost, None, None)));
    }
    sim.apply(Input::AgentLost(AgentID::new(agent.agent_id.clone())));
    agent
}

/// Runs rounds until the step `id` has been launched (or `rounds` run out).
fn run_until_launched(sim: &mut Sim, id: &str, rounds: usize) {
    for _ in 0..rounds {
        if sim.launches.iter().any(|l| l.step == id) {
            return;
        }
        sim.offer_all();
        sim.decide();
        if sim.launches.iter().any(|l| l.step == id) {
            return;
        }
        sim.finish_all();
        sim.now = sim.now.plus_secs(1);
        sim.apply(Input::Tick);
    }
    panic!("{id} was never launched");
}

/// Lets `secs` pass in one-second ticks with offers from the remaining agents.
fn run_for(sim: &mut Sim, secs: u64) {
    for _ in 0..secs {
        sim.offer_all();
        sim.decide();
        sim.finish_all();
        sim.now = sim.now.plus_secs(1);
        sim.apply(Input::Tick);
    }
}

struct Case {
    name: &'static str,
    mode: fn() -> Mode,
    agents: fn() -> Vec<Agent>,
    /// The agent is lost right after this step was launched.
    lost_during: &'static str,
    lost: &'static str,
    /// Whether the other nodes can finish (false: the lost node is needed by `mdm-cluster`).
    others_finish: bool,
}

fn full() -> Mode {
    Mode::Full
}

const CASES: &[Case] = &[
    Case {
        name: "a data node lost while adding its SDS",
        mode: full,
        agents: five_agents,
        lost_during: "sds.agent-5",
        lost: "agent-5",
        others_finish: true,
    },
    Case {
        name: "a data node lost in the reboot phase",
        mode: full,
        agents: five_agents,
        lost_during: "reboot.agent-4",
        lost: "agent-4",
        others_finish: true,
    },
    Case {
        name: "a node of a pre-configured cluster lost during preflight",
        mode: preconfigured,
        agents: three_small,
        lost_during: "preflight.agent-3",
        lost: "agent-3",
        others_finish: true,
    },
    Case {
        name: "the secondary MDM lost while installing its packages",
        mode: full,
        agents: five_agents,
        lost_during: "mdm-cluster.packages.agent-2",
        lost: "agent-2",
        others_finish: false,
    },
];

#[test]
fn a_lost_agent_errors_its_steps_after_the_timeout_and_the_others_finish_what_they_can() {
    for case in CASES {
        let name = case.name;
        let mut sim = Sim::new(settings((case.mode)()), (case.agents)());
        run_until_launched(&mut sim, case.lost_during, 200);
        let complete_before: Vec<String> = node_steps(&sim.state, case.lost)
            .filter(|s| s.status == StepStatus::Complete)
            .map(|s| s.id.clone())
            .collect();
        let launches_before = sim.launches.len();
        lose(&mut sim, case.lost);
        let node = &sim.state.durable().nodes[case.lost];
        assert!(node.lost, "{name}: the node is marked lost");

        // Before the timeout nothing of the lost node is given up on, and nobody reboots.
        run_for(&mut sim, TIMEOUT - 1);
        assert!(
            node_steps(&sim.state, case.lost).all(|s| s.status != StepStatus::Error),
            "{name}: no error before --agent-lost-timeout"
        );
        assert!(
            sim.state
                .plan()
                .steps()
                .filter(|s| s.id.starts_with("reboot."))
                .all(|s| s.attempts == 0)
                || case.lost_during.starts_with("reboot."),
            "{name}: the reboot phase waits for every node until the timeout"
        );

        run_for(&mut sim, 200);
        for s in node_steps(&sim.state, case.lost) {
            if complete_before.contains(&s.id) {
                assert_eq!(s.status, StepStatus::Complete, "{name}: {} stays complete", s.id);
                continue;
            }
            assert_eq!(s.status, StepStatus::Error, "{name}: {} is given up on", s.id);
            assert!(s.lost_node, "{name}: {} is marked as held by a lost node", s.id);
            let message = s.message.as_deref().unwrap_or("");
            let agent = (case.agents)().into_iter().find(|a| a.host == case.lost).expect("agent");
            assert!(
                message.starts_with(&format!(
                    "the agent on {} ({}) has been gone for {TIMEOUT} s",
                    case.lost, agent.agent_id
                )),
                "{name}: {} says which agent and how long: {message}",
                s.id
            );
        }
        let others_done = sim
            .state
            .plan()
            .steps()
            .filter(|s| &*s.node != case.lost)
            .all(|s| s.status == StepStatus::Complete);
        assert_eq!(others_done, case.others_finish, "{name}: the other nodes finish");
        if !case.others_finish {
            // The cluster cannot be built without its MDM: nothing after mdm-cluster ran.
            let after_cluster = sim
                .state
                .plan()
                .phases()
                .iter()
                .filter(|p| p.name > PhaseName::MdmCluster)
                .flat_map(|p| &p.steps)
                .filter(|s| s.attempts > 0)
                .count();
            assert_eq!(after_cluster, 0, "{name}: the plan stays blocked behind mdm-cluster");
        }
        assert!(!sim.state.plan().is_complete(), "{name}: the plan is not complete");
        // No step of the lost node was launched after it was lost.
        assert!(
            sim.launches[launches_before..].iter().all(|l| l.host != case.lost),
            "{name}: nothing is launched on a lost node"
        );
    }
}

#[test]
fn a_lost_agent_that_comes_back_has_its_steps_run_again_and_the_plan_completes() {
    for new_id in [false, true] {
        let mut sim = Sim::new(settings(Mode::Full), five_agents());
        run_until_launched(&mut sim, "sds.agent-5", 200);
        let mut agent = lose(&mut sim, "agent-5");
        run_for(&mut sim, TIMEOUT + 60);
        assert!(node_steps(&sim.state, "agent-5").any(|s| s.status == StepStatus::Error));
        let complete: Vec<String> = sim
            .state
            .plan()
            .steps()
            .filter(|s| s.status == StepStatus::Complete)
            .map(|s| s.id.clone())
            .collect();
        let launches_before = sim.launches.len();

        // The error survives a scheduler restart (it is in the store).
        let saved = Persisted::from_json(&sim.state.persisted().to_json()).expect("round trip");
        sim.state = State::restore(sim.state.settings().clone(), saved);
        sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
        assert!(node_steps(&sim.state, "agent-5").any(|s| s.lost_node));

        if new_id {
            agent.agent_id = "S5-again".into();
        }
        // Its executor died with the host.
        agent.executor_running = false;
        agent.held = (0.0, 0.0);
        sim.agents.push(agent);
        sim.offer_all();
        assert!(!sim.state.durable().nodes["agent-5"].lost);
        for s in node_steps(&sim.state, "agent-5").filter(|s| !complete.contains(&s.id)) {
            assert!(!s.lost_node, "{}: no longer held", s.id);
            assert!(
                matches!(s.status, StepStatus::Pending | StepStatus::Prepared),
                "{} runs again by itself, found {:?}",
                s.id,
                s.status
            );
        }
        let done = sim.run(400);
        let open: Vec<String> = sim
            .state
            .plan()
            .steps()
            .filter(|s| s.status != StepStatus::Complete)
            .map(|s| format!("{} {:?} {:?}", s.id, s.status, s.message))
            .collect();
        assert!(done, "new id {new_id}: the plan completes once the agent is back: {open:#?}");
        for l in &sim.launches[launches_before..] {
            assert!(!complete.contains(&l.step), "new id {new_id}: {} ran again", l.step);
        }
    }
}

#[test]
fn an_operator_retry_of_a_lost_nodes_step_waits_for_the_node_again() {
    let mut sim = Sim::new(settings(preconfigured()), three_small());
    run_until_launched(&mut sim, "preflight.agent-3", 50);
    lose(&mut sim, "agent-3");
    run_for(&mut sim, TIMEOUT + 30);
    let id = "preflight.agent-3";
    let reply = sim.apply(Input::ApiCommand(Command::Retry(id.into())));
    assert!(reply.expect("a reply").is_ok());
    // The node is still gone, so the next tick gives up on the step again, with the reason.
    sim.now = sim.now.plus_secs(1);
    sim.apply(Input::Tick);
    let s = sim.state.plan().steps().find(|s| s.id == id).expect("step");
    assert_eq!(s.status, StepStatus::Error);
    assert!(s.lost_node);
    assert!(s.message.as_deref().unwrap_or("").contains("agent-3"));
}

#[test]
fn the_timeout_is_a_setting() {
    let mut sim = Sim::new(
        Settings { agent_lost_timeout_secs: 5, ..settings(preconfigured()) },
        three_small(),
    );
    run_until_launched(&mut sim, "preflight.agent-2", 50);
    lose(&mut sim, "agent-2");
    run_for(&mut sim, 4);
    assert!(node_steps(&sim.state, "agent-2").all(|s| s.status != StepStatus::Error));
    run_for(&mut sim, 1);
    assert!(node_steps(&sim.state, "agent-2").all(|s| s.status == StepStatus::Error));
    let message = node_steps(&sim.state, "agent-2").next().and_then(|s| s.message.clone());
    assert!(message.unwrap_or_default().contains("has been gone for 5 s"));
}

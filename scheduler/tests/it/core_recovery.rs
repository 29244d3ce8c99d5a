//! Failures and recovery: bounded retries with backoff, operator retry, agent id changes, and a
//! scheduler restart from persisted state that does not redo complete steps.

use mesos::v1::TaskState;
use scheduler::core::state::{Command, Refusal};
use scheduler::core::{Decision, Input, Persisted, State, StepStatus};

use crate::core_support::{Agent, Sim, five_agents, preconfigured, settings, status};

fn step<'a>(sim: &'a Sim, id: &str) -> &'a scheduler::core::StepRecord {
    sim.state.plan().steps().find(|s| s.id == id).expect(id)
}

fn launch_count(sim: &Sim, id: &str) -> usize {
    sim.launches.iter().filter(|l| l.step == id).count()
}

#[test]
fn a_failed_step_retries_with_backoff_then_waits_for_an_operator() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    sim.fail("preflight.agent-1", true);
    let s = step(&sim, "preflight.agent-1");
    let first_failure = sim.now;
    assert_eq!(s.status, StepStatus::Failed { next_attempt_at: first_failure.plus_secs(10) });
    assert_eq!(
        s.message.as_deref(),
        Some(
            "attempt 1 of 3 failed, retrying in 10 s: dpkg: error processing archive (exit code 1)"
        )
    );
    // Not before the backoff is over.
    sim.now = sim.now.plus_secs(9);
    sim.offer_all();
    assert!(!sim.decide().iter().any(|d| matches!(d, Decision::Launch { .. })));
    sim.now = sim.now.plus_secs(1);
    sim.apply(Input::Tick);
    assert_eq!(step(&sim, "preflight.agent-1").status, StepStatus::Prepared);
    sim.offer_all();
    sim.decide();
    assert_eq!(sim.launches.last().map(|l| l.task.as_str()), Some("scaleio.preflight.agent-1.2"));
    sim.fail("preflight.agent-1", true);
    assert_eq!(
        step(&sim, "preflight.agent-1").status,
        StepStatus::Failed { next_attempt_at: sim.now.plus_secs(20) },
        "the delay doubles"
    );
    sim.now = sim.now.plus_secs(20);
    sim.apply(Input::Tick);
    sim.offer_all();
    sim.decide();
    sim.fail("preflight.agent-1", true);
    let s = step(&sim, "preflight.agent-1");
    assert_eq!(s.status, StepStatus::Error);
    assert!(
        s.message.as_deref().unwrap_or("").starts_with(
            "3 attempts failed; waiting for an operator (POST /v1/steps/preflight.agent-1/retry): dpkg"
        ),
        "{:?}",
        s.message
    );
    // Nothing more happens on its own.
    sim.now = sim.now.plus_secs(3600);
    sim.apply(Input::Tick);
    sim.offer_all();
    assert!(!sim.decide().iter().any(|d| matches!(d, Decision::Launch { .. })));

    // The operator retries: a fresh attempt budget, and the plan completes.
    assert_eq!(
        sim.apply(Input::ApiCommand(Command::Retry("preflight.agent-2".into()))),
        Some(Err(Refusal::UnknownStep("preflight.agent-2".into())))
    );
    assert_eq!(
        sim.apply(Input::ApiCommand(Command::Retry("preflight.agent-1".into()))),
        Some(Ok("step preflight.agent-1 will run again".into()))
    );
    assert_eq!(step(&sim, "preflight.agent-1").attempts, 0);
    assert!(sim.run(200));
    assert_eq!(
        sim.apply(Input::ApiCommand(Command::Retry("preflight.agent-1".into()))),
        Some(Err(Refusal::NotRetryable { id: "preflight.agent-1".into(), status: "complete" }))
    );
}

#[test]
fn a_failure_that_retrying_cannot_fix_waits_for_an_operator_at_once() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    sim.fail("preflight.agent-1", false);
    let s = step(&sim, "preflight.agent-1");
    assert_eq!(s.status, StepStatus::Error);
    assert!(s.message.as_deref().unwrap_or("").starts_with("cannot be retried automatically"));
    // An unreadable result (an executor of another version) is not retried either.
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    let l = sim.running.remove(0);
    sim.apply(Input::Update(status(
        &l.task,
        &l.agent,
        TaskState::Finished,
        Some(br#"{"version":9}"#.to_vec()),
        Some(3),
    )));
    let s = step(&sim, "preflight.agent-1");
    assert_eq!(s.status, StepStatus::Error);
    assert!(
        s.message.as_deref().unwrap_or("").contains("the executor's result could not be read"),
        "{:?}",
        s.message
    );
}

#[test]
fn an_agent_that_comes_back_with_a_new_id_keeps_its_identity_and_retries_its_step() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    sim.finish_all();
    sim.offer_all();
    sim.decide(); // prerequisites launched on S1
    assert_eq!(step(&sim, "prerequisites.agent-1").status, StepStatus::Starting);
    // The agent restarts as a new incarnation: its executor and task are gone.
    sim.running.clear();
    sim.agents[0].agent_id = "S1-new".into();
    sim.agents[0].executor_running = false;
    sim.agents[0].held = (0.0, 0.0);
    sim.offer_all();
    let node = &sim.state.durable().nodes["agent-1"];
    assert_eq!(node.agent_id.as_deref(), Some("S1-new"));
    assert_eq!(sim.state.durable().nodes.len(), 1, "same node, not a new one");
    assert!(matches!(step(&sim, "prerequisites.agent-1").status, StepStatus::Failed { .. }));
    assert!(
        step(&sim, "preflight.agent-1").status == StepStatus::Complete,
        "complete work stays complete"
    );
    sim.now = sim.now.plus_secs(10);
    assert!(sim.run(200));
    let last = sim.launches.iter().rfind(|l| l.step == "prerequisites.agent-1").expect("relaunch");
    assert_eq!(last.agent, "S1-new");
}

#[test]
fn reboot_waits_for_the_node_to_come_back_with_a_new_boot_id_even_under_a_new_agent_id() {
    let mut sim = Sim::new(
        settings(preconfigured()),
        vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0)],
    );
    sim.new_agent_id_on_reboot = true;
    assert!(sim.run(300));
    let reboot = step(&sim, "reboot.agent-2");
    assert_eq!(reboot.reboot_from.as_deref(), Some("boot-agent-2-1"));
    assert_eq!(reboot.message.as_deref(), Some("rebooted (boot id boot-agent-2-2)"));
    let relaunch = sim.launches.iter().rfind(|l| l.step == "reboot.agent-2").expect("relaunch");
    let json = serde_json::to_string(&relaunch.envelope).expect("json");
    assert!(json.contains(r#""previous_boot_id":"boot-agent-2-1""#), "{json}");
    assert_eq!(relaunch.agent, "S2-r2");
}

#[test]
fn while_the_old_executor_is_still_up_a_reboot_is_not_relaunched() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(2, 2.0, 4096.0)]);
    while !sim.state.plan().steps().any(|s| s.id == "reboot.agent-2" && s.reboot_from.is_some()) {
        assert!(!sim.run(1) || sim.state.plan().is_complete());
    }
    // The host has not gone down yet: the executor is still there.
    sim.agents[0].executor_running = true;
    sim.agents[0].boot = 1;
    sim.offer_all();
    let d: Vec<Decision> =
        sim.decide().into_iter().filter(|d| !matches!(d, Decision::Acknowledge(_))).collect();
    assert!(
        matches!(&d[..], [Decision::Decline { refuse_seconds, reason, .. }] if *refuse_seconds == scheduler::core::decide::REBOOT_REFUSE_SECS && *refuse_seconds <= 1.0 && reason == "waiting for agent-2 to reboot"),
        "{d:?}"
    );
}

#[test]
fn a_restarted_scheduler_resumes_from_the_store_without_redoing_complete_steps() {
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), five_agents());
    for _ in 0..12 {
        sim.run(1);
    }
    sim.offer_all();
    sim.decide(); // some steps are in flight when the scheduler dies
    let in_flight: Vec<String> = sim.running.iter().map(|l| l.task.clone()).collect();
    assert!(!in_flight.is_empty());
    let bytes = sim.state.persisted().to_json();
    let complete_before: Vec<String> = sim
        .state
        .plan()
        .steps()
        .filter(|s| s.status == StepStatus::Complete)
        .map(|s| s.id.clone())
        .collect();
    assert!(complete_before.len() > 5, "{complete_before:?}");

    // A new scheduler process: same settings, the stored bytes.
    let restored = State::restore(
        settings(scaleio::topology::Mode::Full),
        Persisted::from_json(&bytes).expect("restore"),
    );
    let mut agents = sim.agents.clone();
    for a in &mut agents {
        a.executor_running = sim.running.iter().any(|l| l.host == a.host) || a.executor_running;
    }
    let running = std::mem::take(&mut sim.running);
    let mut next = Sim::resume(restored, agents);
    assert_eq!(next.state.durable().framework_id.as_deref(), Some("F-0000"));
    let d = next.decide();
    let Decision::Reconcile { tasks } = &d[0] else { panic!("{d:?}") };
    let mut asked: Vec<String> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
    asked.sort();
    let mut expected = in_flight.clone();
    expected.sort();
    assert_eq!(asked, expected, "explicit reconciliation of the in-flight tasks first");
    assert_eq!(d[1], Decision::Reconcile { tasks: vec![] }, "then implicit");
    // The executors carry on and report to the new scheduler.
    next.running = running;
    next.finish_all();
    assert!(next.run(300));
    for id in &complete_before {
        assert_eq!(launch_count(&next, id), 0, "{id} was complete and ran again");
    }
    assert!(next.state.plan().is_complete());
}

#[test]
fn stored_state_of_another_layout_version_is_refused_clearly() {
    let err = Persisted::from_json(br#"{"version":7,"nodes":{},"plan":{"phases":[]}}"#)
        .expect_err("refused");
    assert!(err.to_string().contains("layout version 7, this scheduler reads 1"), "{err}");
    assert!(Persisted::from_json(b"not json").is_err());
}

#[test]
fn a_reconciled_finish_waits_for_the_executors_result_instead_of_failing() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    let task = sim.launches[0].task.clone();
    // The master answers a reconciliation: finished, but without the result (no data, no uuid).
    sim.apply(Input::Update(status(&task, "S1", TaskState::Finished, None, None)));
    let s = step(&sim, "preflight.agent-1");
    assert!(s.status.in_flight(), "{:?}", s.status);
    assert_eq!(s.message.as_deref(), Some("finished; waiting for the executor's result"));
    // The agent re-sends the executor's update, which completes it.
    sim.finish_all();
    assert_eq!(step(&sim, "preflight.agent-1").status, StepStatus::Complete);
}

#[test]
fn the_view_shows_a_step_waiting_for_an_operator_as_unhealthy_with_its_reason() {
    use scheduler::snapshot::{LoopFacts, view};
    use scheduler::view::{HealthStatus, NodeStatus, StepStatus as ViewStatus};
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    let facts = LoopFacts {
        subscribed: true,
        master: Some("http://m:5050/".into()),
        ..LoopFacts::default()
    };
    let v = view(&sim.state, &facts);
    assert_eq!(v.nodes[0].status, NodeStatus::Deploying);
    assert_eq!(v.step("preflight.agent-1").map(|s| s.status), Some(ViewStatus::Starting));
    assert_eq!(v.health().status, HealthStatus::Deploying);
    sim.fail("preflight.agent-1", false);
    let v = view(&sim.state, &facts);
    assert_eq!(v.nodes[0].status, NodeStatus::Failed);
    let health = v.health();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.starts_with("step preflight.agent-1 on agent-1 waits for an operator")),
        "{health:?}"
    );
    assert_eq!(v.framework_id.as_deref(), Some("F-0000"));
}

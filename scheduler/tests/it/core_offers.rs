//! Offers, acknowledgements, reconciliation, REVIVE/SUPPRESS and the executor the core launches.

use mesos::scheduler::CallKind;
use mesos::v1::TaskState;
use scheduler::core::state::Command;
use scheduler::core::{Decision, Input};

use crate::core_support::{Agent, Sim, five_agents, offer, preconfigured, settings, status};

fn launches(d: &[Decision]) -> Vec<&Decision> {
    d.iter().filter(|d| matches!(d, Decision::Launch { .. })).collect()
}

#[test]
fn the_first_launch_carries_the_executor_earmark_and_later_ones_only_the_task() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(7, 2.0, 4096.0)]);
    sim.offer_all();
    let d = sim.decide();
    let [launch @ Decision::Launch { .. }] = launches(&d)[..] else { panic!("{d:?}") };
    // What the loop sends: the ACCEPT's one LAUNCH, rendered from the committed state.
    let Some(CallKind::Accept(accept)) = launch.call(&sim.state) else { panic!("{launch:?}") };
    let [task] = &accept.operations[0].launch.as_ref().expect("launch").task_infos[..] else {
        panic!("{accept:?}")
    };
    let executor = task.executor.clone().expect("executor");
    let res = |rs: &[mesos::v1::Resource], n: &str| {
        rs.iter().find(|r| r.name == n).and_then(|r| r.scalar_value())
    };
    assert_eq!(res(&task.resources, "cpus"), Some(0.01));
    assert_eq!(res(&task.resources, "mem"), Some(16.0));
    assert_eq!(res(&executor.resources, "cpus"), Some(0.5), "data-node earmark");
    assert_eq!(res(&executor.resources, "mem"), Some(512.0));
    let command = executor.command.clone().expect("command");
    assert_eq!(command.shell, Some(false));
    assert_eq!(command.value.as_deref(), Some("./scaleio-executor"));
    let uris: Vec<(String, bool, bool, bool)> = command
        .uris
        .iter()
        .map(|u| (u.value.clone(), u.is_executable(), u.is_extract(), u.is_cache()))
        .collect();
    assert_eq!(
        uris,
        [
            ("http://sched:35000/artifacts/scaleio-executor".to_owned(), true, false, false),
            (
                "http://sched:35000/artifacts/scaleio-bundle-2.0.1-2072-ubuntu14-0123abcd.tar.gz"
                    .to_owned(),
                false,
                true,
                true
            ),
        ]
    );
    // The master rejects a task whose executor differs from the running one: every launch on
    // the node carries the identical ExecutorInfo, whatever the offer looked like.
    sim.finish_all();
    sim.now = sim.now.plus_secs(1);
    sim.offer_all();
    let d = sim.decide();
    let [second @ Decision::Launch { .. }] = launches(&d)[..] else { panic!("{d:?}") };
    let second = sim.state.launch_task(second).expect("a committed launch renders");
    assert_eq!(second.executor.as_ref(), Some(&executor));
    assert!(sim.launches.iter().all(|l| l.executor == executor));
}

/// Launches on offers of reserved resources: the task's and the executor's resources are
/// shaped like what each offer offered (the master refuses anything else), while the core keeps
/// one shared copy of each shape instead of every offer's resources.
#[test]
fn launches_are_shaped_like_their_offers_resources() {
    use mesos::v1::{AllocationInfo, ReservationInfo, ReservationType, Resource};
    let mut sim = Sim::new(
        settings(preconfigured()),
        vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0), Agent::new(3, 2.0, 4096.0)],
    );
    let reserved = |mut r: Resource, role: &str| {
        r.role = None;
        r.allocation_info = Some(AllocationInfo { role: Some(role.to_owned()) });
        r.reservations = vec![ReservationInfo {
            kind: Some(ReservationType::Static),
            role: Some(role.to_owned()),
            principal: None,
            labels: None,
        }];
        r
    };
    let roles = ["storage", "storage", "ops"];
    let offers: Vec<_> = sim
        .agents
        .iter()
        .zip(roles)
        .enumerate()
        .map(|(i, (a, role))| {
            let mut o = offer(&format!("R{i}"), a);
            o.resources = o
                .resources
                .into_iter()
                .map(|r| if r.name == "disk" { r } else { reserved(r, role) })
                .collect();
            o
        })
        .collect();
    sim.apply(Input::Offers(offers));
    let held = sim.state.offers();
    assert_eq!(held.len(), 3);
    assert!(std::sync::Arc::ptr_eq(&held[0].shape, &held[1].shape), "one copy per shape");
    assert_eq!((held[2].cpus, held[2].mem), (2.0, 4096.0));
    let d = sim.decide();
    let tasks: Vec<_> = launches(&d)
        .into_iter()
        .map(|l| {
            let Some(CallKind::Accept(a)) = l.call(&sim.state) else { panic!("{l:?}") };
            a.operations[0].launch.as_ref().expect("launch").task_infos[0].clone()
        })
        .collect();
    assert_eq!(tasks.len(), 3, "{d:?}");
    for (task, role) in tasks.iter().zip(roles) {
        let executor = task.executor.as_ref().expect("executor");
        for r in task.resources.iter().chain(&executor.resources) {
            assert_eq!(r.allocation_info.as_ref().and_then(|a| a.role.as_deref()), Some(role));
            assert_eq!(r.reservations[0].role.as_deref(), Some(role), "{r:?}");
            assert_eq!(r.role, None);
            assert!(r.scalar_value().is_some_and(|v| v > 0.0), "{r:?}");
        }
    }
}

#[test]
fn an_rhel_agent_gets_the_rhel_bundle_and_an_mdm_gets_the_mdm_earmark() {
    let mut agents = five_agents();
    agents[0].attributes = vec![("os".into(), "rhel7".into())];
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), agents);
    assert!(sim.run(300));
    let l = sim.launches.iter().find(|l| l.host == "agent-1").expect("launch");
    let uris: Vec<&str> =
        l.executor.command.as_ref().expect("cmd").uris.iter().map(|u| u.value.as_str()).collect();
    assert!(uris[1].contains("-rhel7-"), "{uris:?}");
    let cpus =
        l.executor.resources.iter().find(|r| r.name == "cpus").and_then(|r| r.scalar_value());
    assert_eq!(cpus, Some(1.5));
    let prereq = sim.launches.iter().find(|l| l.step == "prerequisites.agent-1").expect("prereq");
    let json = serde_json::to_string(&prereq.envelope).expect("json");
    assert!(json.contains("java-1.8.0-openjdk") && !json.contains("kernel"), "{json}");
}

#[test]
fn an_offer_too_small_for_executor_and_task_is_declined_briefly_with_a_reason() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 0.3, 256.0)]);
    sim.offer_all();
    let d = sim.decide();
    assert!(launches(&d).is_empty());
    let Some(Decision::Decline { refuse_seconds, reason, .. }) =
        d.iter().find(|d| matches!(d, Decision::Decline { .. }))
    else {
        panic!("{d:?}")
    };
    assert_eq!(*refuse_seconds, 30.0);
    assert!(
        reason.contains("agent-1 offers 0.3 CPUs and 256 MB; step preflight.agent-1 needs 0.51 CPUs and 528 MB (including the executor)"),
        "{reason}"
    );
    let reason = reason.clone();
    sim.state.commit(sim.now, &d);
    assert_eq!(sim.state.problems(), [reason], "an operator sees why the node is stuck");
    // A bigger agent: the problem goes away once its step launches.
    sim.agents[0].cpus = 2.0;
    sim.agents[0].mem = 4096.0;
    sim.offer_all();
    sim.decide();
    assert_eq!(sim.state.problems(), Vec::<String>::new());
}

#[test]
fn offers_not_needed_are_declined_long_and_a_ready_step_revives_them() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide(); // preflight launched
    sim.offer_all(); // the leftover comes back while the step runs
    let d = sim.decide();
    assert!(
        matches!(
            &d[..],
            [Decision::Decline { refuse_seconds, .. }] if *refuse_seconds == 120.0
        ),
        "{d:?}"
    );
    // The step finishes: the next one is ready but the node is filtered, so ask for offers.
    sim.finish_all();
    let d = sim.decide();
    assert!(d.contains(&Decision::Revive), "{d:?}");
    assert!(matches!(Decision::Revive.call(&sim.state), Some(CallKind::Revive(_))));
    // Revived once; no second REVIVE until it is filtered again.
    assert!(!sim.decide().contains(&Decision::Revive));
}

#[test]
fn every_update_with_a_uuid_is_acknowledged_and_none_without() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.offer_all();
    sim.decide();
    let task = sim.launches[0].task.clone();
    sim.apply(Input::Update(status(&task, "S1", TaskState::Running, None, Some(9))));
    // A reconciliation answer (from the master, no uuid) and a duplicate of the same update.
    sim.apply(Input::Update(status(&task, "S1", TaskState::Running, None, None)));
    sim.apply(Input::Update(status(&task, "S1", TaskState::Running, None, Some(9))));
    let d = sim.decide();
    let acks: Vec<_> = d
        .iter()
        .filter_map(|d| match d.call(&sim.state) {
            Some(CallKind::Acknowledge(a)) => Some((a.task_id.value, a.agent_id.value, a.uuid.0)),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [(task.clone(), "S1".into(), vec![9; 16]), (task, "S1".into(), vec![9; 16])]);
    assert!(!sim.decide().iter().any(|d| matches!(d, Decision::Acknowledge(_))), "acked once");
}

#[test]
fn subscribed_reconciles_explicitly_then_implicitly() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    let first = sim.decide();
    assert_eq!(first, [Decision::Reconcile { tasks: vec![] }], "nothing in flight: implicit only");
    sim.offer_all();
    sim.decide();
    let task = sim.launches[0].task.clone();
    sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
    let d = sim.decide();
    let reconciles: Vec<Vec<(String, Option<String>)>> = d
        .iter()
        .filter_map(|d| match d {
            Decision::Reconcile { tasks } => Some(
                tasks
                    .iter()
                    .map(|t| {
                        (t.task_id.value.clone(), t.agent_id.as_ref().map(|a| a.value.clone()))
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(reconciles, [vec![(task, Some("S1".to_owned()))], vec![]]);
    let Some(CallKind::Reconcile(r)) = Decision::Reconcile { tasks: vec![] }.call(&sim.state)
    else {
        panic!()
    };
    let json: serde_json::Value = serde_json::from_slice(
        &mesos::scheduler::Call::new(None, CallKind::Reconcile(r)).to_json(),
    )
    .expect("json");
    assert_eq!(json, serde_json::json!({"type": "RECONCILE", "reconcile": {}}));
}

#[test]
fn a_launch_without_any_update_is_reconciled_after_the_timeout() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.decide();
    sim.offer_all();
    sim.decide();
    let task = sim.launches[0].task.clone();
    sim.now = sim.now.plus_secs(119);
    assert!(!sim.decide().iter().any(|d| matches!(d, Decision::Reconcile { .. })));
    sim.now = sim.now.plus_secs(1);
    let d = sim.decide();
    let Some(Decision::Reconcile { tasks }) =
        d.iter().find(|d| matches!(d, Decision::Reconcile { .. }))
    else {
        panic!("{d:?}")
    };
    assert_eq!(tasks[0].task_id.value, task);
    // The master does not know it: the step fails and retries.
    sim.apply(Input::Update(status(&task, "S1", TaskState::Lost, None, None)));
    let step = sim.state.plan().steps().next().expect("step");
    assert_eq!(step.status.as_str(), "failed");
    assert!(step.message.as_deref().unwrap_or("").contains("TASK_LOST"), "{:?}", step.message);
}

#[test]
fn a_stray_task_of_an_earlier_attempt_is_killed() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    sim.apply(Input::Update(status(
        "scaleio.preflight.agent-1.7",
        "S1",
        TaskState::Running,
        None,
        None,
    )));
    sim.apply(Input::Update(status("someone-else", "S1", TaskState::Running, None, None)));
    let d = sim.decide();
    let kills: Vec<String> = d
        .iter()
        .filter_map(|d| match d {
            Decision::Kill { task_id, .. } => Some(task_id.value.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(kills, ["scaleio.preflight.agent-1.7"]);
}

#[test]
fn suppress_only_when_onboarding_is_off_and_the_plan_is_done() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    assert!(sim.run(100));
    for _ in 0..3 {
        sim.offer_all();
        assert!(!sim.decide().contains(&Decision::Suppress), "onboarding on: never suppress");
    }
    let mut s = settings(preconfigured());
    s.onboarding = false;
    let mut sim = Sim::new(s, vec![Agent::new(1, 2.0, 4096.0)]);
    assert!(sim.run(100));
    sim.offer_all();
    let d = sim.decide();
    assert!(d.contains(&Decision::Suppress), "{d:?}");
    assert!(!sim.decide().contains(&Decision::Suppress), "suppressed once");
}

#[test]
fn a_new_agent_gets_its_steps_appended_and_runs_them() {
    let mut sim = Sim::new(
        settings(preconfigured()),
        vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0)],
    );
    assert!(sim.run(200));
    let before = sim.launches.len();
    sim.agents.push(Agent::new(9, 2.0, 4096.0));
    sim.offer_all();
    assert!(sim.state.plan().has_node("agent-9"));
    assert!(!sim.state.plan().is_complete());
    assert!(sim.run(200));
    let new: Vec<&str> = sim.launches[before..].iter().map(|l| l.host.as_str()).collect();
    assert!(new.iter().all(|h| *h == "agent-9"), "only the new agent works: {new:?}");
    assert!(sim.launches[before..].iter().any(|l| l.step == "sds.agent-9"));
}

#[test]
fn a_paused_plan_launches_nothing_until_resumed() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    assert_eq!(
        sim.apply(Input::ApiCommand(Command::Pause)),
        Some(Ok("plan paused: no new step starts until resumed".into()))
    );
    sim.offer_all();
    assert!(launches(&sim.decide()).is_empty());
    assert!(sim.state.durable().paused);
    sim.apply(Input::ApiCommand(Command::Resume));
    sim.offer_all();
    assert_eq!(launches(&sim.decide()).len(), 1);
}

#[test]
fn offers_are_dropped_on_resubscription_and_rescind() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    let a = sim.agents[0].clone();
    sim.apply(Input::Offers(vec![offer("X1", &a), offer("X2", &a)]));
    sim.apply(Input::Rescind(mesos::v1::OfferID::new("X1")));
    assert_eq!(sim.state.offers().iter().map(|o| o.id.value.as_str()).collect::<Vec<_>>(), ["X2"]);
    sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
    assert!(sim.state.offers().is_empty());
}

#[test]
fn implicit_reconciliation_repeats_every_fifteen_minutes() {
    let mut sim = Sim::new(settings(preconfigured()), vec![Agent::new(1, 2.0, 4096.0)]);
    let implicit = |d: &[Decision]| d.contains(&Decision::Reconcile { tasks: vec![] });
    assert!(implicit(&sim.decide()));
    sim.now = sim.now.plus_secs(899);
    sim.apply(Input::Tick);
    assert!(!implicit(&sim.decide()));
    sim.now = sim.now.plus_secs(1);
    sim.apply(Input::Tick);
    assert!(implicit(&sim.decide()));
    assert!(!implicit(&sim.decide()), "once");
}

#[test]
fn a_launch_renders_the_same_task_before_and_after_its_commit() {
    // The loop commits and saves a launch, then renders its task from the committed state: that
    // task must be the one the decision was made for, for every step of a full deployment
    // (reboots included).
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), five_agents());
    let mut launched = 0;
    for _ in 0..200 {
        if sim.state.plan().is_complete() {
            break;
        }
        sim.offer_all();
        let decisions = scheduler::core::decide(&sim.state, sim.now);
        let before: Vec<_> = decisions.iter().map(|d| sim.state.launch_task(d)).collect();
        sim.state.commit(sim.now, &decisions);
        sim.state.mark_saved();
        let after: Vec<_> = decisions.iter().map(|d| sim.state.launch_task(d)).collect();
        assert_eq!(before, after);
        for (d, task) in decisions.iter().zip(&after) {
            let Decision::Launch { task_id, agent_id, .. } = d else { continue };
            let task = task.as_ref().expect("a launch renders its task");
            assert_eq!((&task.task_id, &task.agent_id), (task_id, agent_id));
            launched += 1;
        }
        sim.record(&decisions);
        sim.finish_all();
        sim.now = sim.now.plus_secs(1);
        sim.apply(Input::Tick);
    }
    assert!(sim.state.plan().is_complete(), "{:?}", sim.state.problems());
    assert!(sim.launches.iter().any(|l| l.step.contains("reboot")), "{:?}", sim.launched_steps());
    assert_eq!(launched, sim.launches.len());
}

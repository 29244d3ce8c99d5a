//! The remaining event types and paths: RESCIND, scheduler SHUTDOWN → executor SHUTDOWN,
//! failover-timeout expiry, agent → executor HEARTBEAT, MULTI_ROLE offers, command tasks run by
//! the agent's command executor, and the `mesos` crate's own scheduler connection following a
//! 307 to the emulator's leader; UPDATE_FRAMEWORK's refusals.

use std::time::Duration;

use mesos::scheduler::{self, CallKind, Event};
use mesos::{
    CommandInfo, ExecutorID, ExecutorInfo, Filters, FrameworkCapabilityType, Offer, Operation,
    Resource, TaskID, TaskInfo, TaskSource, TaskState,
};
use testkit::emulator::EmulatorConfig;

use crate::emulator_support::{
    Sched, WAIT, eventually, executor_task, fast_config, framework_info, start,
};

async fn launch(sched: &mut Sched, task: impl FnOnce(&Offer) -> TaskInfo) -> Offer {
    let offer = sched.offers().await.remove(0);
    let op = Operation::launch(vec![task(&offer)]);
    let (code, body) = sched
        .call(CallKind::accept(vec![offer.id.clone()], vec![op], Some(Filters::refuse(0.0))))
        .await;
    assert_eq!(code, 202, "{body}");
    offer
}

#[tokio::test]
async fn rescind_and_shutdown() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("events")).await;
    let offer = launch(&mut sched, |o| executor_task("t", o, "run")).await;
    sched.await_state("t", TaskState::Running).await;
    // SHUTDOWN: the executor kills its task and exits 0; FAILURE carries status 0.
    let s = scheduler::Shutdown {
        executor_id: ExecutorID::new("exec-t"),
        agent_id: offer.agent_id.clone(),
    };
    assert_eq!(sched.call(CallKind::Shutdown(s)).await.0, 202);
    let killed = sched.await_state("t", TaskState::Killed).await;
    assert_eq!(killed.source, Some(TaskSource::Executor));
    let f = sched
        .wait_for("FAILURE", |e| match e {
            Event::Failure(f) => Some(f.clone()),
            _ => None,
        })
        .await;
    assert_eq!((f.status, f.executor_id), (Some(0), Some(ExecutorID::new("exec-t"))));
    // An outstanding offer is rescinded when its agent goes away.
    let held = sched.offers().await;
    emu.reboot_agent("agent-1").unwrap();
    let rescinded = sched
        .wait_for("RESCIND", |e| match e {
            Event::Rescind(r) => Some(r.offer_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(rescinded, held[0].id);
}

#[tokio::test]
async fn failover_timeout_expiry_shuts_the_executors_down() {
    let emu =
        start(EmulatorConfig { shutdown_grace_period: Duration::from_secs(2), ..fast_config(1) })
            .await;
    let mut info = framework_info("expiring");
    info.failover_timeout = Some(0.5);
    let mut sched = Sched::subscribe(&emu.master_url(), info.clone()).await;
    launch(&mut sched, |o| executor_task("t", o, "run")).await;
    sched.await_state("t", TaskState::Running).await;
    let id = sched.framework_id.clone();
    assert!(emu.drop_subscription(&id));
    assert!(emu.state().framework(&id).is_some(), "kept within the failover timeout");
    eventually("framework removed after its failover timeout", || {
        emu.state().framework(&id).is_none()
    })
    .await;
    eventually("its executor shut down", || emu.state().slaves[0].executors.is_empty()).await;
}

#[tokio::test]
async fn executor_heartbeats_multi_role_offers_and_command_tasks() {
    let emu = start(EmulatorConfig {
        executor_heartbeat_interval: Duration::from_millis(100),
        ..fast_config(1)
    })
    .await;
    let mut info = framework_info("multi");
    info.capabilities.push(FrameworkCapabilityType::MultiRole.into());
    info.roles = vec!["scaleio".into()];
    let mut sched = Sched::subscribe(&emu.master_url(), info).await;
    let offer = sched.offers().await.remove(0);
    assert_eq!(offer.allocation_info.as_ref().and_then(|a| a.role.as_deref()), Some("scaleio"));
    assert!(
        offer
            .resources
            .iter()
            .all(|r| r.allocation_info == offer.allocation_info && r.role.is_none())
    );
    sched.stash.push(offer);

    // A command task: the agent's command executor reports RUNNING then FINISHED.
    launch(&mut sched, |o| {
        let mut t = TaskInfo::new(
            "cmd",
            TaskID::new("cmd"),
            o.agent_id.clone(),
            vec![Resource::scalar("cpus", 0.1)],
        );
        t.command = Some(CommandInfo {
            value: Some("test -d \"$MESOS_SANDBOX\"".into()),
            ..CommandInfo::default()
        });
        t
    })
    .await;
    sched.await_state("cmd", TaskState::Running).await;
    let done = sched.await_state("cmd", TaskState::Finished).await;
    assert!(done.uuid.is_some());
    launch(&mut sched, |o| {
        let mut t = TaskInfo::new(
            "bad",
            TaskID::new("bad"),
            o.agent_id.clone(),
            vec![Resource::scalar("cpus", 0.1)],
        );
        t.command = Some(CommandInfo { value: Some("exit 7".into()), ..CommandInfo::default() });
        t
    })
    .await;
    let failed = sched.await_state("bad", TaskState::Failed).await;
    assert_eq!(failed.message.as_deref(), Some("Command exited with status 7"));

    // Executor HEARTBEATs on the configured interval (a real agent: 30 minutes).
    launch(&mut sched, |o| executor_task("hb", o, "run")).await;
    sched.await_state("hb", TaskState::Running).await;
    eventually("the executor is subscribed", || {
        emu.state().slaves[0].executors.iter().any(|e| e.subscribed)
    })
    .await;
    let url = emu.agent_url("agent-1").unwrap().join("api/v1/executor").unwrap();
    let body = format!(
        r#"{{"type":"SUBSCRIBE","framework_id":{{"value":"{}"}},"executor_id":{{"value":"exec-hb"}},"subscribe":{{}}}}"#,
        sched.framework_id
    );
    let resp = crate::emulator_support::client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "an executor may re-subscribe; the old stream is replaced");
    let (mut events, _) = crate::emulator_support::pump_executor(resp);
    let beat = tokio::time::timeout(WAIT, async {
        loop {
            if matches!(events.recv().await, Some(mesos::executor::Event::Heartbeat) | None) {
                break;
            }
        }
    })
    .await;
    assert!(beat.is_ok(), "executor HEARTBEAT");
}

#[tokio::test]
async fn the_mesos_scheduler_connection_follows_the_standby_redirect() {
    let emu = start(EmulatorConfig { standby: true, ..fast_config(1) }).await;
    let standby = emu.master_urls()[1].clone();
    let mut config = mesos::scheduler::connection::Config::new(standby, framework_info("client"));
    config.backoff = mesos::http::Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };
    let (handle, mut notices) = mesos::scheduler::connection::connect(config).unwrap();
    let subscribed = tokio::time::timeout(WAIT, async {
        loop {
            match notices.recv().await {
                Some(mesos::scheduler::connection::Notice::Event(Event::Subscribed(s))) => break s,
                Some(_) => {}
                None => panic!("connection stopped"),
            }
        }
    })
    .await
    .expect("subscribed through the redirect");
    assert_eq!(handle.framework_id(), Some(subscribed.framework_id.clone()));
    let offers = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(mesos::scheduler::connection::Notice::Event(Event::Offers(o))) =
                notices.recv().await
            {
                break o.offers;
            }
        }
    })
    .await
    .unwrap();
    handle
        .call(CallKind::decline(offers.iter().map(|o| o.id.clone()).collect(), None))
        .await
        .expect("DECLINE accepted by the leader");
    handle.close();
}

#[tokio::test]
async fn an_executor_that_never_subscribes_times_out_and_update_framework_applies() {
    let emu = start(EmulatorConfig {
        executor_registration_timeout: Duration::from_millis(300),
        ..fast_config(1)
    })
    .await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("silent")).await;
    launch(&mut sched, |o| {
        let mut e = ExecutorInfo::new(ExecutorID::new("silent"));
        e.command = Some(CommandInfo { value: Some("sleep 30".into()), ..CommandInfo::default() });
        let mut t = TaskInfo::new(
            "t",
            TaskID::new("t"),
            o.agent_id.clone(),
            vec![Resource::scalar("cpus", 0.1)],
        );
        t.executor = Some(e);
        t
    })
    .await;
    let s = sched.await_state("t", TaskState::Failed).await;
    assert_eq!(s.reason, Some(mesos::TaskReason::ExecutorRegistrationTimeout));
    eventually("the executor is gone", || emu.state().slaves[0].executors.is_empty()).await;

    let mut info = framework_info("renamed");
    info.id = sched.id();
    let update = scheduler::UpdateFramework {
        framework_info: info.clone(),
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    assert_eq!(sched.call(CallKind::UpdateFramework(update)).await.0, 200);
    assert_eq!(emu.state().framework(&sched.framework_id).unwrap().name, "renamed");
    info.id = Some(mesos::FrameworkID::new("someone-else"));
    let update = scheduler::UpdateFramework {
        framework_info: info,
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    assert_eq!(sched.call(CallKind::UpdateFramework(update)).await.0, 400);
}

#[tokio::test]
async fn update_framework_refuses_what_the_real_master_refuses() {
    let emu = start(fast_config(1)).await;
    let mut info = framework_info("strict");
    info.principal = Some("ops".into());
    let sched = Sched::subscribe(&emu.master_url(), info.clone()).await;
    info.id = sched.id();
    let call = |info: mesos::FrameworkInfo, suppressed: &[&str]| {
        CallKind::UpdateFramework(scheduler::UpdateFramework {
            framework_info: info,
            suppressed_roles: suppressed.iter().map(|r| (*r).to_owned()).collect(),
            offer_constraints: None,
        })
    };
    let (code, body) = sched.call(call(info.clone(), &["elsewhere"])).await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "Failed to validate scheduler::Call: Suppressed role 'elsewhere' is not contained in the list of roles"
        )
    );
    let mut other = info.clone();
    other.principal = Some("intruder".into());
    let (code, body) = sched.call(call(other, &[])).await;
    assert_eq!(code, 400);
    assert!(body.ends_with("Changing framework's principal is not allowed"), "{body}");
    // Nothing of a refused update was applied; a valid one is, all at once.
    assert_eq!(emu.state().framework(&sched.framework_id).unwrap().name, "strict");
    let mut renamed = info.clone();
    renamed.name = "renamed".into();
    assert_eq!(sched.call(call(renamed, &["*"])).await.0, 200);
    assert_eq!(emu.state().framework(&sched.framework_id).unwrap().name, "renamed");
}

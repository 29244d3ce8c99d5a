//! The loop over real HTTP against a loopback master whose executors answer at once: a small
//! deployment completes; a scheduler stopped mid-plan and started again from the store finishes
//! without running a complete step again; secrets reach the executor only on the wire.

use std::sync::Arc;
use std::time::Duration;

use mesos::scheduler::connection;
use scheduler::core::{Persisted, State};
use scheduler::runtime::{self, Exit, MemoryStore, Wiring};
use scheduler::view::{PlanStatus, View};
use tokio::sync::{mpsc, watch};

use crate::core_loop_master::LoopMaster;
use crate::core_support::{Agent, preconfigured, settings};

pub fn wiring(
    master: &LoopMaster,
) -> (Wiring, watch::Receiver<Arc<View>>, mpsc::Sender<scheduler::view::ApiRequest>) {
    let info = mesos::v1::FrameworkInfo::new("root", "scaleio");
    let (view_tx, view_rx) = watch::channel(Arc::new(View::default()));
    let (cmd_tx, cmd_rx) = mpsc::channel(8);
    let wiring = Wiring {
        connection: connection::Config::new(master.url(), info),
        commands: cmd_rx,
        view: view_tx,
        tick: Duration::from_millis(50),
        store_version: None,
        claim_settle: Duration::from_millis(20),
        capacity: None,
    };
    (wiring, view_rx, cmd_tx)
}

pub async fn wait_for(
    view: &mut watch::Receiver<Arc<View>>,
    what: &str,
    pred: impl Fn(&View) -> bool,
) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let current = view.borrow_and_update().clone();
            if pred(&current) {
                return;
            }
            view.changed().await.expect("loop alive");
        }
    })
    .await;
    if waited.is_err() {
        panic!("timed out waiting for {what}; last view: {:#?}", view.borrow().plan);
    }
}

#[tokio::test]
async fn a_small_deployment_completes_over_the_wire() {
    let agents = vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0)];
    let master = LoopMaster::start(agents).await;
    let store = MemoryStore::default();
    let (wiring, mut view, _cmds) = wiring(&master);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        store.clone(),
        wiring,
        async {
            let _ = stop_rx.await;
        },
    ));
    wait_for(&mut view, "the plan to complete", |v| {
        v.plan.status == PlanStatus::Complete && !v.plan.phases.is_empty()
    })
    .await;
    let v = view.borrow().clone();
    assert!(v.health.subscribed);
    assert_eq!(v.framework_id.as_deref(), Some("F-loop-0000"));
    assert_eq!(v.health().status, scheduler::view::HealthStatus::Healthy, "{:?}", v.health());
    stop_tx.send(()).expect("stop");
    assert_eq!(run.await.expect("join").expect("run"), Exit::Shutdown);

    master.with(|m| {
        assert_eq!(m.violations, Vec::<String>::new());
        // Each step ran once, the reboots twice (reboot, then confirm the new boot id).
        let mut counts = std::collections::BTreeMap::new();
        for (step, _, _) in &m.launches {
            *counts.entry(step.clone()).or_insert(0) += 1;
        }
        for (step, n) in &counts {
            let expected = if step.starts_with("reboot.") { 2 } else { 1 };
            assert_eq!(*n, expected, "{step}");
        }
        assert_eq!(counts.len(), v.steps().filter(|s| s.attempts > 0).count());
        // Every update carried a uuid and every one was acknowledged: two per launch.
        assert_eq!(m.acks.len(), 2 * m.launches.len());
    });
    let stored = store.inner.lock().expect("lock").clone().expect("saved");
    let text = String::from_utf8(stored.1).expect("utf8");
    let persisted = Persisted::from_json(text.as_bytes()).expect("stored state reads back");
    assert!(persisted.state.plan.is_complete());
}

#[tokio::test]
async fn a_restarted_scheduler_finishes_without_repeating_complete_steps() {
    let agents =
        vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0), Agent::new(3, 2.0, 4096.0)];
    let master = LoopMaster::start(agents).await;
    let store = MemoryStore::default();

    // First scheduler: stop it once a dozen steps are done.
    let (wiring1, mut view1, _c1) = wiring(&master);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        store.clone(),
        wiring1,
        async {
            let _ = stop_rx.await;
        },
    ));
    wait_for(&mut view1, "a dozen complete steps", |v| v.progress().0 >= 12).await;
    stop_tx.send(()).expect("stop");
    assert_eq!(first.await.expect("join").expect("run"), Exit::Shutdown);
    let (version, bytes) = store.inner.lock().expect("lock").clone().expect("saved");
    let persisted = Persisted::from_json(&bytes).expect("restore");
    let complete: Vec<String> = persisted
        .state
        .plan
        .steps()
        .filter(|s| s.status == scheduler::core::StepStatus::Complete)
        .map(|s| s.id.clone())
        .collect();
    assert!(!persisted.state.plan.is_complete(), "stopped mid-plan");
    let launched_before = master.with(|m| m.launches.len());

    // Second scheduler from the store: same framework id, the plan completes.
    let (mut wiring2, mut view2, _c2) = wiring(&master);
    wiring2.store_version = Some(version);
    let restored = State::restore(settings(preconfigured()), persisted);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(runtime::run(restored, store.clone(), wiring2, async {
        let _ = stop_rx.await;
    }));
    wait_for(&mut view2, "the plan to complete", |v| v.plan.status == PlanStatus::Complete).await;
    stop_tx.send(()).expect("stop");
    assert_eq!(second.await.expect("join").expect("run"), Exit::Shutdown);
    master.with(|m| {
        assert_eq!(m.violations, Vec::<String>::new());
        assert_eq!(
            m.subscribes.last().cloned().flatten().as_deref(),
            Some("F-loop-0000"),
            "re-subscribed with the stored id"
        );
        assert!(m.launches.len() > launched_before, "the second scheduler did the rest");
        for (step, _, _) in &m.launches[launched_before..] {
            assert!(
                !complete.contains(step),
                "{step} was complete before the restart and ran again"
            );
        }
    });
}

#[tokio::test]
async fn a_second_scheduler_writing_the_store_makes_the_first_stop_driving() {
    let master = LoopMaster::start(vec![Agent::new(1, 2.0, 4096.0)]).await;
    let store = MemoryStore::default();
    let (wiring, mut view, cmds) = wiring(&master);
    let run = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        store.clone(),
        wiring,
        std::future::pending(),
    ));
    wait_for(&mut view, "a first complete step", |v| v.progress().0 >= 1).await;
    // Another scheduler saved meanwhile: the version moved on.
    {
        let mut inner = store.inner.lock().expect("lock");
        let (v, data) = inner.clone().expect("saved");
        *inner = Some((v + 100, data));
    }
    let (request, reply) = scheduler::view::ApiRequest::new(scheduler::view::ApiCommand::Pause);
    cmds.send(request).await.expect("send");
    let _ = reply.await;
    let exit = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the loop stops")
        .expect("join")
        .expect("run");
    let Exit::Superseded(why) = exit else { panic!("{exit:?}") };
    assert!(why.contains("another scheduler is active"), "{why}");
}

#[tokio::test]
async fn a_framework_failed_over_to_another_instance_stops_this_one() {
    let master = LoopMaster::start(vec![Agent::new(1, 2.0, 4096.0)]).await;
    let (wiring, mut view, _cmds) = wiring(&master);
    let run = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        MemoryStore::default(),
        wiring,
        std::future::pending(),
    ));
    wait_for(&mut view, "a first complete step", |v| v.progress().0 >= 1).await;
    master.with(|m| m.fail_over());
    let exit = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the loop stops")
        .expect("join")
        .expect("run");
    let Exit::Superseded(why) = exit else { panic!("{exit:?}") };
    assert!(why.contains("Framework failed over"), "{why}");
    assert_eq!(master.with(|m| m.subscribes.len()), 1, "it did not subscribe again");
}

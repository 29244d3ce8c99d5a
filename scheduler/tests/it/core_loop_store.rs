//! The loop and its store: the claim before subscribing (a scheduler that loses it never talks to
//! the master), the teardown rule when the store is lost while subscribed (only a framework id
//! this process alone registered and never saved), and the write-ahead rule (no launch reaches
//! the master before a save holds it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scheduler::core::{Persisted, State};
use scheduler::runtime::{self, Exit, MemoryStore, SaveError, StateStore, StoreVersion};
use scheduler::view::PlanStatus;

use crate::core_loop::{wait_for, wiring};
use crate::core_loop_master::{LoopMaster, Master};
use crate::core_support::{Agent, preconfigured, settings};

async fn exit_of(
    run: tokio::task::JoinHandle<Result<Exit, mesos::scheduler::connection::ConnectError>>,
) -> Exit {
    tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .expect("the loop stops")
        .expect("join")
        .expect("run")
}

#[tokio::test]
async fn a_scheduler_that_loses_the_claim_never_subscribes() {
    let master = LoopMaster::start(vec![Agent::new(1, 2.0, 4096.0)]).await;
    // Another scheduler saved after this one read the (empty) store.
    let store = MemoryStore::default();
    *store.inner.lock().expect("lock") = Some((3, b"{}".to_vec()));
    let (wiring, _view, _cmds) = wiring(&master);
    let run = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        store.clone(),
        wiring,
        std::future::pending(),
    ));
    let Exit::Superseded(why) = exit_of(run).await else { panic!("expected superseded") };
    assert!(why.contains("another scheduler is active"), "{why}");
    assert_eq!(master.with(|m| m.subscribes.len()), 0, "it never subscribed");
    assert_eq!(store.inner.lock().expect("lock").clone(), Some((3, b"{}".to_vec())), "untouched");
}

#[tokio::test]
async fn a_scheduler_that_sees_a_later_claim_stops_before_subscribing() {
    let master = LoopMaster::start(vec![Agent::new(1, 2.0, 4096.0)]).await;
    let store = MemoryStore::default();
    let (mut wiring, _view, _cmds) = wiring(&master);
    wiring.claim_settle = Duration::from_secs(1);
    let run = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        store.clone(),
        wiring,
        std::future::pending(),
    ));
    // A second scheduler claims right after this one (it read version 1 and wrote 2).
    let other = store.clone();
    tokio::time::timeout(Duration::from_secs(5), async move {
        loop {
            {
                let mut inner = other.inner.lock().expect("lock");
                if let Some((1, data)) = inner.clone() {
                    *inner = Some((2, data));
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first scheduler claims");
    let Exit::Superseded(why) = exit_of(run).await else { panic!("expected superseded") };
    assert!(why.contains("claimed the store after this one"), "{why}");
    assert_eq!(master.with(|m| m.subscribes.len()), 0, "it never subscribed");
}

/// A memory store whose saves answer as scripted (then as the memory store would).
#[derive(Clone)]
struct Scripted {
    inner: MemoryStore,
    /// Per save, in order: `None` to really save, else the failure to answer.
    script: Arc<Mutex<Vec<Option<&'static str>>>>,
}

impl StateStore for Scripted {
    async fn save(
        &mut self,
        expected: Option<StoreVersion>,
        data: Vec<u8>,
    ) -> Result<StoreVersion, SaveError> {
        let next = {
            let mut script = self.script.lock().expect("lock");
            if script.is_empty() { None } else { script.remove(0) }
        };
        match next {
            None => self.inner.save(expected, data).await,
            Some("conflict") => Err(SaveError::Conflict { expected, found: Some(99) }),
            Some(other) => Err(SaveError::Other(other.to_owned())),
        }
    }

    async fn version(&mut self) -> Result<Option<StoreVersion>, SaveError> {
        self.inner.version().await
    }
}

async fn lose_the_store_after_subscribing(script: Vec<Option<&'static str>>) -> Master {
    let master = LoopMaster::start(vec![Agent::new(1, 2.0, 4096.0)]).await;
    let store = Scripted { inner: MemoryStore::default(), script: Arc::new(Mutex::new(script)) };
    let (wiring, _view, _cmds) = wiring(&master);
    let run = tokio::spawn(runtime::run(
        State::new(settings(preconfigured())),
        store,
        wiring,
        std::future::pending(),
    ));
    let Exit::Superseded(why) = exit_of(run).await else { panic!("expected superseded") };
    assert!(why.contains("another scheduler is active"), "{why}");
    master.with(std::mem::take)
}

#[tokio::test]
async fn a_framework_id_registered_and_never_saved_is_torn_down_when_the_store_is_lost() {
    // The claim saves; the save that would hold the new framework id loses.
    let m = lose_the_store_after_subscribing(vec![None, Some("conflict")]).await;
    assert_eq!(m.subscribes, [None], "subscribed once, without an id");
    assert_eq!(m.teardowns, ["F-loop-0000"], "its own, never-saved framework is torn down");
    assert!(m.launches.is_empty(), "nothing launched without a save: {:?}", m.launches);
    assert_eq!(m.violations, Vec::<String>::new());
}

#[tokio::test]
async fn a_framework_id_a_save_may_have_written_is_never_torn_down() {
    // The save holding the new id fails with an unknown outcome (it may have been written), then
    // the next one loses: the id may be the one the new owner read, so it stays.
    let m = lose_the_store_after_subscribing(vec![None, Some("connection lost"), Some("conflict")])
        .await;
    assert_eq!(m.subscribes, [None]);
    assert_eq!(m.teardowns, Vec::<String>::new(), "a possibly saved framework id stays");
    assert!(m.launches.is_empty(), "nothing launched while the store failed: {:?}", m.launches);
}

/// A memory store that, at each save, checks that every launch the master has seen is held by
/// the document saved before.
#[derive(Clone)]
struct WriteAheadCheck {
    inner: MemoryStore,
    master: Arc<Mutex<Master>>,
    violations: Arc<Mutex<Vec<String>>>,
    saves: Arc<Mutex<u64>>,
}

impl WriteAheadCheck {
    fn check(&self) {
        let stored = self.inner.inner.lock().expect("lock").clone();
        let launches = self.master.lock().expect("lock").launches.clone();
        let doc = stored.map(|(_, bytes)| Persisted::from_json(&bytes).expect("stored doc"));
        let mut counts = std::collections::BTreeMap::<String, u32>::new();
        for (step, _, _) in &launches {
            *counts.entry(step.clone()).or_default() += 1;
        }
        for (step, launched) in counts {
            let saved = doc
                .as_ref()
                .and_then(|d| d.state.plan.steps().find(|s| s.id == step).map(|s| s.attempts))
                .unwrap_or(0);
            if saved < launched {
                self.violations.lock().expect("lock").push(format!(
                    "{step}: the master saw {launched} launch(es), the store held {saved}"
                ));
            }
        }
    }
}

impl StateStore for WriteAheadCheck {
    async fn save(
        &mut self,
        expected: Option<StoreVersion>,
        data: Vec<u8>,
    ) -> Result<StoreVersion, SaveError> {
        self.check();
        *self.saves.lock().expect("lock") += 1;
        self.inner.save(expected, data).await
    }

    async fn version(&mut self) -> Result<Option<StoreVersion>, SaveError> {
        self.inner.version().await
    }
}

#[tokio::test]
async fn no_launch_reaches_the_master_before_a_save_holds_it() {
    let agents =
        vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0), Agent::new(3, 2.0, 4096.0)];
    let master = LoopMaster::start(agents).await;
    let store = WriteAheadCheck {
        inner: MemoryStore::default(),
        master: master.inner.clone(),
        violations: Arc::default(),
        saves: Arc::default(),
    };
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
    stop_tx.send(()).expect("stop");
    assert_eq!(run.await.expect("join").expect("run"), Exit::Shutdown);
    store.check();
    let launches = master.with(|m| m.launches.len());
    assert!(launches > 10, "the plan launched its steps: {launches}");
    assert_eq!(*store.violations.lock().expect("lock"), Vec::<String>::new());
}

//! ZooKeeper faults in the middle of a full deployment with the real scheduler on a real
//! ZooKeeper store: the session expiring, the server restarting, and the server missing when the
//! scheduler starts. The store is the scheduler's write-ahead log, so while it cannot be written
//! the scheduler launches nothing and says why in `/v1/health`; afterwards it completes the
//! deployment, no finished step runs again, and a restarted scheduler finds everything saved.
//!
//! How the session is made to expire: the scheduler reaches ZooKeeper through a TCP relay
//! ([`ZkPartition`]) that the test cuts, while ZooKeeper keeps running with sessions capped at
//! 4 s (`maxSessionTimeout`). The server expires the session it stops hearing from, and the
//! client, unable to reconnect within its session timeout, reports `Expired` too; once the relay
//! heals the scheduler must open a new session. (ZooKeeper has no command that expires a given
//! session; stealing it with a second client needs the session password, which only the
//! scheduler's process holds; SIGSTOPping the JVM freezes the server's clock with it.) The test
//! checks the scheduler's log for the expiry and for its second session.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use testkit::deployment::{
    Deployment, DeploymentSpec, StoreKind, ZkPartition, ZooKeeper, slow_tests_enabled, steps_of,
};

use crate::deploy_full::{DEPLOY_TIMEOUT, check_deployed};

/// The cap on session timeouts in the expiry test.
const SESSION: Duration = Duration::from_secs(4);

async fn wait_progress(d: &mut Deployment, fraction: f64) {
    d.wait_plan(&format!("{:.0}% of the steps complete", fraction * 100.0), DEPLOY_TIMEOUT, |p| {
        let steps = steps_of(p);
        let done = steps.iter().filter(|s| s["status"] == "complete").count();
        !steps.is_empty() && done as f64 >= fraction * steps.len() as f64
    })
    .await
    .expect("progress");
}

/// Waits until `/v1/health` is 503 with a reason about the state store; returns that reason.
async fn wait_store_unhealthy(d: &mut Deployment, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        d.check_scheduler().expect("the scheduler keeps running while the store is down");
        if let Ok((status, health)) = d.get("/v1/health").await {
            let reason = health["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str())
                .find(|r| r.starts_with("the state store failed: "))
                .map(str::to_owned);
            if let (503, Some(reason)) = (status, reason) {
                return reason;
            }
            assert!(
                Instant::now() < deadline,
                "/v1/health does not report the store within {within:?}: {status} {health}\n{}",
                d.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits `span` while the store is out of reach, and checks that nothing was launched meanwhile:
/// launches persisted before the outage go out at once, so the count is taken after a moment.
async fn assert_no_launch_while_down(d: &mut Deployment, span: Duration) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = d.launches().expect("launches").len();
    let until = Instant::now() + span;
    while Instant::now() < until {
        d.check_scheduler().expect("running");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let after = d.launches().expect("launches");
    assert_eq!(
        after.len(),
        before,
        "launched while the store could not save it: {:?}",
        &after[before..].iter().map(|l| &l.name).collect::<Vec<_>>()
    );
}

/// No step is launched again once one of its tasks finished, and no step runs more often than
/// the plan counted attempts for it.
fn assert_no_step_repeated(d: &Deployment, plan: &serde_json::Value) {
    let again = d.relaunched_after_finish().expect("record");
    assert!(again.is_empty(), "steps launched again after they finished: {again:?}");
    let mut launches: BTreeMap<String, usize> = BTreeMap::new();
    for l in d.launches().expect("launches") {
        *launches.entry(l.name).or_default() += 1;
    }
    for s in steps_of(plan) {
        let id = s["id"].as_str().unwrap_or_default();
        let attempts = s["attempts"].as_u64().unwrap_or(0) as usize;
        let n = launches.get(id).copied().unwrap_or(0);
        assert!(n <= attempts, "{id} launched {n} times for {attempts} attempt(s): {s}");
    }
}

/// `text` without ANSI colour sequences (the scheduler colours its log fields).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Nothing was lost: a scheduler started afresh on the same store resumes with the whole plan
/// complete under the same framework, and launches nothing.
async fn assert_store_holds_everything(d: &mut Deployment) {
    let launched = d.launches().expect("launches").len();
    d.kill_scheduler().await.expect("kill");
    d.start_scheduler().await.expect("restart on the same store");
    let plan = d.wait_complete(Duration::from_secs(60)).await.expect("complete after restart");
    assert!(!steps_of(&plan).is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(d.launches().expect("launches").len(), launched, "the resumed scheduler relaunched");
    // A lost framework id would have registered a second framework.
    assert_eq!(d.emulator.state().frameworks.len(), 1, "one framework throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_session_expiry_mid_deployment_loses_nothing() {
    if !slow_tests_enabled("zookeeper_session_expiry_mid_deployment_loses_nothing") {
        return;
    }
    let mut zk = ZooKeeper::configure(Some(SESSION)).expect("zk config");
    zk.run().await.expect("ZooKeeper");
    let partition = ZkPartition::start(&zk.address).await.expect("relay");
    let mut spec = DeploymentSpec::new(5);
    spec.store = StoreKind::Zk(format!("zk://{}/scaleio", partition.address));
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    wait_progress(&mut d, 0.3).await;

    partition.cut();
    let cut_at = Instant::now();
    let reason = wait_store_unhealthy(&mut d, Duration::from_secs(10)).await;
    assert!(reason.contains(&format!("zk://{}/scaleio", partition.address)), "{reason}");
    // Well past the session timeout (the client gives up at 1.4 times it).
    let remaining = (SESSION * 3).saturating_sub(cut_at.elapsed());
    assert_no_launch_while_down(&mut d, remaining).await;
    partition.heal();

    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete after the expiry");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    let log = without_colours(
        &std::fs::read_to_string(d.dir().join("logs/scheduler-1.log")).expect("log"),
    );
    assert!(
        log.lines().any(|l| l.contains("ZooKeeper session lost") && l.contains("session expired")),
        "the scheduler saw its session expire:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("connected to ZooKeeper") && l.contains("session=2")),
        "the scheduler opened a second session:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("connected to ZooKeeper") && l.contains("timeout_ms=4000")),
        "ZooKeeper capped the session at 4 s:\n{log}"
    );
    assert_store_holds_everything(&mut d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_restart_mid_deployment_holds_launches_and_reports_the_store() {
    if !slow_tests_enabled("zookeeper_restart_mid_deployment_holds_launches_and_reports_the_store")
    {
        return;
    }
    let mut zk = ZooKeeper::configure(None).expect("zk config");
    zk.run().await.expect("ZooKeeper");
    let mut spec = DeploymentSpec::new(5);
    spec.store = StoreKind::Zk(format!("zk://{}/scaleio", zk.address));
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    wait_progress(&mut d, 0.3).await;

    zk.stop().await.expect("stop ZooKeeper");
    let reason = wait_store_unhealthy(&mut d, Duration::from_secs(10)).await;
    assert!(reason.contains(&format!("zk://{}/scaleio", zk.address)), "{reason}");
    assert!(reason.contains("ZooKeeper"), "the reason names ZooKeeper: {reason}");
    assert_no_launch_while_down(&mut d, Duration::from_secs(6)).await;
    // The same port and data directory, as an operator restarts it.
    zk.run().await.expect("ZooKeeper again");

    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete after the restart");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_store_holds_everything(&mut d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_down_at_scheduler_start_waits_with_a_reason_then_deploys() {
    if !slow_tests_enabled("zookeeper_down_at_scheduler_start_waits_with_a_reason_then_deploys") {
        return;
    }
    let mut zk = ZooKeeper::configure(None).expect("zk config");
    let mut spec = DeploymentSpec::new(4);
    spec.store = StoreKind::Zk(format!("zk://{}/scaleio", zk.address));
    let mut d = Deployment::start(spec).await.expect("deployment");
    let log = d.dir().join("logs/scheduler-1.log");
    let address = zk.address.clone();
    let start_zk_later = async {
        // The scheduler says what it waits for, and for how long, before anything else happens.
        let deadline = Instant::now() + Duration::from_secs(20);
        let line = loop {
            let text = without_colours(&std::fs::read_to_string(&log).unwrap_or_default());
            if let Some(line) =
                text.lines().find(|l| l.contains("waiting up to 60 s for ZooKeeper"))
            {
                break line.to_owned();
            }
            assert!(Instant::now() < deadline, "no visible reason for the wait:\n{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(line.contains(&format!("zk://{address}/scaleio")), "{line}");
        assert!(line.contains("no available hosts"), "{line}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        zk.run().await.expect("ZooKeeper");
    };
    let (started, ()) = tokio::join!(d.start_scheduler(), start_zk_later);
    started.expect("the scheduler starts once ZooKeeper is up");
    d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    check_deployed(&d).await;
}

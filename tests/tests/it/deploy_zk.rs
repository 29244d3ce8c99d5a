//! Two schedulers started at once on one store: exactly one talks to the master (the other loses
//! the store claim before it subscribes and stops saying another scheduler is active). On a real
//! ZooKeeper (loopback port, slow tier) the one drives the plan to completion and no step is
//! launched again after it finished; on the file store the master only ever sees one framework.

use std::time::{Duration, Instant};

use testkit::deployment::{
    Deployment, DeploymentSpec, ExtraScheduler, StoreKind, ZooKeeper, slow_tests_enabled,
};

use crate::deploy_full::DEPLOY_TIMEOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_one_zookeeper_store_only_one_drives() {
    if !slow_tests_enabled("two_schedulers_on_one_zookeeper_store_only_one_drives") {
        return;
    }
    let zk = ZooKeeper::start().await.expect("ZooKeeper");
    let mut spec = DeploymentSpec::new(5);
    spec.store = StoreKind::Zk(format!("zk://{}/scaleio", zk.address));
    let d = Deployment::start(spec).await.expect("deployment");
    let mut a = d.spawn_extra_scheduler("a").expect("scheduler a");
    let mut b = d.spawn_extra_scheduler("b").expect("scheduler b");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let deadline = Instant::now() + DEPLOY_TIMEOUT;
    let (survivor, stopped) = loop {
        assert!(
            Instant::now() < deadline,
            "no single scheduler completed the deployment\na:\n{}\nb:\n{}",
            a.log_text(),
            b.log_text()
        );
        match (a.exited(), b.exited()) {
            (Some(sa), Some(sb)) => {
                panic!(
                    "both schedulers exited ({sa}, {sb})\na:\n{}\nb:\n{}",
                    a.log_text(),
                    b.log_text()
                )
            }
            (None, Some(_)) => {
                if let Ok(r) = http.get(format!("{}/v1/health", a.api)).send().await
                    && r.status() == 200
                {
                    break (a, b);
                }
            }
            (Some(_), None) => {
                if let Ok(r) = http.get(format!("{}/v1/health", b.api)).send().await
                    && r.status() == 200
                {
                    break (b, a);
                }
            }
            (None, None) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log = stopped.log_text();
    assert!(log.contains("another scheduler"), "the stopped scheduler says why:\n{log}");
    // The survivor's API is the deployment's; check what it built.
    let plan: serde_json::Value = http
        .get(format!("{}/v1/plan", survivor.api))
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    assert_eq!(plan["status"], "complete");
    let again = d.relaunched_after_finish().expect("record");
    assert!(again.is_empty(), "steps launched again after they finished: {again:?}");
    // The loser never subscribed: the master knows one framework, and it was registered once.
    let state = d.emulator.state();
    assert_eq!(state.frameworks.len(), 1, "one framework: {:?}", state.frameworks);
    assert!(state.frameworks[0].active, "{:?}", state.frameworks);
    assert_eq!(subscribed_framework_ids(&d).len(), 1, "one framework id was ever assigned");
    let launched_by: std::collections::BTreeSet<String> =
        d.launches().expect("launches").into_iter().map(|l| l.executor_id).collect();
    assert_eq!(launched_by.len(), 5, "one executor per agent: {launched_by:?}");
}

/// The framework ids of every SUBSCRIBED event the master sent.
fn subscribed_framework_ids(d: &Deployment) -> std::collections::BTreeSet<String> {
    d.record()
        .expect("record")
        .iter()
        .filter(|r| r["api"] == "scheduler" && r["dir"] == "event")
        .filter(|r| r["body"]["type"] == "SUBSCRIBED")
        .map(|r| r["body"]["subscribed"]["framework_id"]["value"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_one_file_store_leave_one_framework_on_the_master() {
    let d = Deployment::start(DeploymentSpec::new(2)).await.expect("deployment");
    let mut a = d.spawn_extra_scheduler("a").expect("scheduler a");
    let mut b = d.spawn_extra_scheduler("b").expect("scheduler b");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (stopped, survivor): (&mut ExtraScheduler, &mut ExtraScheduler) = loop {
        match (a.exited(), b.exited()) {
            (Some(sa), Some(sb)) => {
                panic!("both exited ({sa}, {sb})\na:\n{}\nb:\n{}", a.log_text(), b.log_text())
            }
            (Some(_), None) => break (&mut a, &mut b),
            (None, Some(_)) => break (&mut b, &mut a),
            (None, None) => {}
        }
        assert!(
            Instant::now() < deadline,
            "neither scheduler stopped\na:\n{}\nb:\n{}",
            a.log_text(),
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = stopped.log_text();
    assert!(log.contains("another scheduler"), "the stopped scheduler says why:\n{log}");
    assert!(
        log.contains("before subscribing") || log.contains("another scheduler is active"),
        "{log}"
    );
    // The survivor subscribes; the master never saw the loser.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.emulator.state().frameworks.iter().all(|f| !f.active) {
        assert!(survivor.exited().is_none(), "the survivor exited:\n{}", survivor.log_text());
        assert!(Instant::now() < deadline, "no framework subscribed:\n{}", survivor.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = d.emulator.state();
    assert_eq!(state.frameworks.len(), 1, "one framework: {:?}", state.frameworks);
    let subscribes = d
        .record()
        .expect("record")
        .iter()
        .filter(|r| {
            r["api"] == "scheduler" && r["dir"] == "call" && r["body"]["type"] == "SUBSCRIBE"
        })
        .count();
    assert_eq!(subscribes, 1, "one SUBSCRIBE, from the survivor");
    assert_eq!(subscribed_framework_ids(&d).len(), 1);
}

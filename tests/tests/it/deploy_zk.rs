//! Two schedulers started at once on one ZooKeeper store (a real ZooKeeper on a loopback
//! port): exactly one drives the plan to completion, the other stops saying another scheduler
//! is active, and no step is launched again after it finished.

use std::time::{Duration, Instant};

use testkit::deployment::{Deployment, DeploymentSpec, StoreKind, ZooKeeper, slow_tests_enabled};

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
    // Only the survivor's framework is subscribed and owns tasks and offers. (The loser may
    // have subscribed under a fresh framework id before its first save lost; that framework is
    // left registered until its failover timeout: see the report.)
    let state = d.emulator.state();
    let active: Vec<_> = state.frameworks.iter().filter(|f| f.active).collect();
    assert_eq!(active.len(), 1, "one subscribed framework: {:?}", state.frameworks);
    for f in state.frameworks.iter().filter(|f| !f.active) {
        assert!(f.tasks.is_empty() && f.offers == 0, "the loser's framework holds nothing: {f:?}");
    }
    let launched_by: std::collections::BTreeSet<String> =
        d.launches().expect("launches").into_iter().map(|l| l.executor_id).collect();
    assert_eq!(launched_by.len(), 5, "one executor per agent: {launched_by:?}");
}

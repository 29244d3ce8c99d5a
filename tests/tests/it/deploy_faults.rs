//! Mesos faults in the middle of a full deployment with the real scheduler and executors: a
//! master fail-over to a standby (the old address then answers 307 to the new leader), the
//! subscription stream dropping, a spell with no elected leader (503), duplicated and delayed
//! status updates, and an agent restarting while a step runs on it. Each deployment completes
//! under one framework id with one executor per agent, and no completed step runs again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use testkit::deployment::{Deployment, DeploymentSpec, slow_tests_enabled, steps_of};

use crate::deploy_full::{DEPLOY_TIMEOUT, check_deployed};

fn complete_count(plan: &serde_json::Value) -> usize {
    steps_of(plan).iter().filter(|s| s["status"] == "complete").count()
}

pub(crate) async fn wait_progress(d: &mut Deployment, fraction: f64) {
    d.wait_plan(&format!("{:.0}% of the steps complete", fraction * 100.0), DEPLOY_TIMEOUT, |p| {
        let total = steps_of(p).len();
        total > 0 && complete_count(p) as f64 >= fraction * total as f64
    })
    .await
    .expect("progress");
}

/// No step is launched again once one of its tasks finished, and no node step runs more often
/// than the plan counted attempts for it.
pub(crate) fn assert_no_step_repeated(d: &Deployment, plan: &serde_json::Value) {
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

pub(crate) fn assert_one_executor_per_agent(d: &Deployment) {
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in d.launches().expect("launches") {
        ids.entry(l.agent_id).or_default().insert(l.executor_id);
    }
    for (agent, ids) in &ids {
        assert_eq!(ids.len(), 1, "agent {agent} got executors {ids:?}");
    }
    for (host, n) in d.max_executors() {
        assert!(*n <= 1, "{host} ran {n} executors at once");
    }
    assert_eq!(d.emulator.state().frameworks.len(), 1, "one framework throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_fail_over_307_dropped_stream_and_no_leader_mid_deployment() {
    if !slow_tests_enabled("master_fail_over_307_dropped_stream_and_no_leader_mid_deployment") {
        return;
    }
    let mut spec = DeploymentSpec::new(5);
    spec.standby = true;
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let framework = loop {
        d.check_scheduler().expect("running");
        if let Some(f) = d.emulator.state().frameworks.first() {
            break f.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    wait_progress(&mut d, 0.2).await;
    let old_leader = d.emulator.leader_url().expect("leader");
    d.emulator.fail_over();
    assert_ne!(d.emulator.leader_url().expect("new leader"), old_leader, "the standby leads");
    // The scheduler only knows the old address, which now answers 307.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(old_leader.join("api/v1/scheduler").expect("url"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("old master answers");
    assert_eq!(r.status().as_u16(), 307);

    wait_progress(&mut d, 0.45).await;
    assert!(d.emulator.drop_subscription(&framework), "the scheduler was subscribed again");

    wait_progress(&mut d, 0.7).await;
    let leader = d.emulator.leader_url().expect("leader");
    let index = d.emulator.master_urls().iter().position(|u| *u == leader);
    d.emulator.set_leader(None);
    d.emulator.drop_subscription(&framework);
    // While no master leads, the scheduler is not subscribed and says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, health) = d.get("/v1/health").await.expect("health");
        if status == 503 && health.to_string().contains("not subscribed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "health stayed {status} {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.emulator.set_leader(index);

    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete after the master faults");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
    assert_eq!(d.emulator.state().frameworks[0].id, framework, "the same framework id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_delayed_status_updates() {
    if !slow_tests_enabled("duplicated_and_delayed_status_updates") {
        return;
    }
    let mut d = Deployment::start(DeploymentSpec::new(5)).await.expect("deployment");
    d.emulator.set_duplicate_updates(true);
    d.emulator.set_update_delay(Duration::from_millis(300));
    d.start_scheduler().await.expect("scheduler");
    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_restart_mid_step() {
    if !slow_tests_enabled("an_agent_restart_mid_step") {
        return;
    }
    let mut d = Deployment::start(DeploymentSpec::new(5)).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    // Restart agent-4 (a data node) while one of its steps runs.
    d.wait_plan("a step runs on agent-4", DEPLOY_TIMEOUT, |p| {
        steps_of(p).iter().any(|s| {
            s["node"] == "agent-4" && matches!(s["status"].as_str(), Some("starting" | "running"))
        })
    })
    .await
    .expect("a step on agent-4");
    d.emulator.restart_agent("agent-4").expect("restart");

    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
    let agent4 = d.emulator.state().slaves.into_iter().find(|a| a.hostname == "agent-4");
    assert_eq!(agent4.expect("agent-4").restarts, 1);
}

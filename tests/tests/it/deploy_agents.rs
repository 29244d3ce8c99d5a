//! Liveness faults in the middle of a full deployment with the real scheduler and executors:
//! the master's stream going silent (no heartbeats, connection open), an agent whose host
//! reboots and comes back under a new agent id, and an agent that is removed and never comes
//! back; and a reboot phase in which every agent comes back under a new id. Those complete
//! under one framework id without repeating a finished step and without two executors on one
//! host; the lost agent's deployment finishes every other node and says which agent is missing
//! and for how long, in `/v1/plan` and in a 503 from `/v1/health` — also when the agent was
//! removed while the scheduler was down, which the master never reports to it.

use std::time::Duration;

use testkit::deployment::{Deployment, DeploymentSpec, slow_tests_enabled, steps_of};

use crate::deploy_faults::{assert_no_step_repeated, assert_one_executor_per_agent, wait_progress};
use crate::deploy_full::{DEPLOY_TIMEOUT, check_deployed};

/// The framework id once the scheduler subscribed.
async fn framework_id(d: &mut Deployment) -> String {
    loop {
        d.check_scheduler().expect("running");
        if let Some(f) = d.emulator.state().frameworks.first() {
            return f.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SUBSCRIBE calls in the record, with the framework id each carried.
fn subscribes(d: &Deployment) -> Vec<Option<String>> {
    d.record()
        .expect("record")
        .iter()
        .filter(|r| {
            r["api"] == "scheduler" && r["dir"] == "call" && r["body"]["type"] == "SUBSCRIBE"
        })
        .map(|r| r["body"]["framework_id"]["value"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until a step on `host` is launched and not finished; returns its id.
async fn a_step_running_on(d: &mut Deployment, host: &str) -> String {
    let plan = d
        .wait_plan(&format!("a step runs on {host}"), DEPLOY_TIMEOUT, |p| {
            steps_of(p).iter().any(|s| {
                s["node"] == host && matches!(s["status"].as_str(), Some("starting" | "running"))
            })
        })
        .await
        .expect("a running step");
    steps_of(&plan)
        .iter()
        .find(|s| s["node"] == host && matches!(s["status"].as_str(), Some("starting" | "running")))
        .and_then(|s| s["id"].as_str())
        .expect("step id")
        .to_owned()
}

/// A data node of a 5-agent deployment (not one of the three MDM hosts the cluster phase names),
/// once the MDM hosts are chosen.
async fn a_data_node(d: &mut Deployment) -> String {
    let plan = d
        .wait_plan("the MDM hosts are chosen", DEPLOY_TIMEOUT, |p| {
            steps_of(p)
                .iter()
                .any(|s| s["id"].as_str().is_some_and(|i| i.starts_with("mdm-cluster.")))
        })
        .await
        .expect("plan");
    let mdm_hosts: Vec<String> = steps_of(&plan)
        .iter()
        .filter(|s| s["id"].as_str().is_some_and(|i| i.starts_with("mdm-cluster.")))
        .filter_map(|s| s["node"].as_str().map(str::to_owned))
        .collect();
    (1..=5)
        .map(|i| format!("agent-{i}"))
        .rev()
        .find(|h| !mdm_hosts.contains(h))
        .expect("a data node")
}

/// Waits until every node but `lost` completed and `lost`'s steps are complete or in error, then
/// checks: the plan is in error, `lost`'s reboot step among its errored steps, each of them with a
/// message starting with `expected`, every other node's steps complete (rebooted and verified
/// without it), and `/v1/health` 503 naming it as lost, once. Returns the plan.
async fn others_finish_without(
    d: &mut Deployment,
    lost: &str,
    expected: &str,
) -> serde_json::Value {
    let plan = d
        .wait_plan("every other node done", DEPLOY_TIMEOUT, |p| {
            let steps = steps_of(p);
            steps.iter().filter(|s| s["node"] != lost).all(|s| s["status"] == "complete")
                && steps
                    .iter()
                    .filter(|s| s["node"] == lost)
                    .all(|s| matches!(s["status"].as_str(), Some("complete" | "error")))
        })
        .await
        .expect("the others finish");
    assert_eq!(plan["status"], "error", "{plan}");
    let errored: Vec<_> = steps_of(&plan)
        .into_iter()
        .filter(|s| s["node"] == lost && s["status"] == "error")
        .collect();
    assert!(
        errored.iter().any(|s| s["id"] == format!("reboot.{lost}")),
        "its reboot step is given up on: {errored:?}"
    );
    for s in &errored {
        let message = s["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(expected), "{}: {message}", s["id"]);
    }
    for s in steps_of(&plan).iter().filter(|s| s["node"] != lost) {
        assert_eq!(s["status"], "complete", "{s}");
    }
    let (status, health) = d.get("/v1/health").await.expect("health");
    assert_eq!(status, 503, "{health}");
    assert!(health.to_string().contains(expected), "{health}");
    // One reason for the node, not one "waits for an operator" per step: its agent is awaited.
    assert!(health.to_string().contains(&format!("node {lost} is lost, ")), "{health}");
    assert!(!health.to_string().contains("waits for an operator"), "{health}");
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_stopping_mid_deployment() {
    if !slow_tests_enabled("heartbeats_stopping_mid_deployment") {
        return;
    }
    // 1 s heartbeats: SUBSCRIBED reports them, and the scheduler's watchdog fires after 5 s of
    // silence.
    let mut spec = DeploymentSpec::new(5);
    spec.heartbeat = Duration::from_secs(1);
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let framework = framework_id(&mut d).await;
    wait_progress(&mut d, 0.3).await;
    assert_eq!(subscribes(&d).len(), 1);
    assert!(d.emulator.silence_subscription(&framework), "the scheduler was subscribed");
    let silenced = std::time::Instant::now();

    // The scheduler notices the silence and subscribes again with its framework id.
    let deadline = silenced + Duration::from_secs(30);
    while subscribes(&d).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no re-SUBSCRIBE\n{}", d.log_tail());
        d.check_scheduler().expect("running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let noticed = silenced.elapsed();
    assert!(noticed >= Duration::from_secs(4), "re-subscribed before the watchdog: {noticed:?}");
    assert_eq!(subscribes(&d)[1].as_deref(), Some(framework.as_str()), "the same framework id");

    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete after the silence");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
    assert_eq!(d.emulator.state().frameworks[0].id, framework);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_back_with_a_new_agent_id_mid_step() {
    if !slow_tests_enabled("an_agent_back_with_a_new_agent_id_mid_step") {
        return;
    }
    let mut d = Deployment::start(DeploymentSpec::new(5)).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let framework = framework_id(&mut d).await;
    let old_id = d.emulator.agent_id("agent-4").expect("agent-4");
    let step = a_step_running_on(&mut d, "agent-4").await;
    let (new_id, _boot) = d.emulator.reboot_agent_new_id("agent-4").expect("reboot");
    assert_ne!(new_id, old_id);

    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
    assert_eq!(d.emulator.state().frameworks[0].id, framework);
    // The interrupted step ran again, on the new agent id; agent-4 is one node throughout.
    let launches: Vec<_> =
        d.launches().expect("launches").into_iter().filter(|l| l.name == step).collect();
    assert!(launches.len() >= 2, "{step} was not retried: {launches:?}");
    assert_eq!(launches[0].agent_id, old_id);
    assert_eq!(launches.last().map(|l| l.agent_id.as_str()), Some(new_id.as_str()));
    let nodes = d.get("/v1/nodes").await.expect("nodes").1;
    let agent4: Vec<_> =
        nodes.as_array().expect("nodes").iter().filter(|n| n["hostname"] == "agent-4").collect();
    assert_eq!(agent4.len(), 1, "{nodes}");
    assert_eq!(agent4[0]["agent_id"], new_id.as_str(), "{nodes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_comes_back() {
    if !slow_tests_enabled("an_agent_that_never_comes_back") {
        return;
    }
    let mut spec = DeploymentSpec::new(5);
    spec.extra_scheduler_args = vec!["--agent-lost-timeout".into(), "3".into()];
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let lost = a_data_node(&mut d).await;
    let agent_id = d.emulator.agent_id(&lost).expect("agent");
    a_step_running_on(&mut d, &lost).await;
    d.emulator.remove_agent(&lost).expect("remove");

    let expected = format!("the agent on {lost} ({agent_id}) has been gone for ");
    let plan = others_finish_without(&mut d, &lost, &expected).await;
    let nodes = d.get("/v1/nodes").await.expect("nodes").1;
    let node = nodes.as_array().expect("nodes").iter().find(|n| n["hostname"] == lost.as_str());
    assert_eq!(node.expect("the lost node")["status"], "lost", "{nodes}");
    // A 3 s --agent-lost-timeout through a whole deployment: no healthy node waiting for an
    // offer was ever taken for silent (the removed one the master reported).
    let log = std::fs::read_to_string(d.dir().join("logs/scheduler-1.log")).expect("log");
    let marks: Vec<&str> = log.lines().filter(|l| l.contains("marking it lost")).collect();
    assert!(marks.is_empty(), "{marks:#?}");
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_removed_while_the_scheduler_is_down() {
    if !slow_tests_enabled("an_agent_removed_while_the_scheduler_is_down") {
        return;
    }
    let mut d = Deployment::start(DeploymentSpec::new(5)).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let lost = a_data_node(&mut d).await;
    let agent_id = d.emulator.agent_id(&lost).expect("agent");
    a_step_running_on(&mut d, &lost).await;

    // The scheduler dies; while it is down the master removes the agent. The FAILURE goes to
    // nobody, and the master does not repeat it to the restarted scheduler.
    d.kill_scheduler().await.expect("kill");
    d.emulator.remove_agent(&lost).expect("remove");
    d.spec.extra_scheduler_args = vec!["--agent-lost-timeout".into(), "10".into()];
    d.start_scheduler().await.expect("restart on the same store");

    let expected = format!("the agent on {lost} ({agent_id}) has made no offer for ");
    let plan = others_finish_without(&mut d, &lost, &expected).await;
    for s in steps_of(&plan).iter().filter(|s| s["node"] == lost.as_str() && s["status"] == "error")
    {
        let message = s["message"].as_str().unwrap_or_default();
        assert!(message.contains("(--agent-lost-timeout 10 s)"), "{}: {message}", s["id"]);
    }
    // Only the removed agent was taken for silent; the healthy ones never were.
    let log = std::fs::read_to_string(d.dir().join("logs/scheduler-2.log")).expect("log");
    let marks: Vec<&str> = log.lines().filter(|l| l.contains("marking it lost")).collect();
    assert!(!marks.is_empty() && marks.iter().all(|l| l.contains(lost.as_str())), "{marks:#?}");
    let nodes = d.get("/v1/nodes").await.expect("nodes").1;
    for n in nodes.as_array().expect("nodes") {
        let want = if n["hostname"] == lost.as_str() { "lost" } else { "ready" };
        assert_eq!(n["status"], want, "{nodes}");
    }
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reboot_phase_with_agents_back_under_new_ids() {
    if !slow_tests_enabled("the_reboot_phase_with_agents_back_under_new_ids") {
        return;
    }
    let mut d = Deployment::start(DeploymentSpec::new(5)).await.expect("deployment");
    let mut before = std::collections::BTreeMap::new();
    for i in 1..=5 {
        let host = format!("agent-{i}");
        d.emulator.set_new_id_on_reboot(&host, true).expect("agent");
        before.insert(host.clone(), d.emulator.agent_id(&host).expect("agent"));
    }
    d.start_scheduler().await.expect("scheduler");
    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    check_deployed(&d).await;
    assert_no_step_repeated(&d, &plan);
    assert_one_executor_per_agent(&d);
    let nodes = d.get("/v1/nodes").await.expect("nodes").1;
    for (host, old) in &before {
        let state = d.emulator.state();
        let agent = state.agent(host).expect("the host's agent");
        assert_eq!(agent.reboots, 1, "{host} rebooted once");
        assert_ne!(&agent.id, old, "{host} came back under a new id");
        let node = nodes.as_array().expect("nodes").iter().find(|n| n["hostname"] == host.as_str());
        assert_eq!(node.expect("node")["agent_id"], agent.id.as_str(), "{nodes}");
        // The reboot step was confirmed on the new agent by the new boot id.
        let step = steps_of(&plan)
            .into_iter()
            .find(|s| s["id"] == format!("reboot.{host}"))
            .expect("reboot step");
        assert!(step["message"].as_str().is_some_and(|m| m.contains(&agent.boot_id)), "{step}");
    }
}

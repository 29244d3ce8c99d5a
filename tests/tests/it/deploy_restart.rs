//! The scheduler SIGKILLed at seeded points of a full deployment and restarted on the same
//! store: the deployment completes under the same framework id, no step that had completed is
//! launched again, every agent keeps one executor (one executor id, never two at once), and no
//! offer stays outstanding once the plan is complete. Both in the slow tier (a restart
//! costs a re-subscription): one kill, and 5 seeds × 4 kills = 20 kill points.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use testkit::deployment::{Deployment, DeploymentSpec, slow_tests_enabled, steps_of};

use crate::deploy_full::{DEPLOY_TIMEOUT, check_deployed};

/// Step ids complete in `plan`.
fn complete(plan: &serde_json::Value) -> BTreeSet<String> {
    steps_of(plan)
        .iter()
        .filter(|s| s["status"] == "complete")
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect()
}

/// One deployment with `kills` SIGKILLs at points drawn from `seed`; returns the kill points
/// as (steps complete, total) for the report.
async fn killed_and_restarted(seed: u64, kills: usize) -> Vec<(usize, usize)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut spec = DeploymentSpec::new(5);
    spec.seed = seed;
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let plan = d
        .wait_plan("the plan has steps", DEPLOY_TIMEOUT, |p| !steps_of(p).is_empty())
        .await
        .expect("plan");
    let total = steps_of(&plan).len();
    // Kill points: distinct progress marks spread over the plan, each plus a random delay so
    // some kills land mid-step.
    let mut marks: Vec<usize> = (0..kills).map(|_| rng.random_range(1..total)).collect();
    marks.sort_unstable();
    let mut points = Vec::new();
    // (record lines before the kill, steps complete before the kill)
    let mut done_before: Vec<(usize, BTreeSet<String>)> = Vec::new();
    for mark in marks {
        let plan = d
            .wait_plan(&format!("{mark} steps complete"), DEPLOY_TIMEOUT, |p| {
                complete(p).len() >= mark
            })
            .await
            .expect("progress");
        let delay = Duration::from_millis(rng.random_range(0..800));
        tokio::time::sleep(delay).await;
        let plan = d.plan().await.unwrap_or(plan);
        let done = complete(&plan);
        if done.len() == total {
            break;
        }
        d.kill_scheduler().await.expect("SIGKILL");
        points.push((done.len(), total));
        done_before.push((d.record().expect("record").len(), done));
        d.start_scheduler().await.expect("restart on the same store");
    }
    d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete after the restarts");
    check_deployed(&d).await;

    // No step complete before a kill is launched after it.
    let record = d.record().expect("record");
    let mut relaunched = Vec::new();
    for (cut, done) in &done_before {
        for r in &record[*cut..] {
            if r["api"] != "scheduler" || r["dir"] != "call" || r["body"]["type"] != "ACCEPT" {
                continue;
            }
            for op in r["body"]["accept"]["operations"].as_array().into_iter().flatten() {
                for t in op["launch"]["task_infos"].as_array().into_iter().flatten() {
                    let name = t["name"].as_str().unwrap_or_default();
                    if done.contains(name) {
                        relaunched.push(format!("{name} (task {})", t["task_id"]["value"]));
                    }
                }
            }
        }
    }
    assert!(relaunched.is_empty(), "seed {seed}: completed steps launched again: {relaunched:?}");

    // One executor per agent: one executor id ever, never two at once.
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in d.launches().expect("launches") {
        ids.entry(l.agent_id).or_default().insert(l.executor_id);
    }
    for (agent, ids) in &ids {
        assert_eq!(ids.len(), 1, "seed {seed}: agent {agent} got executors {ids:?}");
    }
    for (host, n) in d.max_executors() {
        assert!(*n <= 1, "seed {seed}: {host} ran {n} executors at once");
    }
    // Same framework, and no offer held once nothing is pending.
    let state = d.emulator.state();
    assert_eq!(state.frameworks.len(), 1, "seed {seed}: one framework across restarts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.emulator.state().frameworks[0].offers > 0 {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the complete scheduler still holds {} offer(s)",
            d.emulator.state().frameworks[0].offers
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    points
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_mid_deployment_resumes_without_repeating_steps() {
    if !slow_tests_enabled("a_scheduler_killed_mid_deployment_resumes_without_repeating_steps") {
        return;
    }
    let points = killed_and_restarted(7, 1).await;
    assert_eq!(points.len(), 1, "the kill landed before the end: {points:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_seeded_kills_all_complete_without_repeating_steps() {
    if !slow_tests_enabled("twenty_seeded_kills_all_complete_without_repeating_steps") {
        return;
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for seed in 100..105 {
        let t = Instant::now();
        let points = killed_and_restarted(seed, 4).await;
        eprintln!("seed {seed}: kills at {points:?} in {:.1}s", t.elapsed().as_secs_f64());
        all.extend(points);
    }
    eprintln!("{} kill points in {:.1}s", all.len(), started.elapsed().as_secs_f64());
    assert!(all.len() >= 18, "most kill points land before the end: {all:?}");
}

//! Fault injection: agent restart (checkpointing executors re-subscribe, others are lost),
//! host reboot on a simulated host (executors killed, new boot id, same agent id), dropped
//! subscriptions, delayed and duplicated updates, leader fail-over, the control endpoint, and
//! the `mini-mesos` binary; a silenced subscription stream, a reboot that brings the agent back
//! with a new agent id, and an agent removed for good.

use std::path::Path;
use std::time::Duration;

use mesos::scheduler::CallKind;
use mesos::{Filters, Offer, Operation, TaskID, TaskReason, TaskState};
use testkit::emulator::{AgentSpec, EmulatorConfig, SimulatedHosts};

use crate::emulator_support::{
    Sched, TEST_EXECUTOR, WAIT, client, eventually, executor_task, fast_config, framework_info,
    start,
};

async fn launch(sched: &mut Sched, id: &str, data: &str) -> Offer {
    let offer = sched.offers().await.remove(0);
    let op = Operation::launch(vec![executor_task(id, &offer, data)]);
    let (code, body) = sched
        .call(CallKind::accept(vec![offer.id.clone()], vec![op], Some(Filters::refuse(0.0))))
        .await;
    assert_eq!(code, 202, "{body}");
    offer
}

#[tokio::test]
async fn agent_restart_keeps_checkpointing_executors_and_loses_the_others() {
    let emu = start(EmulatorConfig {
        executor_reregistration_timeout: Duration::from_secs(1),
        ..fast_config(1)
    })
    .await;
    let mut info = framework_info("ckpt");
    info.checkpoint = Some(true);
    let mut ckpt = Sched::subscribe(&emu.master_url(), info).await;
    // The agent's only offer goes to `ckpt` before the other framework subscribes (subscribed
    // together, either could be offered it first, and `ckpt` would wait for nothing).
    let first = ckpt.offers().await;
    ckpt.stash.extend(first);
    let mut plain = Sched::subscribe(&emu.master_url(), framework_info("plain")).await;
    launch(&mut ckpt, "kept", "run").await;
    ckpt.await_state("kept", TaskState::Running).await;
    // Leave the agent's remaining resources to the other framework.
    let held: Vec<_> = std::mem::take(&mut ckpt.stash).into_iter().map(|o| o.id).collect();
    ckpt.call(CallKind::decline(held, Some(Filters::refuse(3600.0)))).await;
    ckpt.call(CallKind::Suppress(mesos::scheduler::Suppress::default())).await;
    launch(&mut plain, "lost", "run").await;
    plain.await_state("lost", TaskState::Running).await;

    let sandbox = emu.state().slaves[0]
        .executors
        .iter()
        .find(|e| e.executor_id == "exec-kept")
        .unwrap()
        .sandbox
        .clone();
    let env: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(Path::new(&sandbox).join("env.json")).unwrap())
            .unwrap();
    assert_eq!(env["MESOS_CHECKPOINT"], "1");
    assert_eq!(env["MESOS_RECOVERY_TIMEOUT"], "15mins");
    assert_eq!(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"], "1secs");
    emu.restart_agent("agent-1").unwrap();
    let s = plain.update_for("lost").await;
    assert_eq!(
        (s.state, s.reason, s.uuid),
        (TaskState::Lost, Some(TaskReason::AgentRestarted), None)
    );
    eventually("agent recovered and the checkpointing executor re-subscribed", || {
        let st = emu.state();
        st.slaves[0].active
            && st.slaves[0].restarts == 1
            && st.slaves[0].executors.iter().any(|e| e.executor_id == "exec-kept" && e.subscribed)
    })
    .await;
    assert_eq!(
        emu.state().tasks().find(|t| t.id == "kept").map(|t| t.state.clone()),
        Some("TASK_RUNNING".into())
    );
    // The new executor stream works: KILL arrives and TASK_KILLED comes back.
    let kill =
        mesos::scheduler::Kill { task_id: TaskID::new("kept"), agent_id: None, kill_policy: None };
    assert_eq!(ckpt.call(CallKind::Kill(kill)).await.0, 202);
    ckpt.await_state("kept", TaskState::Killed).await;
}

#[tokio::test]
async fn a_reboot_on_a_simulated_host_kills_executors_and_keeps_the_agent_id() {
    let bin_dir = Path::new(TEST_EXECUTOR).parent().unwrap().to_owned();
    let mut rhel = AgentSpec::new("rhel-1").with_attributes("os:rhel7").unwrap();
    rhel.devices = Some(vec![testkit::emulator::DeviceSpec { name: "sdb".into(), size_gib: 120 }]);
    let config = EmulatorConfig {
        agents: vec![
            AgentSpec::new("ubuntu-1")
                .with_attributes("os:ubuntu14;scaleio-sds-domains:pd1")
                .unwrap(),
            rhel,
        ],
        hosts: Some(SimulatedHosts { bin_dir, standin_state: None }),
        reboot_delay: Duration::from_millis(200),
        ..fast_config(0)
    };
    let emu = start(config).await;
    let before = emu.state();
    let ubuntu = before.agent("ubuntu-1").unwrap().clone();
    let root = Path::new(ubuntu.host_root.as_deref().expect("a simulated host"));
    assert!(
        std::fs::read_to_string(root.join("etc/os-release"))
            .unwrap()
            .contains("VERSION_ID=\"14.04\"")
    );
    assert_eq!(std::fs::metadata(root.join("dev/xvdf")).unwrap().len(), 100 << 30);
    let rhel_root = before.agent("rhel-1").unwrap().host_root.clone().unwrap();
    assert!(
        std::fs::read_to_string(Path::new(&rhel_root).join("etc/os-release"))
            .unwrap()
            .contains("CentOS Linux 7")
    );
    assert_eq!(std::fs::metadata(Path::new(&rhel_root).join("dev/sdb")).unwrap().len(), 120 << 30);
    let model =
        testkit::standins::model::Model::load(&emu.work_dir().join("scaleio-model.json")).unwrap();
    assert_eq!(
        model.root_of("127.1.0.1"),
        Some(root),
        "each host is registered under its agent's IP"
    );

    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("reboot")).await;
    let offer = loop {
        let o = launch_target(&mut sched, "ubuntu-1").await;
        if let Some(o) = o {
            break o;
        }
    };
    let op = Operation::launch(vec![executor_task("rebooter", &offer, "reboot")]);
    sched
        .call(CallKind::accept(vec![offer.id.clone()], vec![op], Some(Filters::refuse(0.0))))
        .await;
    sched.await_state("rebooter", TaskState::Running).await;
    let sandbox = emu.state().agent("ubuntu-1").unwrap().executors[0].sandbox.clone();
    let lost = sched.update_for("rebooter").await;
    assert_eq!(
        (lost.state, lost.message.as_deref()),
        (TaskState::Lost, Some("Agent host rebooted"))
    );
    let after = emu.state();
    let agent = after.agent("ubuntu-1").unwrap();
    assert_eq!(agent.id, ubuntu.id, "the agent re-registers with the same id");
    assert_ne!(agent.boot_id, ubuntu.boot_id);
    assert_eq!(agent.reboots, 1);
    assert!(agent.executors.is_empty());
    assert_eq!(
        std::fs::read_to_string(root.join("proc/sys/kernel/random/boot_id")).unwrap().trim(),
        agent.boot_id
    );
    // The executor saw the simulated host.
    let env: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(Path::new(&sandbox).join("env.json")).unwrap())
            .unwrap();
    assert_eq!(env["SCALEIO_HOST_ROOT"], root.display().to_string());
    assert_eq!(
        env["SCALEIO_STANDIN_STATE"],
        emu.work_dir().join("scaleio-model.json").display().to_string()
    );
    assert!(
        env["PATH"].starts_with(&format!("{}:", emu.work_dir().join("host-tools").display())),
        "{}",
        env["PATH"]
    );
    assert!(testkit::standins::host::recorded(root).iter().any(|argv| argv[0].ends_with("reboot")));
    // Its resources are offered again.
    eventually("ubuntu-1 offered again", || {
        emu.state().agent("ubuntu-1").is_some_and(|a| a.active)
    })
    .await;
    loop {
        if launch_target(&mut sched, "ubuntu-1").await.is_some() {
            break;
        }
    }
}

/// Declines offers until one for `hostname` comes; returns it.
async fn launch_target(sched: &mut Sched, hostname: &str) -> Option<Offer> {
    let mut offers = sched.offers().await;
    let pos = offers.iter().position(|o| o.hostname == hostname);
    let found = pos.map(|p| offers.remove(p));
    sched.decline_all(&offers).await;
    found
}

#[tokio::test]
async fn dropped_subscriptions_and_delayed_or_duplicated_updates() {
    let emu = start(fast_config(1)).await;
    let mut info = framework_info("faults");
    let mut sched = Sched::subscribe(&emu.master_url(), info.clone()).await;
    emu.set_duplicate_updates(true);
    launch(&mut sched, "dup", "run").await;
    let a = sched.update_for("dup").await;
    let b = sched.update_for("dup").await;
    assert_eq!((a.state.clone(), a.uuid.clone()), (b.state, b.uuid), "the same update twice");
    emu.set_duplicate_updates(false);
    // Dropped subscription with the update unacknowledged: re-subscribing redelivers it.
    assert!(emu.drop_subscription(&sched.framework_id));
    let end =
        tokio::time::timeout(WAIT, async { while sched.events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "the stream is closed");
    info.id = sched.id();
    let mut again = Sched::subscribe(&emu.master_url(), info).await;
    let redelivered = again.update_for("dup").await;
    assert_eq!(redelivered.uuid, a.uuid);
    assert_eq!(again.call(CallKind::acknowledge(&redelivered).unwrap()).await.0, 202);
    // Delayed updates arrive late, but arrive.
    emu.set_update_delay(Duration::from_millis(500));
    let started = tokio::time::Instant::now();
    launch(&mut again, "slow", "run").await;
    again.await_state("slow", TaskState::Running).await;
    assert!(started.elapsed() >= Duration::from_millis(500), "delivered before the injected delay");
    // Leader fail-over closes the stream; re-subscribing keeps the framework and its tasks.
    emu.fail_over();
    let end =
        tokio::time::timeout(WAIT, async { while again.events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "fail-over closes subscription streams");
    assert_eq!(
        again.call(CallKind::decline(vec![], None)).await,
        (403, "Framework is not subscribed".into())
    );
    let mut info = framework_info("faults");
    info.id = again.id();
    let mut third = Sched::subscribe(&emu.master_url(), info).await;
    third.call(CallKind::reconcile_all()).await;
    let s = third.update_for("dup").await;
    assert_eq!((s.state, s.reason), (TaskState::Running, Some(TaskReason::Reconciliation)));
}

#[tokio::test]
async fn the_control_endpoint_injects_faults_over_http() {
    let emu = start(fast_config(1)).await;
    let c = client();
    let url = |p: &str| emu.master_url().join(p).unwrap();
    let r = c.post(url("__control/agents/agent-1/reboot")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["boot_id"].as_str(), Some(emu.state().slaves[0].boot_id.as_str()));
    let r = c.post(url("__control/agents/nope/restart")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (404, "no agent with id or hostname \"nope\"".into())
    );
    let r = c.post(url("__control/agents/agent-1/restart")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!emu.state().slaves[0].active, "recovering after restart");
    let r = c.post(url("__control/updates?delay_ms=0&duplicate=true")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["duplicate"], true);
    let r = c.post(url("__control/frameworks/none/drop-subscription")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(c.get(url("state")).send().await.unwrap().status(), 200);
    let agent = emu.agent_url("agent-1").unwrap().join("slave(1)/api/v1/executor").unwrap();
    let r = c
        .post(agent)
        .header("Content-Type", "application/json")
        .body(r#"{"type":"HEARTBEAT","framework_id":{"value":"f"},"executor_id":{"value":"e"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "the libprocess path form of the executor API");
    let r = c.post(url("__control/leader?index=none")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(url("master/state")).send().await.unwrap().status(), 503);
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves_the_agents_file() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.json");
    std::fs::write(&agents, r#"[{"hostname":"a1","cpus":2,"mem":1024,"disk":5000,"ports":"[31000-31009]","attributes":"os:ubuntu14;rack:r1"}]"#).unwrap();
    let help = testkit::emulator::process::command(env!("CARGO_BIN_EXE_mini-mesos"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--listen",
        "--agents",
        "--agents-file",
        "--work-dir",
        "--record",
        "--heartbeat",
        "--allocation-interval",
        "--seed",
        "--host-tools",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let mut cmd = testkit::emulator::process::command(env!("CARGO_BIN_EXE_mini-mesos"));
    cmd.args(["--listen", "127.0.0.1:0", "--agents-file"])
        .arg(&agents)
        .arg("--record")
        .arg(dir.path().join("rec.jsonl"));
    let (mut child, master, _stdout) = spawn_mini_mesos(cmd).await;
    let state: serde_json::Value = client()
        .get(master.join("master/state").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["slaves"][0]["hostname"], "a1");
    assert_eq!(state["slaves"][0]["resources"]["ports"], "[31000-31009]");
    assert_eq!(state["slaves"][0]["attributes"]["rack"], "r1");
    let mut sched = Sched::subscribe(&master, framework_info("bin")).await;
    assert_eq!(sched.offers().await[0].hostname, "a1");
    child.kill().await.unwrap();
    let rec = std::fs::read_to_string(dir.path().join("rec.jsonl")).unwrap();
    assert!(
        rec.lines().next().unwrap().starts_with(r#"{"api":"scheduler","body":{"subscribe""#)
            || rec.contains("\"SUBSCRIBE\"")
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"hostname":"a1","cpu":2}]"#).unwrap();
    let out = testkit::emulator::process::command(env!("CARGO_BIN_EXE_mini-mesos"))
        .args(["--listen", "127.0.0.1:0", "--agents-file"])
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("unknown field `cpu`"), "{err}");
}

#[tokio::test]
async fn a_silenced_subscription_stays_open_but_sends_nothing_until_a_new_subscribe() {
    let emu = start(fast_config(1)).await;
    let mut info = framework_info("silent");
    let mut sched = Sched::subscribe(&emu.master_url(), info.clone()).await;
    launch(&mut sched, "quiet", "run").await;
    sched.await_state("quiet", TaskState::Running).await;
    assert!(emu.silence_subscription(&sched.framework_id));
    // Calls still work (the master counts the framework as subscribed): the task's TASK_KILLED
    // goes into the void.
    let kill =
        mesos::scheduler::Kill { task_id: TaskID::new("quiet"), agent_id: None, kill_policy: None };
    assert_eq!(sched.call(CallKind::Kill(kill)).await.0, 202);
    // Drain what was already on the way, then: the stream stays open and carries nothing for
    // many heartbeat intervals (300 ms), not even offers or heartbeats.
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(100), sched.events.recv()).await
    {}
    let quiet = tokio::time::timeout(Duration::from_secs(2), sched.events.recv()).await;
    assert!(quiet.is_err(), "an event came on a silenced stream: {quiet:?}");
    assert!(emu.state().frameworks[0].active, "the master still counts it as subscribed");
    // The unacknowledged update is kept and comes on the new stream.
    info.id = sched.id();
    let mut again = Sched::subscribe(&emu.master_url(), info).await;
    let s = again.update_for("quiet").await;
    assert_eq!(s.state, TaskState::Killed);
    assert!(s.uuid.is_some(), "the agent's update, still waiting for its acknowledgement");
    again
        .wait_for("a heartbeat", |e| matches!(e, mesos::scheduler::Event::Heartbeat).then_some(()))
        .await;
    let r = client()
        .post(emu.master_url().join("__control/frameworks/nope/silence").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_reboot_with_a_new_agent_id_removes_the_old_agent_and_offers_the_new_one() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("wiped")).await;
    let offer = launch(&mut sched, "old", "run").await;
    sched.await_state("old", TaskState::Running).await;
    let old_id = offer.agent_id.value.clone();
    let r = client()
        .post(emu.master_url().join("__control/agents/agent-1/reboot?new_id=true").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let new_id = v["agent_id"].as_str().unwrap().to_owned();
    assert_eq!(v["old_agent_id"], old_id.as_str());
    assert_ne!(new_id, old_id);
    // The old agent's task is lost (master-made, no uuid), then FAILURE names the old agent.
    let s = sched.update_for("old").await;
    assert_eq!(
        (s.state, s.reason, s.uuid, s.agent_id.map(|a| a.value)),
        (TaskState::Lost, Some(TaskReason::AgentRemoved), None, Some(old_id.clone()))
    );
    let failed = sched
        .wait_for("FAILURE for the old agent", |e| match e {
            mesos::scheduler::Event::Failure(f) if f.executor_id.is_none() => {
                f.agent_id.as_ref().map(|a| a.value.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(failed, old_id);
    // The same host offers again under its new id, and a task launched there runs.
    let offer = loop {
        let offers = sched.offers().await;
        if let Some(o) = offers.iter().find(|o| o.agent_id.value == new_id) {
            break o.clone();
        }
    };
    assert_eq!(offer.hostname, "agent-1");
    let st = emu.state();
    assert_eq!(st.slaves.len(), 1, "the old agent is gone from the master");
    assert_eq!((st.slaves[0].id.as_str(), st.slaves[0].reboots), (new_id.as_str(), 1));
    assert_eq!(emu.agent_id("agent-1").as_deref(), Some(new_id.as_str()));
    let op = Operation::launch(vec![executor_task("new", &offer, "run")]);
    sched.call(CallKind::accept(vec![offer.id.clone()], vec![op], None)).await;
    let s = sched.await_state("new", TaskState::Running).await;
    assert_eq!(s.agent_id.map(|a| a.value), Some(new_id));
    // Reconciling the old task: its agent is unknown now.
    sched
        .call(CallKind::Reconcile(mesos::scheduler::Reconcile {
            tasks: vec![mesos::scheduler::ReconcileTask {
                task_id: TaskID::new("old"),
                agent_id: Some(mesos::AgentID::new(old_id)),
            }],
        }))
        .await;
    assert_eq!(sched.update_for("old").await.state, TaskState::Lost);
}

#[tokio::test]
async fn a_removed_agent_loses_its_tasks_and_never_offers_again() {
    let emu = start(fast_config(2)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("removed")).await;
    let offer = loop {
        if let Some(o) = launch_target(&mut sched, "agent-2").await {
            break o;
        }
    };
    let op = Operation::launch(vec![executor_task("doomed", &offer, "run")]);
    sched.call(CallKind::accept(vec![offer.id.clone()], vec![op], None)).await;
    sched.await_state("doomed", TaskState::Running).await;
    let pid = emu.state().agent("agent-2").unwrap().executors[0].pid;
    let r = client()
        .post(emu.master_url().join("__control/agents/agent-2/remove").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = sched.update_for("doomed").await;
    assert_eq!(
        (s.state, s.reason, s.uuid),
        (TaskState::Lost, Some(TaskReason::AgentRemoved), None)
    );
    assert!(emu.state().agent("agent-2").is_none(), "the master forgot the agent");
    assert_eq!(emu.agent_id("agent-2"), None);
    if let Some(pid) = pid {
        eventually("the removed host's executor is killed", || {
            !Path::new(&format!("/proc/{pid}")).exists()
        })
        .await;
    }
    // Offers keep coming from agent-1 only.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < deadline {
        let offers = sched.offers().await;
        assert!(offers.iter().all(|o| o.hostname == "agent-1"), "{offers:?}");
        sched.decline_all(&offers).await;
    }
    let address = offer.url.expect("the offer names the agent's address").address;
    let agent = format!("http://{}:{}/api/v1/executor", address.ip.unwrap(), address.port);
    let r = client()
        .post(agent)
        .header("Content-Type", "application/json")
        .body(r#"{"type":"HEARTBEAT","framework_id":{"value":"f"},"executor_id":{"value":"e"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "the removed agent's executor API");
}

/// Whether `pid` is gone (or a zombie nobody reaped yet: it runs no more).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn executors_die_with_a_sigkilled_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = testkit::emulator::process::command(env!("CARGO_BIN_EXE_mini-mesos"));
    cmd.args(["--listen", "127.0.0.1:0", "--agents", "1", "--allocation-interval", "0.05"])
        .arg("--work-dir")
        .arg(dir.path());
    let (mut child, master, _stdout) = spawn_mini_mesos(cmd).await;
    // A checkpointing framework: its executor would wait 15 minutes for its agent to come back.
    let mut info = framework_info("orphans");
    info.checkpoint = Some(true);
    let mut sched = Sched::subscribe(&master, info).await;
    launch(&mut sched, "orphan", "run").await;
    sched.await_state("orphan", TaskState::Running).await;
    let state: serde_json::Value = client()
        .get(master.join("master/state").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = state["slaves"][0]["executors"][0]["pid"].as_u64().expect("executor pid") as u32;
    assert!(!process_gone(pid));

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !process_gone(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "executor {pid} outlived its SIGKILLed emulator"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_simulated_host_reports_the_mesos_version_of_its_agent() {
    let bin_dir = Path::new(TEST_EXECUTOR).parent().unwrap().to_owned();
    let mut old = AgentSpec::new("old").with_attributes("os:ubuntu14").unwrap();
    old.mesos_version = Some("0.28.2".into());
    let mut bad = old.clone();
    bad.mesos_version = Some("1.12".into());
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "agent \"old\": mesos_version is \"1.12\", expected a version like 1.12.0"
    );
    // Without a version the host runs the Mesos the emulator imitates.
    let new = AgentSpec::new("new").with_attributes("os:ubuntu14").unwrap();
    let emu = start(EmulatorConfig {
        agents: vec![new, old],
        hosts: Some(SimulatedHosts { bin_dir, standin_state: None }),
        ..fast_config(0)
    })
    .await;
    let ask = |host: &str| {
        let root = emu.state().agent(host).unwrap().host_root.clone().unwrap();
        let mut cmd =
            testkit::emulator::process::command(emu.work_dir().join("host-tools/mesos-agent"));
        cmd.arg("--version").env("SCALEIO_HOST_ROOT", root);
        cmd
    };
    let out = ask("new").output().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mesos 1.12.0\n");
    let out = ask("old").output().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mesos 0.28.2\n");
}

/// Starts a `mini-mesos` command and reads the master URL it prints as its first line. The
/// returned reader keeps its stdout open (a closed pipe would fail its later writes).
async fn spawn_mini_mesos(
    mut cmd: tokio::process::Command,
) -> (tokio::process::Child, reqwest::Url, tokio::io::BufReader<tokio::process::ChildStdout>) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(WAIT, tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line))
        .await
        .expect("URL in time")
        .unwrap();
    (child, reqwest::Url::parse(line.trim()).expect("a URL on stdout"), stdout)
}

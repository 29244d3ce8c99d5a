//! Agents and real executor processes: the fetcher's rules, the executor environment, the
//! executor API (SUBSCRIBE, UPDATE, MESSAGE and their rejections), reliable status updates one
//! at a time per task, KILL, executor exit → FAILURE, and the `--record` file.

use mesos::scheduler::{self, CallKind, Event};
use mesos::{
    CommandInfo, ExecutorID, ExecutorInfo, Filters, Offer, Operation, Resource, TaskID, TaskInfo,
    TaskReason, TaskSource, TaskState, Uri,
};
use std::path::Path;
use testkit::emulator::EmulatorConfig;

use crate::emulator_support::{Sched, client, eventually, fast_config, framework_info, start};

const TEST_EXECUTOR: &str = env!("CARGO_BIN_EXE_test-executor");

fn executor(id: &str, uris: Vec<Uri>) -> ExecutorInfo {
    let mut e = ExecutorInfo::new(ExecutorID::new(id));
    e.command = Some(CommandInfo {
        uris,
        shell: Some(false),
        value: Some(TEST_EXECUTOR.into()),
        arguments: vec!["test-executor".into()],
        ..CommandInfo::default()
    });
    e.resources = vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)];
    e
}

fn task_on(id: &str, offer: &Offer, exec: &ExecutorInfo, data: &str) -> TaskInfo {
    let mut t = TaskInfo::new(
        id,
        TaskID::new(id),
        offer.agent_id.clone(),
        vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 16.0)],
    );
    t.executor = Some(exec.clone());
    t.data = Some(data.into());
    t
}

async fn launch(sched: &Sched, offer: &Offer, tasks: Vec<TaskInfo>) {
    let (code, body) = sched
        .call(CallKind::accept(
            vec![offer.id.clone()],
            vec![Operation::launch(tasks)],
            Some(Filters::refuse(0.0)),
        ))
        .await;
    assert_eq!(code, 202, "{body}");
}

/// A ustar archive with one regular file `name` (written by hand so `..` can be in it).
fn tar_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

async fn gzip(path: &Path, tar: &[u8]) {
    std::fs::write(path.with_extension(""), tar).unwrap();
    let status = testkit::emulator::process::command("gzip")
        .arg("-f")
        .arg(path.with_extension(""))
        .status()
        .await;
    assert!(status.is_ok_and(|s| s.success()), "gzip");
}

#[tokio::test]
async fn a_real_executor_gets_the_agent_environment_and_its_updates_reach_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tar.gz");
    gzip(&bundle, &tar_with("bundle/hello.txt", b"hello\n")).await;
    std::fs::write(dir.path().join("plain.bin"), b"x").unwrap();
    let record = dir.path().join("wire.jsonl");
    let emu = start(EmulatorConfig { record: Some(record.clone()), ..fast_config(1) }).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("exec")).await;
    let offer = sched.offers().await.remove(0);
    let exec = executor(
        "e1",
        vec![
            Uri::new(format!("file://{}", bundle.display())),
            Uri {
                executable: Some(true),
                ..Uri::new(dir.path().join("plain.bin").display().to_string())
            },
        ],
    );
    launch(&sched, &offer, vec![task_on("t1", &offer, &exec, "run")]).await;
    let running = sched.update_for("t1").await;
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.source, Some(TaskSource::Executor));
    assert_eq!(running.agent_id.as_ref(), Some(&offer.agent_id), "the agent fills agent_id");
    assert!(running.uuid.is_some());
    let cs = running.container_status.clone().expect("container_status");
    assert!(cs.executor_pid.is_some());
    assert_eq!(cs.network_infos[0].ip_addresses[0].ip_address.as_deref(), Some("127.1.0.1"));
    assert_eq!(sched.call(CallKind::acknowledge(&running).unwrap()).await.0, 202);

    // Sandbox: fetched archive extracted next to the archive itself; executable file 0755.
    let state = emu.state();
    let e = &state.slaves[0].executors[0];
    assert!(e.subscribed);
    let sandbox = Path::new(&e.sandbox);
    assert!(sandbox.starts_with(emu.work_dir().join("agents").join(&offer.agent_id.value)));
    assert_eq!(std::fs::read_to_string(sandbox.join("bundle/hello.txt")).unwrap(), "hello\n");
    assert!(sandbox.join("bundle.tar.gz").is_file(), "without cache the archive stays");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(sandbox.join("plain.bin")).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let env: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(sandbox.join("env.json")).unwrap()).unwrap();
    let agent = &state.slaves[0];
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], agent.pid.trim_start_matches("slave(1)@"));
    assert_eq!(env["MESOS_SLAVE_PID"], agent.pid);
    assert_eq!(env["MESOS_FRAMEWORK_ID"], sched.framework_id);
    assert_eq!(env["MESOS_EXECUTOR_ID"], "e1");
    assert_eq!(env["MESOS_SLAVE_ID"], offer.agent_id.value);
    assert_eq!(env["MESOS_CHECKPOINT"], "0");
    assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
    assert_eq!(env["MESOS_SANDBOX"], e.sandbox);
    assert_eq!(env["MESOS_DIRECTORY"], e.sandbox);
    assert_eq!(env["LIBPROCESS_PORT"], "0");
    assert!(!env.contains_key("MESOS_RECOVERY_TIMEOUT"), "only when checkpointing");
    assert!(!env.contains_key("HOME"), "nothing leaks from the agent's own environment");

    // MESSAGE both ways.
    let m = scheduler::Message {
        agent_id: offer.agent_id.clone(),
        executor_id: ExecutorID::new("e1"),
        data: "ping".into(),
    };
    assert_eq!(sched.call(CallKind::Message(m)).await.0, 202);
    let echo = sched
        .wait_for("MESSAGE", |e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!((echo.data.as_slice(), echo.executor_id.value.as_str()), (&b"echo:ping"[..], "e1"));

    // Explicit reconciliation of a known task: latest state, no uuid.
    let r = scheduler::Reconcile {
        tasks: vec![scheduler::ReconcileTask {
            task_id: TaskID::new("t1"),
            agent_id: Some(offer.agent_id.clone()),
        }],
    };
    sched.call(CallKind::Reconcile(r)).await;
    let rec = sched.update_for("t1").await;
    assert_eq!(
        (rec.state, rec.reason, rec.uuid.is_none()),
        (TaskState::Running, Some(TaskReason::Reconciliation), true)
    );
    assert_eq!(rec.message.as_deref(), Some("Reconciliation: Latest task state"));

    // A second task on the same executor id with a different ExecutorInfo is refused.
    let offer = sched.offers().await.remove(0);
    assert_eq!(offer.executor_ids, vec![ExecutorID::new("e1")], "offers name running executors");
    let mut changed = exec.clone();
    changed.name = Some("different".into());
    launch(&sched, &offer, vec![task_on("t-incompatible", &offer, &changed, "run")]).await;
    let s = sched.update_for("t-incompatible").await;
    assert_eq!(s.state, TaskState::Error);
    assert!(s.message.unwrap().contains("not compatible"));

    // KILL reaches the executor, which answers TASK_KILLED.
    let offer = sched.offers().await.remove(0);
    launch(&sched, &offer, vec![task_on("t2", &offer, &exec, "run")]).await;
    sched.await_state("t2", TaskState::Running).await;
    let kill = scheduler::Kill { task_id: TaskID::new("t2"), agent_id: None, kill_policy: None };
    assert_eq!(sched.call(CallKind::Kill(kill)).await.0, 202);
    sched.await_state("t2", TaskState::Killed).await;

    // The executor exits with 3: FAILURE with the raw wait status, t1 fails.
    let offer = sched.offers().await.remove(0);
    launch(&sched, &offer, vec![task_on("t3", &offer, &exec, "exit:3")]).await;
    let failure = sched
        .wait_for("FAILURE", |e| match e {
            Event::Failure(f) => Some(f.clone()),
            _ => None,
        })
        .await;
    assert_eq!((failure.status, failure.exit_code()), (Some(768), Some(3)));
    assert_eq!(failure.executor_id, Some(ExecutorID::new("e1")));
    let failed = sched.await_state("t1", TaskState::Failed).await;
    assert_eq!(
        (failed.reason, failed.source),
        (Some(TaskReason::ExecutorTerminated), Some(TaskSource::Agent))
    );
    eventually("executor gone", || emu.state().slaves[0].executors.is_empty()).await;

    // The record file holds every call and event, executor traffic with its agent.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: std::collections::BTreeSet<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {}",
                l["api"].as_str().unwrap(),
                l["dir"].as_str().unwrap(),
                l["body"]["type"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "scheduler call SUBSCRIBE",
        "scheduler call ACCEPT",
        "scheduler call ACKNOWLEDGE",
        "scheduler call MESSAGE",
        "scheduler call KILL",
        "scheduler call RECONCILE",
        "scheduler event SUBSCRIBED",
        "scheduler event HEARTBEAT",
        "scheduler event OFFERS",
        "scheduler event UPDATE",
        "scheduler event MESSAGE",
        "scheduler event FAILURE",
        "executor call SUBSCRIBE",
        "executor call UPDATE",
        "executor call MESSAGE",
        "executor event SUBSCRIBED",
        "executor event LAUNCH",
        "executor event ACKNOWLEDGED",
        "executor event MESSAGE",
        "executor event KILL",
    ] {
        assert!(kinds.contains(expected), "record lacks {expected}: {kinds:?}");
    }
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        if l["api"] == "executor" {
            assert_eq!(l["agent"], offer.agent_id.value.as_str(), "{l}");
            assert_eq!(keys.len(), 4);
        } else {
            assert_eq!(keys.len(), 3, "{l}");
        }
    }
    crate::emulator_wire::same_shapes_as_the_fixtures(&lines);
}

#[tokio::test]
async fn updates_go_one_at_a_time_per_task_and_are_resent_until_acknowledged() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("reliable")).await;
    let offer = sched.offers().await.remove(0);
    launch(&sched, &offer, vec![task_on("t", &offer, &executor("e", vec![]), "finish")]).await;
    let first = sched.update_for("t").await;
    assert_eq!(first.state, TaskState::Running);
    // Not acknowledged: the same update (same uuid) comes again; FINISHED waits behind it.
    let again = sched.update_for("t").await;
    assert_eq!(again.state, TaskState::Running, "TASK_FINISHED is held until RUNNING is acked");
    assert_eq!(again.uuid, first.uuid);
    eventually("both updates queued", || emu.state().tasks().any(|t| t.pending_updates == 2)).await;
    assert_eq!(sched.call(CallKind::acknowledge(&first).unwrap()).await.0, 202);
    let finished = sched.await_state("t", TaskState::Finished).await;
    assert_ne!(finished.uuid, first.uuid);
    eventually("task forgotten after its terminal update is acked", || {
        emu.state().tasks().next().is_none()
    })
    .await;
}

#[tokio::test]
async fn fetch_failures_fail_the_launch_like_the_real_fetcher() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.tar.gz");
    gzip(&evil, &tar_with("../escape.txt", b"x")).await;
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("fetch")).await;
    for (n, uri) in [
        (1, Uri::new(format!("file://{}", evil.display()))),
        (2, Uri::new(dir.path().join("missing.tar.gz").display().to_string())),
        (
            3,
            Uri {
                output_file: Some("/abs".into()),
                ..Uri::new(format!("file://{}", evil.display()))
            },
        ),
        (4, Uri::new("http://127.0.0.1:9/nothing-listens.tar.gz")),
    ] {
        let offer = sched.offers().await.remove(0);
        let exec = executor(&format!("e{n}"), vec![uri]);
        launch(&sched, &offer, vec![task_on(&format!("t{n}"), &offer, &exec, "run")]).await;
        let s = sched.await_state(&format!("t{n}"), TaskState::Failed).await;
        assert_eq!(
            (s.reason, s.source),
            (Some(TaskReason::ContainerLaunchFailed), Some(TaskSource::Agent)),
            "case {n}"
        );
        let msg = s.message.unwrap();
        assert!(
            msg.starts_with("Failed to launch container: Failed to fetch all URIs for container '"),
            "{msg}"
        );
        assert_eq!(s.executor_id, Some(ExecutorID::new(format!("e{n}"))));
    }
    assert!(
        !dir.path().join("escape.txt").exists()
            && !emu.work_dir().join("agents").join("escape.txt").exists()
    );
}

#[tokio::test]
async fn the_executor_api_rejects_like_the_agent() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("api")).await;
    let offer = sched.offers().await.remove(0);
    // An executor that never subscribes by itself: the test speaks for it.
    let mut exec = ExecutorInfo::new(ExecutorID::new("manual"));
    exec.command = Some(CommandInfo { value: Some("sleep 30".into()), ..CommandInfo::default() });
    launch(&sched, &offer, vec![task_on("tm", &offer, &exec, "run")]).await;
    eventually("executor process started", || {
        emu.state().slaves[0].executors.first().is_some_and(|e| e.pid.is_some())
    })
    .await;
    let url = emu.agent_url("agent-1").unwrap().join("api/v1/executor").unwrap();
    let c = client();
    let fw = sched.framework_id.clone();
    let post = |body: String| {
        c.post(url.clone()).header("Content-Type", "application/json").body(body).send()
    };
    let call = |kind: &str, extra: &str| {
        format!(
            r#"{{"type":"{kind}","framework_id":{{"value":"{fw}"}},"executor_id":{{"value":"manual"}}{extra}}}"#
        )
    };
    let uuid = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let good_uuid = uuid(mesos::new_status_uuid().as_slice());
    let update = |extra: &str| {
        call(
            "UPDATE",
            &format!(
                r#","update":{{"status":{{"task_id":{{"value":"tm"}},"state":"TASK_RUNNING"{extra}}}}}"#
            ),
        )
    };

    let r = post(update(&format!(r#","source":"SOURCE_EXECUTOR","uuid":"{good_uuid}""#)))
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (403, "Executor is not subscribed".into())
    );
    assert_eq!(
        post(call("SUBSCRIBE", "")).await.unwrap().status(),
        400,
        "SUBSCRIBE needs \"subscribe\":{{}}"
    );
    let r = post(call("SUBSCRIBE", r#","subscribe":{}"#).replace(&fw, "other")).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (400, "Framework cannot be found".into())
    );
    let r = post(call("SUBSCRIBE", r#","subscribe":{}"#).replace("manual", "other")).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (400, "Executor cannot be found".into())
    );
    assert_eq!(c.get(url.clone()).send().await.unwrap().status(), 405);
    assert_eq!(post(call("HEARTBEAT", "")).await.unwrap().status(), 202);

    let sub = post(call("SUBSCRIBE", r#","subscribe":{}"#)).await.unwrap();
    assert_eq!(sub.status(), 200);
    assert!(sub.headers().get("mesos-stream-id").is_none(), "no stream id in the executor API");
    let (mut events, mut raw) = crate::emulator_support::pump_executor(sub);
    let Some(mesos::executor::Event::Subscribed(s)) = events.recv().await else {
        panic!("SUBSCRIBED first")
    };
    assert_eq!(s.framework_info.id.as_ref().map(|i| i.value.as_str()), Some(fw.as_str()));
    assert_eq!(s.agent_info.hostname, "agent-1");
    assert!(s.container_id.is_some());
    let Some(mesos::executor::Event::Launch(l)) = events.recv().await else {
        panic!("then LAUNCH")
    };
    assert_eq!(l.task.task_id.value, "tm");
    let raw_launch = loop {
        let v = raw.recv().await.unwrap();
        if v["type"] == "LAUNCH" {
            break v;
        }
    };
    assert_eq!(raw_launch["launch"]["task"]["resources"][0]["allocation_info"]["role"], "*");

    for (extra, why) in [
        (format!(r#","uuid":"{good_uuid}""#), "missing source (reads as SOURCE_MASTER)"),
        (format!(r#","source":"SOURCE_EXECUTOR","uuid":"{}""#, uuid(&[b'u'; 37])), "37-byte uuid"),
        (r#","source":"SOURCE_EXECUTOR""#.to_owned(), "no uuid"),
        (
            format!(
                r#","source":"SOURCE_EXECUTOR","uuid":"{good_uuid}","executor_id":{{"value":"x"}}"#
            ),
            "executor id mismatch",
        ),
    ] {
        assert_eq!(post(update(&extra)).await.unwrap().status(), 400, "{why}");
    }
    let staging = update(&format!(r#","source":"SOURCE_EXECUTOR","uuid":"{good_uuid}""#))
        .replace("TASK_RUNNING", "TASK_STAGING");
    assert_eq!(post(staging).await.unwrap().status(), 400, "TASK_STAGING");
    // A valid UPDATE: 202, ACKNOWLEDGED at once (agent ack), the scheduler sees the same uuid.
    assert_eq!(
        post(update(&format!(r#","source":"SOURCE_EXECUTOR","uuid":"{good_uuid}""#)))
            .await
            .unwrap()
            .status(),
        202
    );
    let Some(mesos::executor::Event::Acknowledged(a)) = events.recv().await else {
        panic!("ACKNOWLEDGED")
    };
    assert_eq!(uuid(a.uuid.as_slice()), good_uuid);
    let s = sched.update_for("tm").await;
    assert_eq!(s.uuid.map(|u| uuid(u.as_slice())), Some(good_uuid));
}

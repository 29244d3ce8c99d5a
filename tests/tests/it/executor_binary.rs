//! The `scaleio-executor` binary end to end against a strict loopback agent driven by the test
//! (the v1 executor API over HTTP with RecordIO, acknowledgements held or given on purpose) on
//! simulated hosts: launching a set of steps, good and tampered bundles, unknown step versions,
//! KILL during a step, an agent restart mid-step, a reboot after the acknowledgement, SHUTDOWN.
//!
//! The emulator (`testkit::emulator`) had not landed when these were written; this agent follows
//! `mesos/tests/it/executor_connection.rs` and the real agent's answers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mesos::executor::{Acknowledged, Call, CallKind, Event, Kill, Launch, Subscribe, Subscribed};
use mesos::{
    AgentID, AgentInfo, ExecutorID, ExecutorInfo, FrameworkInfo, TaskID, TaskInfo, TaskSource,
    TaskState, TaskStatus, is_valid_status_uuid, recordio,
};
use scaleio::step::{
    Check, ComponentSettings, ConfigureSdc, InstallPackages, InstallPrerequisites, Outcome,
    PackageInstall, Preflight, Reboot, ResultEnvelope, Step, StepEnvelope, Verify,
};
use testkit::fixtures::packages::{Fixture, command};
use tokio::sync::mpsc;

use crate::executor_support::{Os, PASSWORD, Sim, stand_in};

#[derive(Default)]
struct AgentState {
    calls: Vec<Call>,
    events: Option<mpsc::UnboundedSender<Bytes>>,
    /// Answer SUBSCRIBE with 503 ("agent has not finished recovery").
    recovering: bool,
    /// Do not acknowledge updates (they pile up in `held`).
    hold_acks: bool,
    held: Vec<TaskStatus>,
    updates: Vec<TaskStatus>,
    /// Events to send right after the next SUBSCRIBED.
    after_subscribe: VecDeque<Event>,
}

type Shared = Arc<Mutex<AgentState>>;

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_owned()).into_response()
}

fn frame(e: &Event) -> Bytes {
    Bytes::from(recordio::encode(&e.to_json()))
}

fn ack_event(s: &TaskStatus) -> Event {
    Event::Acknowledged(Acknowledged {
        task_id: s.task_id.clone(),
        uuid: s.uuid.clone().expect("validated"),
    })
}

async fn handle(
    State(agent): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("content-type").map(|v| v.as_bytes()) != Some(b"application/json") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expecting 'Content-Type' of application/json",
        );
    }
    let call: Call = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Failed to convert JSON into Call protobuf: {e}"),
            );
        }
    };
    let mut a = agent.lock().expect("lock");
    a.calls.push(call.clone());
    match &call.kind {
        CallKind::Subscribe(sub) => {
            if a.recovering {
                return text(StatusCode::SERVICE_UNAVAILABLE, "Agent has not finished recovery");
            }
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            let mut framework_info = FrameworkInfo::new("root", "scaleio");
            framework_info.id = Some(call.framework_id.clone());
            let _ = tx.send(frame(&Event::Subscribed(Subscribed {
                executor_info: ExecutorInfo::new(call.executor_id.clone()),
                framework_info,
                agent_info: AgentInfo {
                    hostname: "h1".to_owned(),
                    port: Some(5051),
                    resources: Vec::new(),
                    attributes: Vec::new(),
                    id: Some(AgentID::new("S0")),
                    domain: None,
                },
                container_id: None,
            })));
            while let Some(e) = a.after_subscribe.pop_front() {
                let _ = tx.send(frame(&e));
            }
            // As the real agent: replayed updates are handled as if just sent.
            for u in &sub.unacknowledged_updates {
                if !a.updates.iter().any(|s| s.uuid == u.status.uuid) {
                    a.updates.push(u.status.clone());
                }
                if !a.hold_acks {
                    let _ = tx.send(frame(&ack_event(&u.status)));
                }
            }
            a.events = Some(tx);
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            });
            Response::builder()
                .header("Content-Type", "application/json")
                .body(Body::from_stream(body))
                .expect("response")
        }
        CallKind::Update(u) => {
            let s = &u.status;
            if s.source != Some(TaskSource::Executor)
                || !s.uuid.as_ref().is_some_and(|u| is_valid_status_uuid(u))
                || s.executor_id.as_ref() != Some(&call.executor_id)
            {
                return text(StatusCode::BAD_REQUEST, "invalid update");
            }
            a.updates.push(s.clone());
            if a.hold_acks {
                a.held.push(s.clone());
            } else if let Some(tx) = &a.events {
                let _ = tx.send(frame(&ack_event(s)));
            }
            StatusCode::ACCEPTED.into_response()
        }
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

struct Agent {
    port: u16,
    state: Shared,
}

impl Agent {
    async fn start() -> Self {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/api/v1/executor", axum::routing::post(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { port, state }
    }

    fn push(&self, e: &Event) {
        let a = self.state.lock().expect("lock");
        a.events.as_ref().expect("the executor is subscribed").send(frame(e)).expect("stream open");
    }

    fn launch(&self, id: &str, data: Vec<u8>) {
        let mut t = TaskInfo::new(id, TaskID::new(id), AgentID::new("S0"), Vec::new());
        t.executor = Some(ExecutorInfo::new(ExecutorID::new("executor-scaleio-h1")));
        t.data = Some(mesos::Bytes(data));
        self.push(&Event::Launch(Launch { task: t }));
    }

    fn step(&self, id: &str, step: Step) {
        self.launch(id, StepEnvelope::new(step).to_json());
    }

    fn updates(&self, id: &str) -> Vec<TaskStatus> {
        let a = self.state.lock().expect("lock");
        a.updates.iter().filter(|s| s.task_id.value == id).cloned().collect()
    }

    /// Waits for a terminal update of task `id`.
    async fn terminal(&self, id: &str, within: Duration) -> TaskStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.updates(id).into_iter().find(|s| s.state.is_terminal()) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no terminal update for {id}; got {:?}",
                self.updates(id)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn until(&self, what: &str, within: Duration, mut f: impl FnMut(&AgentState) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if f(&self.state.lock().expect("lock")) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn subscribes(&self) -> Vec<Subscribe> {
        let a = self.state.lock().expect("lock");
        a.calls
            .iter()
            .filter_map(|c| match &c.kind {
                CallKind::Subscribe(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A running executor process; killed when dropped.
struct Executor {
    child: Child,
    log: PathBuf,
}

impl Drop for Executor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Executor {
    fn start(sim: &Sim, agent: &Agent, host: &str, path_prefix: Option<&Path>) -> Self {
        Self::start_with(sim, agent, host, path_prefix, "20secs")
    }

    fn start_with(
        sim: &Sim,
        agent: &Agent,
        host: &str,
        path_prefix: Option<&Path>,
        recovery_timeout: &str,
    ) -> Self {
        let sandbox = sim.bundle_dir.parent().expect("sandbox").to_owned();
        let log = sim.dir.path().join(format!("executor-{host}.log"));
        let mut path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", sim.bin.display());
        if let Some(p) = path_prefix {
            path = format!("{}:{path}", p.display());
        }
        let mut cmd = command(stand_in("scaleio-executor"));
        cmd.env_clear()
            .env("PATH", path)
            .env("MESOS_AGENT_ENDPOINT", format!("127.0.0.1:{}", agent.port))
            .env("MESOS_FRAMEWORK_ID", "fw-1")
            .env("MESOS_EXECUTOR_ID", "executor-scaleio-h1")
            .env("MESOS_SANDBOX", &sandbox)
            .env("MESOS_CHECKPOINT", "1")
            .env("MESOS_RECOVERY_TIMEOUT", recovery_timeout)
            .env("MESOS_SUBSCRIPTION_BACKOFF_MAX", "100ms")
            .env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs")
            .env("SCALEIO_HOST_ROOT", sim.root(host))
            .env("SCALEIO_STANDIN_STATE", &sim.state)
            .env("SCALEIO_ADMIN_PASSWORD", PASSWORD)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        Self { child: cmd.spawn().expect("start scaleio-executor"), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit; its exit code.
    async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s.code();
            }
            assert!(Instant::now() < deadline, "the executor did not exit:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const STEP_TIME: Duration = Duration::from_secs(30);

async fn subscribed(agent: &Agent, exec: &Executor) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while agent.state.lock().expect("lock").events.is_none() {
        assert!(Instant::now() < deadline, "no SUBSCRIBE; executor log:\n{}", exec.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn result_of(s: &TaskStatus) -> ResultEnvelope {
    assert_eq!(s.state, TaskState::Finished, "{:?}", s.message);
    ResultEnvelope::from_json(&s.data.as_ref().expect("data").0).expect("a ResultEnvelope")
}

fn packages(os: Os) -> Step {
    Step::InstallPackages(InstallPackages {
        packages: vec![
            PackageInstall {
                settings: ComponentSettings::Sds,
                artifact: Fixture::Sds.file_name(os.format()),
                version: "2.0-10000.2072".into(),
            },
            PackageInstall {
                settings: ComponentSettings::Sdc {
                    mdm_ips: vec!["10.0.0.1".into(), "10.0.0.2".into()],
                },
                artifact: Fixture::Sdc.file_name(os.format()),
                version: "2.0-10000.2072".into(),
            },
        ],
    })
}

#[tokio::test]
async fn a_data_node_runs_its_steps_and_tells_the_agent() {
    let sim = Sim::new(Os::Rhel7);
    sim.add_host("h1", "10.0.0.4");
    let agent = Agent::start().await;
    let exec = Executor::start(&sim, &agent, "h1", None);
    subscribed(&agent, &exec).await;
    agent.step("preflight", Step::Preflight(Preflight::default()));
    agent.step(
        "prereqs",
        Step::InstallPrerequisites(InstallPrerequisites {
            packages: vec!["libaio".into(), "zip".into()],
            kernel: None,
        }),
    );
    agent.step("packages", packages(Os::Rhel7));
    agent.step(
        "sdc",
        Step::ConfigureSdc(ConfigureSdc { mdm_ips: vec!["10.0.0.1".into(), "10.0.0.2".into()] }),
    );
    agent.step(
        "verify",
        Step::Verify(Verify {
            checks: vec![Check::SdcMdms { mdm_ips: vec!["10.0.0.1".into(), "10.0.0.2".into()] }],
        }),
    );
    let verify = agent.terminal("verify", STEP_TIME).await;
    for id in ["preflight", "prereqs", "packages", "sdc", "verify"] {
        let states: Vec<TaskState> = agent.updates(id).iter().map(|s| s.state.clone()).collect();
        assert_eq!(states, [TaskState::Running, TaskState::Finished], "{id}: {}", exec.log());
    }
    // One step at a time: each step's RUNNING comes after the previous step's FINISHED.
    let order: Vec<String> = agent
        .state
        .lock()
        .expect("lock")
        .updates
        .iter()
        .map(|s| format!("{} {:?}", s.task_id.value, s.state))
        .collect();
    assert_eq!(
        order[..4],
        ["preflight Running", "preflight Finished", "prereqs Running", "prereqs Finished"]
    );

    let Outcome::Preflight(facts) =
        result_of(&agent.terminal("preflight", STEP_TIME).await).result.outcome
    else {
        panic!("preflight outcome")
    };
    assert_eq!((facts.hostname.as_str(), facts.os.id.as_str()), ("h1", "centos"));
    assert_eq!(
        facts.devices.free.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
        ["/dev/xvdf"]
    );
    let packages = result_of(&agent.terminal("packages", STEP_TIME).await);
    assert!(packages.result.changed);
    let Outcome::Verify { checks } = result_of(&verify).result.outcome else { panic!("verify") };
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(!exec.log().contains(PASSWORD));
    let kept = sim.bundle_dir.parent().expect("sandbox").join("transcripts/packages.json");
    assert!(std::fs::read_to_string(kept).expect("transcript kept").contains("-Uvh"));
}

#[tokio::test]
async fn a_tampered_bundle_fails_every_step_naming_the_file() {
    let sim = Sim::new(Os::Ubuntu14);
    sim.add_host("h1", "10.0.0.4");
    let victim =
        sim.bundle_dir.join("artifacts").join(Fixture::Sds.file_name(Os::Ubuntu14.format()));
    let mut bytes = std::fs::read(&victim).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).expect("tamper");
    let agent = Agent::start().await;
    let exec = Executor::start(&sim, &agent, "h1", None);
    subscribed(&agent, &exec).await;
    agent.step("packages", packages(Os::Ubuntu14));
    agent.step("preflight", Step::Preflight(Preflight::default()));
    let failed = agent.terminal("packages", STEP_TIME).await;
    assert_eq!(failed.state, TaskState::Failed);
    let message = failed.message.expect("message");
    assert!(
        message.contains(&format!(
            "artifacts/{}: expected sha256",
            Fixture::Sds.file_name(Os::Ubuntu14.format())
        )),
        "{message}"
    );
    assert!(message.contains("hint: "), "{message}");
    let report: serde_json::Value =
        serde_json::from_slice(&failed.data.expect("data").0).expect("json");
    assert_eq!(report["failure"]["kind"], "install_packages");
    let preflight = agent.terminal("preflight", STEP_TIME).await;
    assert_eq!(preflight.state, TaskState::Failed, "every step fails on a tampered bundle");
    assert!(preflight.message.expect("message").contains("failed verification"));
    assert!(
        !sim.root("h1").join("opt/emc/scaleio/sds").exists(),
        "nothing from the tampered bundle was installed"
    );
}

#[tokio::test]
async fn newer_and_unknown_steps_fail_with_an_upgrade_hint() {
    let sim = Sim::new(Os::Ubuntu14);
    sim.add_host("h1", "10.0.0.4");
    let agent = Agent::start().await;
    let exec = Executor::start(&sim, &agent, "h1", None);
    subscribed(&agent, &exec).await;
    agent.launch("newer", br#"{"version":2,"step":{"kind":"preflight"}}"#.to_vec());
    agent.launch("unknown", br#"{"version":1,"step":{"kind":"teleport"}}"#.to_vec());
    agent.launch("garbage", b"not json".to_vec());
    for (id, wanted) in [
        ("newer", "step schema version 2 is newer than this executor understands (1)"),
        ("unknown", "step kind `teleport` is unknown"),
        ("garbage", "step data is not a JSON object"),
    ] {
        let s = agent.terminal(id, STEP_TIME).await;
        assert_eq!(s.state, TaskState::Failed);
        let m = s.message.expect("message");
        assert!(m.contains(wanted), "{id}: {m}");
    }
    assert!(agent.updates("newer").iter().all(|s| s.state != TaskState::Running));
}

/// An `apt-get` that records its pid and hangs, then (once `release` exists) runs the stand-in.
fn slow_apt_get(sim: &Sim, release: &Path) -> PathBuf {
    let dir = sim.dir.path().join("slow-bin");
    let real = sim.dir.path().join("real-bin");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::create_dir_all(&real).expect("dir");
    std::os::unix::fs::symlink(stand_in("host-tools"), real.join("apt-get")).expect("link");
    let script = format!(
        "#!/bin/sh\necho $$ > \"$SCALEIO_HOST_ROOT/apt-get.pid\"\nwhile [ ! -e {} ]; do sleep 0.05; done\nexec {} \"$@\"\n",
        release.display(),
        real.join("apt-get").display()
    );
    crate::executor_support::write(&dir, "apt-get", &script);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.join("apt-get"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    dir
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test]
async fn kill_stops_the_running_step_and_its_commands() {
    let sim = Sim::new(Os::Ubuntu14);
    let root = sim.add_host("h1", "10.0.0.4");
    let never = sim.dir.path().join("never");
    let slow = slow_apt_get(&sim, &never);
    let agent = Agent::start().await;
    let exec = Executor::start(&sim, &agent, "h1", Some(&slow));
    subscribed(&agent, &exec).await;
    agent.step(
        "prereqs",
        Step::InstallPrerequisites(InstallPrerequisites {
            packages: vec!["zip".into()],
            kernel: None,
        }),
    );
    agent.step("queued", Step::Preflight(Preflight::default()));
    let pid_file = root.join("apt-get.pid");
    agent.until("apt-get to start", STEP_TIME, |_| pid_file.exists()).await;
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
    assert!(alive(&pid));
    agent.push(&Event::Kill(Kill { task_id: TaskID::new("prereqs"), kill_policy: None }));
    let killed = agent.terminal("prereqs", STEP_TIME).await;
    assert_eq!(killed.state, TaskState::Killed, "{:?}", killed.message);
    agent.until("apt-get to die", Duration::from_secs(10), |_| !alive(&pid)).await;
    assert_eq!(
        agent.terminal("queued", STEP_TIME).await.state,
        TaskState::Finished,
        "the next step runs"
    );
}

#[tokio::test]
async fn an_agent_restart_mid_step_replays_what_was_not_acknowledged() {
    let sim = Sim::new(Os::Ubuntu14);
    sim.add_host("h1", "10.0.0.4");
    let release = sim.dir.path().join("release");
    let slow = slow_apt_get(&sim, &release);
    let agent = Agent::start().await;
    let exec = Executor::start(&sim, &agent, "h1", Some(&slow));
    subscribed(&agent, &exec).await;
    agent.state.lock().expect("lock").hold_acks = true;
    agent.step(
        "prereqs",
        Step::InstallPrerequisites(InstallPrerequisites {
            packages: vec!["zip".into()],
            kernel: None,
        }),
    );
    agent.until("TASK_RUNNING", STEP_TIME, |a| !a.updates.is_empty()).await;
    {
        // The agent goes away (stream closed) and refuses re-subscription while it recovers.
        let mut a = agent.state.lock().expect("lock");
        a.events = None;
        a.recovering = true;
        a.held.clear();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&release, "").expect("let the step finish while the agent is away");
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let mut a = agent.state.lock().expect("lock");
        a.recovering = false;
        a.hold_acks = false;
    }
    agent.until("re-subscription", STEP_TIME, |a| a.events.is_some()).await;
    let finished = agent.terminal("prereqs", STEP_TIME).await;
    assert_eq!(finished.state, TaskState::Finished, "{}", exec.log());
    let resubscribe = agent.subscribes().pop().expect("a SUBSCRIBE");
    let replayed: Vec<TaskState> =
        resubscribe.unacknowledged_updates.iter().map(|u| u.status.state.clone()).collect();
    assert!(replayed.contains(&TaskState::Running), "{replayed:?}");
    assert_eq!(
        resubscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.as_str())
            .collect::<Vec<_>>(),
        ["prereqs"]
    );
}

#[tokio::test]
async fn reboot_happens_only_after_the_acknowledgement() {
    let sim = Sim::new(Os::Rhel7);
    let root = sim.add_host("h1", "10.0.0.4");
    let agent = Agent::start().await;
    let mut exec = Executor::start(&sim, &agent, "h1", None);
    subscribed(&agent, &exec).await;
    agent.state.lock().expect("lock").hold_acks = true;
    agent.step("reboot", Step::Reboot(Reboot::default()));
    let done = agent.terminal("reboot", STEP_TIME).await;
    let Outcome::Reboot { boot_id, rebooting } = result_of(&done).result.outcome else {
        panic!("reboot")
    };
    assert!(rebooting);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !testkit::standins::host::reboot_requested(&root),
        "no reboot before the acknowledgement"
    );
    agent.push(&ack_event(&done));
    agent
        .until("the reboot", STEP_TIME, |_| testkit::standins::host::reboot_requested(&root))
        .await;
    let new_boot = testkit::standins::host::complete_reboot(&root).expect("reboot");
    agent.state.lock().expect("lock").hold_acks = false;
    agent.step("reboot-again", Step::Reboot(Reboot { previous_boot_id: Some(boot_id) }));
    let again = result_of(&agent.terminal("reboot-again", STEP_TIME).await);
    assert_eq!(again.result.outcome, Outcome::Reboot { boot_id: new_boot, rebooting: false });

    agent.push(&Event::Shutdown);
    assert_eq!(exec.wait_exit(Duration::from_secs(10)).await, Some(0), "{}", exec.log());
}

#[tokio::test]
async fn sigterm_stops_the_step_reports_it_killed_and_exits_cleanly() {
    let sim = Sim::new(Os::Ubuntu14);
    let root = sim.add_host("h1", "10.0.0.4");
    let slow = slow_apt_get(&sim, &sim.dir.path().join("never"));
    let agent = Agent::start().await;
    let mut exec = Executor::start(&sim, &agent, "h1", Some(&slow));
    subscribed(&agent, &exec).await;
    agent.step(
        "prereqs",
        Step::InstallPrerequisites(InstallPrerequisites {
            packages: vec!["zip".into()],
            kernel: None,
        }),
    );
    let pid_file = root.join("apt-get.pid");
    agent.until("apt-get to start", STEP_TIME, |_| pid_file.exists()).await;
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
    let mut kill = command("kill");
    kill.arg("-TERM").arg(exec.child.id().to_string());
    testkit::fixtures::packages::run_checked(kill, Duration::from_secs(10)).expect("kill -TERM");
    assert_eq!(exec.wait_exit(Duration::from_secs(10)).await, Some(0), "{}", exec.log());
    assert_eq!(agent.terminal("prereqs", STEP_TIME).await.state, TaskState::Killed);
    agent.until("apt-get to die", Duration::from_secs(10), |_| !alive(&pid)).await;
}

#[tokio::test]
async fn the_executor_gives_up_after_the_recovery_timeout_and_stops_its_step() {
    let sim = Sim::new(Os::Ubuntu14);
    let root = sim.add_host("h1", "10.0.0.4");
    let slow = slow_apt_get(&sim, &sim.dir.path().join("never"));
    let agent = Agent::start().await;
    let mut exec = Executor::start_with(&sim, &agent, "h1", Some(&slow), "1secs");
    subscribed(&agent, &exec).await;
    agent.step(
        "prereqs",
        Step::InstallPrerequisites(InstallPrerequisites {
            packages: vec!["zip".into()],
            kernel: None,
        }),
    );
    let pid_file = root.join("apt-get.pid");
    agent.until("apt-get to start", STEP_TIME, |_| pid_file.exists()).await;
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
    {
        // The agent is gone for good: stream closed, every SUBSCRIBE refused.
        let mut a = agent.state.lock().expect("lock");
        a.events = None;
        a.recovering = true;
    }
    assert_eq!(exec.wait_exit(Duration::from_secs(15)).await, Some(1), "{}", exec.log());
    assert!(exec.log().contains("within the recovery timeout"), "{}", exec.log());
    agent.until("apt-get to die", Duration::from_secs(10), |_| !alive(&pid)).await;
}

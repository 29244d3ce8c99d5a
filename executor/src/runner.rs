//! The task loop: events from `mesos::executor::connection` in, status updates out. Each LAUNCH
//! task's `data` is a `StepEnvelope`; steps run one at a time (queued in launch order):
//! TASK_RUNNING, then TASK_FINISHED with the `ResultEnvelope` JSON, or TASK_FAILED with a message
//! naming the failing command, its exit code and output tail (the [`FailureReport`] JSON, with
//! the transcript, in `data`). KILL drops the running step, which kills its commands' process
//! groups, and answers TASK_KILLED. SHUTDOWN kills everything and ends the loop. A reboot step
//! reboots only once the agent has ACKNOWLEDGED its TASK_FINISHED.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use mesos::executor::Event;
use mesos::executor::connection::{CallError, Handle, Notice, StopReason};
use mesos::{Bytes, TaskID, TaskInfo, TaskState, TaskStatus};
use scaleio::step::{ResultEnvelope, STEP_SCHEMA_VERSION, StepEnvelope, StepFailure};
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::bundle::BundleState;
use crate::error::StepError;
use crate::host::{Entry, Host};
use crate::steps::{self, AfterAck, Ctx, Done};

/// The `data` of a TASK_FAILED update.
#[derive(Clone, Debug, Serialize)]
pub struct FailureReport {
    /// [`STEP_SCHEMA_VERSION`].
    pub version: u32,
    /// What failed (decode it with `scaleio::step::StepFailure`).
    pub failure: StepFailure,
    /// Everything the step did, secrets as `***`.
    pub transcript: Vec<Entry>,
}

/// How the loop ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Exit {
    /// SHUTDOWN from the agent.
    Shutdown,
    /// The connection stopped.
    Stopped(StopReason),
}

/// What the loop needs.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// The host (a fresh transcript is taken per step).
    pub host: Host,
    /// The bundle as verified at start.
    pub bundle: BundleState,
    /// Where `SecretRef::Env` values come from.
    pub secret_env: HashMap<String, String>,
    /// Where full transcripts are kept (`<sandbox>/transcripts/<task>.json`), if anywhere.
    pub transcripts: Option<PathBuf>,
}

struct Running {
    task: TaskInfo,
    kind: String,
    host: Host,
    join: JoinHandle<Result<Done, StepError>>,
}

/// Runs until SHUTDOWN, `shutdown` completing (SIGTERM: handled like SHUTDOWN), or the
/// connection stopping.
pub async fn run(
    config: RunnerConfig,
    handle: Handle,
    mut notices: UnboundedReceiver<Notice>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Exit {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut queue: VecDeque<TaskInfo> = VecDeque::new();
    let mut running: Option<Running> = None;
    let mut reboot_after: Option<Bytes> = None;
    loop {
        if running.is_none() {
            while let Some(task) = queue.pop_front() {
                if let Some(r) = start(&config, &handle, task).await {
                    running = Some(r);
                    break;
                }
            }
        }
        #[expect(clippy::large_enum_variant, reason = "one value per loop turn, moved once")]
        enum Next {
            Notice(Option<Notice>),
            Joined(Result<Result<Done, StepError>, tokio::task::JoinError>),
        }
        let next = match running.as_mut() {
            Some(r) => tokio::select! {
                n = notices.recv() => Next::Notice(n),
                j = &mut r.join => Next::Joined(j),
                () = &mut shutdown => Next::Notice(Some(Notice::Event(Event::Shutdown))),
            },
            None => tokio::select! {
                n = notices.recv() => Next::Notice(n),
                () = &mut shutdown => Next::Notice(Some(Notice::Event(Event::Shutdown))),
            },
        };
        let notice = match next {
            Next::Notice(n) => n,
            Next::Joined(joined) => {
                let r = running.take().expect("a step was running");
                if let Some(uuid) = finish(&config, &handle, &r, joined).await {
                    reboot_after = Some(uuid);
                }
                continue;
            }
        };
        let Some(notice) = notice else {
            return Exit::Stopped(StopReason::Closed);
        };
        match notice {
            Notice::Event(Event::Launch(l)) => {
                tracing::info!(task.id = %l.task.task_id.value, "step launched");
                queue.push_back(l.task);
            }
            Notice::Event(Event::LaunchGroup(g)) => {
                for t in g.task_group.tasks {
                    send(&handle, failed_status(&t.task_id, "task groups are not supported by scaleio-executor; launch each step as a task", None)).await;
                }
            }
            Notice::Event(Event::Kill(k)) => {
                if running.as_ref().is_some_and(|r| r.task.task_id == k.task_id) {
                    let r = running.take().expect("checked");
                    r.join.abort();
                    let _ = r.join.await;
                    tracing::warn!(task.id = %k.task_id.value, step = %r.kind, "step killed");
                    let mut s = TaskStatus::new(k.task_id.clone(), TaskState::Killed);
                    s.message = Some(format!(
                        "{}: killed while running; its commands were stopped",
                        r.kind
                    ));
                    s.data = Some(Bytes(
                        serde_json::to_vec(&r.host.transcript().entries())
                            .expect("entries serialise"),
                    ));
                    send(&handle, s).await;
                } else if let Some(pos) = queue.iter().position(|t| t.task_id == k.task_id) {
                    queue.remove(pos);
                    let mut s = TaskStatus::new(k.task_id.clone(), TaskState::Killed);
                    s.message = Some("killed before it started".to_owned());
                    send(&handle, s).await;
                } else {
                    tracing::info!(task.id = %k.task_id.value, "KILL for a task this executor does not run");
                }
            }
            Notice::Event(Event::Acknowledged(a)) => {
                if reboot_after.as_ref() == Some(&a.uuid) {
                    reboot_after = None;
                    tracing::warn!("the reboot step's result is acknowledged: rebooting");
                    if let Err(e) = steps::reboot_now(&config.host.fresh()).await {
                        tracing::error!(error = %e, "reboot failed");
                    }
                }
            }
            Notice::Event(Event::Shutdown) => {
                tracing::info!("SHUTDOWN: stopping every step");
                if let Some(r) = running.take() {
                    r.join.abort();
                    let _ = r.join.await;
                    queue.push_front(r.task);
                }
                for t in queue.drain(..) {
                    let mut s = TaskStatus::new(t.task_id.clone(), TaskState::Killed);
                    s.message = Some("the executor is shutting down".to_owned());
                    send(&handle, s).await;
                }
                handle.close();
                return Exit::Shutdown;
            }
            Notice::Event(Event::Subscribed(s)) => {
                tracing::info!(agent = %s.agent_info.hostname, "subscribed");
            }
            Notice::Event(Event::Error(e)) => tracing::error!(message = %e.message, "agent error"),
            Notice::Event(_) => {}
            Notice::Disconnected { reason, retry_in } => {
                tracing::warn!(%reason, ?retry_in, "lost the agent; updates are kept and replayed");
            }
            Notice::Stopped(reason) => {
                if let Some(r) = running.take() {
                    r.join.abort();
                }
                return Exit::Stopped(reason);
            }
        }
    }
}

/// How long an update the agent answers with a 5xx (it is recovering) is retried.
const UPDATE_RETRY_FOR: Duration = Duration::from_secs(120);

/// Sends a status update. Not subscribed, a transport error or a 5xx: the connection keeps it
/// and replays it on re-subscription. A 5xx (an agent still recovering after a restart) is also
/// sent again here until accepted or [`UPDATE_RETRY_FOR`], so the scheduler hears of it without
/// waiting for the agent to drop the connection.
async fn send(handle: &Handle, status: TaskStatus) -> Option<Bytes> {
    let state = status.state.clone();
    let deadline = tokio::time::Instant::now() + UPDATE_RETRY_FOR;
    loop {
        match handle.update(status.clone()).await {
            Ok(uuid) => return Some(uuid),
            Err(CallError::Refused { status: code, body, .. })
                if code.is_server_error() && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(%code, %body, ?state, "the agent refused the update for now; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, ?state, "status update not delivered yet");
                return None;
            }
        }
    }
}

fn failed_status(task: &TaskID, message: &str, data: Option<Vec<u8>>) -> TaskStatus {
    let mut s = TaskStatus::new(task.clone(), TaskState::Failed);
    s.message = Some(message.to_owned());
    s.data = data.map(Bytes);
    s
}

async fn start(config: &RunnerConfig, handle: &Handle, task: TaskInfo) -> Option<Running> {
    let data = task.data.as_ref().map(|b| b.0.clone()).unwrap_or_default();
    let envelope = match StepEnvelope::from_json(&data) {
        Ok(e) => e,
        Err(e) => {
            let failure = StepError::msg(format!("cannot run task {}: {e}", task.task_id.value))
                .into_failure("unknown");
            let report = FailureReport {
                version: STEP_SCHEMA_VERSION,
                failure: failure.clone(),
                transcript: Vec::new(),
            };
            send(
                handle,
                failed_status(
                    &task.task_id,
                    &failure.message,
                    Some(serde_json::to_vec(&report).expect("report serialises")),
                ),
            )
            .await;
            return None;
        }
    };
    let kind = envelope.step.kind().to_owned();
    tracing::info!(task.id = %task.task_id.value, step = %kind, "running");
    let mut s = TaskStatus::new(task.task_id.clone(), TaskState::Running);
    s.message = Some(format!("{kind}: running"));
    send(handle, s).await;
    let host = config.host.fresh();
    let ctx = Ctx {
        host: host.clone(),
        bundle: config.bundle.clone(),
        secret_env: config.secret_env.clone(),
        poll: Duration::from_millis(500),
    };
    let step = envelope.step;
    let join = tokio::spawn(async move { steps::run(&ctx, &step).await });
    Some(Running { task, kind, host, join })
}

/// Sends the final update; the uuid to wait for when a reboot must follow its acknowledgement.
async fn finish(
    config: &RunnerConfig,
    handle: &Handle,
    r: &Running,
    joined: Result<Result<Done, StepError>, tokio::task::JoinError>,
) -> Option<Bytes> {
    let id = &r.task.task_id;
    if let Some(dir) = &config.transcripts {
        keep_transcript(dir, &id.value, &r.host);
    }
    let outcome = match joined {
        Ok(o) => o,
        Err(e) => Err(StepError::msg(format!("the step crashed: {e}"))),
    };
    match outcome {
        Ok(done) => {
            tracing::info!(task.id = %id.value, step = %r.kind, changed = done.result.changed, "finished");
            let mut s = TaskStatus::new(id.clone(), TaskState::Finished);
            s.message = Some(format!(
                "{}: {}",
                r.kind,
                if done.result.changed { "done" } else { "already so, nothing changed" }
            ));
            s.data = Some(Bytes(ResultEnvelope::new(done.result).to_json()));
            let uuid = send(handle, s).await;
            (done.after_ack == AfterAck::Reboot).then_some(uuid).flatten()
        }
        Err(e) => {
            tracing::warn!(task.id = %id.value, step = %r.kind, message = %e.message, "failed");
            let failure = e.into_failure(&r.kind);
            let message = format!("{}: {}", r.kind, failure.message);
            let report = FailureReport {
                version: STEP_SCHEMA_VERSION,
                failure,
                transcript: r.host.transcript().entries(),
            };
            let data = serde_json::to_vec(&report).expect("report serialises");
            send(handle, failed_status(id, &message, Some(data))).await;
            None
        }
    }
}

fn keep_transcript(dir: &std::path::Path, task: &str, host: &Host) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name: String = task
        .chars()
        .map(
            |c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' },
        )
        .collect();
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{name}.json"));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(&host.transcript().to_json()));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot keep the transcript");
    }
}

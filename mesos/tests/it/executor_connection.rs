//! The executor connection against a strict loopback agent: SUBSCRIBE, UPDATE validation,
//! ACKNOWLEDGED bookkeeping, replay on re-subscription, checkpointing and recovery timeout.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mesos::executor::connection::{self, Config, Notice, StopReason};
use mesos::executor::{Acknowledged, Call, CallKind, Event, Launch, Subscribed};
use mesos::{
    AgentID, AgentInfo, ExecutorID, ExecutorInfo, FrameworkInfo, TaskID, TaskInfo, TaskSource,
    TaskState, TaskStatus, is_valid_status_uuid, recordio,
};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

#[derive(Default)]
struct Agent {
    calls: Vec<(HeaderMap, Call)>,
    events: Option<UnboundedSender<Bytes>>,
    /// Answer SUBSCRIBE with 503 (agent recovering).
    recovering: bool,
    /// Launch this task right after SUBSCRIBED.
    launch: Option<TaskInfo>,
    /// Answer UPDATE with this status instead of judging it.
    refuse_updates: Option<StatusCode>,
}

type Shared = Arc<Mutex<Agent>>;

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_owned()).into_response()
}

async fn handle(State(agent): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
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
    let mut agent = agent.lock().expect("lock");
    agent.calls.push((headers, call.clone()));
    match &call.kind {
        CallKind::Subscribe(_) => {
            if agent.recovering {
                return text(StatusCode::SERVICE_UNAVAILABLE, "Agent has not finished recovery");
            }
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            let mut framework_info = FrameworkInfo::new("root", "fw");
            framework_info.id = Some(call.framework_id.clone());
            let subscribed = Event::Subscribed(Subscribed {
                executor_info: ExecutorInfo::new(call.executor_id.clone()),
                framework_info,
                agent_info: AgentInfo {
                    hostname: "a1".to_owned(),
                    port: Some(5051),
                    resources: Vec::new(),
                    attributes: Vec::new(),
                    id: Some(AgentID::new("S0")),
                    domain: None,
                },
                container_id: None,
            });
            let _ = tx.send(Bytes::from(recordio::encode(&subscribed.to_json())));
            if let Some(task) = agent.launch.take() {
                let _ = tx
                    .send(Bytes::from(recordio::encode(&Event::Launch(Launch { task }).to_json())));
            }
            agent.events = Some(tx);
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            });
            Response::builder()
                .header("Content-Type", "application/json")
                .body(Body::from_stream(body))
                .expect("response")
        }
        CallKind::Update(u) => {
            if let Some(code) = agent.refuse_updates {
                return text(code, "refused by the test");
            }
            let s = &u.status;
            if s.source != Some(TaskSource::Executor) {
                return text(
                    StatusCode::BAD_REQUEST,
                    "Received Update from executor with invalid source",
                );
            }
            if !s.uuid.as_ref().is_some_and(|u| is_valid_status_uuid(u)) {
                return text(StatusCode::BAD_REQUEST, "Expecting 'uuid' to be a valid UUID");
            }
            if s.state == TaskState::Staging || s.executor_id.as_ref() != Some(&call.executor_id) {
                return text(StatusCode::BAD_REQUEST, "invalid update");
            }
            StatusCode::ACCEPTED.into_response()
        }
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

struct FakeAgent {
    port: u16,
    state: Shared,
}

impl FakeAgent {
    async fn start(launch: Option<TaskInfo>) -> Self {
        let state: Shared = Arc::new(Mutex::new(Agent { launch, ..Agent::default() }));
        let app = axum::Router::new()
            .route("/api/v1/executor", axum::routing::post(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { port, state }
    }

    fn config(&self, checkpoint: bool) -> Config {
        let endpoint = format!("127.0.0.1:{}", self.port);
        let checkpoint = if checkpoint { "1" } else { "0" };
        let vars = [
            ("MESOS_AGENT_ENDPOINT", endpoint.as_str()),
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "ex-1"),
            ("MESOS_CHECKPOINT", checkpoint),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "50ms"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok"),
        ];
        Config::from_lookup(|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
        .expect("valid environment")
    }

    fn push(&self, event: &Event) {
        let agent = self.state.lock().expect("lock");
        let tx = agent.events.as_ref().expect("an open stream");
        tx.send(Bytes::from(recordio::encode(&event.to_json()))).expect("stream open");
    }

    /// Closes the current stream, as an agent restart does.
    fn drop_stream(&self) {
        self.state.lock().expect("lock").events = None;
    }

    fn subscribes(&self) -> Vec<(HeaderMap, mesos::executor::Subscribe)> {
        let agent = self.state.lock().expect("lock");
        agent
            .calls
            .iter()
            .filter_map(|(h, c)| match &c.kind {
                CallKind::Subscribe(s) => Some((h.clone(), s.clone())),
                _ => None,
            })
            .collect()
    }
}

fn task(id: &str) -> TaskInfo {
    let mut t = TaskInfo::new(id, TaskID::new(id), AgentID::new("S0"), Vec::new());
    t.executor = Some(ExecutorInfo::new(ExecutorID::new("ex-1")));
    t
}

async fn next(rx: &mut UnboundedReceiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notice within 10 s")
        .expect("running")
}

async fn until_launch(rx: &mut UnboundedReceiver<Notice>) -> TaskInfo {
    loop {
        match next(rx).await {
            Notice::Event(Event::Launch(l)) => return l.task,
            Notice::Stopped(r) => panic!("stopped: {r}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn updates_are_kept_until_acknowledged_and_replayed_on_resubscription() {
    let agent = FakeAgent::start(Some(task("t1"))).await;
    let (handle, mut rx) = connection::connect(agent.config(true)).expect("connect");
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));
    let launched = until_launch(&mut rx).await;
    assert_eq!(handle.unacknowledged_tasks(), vec![launched.clone()]);

    let running =
        handle.update(TaskStatus::new(TaskID::new("t1"), TaskState::Running)).await.expect("202");
    assert_eq!(running.len(), 16);
    agent.push(&Event::Acknowledged(Acknowledged {
        task_id: TaskID::new("t1"),
        uuid: running.clone(),
    }));
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Acknowledged(_))));
    assert!(handle.unacknowledged_updates().is_empty(), "acked update dropped");
    assert!(
        handle.unacknowledged_tasks().is_empty(),
        "a task with an acked update leaves the list"
    );

    let finished =
        handle.update(TaskStatus::new(TaskID::new("t1"), TaskState::Finished)).await.expect("202");
    agent.drop_stream();
    let Notice::Disconnected { retry_in, .. } = next(&mut rx).await else {
        panic!("expected Disconnected")
    };
    assert!(
        retry_in <= Duration::from_millis(50),
        "within MESOS_SUBSCRIPTION_BACKOFF_MAX: {retry_in:?}"
    );
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));

    let subscribes = agent.subscribes();
    assert_eq!(subscribes.len(), 2);
    assert!(
        subscribes[0].1.unacknowledged_updates.is_empty()
            && subscribes[0].1.unacknowledged_tasks.is_empty()
    );
    let replay = &subscribes[1].1;
    assert!(replay.unacknowledged_tasks.is_empty());
    assert_eq!(replay.unacknowledged_updates.len(), 1);
    let status = &replay.unacknowledged_updates[0].status;
    assert_eq!(status.uuid.as_ref(), Some(&finished), "same uuid so the agent de-duplicates");
    assert_eq!(status.state, TaskState::Finished);
    assert_eq!(status.source, Some(TaskSource::Executor));
    assert!(status.timestamp.is_some());
    assert!(subscribes.iter().all(|(h, _)| h["authorization"] == "Bearer tok"));
}

#[tokio::test]
async fn an_update_refused_with_5xx_is_kept_and_replayed_but_a_4xx_is_dropped() {
    let agent = FakeAgent::start(Some(task("t1"))).await;
    let (handle, mut rx) = connection::connect(agent.config(true)).expect("connect");
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));
    until_launch(&mut rx).await;

    agent.state.lock().expect("lock").refuse_updates = Some(StatusCode::SERVICE_UNAVAILABLE);
    let recovering = handle.update(TaskStatus::new(TaskID::new("t1"), TaskState::Finished)).await;
    assert!(
        matches!(recovering, Err(connection::CallError::Refused { status, .. }) if status == 503)
    );
    agent.state.lock().expect("lock").refuse_updates = Some(StatusCode::BAD_REQUEST);
    let invalid = handle.update(TaskStatus::new(TaskID::new("t1"), TaskState::Running)).await;
    assert!(matches!(invalid, Err(connection::CallError::Refused { status, .. }) if status == 400));
    let kept = handle.unacknowledged_updates();
    assert_eq!(kept.len(), 1, "only the update refused while recovering is kept: {kept:?}");
    assert_eq!(kept[0].status.state, TaskState::Finished);

    agent.state.lock().expect("lock").refuse_updates = None;
    agent.drop_stream();
    assert!(matches!(next(&mut rx).await, Notice::Disconnected { .. }));
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));
    let subscribes = agent.subscribes();
    let replay = &subscribes.last().expect("re-subscribed").1.unacknowledged_updates;
    assert_eq!(replay.len(), 1, "the TASK_FINISHED refused with 503 is replayed");
    assert_eq!(replay[0].status.state, TaskState::Finished);
}

#[tokio::test]
async fn unacknowledged_task_is_replayed_in_subscribe() {
    let agent = FakeAgent::start(Some(task("t2"))).await;
    let (_handle, mut rx) = connection::connect(agent.config(true)).expect("connect");
    until_launch(&mut rx).await;
    agent.drop_stream();
    assert!(matches!(next(&mut rx).await, Notice::Disconnected { .. }));
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));
    let subscribes = agent.subscribes();
    let ids: Vec<_> =
        subscribes[1].1.unacknowledged_tasks.iter().map(|t| t.task_id.value.clone()).collect();
    assert_eq!(ids, ["t2"]);
}

#[tokio::test]
async fn non_checkpointing_executor_stops_on_disconnect() {
    let agent = FakeAgent::start(None).await;
    let (_handle, mut rx) = connection::connect(agent.config(false)).expect("connect");
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));
    agent.drop_stream();
    let Notice::Stopped(reason) = next(&mut rx).await else { panic!("expected Stopped") };
    assert!(matches!(reason, StopReason::NotCheckpointing { .. }), "{reason}");
    assert_eq!(agent.subscribes().len(), 1, "no reconnection attempt");
}

#[tokio::test]
async fn recovery_timeout_expires_while_the_agent_stays_away() {
    let agent = FakeAgent::start(None).await;
    let mut config = agent.config(true);
    config.recovery_timeout = Duration::from_millis(400);
    let (handle, mut rx) = connection::connect(config).expect("connect");
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Subscribed(_))));
    agent.state.lock().expect("lock").recovering = true;
    agent.drop_stream();
    let started = std::time::Instant::now();
    let mut retries = 0;
    let reason = loop {
        match next(&mut rx).await {
            Notice::Disconnected { .. } => retries += 1,
            Notice::Stopped(reason) => break reason,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(matches!(reason, StopReason::RecoveryTimeout { .. }), "{reason}");
    assert!(reason.to_string().contains("recovery timeout"), "{reason}");
    assert!(retries >= 2, "kept retrying: {retries}");
    assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());
    // Updates sent while disconnected stay queued for the next subscription.
    let err = handle
        .update(TaskStatus::new(TaskID::new("t"), TaskState::Running))
        .await
        .expect_err("queued");
    assert!(err.to_string().contains("replayed"), "{err}");
    assert_eq!(handle.unacknowledged_updates().len(), 1);
}

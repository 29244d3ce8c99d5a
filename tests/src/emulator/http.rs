//! The HTTP side: the master (`/api/v1/scheduler`, `/master/api/v1/scheduler`, `/master/state`,
//! `/state`, `/version`, `/redirect`, and the `POST /__control/...` fault endpoints) and one
//! listener per agent (`/api/v1/executor`, `/slave(1)/api/v1/executor`). The checks run in the
//! real master's and agent's order, with their status codes and plain-text bodies.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use mesos::executor;
use mesos::scheduler::{self, CallKind};
use tokio::sync::mpsc;

use super::Shared;
use super::core::{Refusal, refuse};
use super::record::{Api, Dir};

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/x-protobuf";

fn text(status: u16, body: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.status, self.body)
    }
}

/// A RecordIO event stream that tells the emulator when the client (or the emulator) closed it.
struct EventStream {
    rx: mpsc::UnboundedReceiver<Bytes>,
    on_close: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl futures_util::Stream for EventStream {
    type Item = Result<Bytes, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|o| o.map(Ok))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(f) = self.on_close.take() {
            f();
        }
    }
}

fn stream_response(
    rx: mpsc::UnboundedReceiver<Bytes>,
    stream_id: Option<&str>,
    on_close: Box<dyn FnOnce() + Send + Sync>,
) -> Response {
    let mut r = Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, JSON);
    if let Some(id) = stream_id {
        r = r.header("Mesos-Stream-Id", id);
    }
    r.body(Body::from_stream(EventStream { rx, on_close: Some(on_close) })).expect("valid response")
}

/// Content-Type: exact, case-sensitive, as libprocess compares it.
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("")) {
        None => Err(refuse(400, "Expecting 'Content-Type' to be present")),
        Some(JSON) => Ok(()),
        Some(PROTOBUF) => Err(refuse(
            415,
            "Expecting 'Content-Type' of application/json: mini-mesos decodes JSON calls only (a real master also takes application/x-protobuf)",
        )),
        Some(_) => Err(refuse(
            415,
            "Expecting 'Content-Type' of application/json or application/x-protobuf",
        )),
    }
}

/// Whether `Accept` allows a JSON stream.
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT) else { return true };
    let accept = accept.to_str().unwrap_or("");
    accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        matches!(media.as_str(), "application/json" | "*/*" | "application/*")
    })
}

/// Decodes a call body like stout: invalid JSON, an enum given as a number, or a missing
/// required field are all 400.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| refuse(400, format!("Failed to parse body into JSON: {e}")))?;
    if value.get("type").is_some_and(serde_json::Value::is_number) {
        return Err(refuse(
            400,
            "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'",
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| refuse(400, format!("Failed to convert JSON into Call protobuf: {e}")))
}

#[derive(Clone)]
pub(crate) struct MasterCtx {
    pub shared: Arc<Shared>,
    pub index: usize,
}

pub(crate) fn master_router(ctx: MasterCtx) -> Router {
    Router::new()
        .route("/api/v1/scheduler", any(scheduler_endpoint))
        .route("/master/api/v1/scheduler", any(scheduler_endpoint))
        .route("/master/state", get(state_endpoint))
        .route("/master/state.json", get(state_endpoint))
        .route("/state", get(state_endpoint))
        .route("/state.json", get(state_endpoint))
        .route("/version", get(version))
        .route("/master/version", get(version))
        .route("/redirect", get(redirect))
        .route("/master/redirect", get(redirect))
        .route("/__control/fail-over", post(control_fail_over))
        .route("/__control/leader", post(control_leader))
        .route("/__control/agents/{agent}/restart", post(control_restart))
        .route("/__control/agents/{agent}/reboot", post(control_reboot))
        .route("/__control/agents/{agent}/remove", post(control_remove))
        .route("/__control/frameworks/{framework}/drop-subscription", post(control_drop))
        .route("/__control/frameworks/{framework}/silence", post(control_silence))
        .route("/__control/updates", post(control_updates))
        .with_state(ctx)
}

/// 307 to the leader (or 503 with none) unless this master leads.
fn not_leading(ctx: &MasterCtx, path: &str) -> Option<Response> {
    let core = ctx.shared.lock();
    match core.leader {
        Some(i) if i == ctx.index => None,
        Some(i) => {
            let addr = core.masters[i];
            let path = if path.starts_with("/master/") {
                path.to_owned()
            } else {
                format!("/master{path}")
            };
            let location = format!("//{}:{}{path}", ctx.shared.settings.hostname, addr.port());
            Some(
                Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header(header::LOCATION, location)
                    .header(header::CONTENT_LENGTH, "0")
                    .body(Body::empty())
                    .expect("valid response"),
            )
        }
        None => Some(text(503, "No leader elected")),
    }
}

async fn scheduler_endpoint(
    State(ctx): State<MasterCtx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = not_leading(&ctx, uri.path()) {
        return r;
    }
    if method != Method::POST {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "POST")
            .body(Body::from("Expecting a 'POST' request"))
            .expect("valid response");
    }
    if let Err(r) = check_content_type(&headers) {
        return r.into_response();
    }
    let call: scheduler::Call = match decode(&body) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    ctx.shared.record(Api::Scheduler, Dir::Call, None, &body);
    let invalid = |msg: String| text(400, format!("Failed to validate scheduler::Call: {msg}"));
    if let CallKind::Subscribe(s) = &call.kind {
        if call.framework_id != s.framework_info.id {
            return invalid("'framework_id' differs from 'subscribe.framework_info.id'".into());
        }
        if !accepts_json(&headers) {
            return text(
                406,
                "Expecting 'Accept' to allow 'application/json' (mini-mesos streams JSON events only)",
            );
        }
        if headers.contains_key("Mesos-Stream-Id") {
            return text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        }
        let sub = ctx.shared.lock().subscribe(s);
        let framework = {
            let core = ctx.shared.lock();
            core.frameworks
                .values()
                .find(|f| f.sub.as_ref().is_some_and(|x| x.stream_id == sub.stream_id))
                .map(|f| f.id.clone())
        };
        let shared = ctx.shared.clone();
        let stream_id = sub.stream_id.clone();
        let on_close = Box::new(move || {
            if let Some(fw) = framework {
                shared.lock().scheduler_stream_closed(&fw, &stream_id);
            }
        });
        return stream_response(sub.rx, Some(&sub.stream_id), on_close);
    }
    let Some(framework) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
        return invalid("Expecting 'framework_id' to be present".into());
    };
    if let CallKind::Acknowledge(a) = &call.kind {
        if !mesos::is_valid_status_uuid(&a.uuid) {
            return invalid(format!(
                "'acknowledge.uuid' is not a valid UUID: expected the 16 bytes of an RFC-4122 UUID (version 1-5), found {} bytes",
                a.uuid.len()
            ));
        }
    }
    if let CallKind::UpdateFramework(u) = &call.kind {
        if u.framework_info.id.as_ref().map(|i| &i.value) != Some(&framework) {
            return invalid(
                "'update_framework.framework_info.id' differs from 'framework_id'".into(),
            );
        }
    }
    if matches!(&call.kind, CallKind::Unrecognized(t) if t == "UNKNOWN") {
        return text(501, "Received 'UNKNOWN' call");
    }
    let stream_id = headers.get("Mesos-Stream-Id").and_then(|v| v.to_str().ok());
    let mut core = ctx.shared.lock();
    if let Err(r) = core.check_caller(&framework, stream_id) {
        return r.into_response();
    }
    match &call.kind {
        CallKind::Teardown => core.teardown(&framework),
        CallKind::Accept(a) => core.accept(&framework, a),
        CallKind::Decline(d) => core.decline(&framework, &d.offer_ids, d.filters.as_ref()),
        CallKind::Revive(r) => core.revive(&framework, &r.roles),
        CallKind::Suppress(s) => core.suppress(&framework, &s.roles),
        CallKind::Kill(k) => core.kill(&framework, k),
        CallKind::Shutdown(s) => core.shutdown_call(&framework, s),
        CallKind::Acknowledge(a) => core.acknowledge(&framework, a),
        CallKind::Reconcile(r) => core.reconcile(&framework, r),
        CallKind::Message(m) => core.message(&framework, m),
        CallKind::UpdateFramework(u) => {
            return match core.update_framework(&framework, u) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(r) if r.status == 400 => invalid(r.body),
                Err(r) => r.into_response(),
            };
        }
        CallKind::Request(_)
        | CallKind::AcceptInverseOffers(_)
        | CallKind::DeclineInverseOffers(_)
        | CallKind::AcknowledgeOperationStatus(_)
        | CallKind::ReconcileOperations(_) => {}
        CallKind::Subscribe(_) | CallKind::Unrecognized(_) => {}
    }
    StatusCode::ACCEPTED.into_response()
}

async fn state_endpoint(State(ctx): State<MasterCtx>, uri: Uri) -> Response {
    if let Some(r) = not_leading(&ctx, uri.path()) {
        return r;
    }
    let state = super::state::State::of(&ctx.shared.lock());
    axum::Json(state).into_response()
}

async fn version() -> Response {
    axum::Json(serde_json::json!({"build_date": "2026-01-01 00:00:00", "build_time": 1767225600.0, "build_user": "", "version": "1.12.0"})).into_response()
}

async fn redirect(State(ctx): State<MasterCtx>) -> Response {
    let core = ctx.shared.lock();
    match core.leader.and_then(|i| core.masters.get(i)) {
        Some(addr) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, format!("//{}:{}", ctx.shared.settings.hostname, addr.port()))
            .body(Body::empty())
            .expect("valid response"),
        None => text(503, "No leader elected"),
    }
}

fn control_result(r: Result<serde_json::Value, String>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => text(404, e),
    }
}

async fn control_fail_over(State(ctx): State<MasterCtx>) -> Response {
    ctx.shared.lock().fail_over();
    let core = ctx.shared.lock();
    control_result(Ok(serde_json::json!({"master_id": core.master_id, "leader": core.leader})))
}

#[derive(serde::Deserialize)]
struct LeaderQuery {
    /// Index of the new leader (0 = the first master, 1 = the standby), or `none`.
    index: String,
}

async fn control_leader(State(ctx): State<MasterCtx>, Query(q): Query<LeaderQuery>) -> Response {
    let mut core = ctx.shared.lock();
    let leader = match q.index.as_str() {
        "none" => None,
        n => match n.parse::<usize>() {
            Ok(i) if i < core.masters.len() => Some(i),
            _ => {
                return text(
                    400,
                    format!("index {n:?} is invalid: expected `none` or 0..{}", core.masters.len()),
                );
            }
        },
    };
    core.leader = leader;
    control_result(Ok(serde_json::json!({"leader": leader})))
}

async fn control_restart(State(ctx): State<MasterCtx>, Path(agent): Path<String>) -> Response {
    let mut core = ctx.shared.lock();
    let r = core
        .agent_id_by_name(&agent)
        .ok_or_else(|| format!("no agent with id or hostname {agent:?}"))
        .and_then(|id| core.restart_agent(&id).map(|()| serde_json::json!({"agent_id": id})));
    control_result(r)
}

#[derive(serde::Deserialize)]
struct RebootQuery {
    /// The agent comes back with a new agent id (its work dir did not survive the reboot).
    #[serde(default)]
    new_id: bool,
}

async fn control_reboot(
    State(ctx): State<MasterCtx>,
    Path(agent): Path<String>,
    Query(q): Query<RebootQuery>,
) -> Response {
    let mut core = ctx.shared.lock();
    let r = core
        .agent_id_by_name(&agent)
        .ok_or_else(|| format!("no agent with id or hostname {agent:?}"))
        .and_then(|id| {
            if q.new_id {
                core.reboot_agent_new_id(&id).map(|(new, boot)| {
                    serde_json::json!({"agent_id": new, "old_agent_id": id, "boot_id": boot})
                })
            } else {
                core.reboot_agent(&id)
                    .map(|boot| serde_json::json!({"agent_id": id, "boot_id": boot}))
            }
        });
    control_result(r)
}

async fn control_remove(State(ctx): State<MasterCtx>, Path(agent): Path<String>) -> Response {
    let mut core = ctx.shared.lock();
    let r = core
        .agent_id_by_name(&agent)
        .ok_or_else(|| format!("no agent with id or hostname {agent:?}"))
        .and_then(|id| core.remove_agent(&id).map(|()| serde_json::json!({"removed": id})));
    control_result(r)
}

async fn control_silence(State(ctx): State<MasterCtx>, Path(framework): Path<String>) -> Response {
    let silenced = ctx.shared.lock().silence_subscription(&framework);
    control_result(if silenced {
        Ok(serde_json::json!({"silenced": framework}))
    } else {
        Err(format!("framework {framework:?} has no open subscription"))
    })
}

async fn control_drop(State(ctx): State<MasterCtx>, Path(framework): Path<String>) -> Response {
    let dropped = ctx.shared.lock().drop_subscription(&framework);
    control_result(if dropped {
        Ok(serde_json::json!({"dropped": framework}))
    } else {
        Err(format!("framework {framework:?} has no open subscription"))
    })
}

#[derive(serde::Deserialize)]
struct UpdatesQuery {
    delay_ms: Option<u64>,
    duplicate: Option<bool>,
}

async fn control_updates(State(ctx): State<MasterCtx>, Query(q): Query<UpdatesQuery>) -> Response {
    let mut core = ctx.shared.lock();
    if let Some(ms) = q.delay_ms {
        core.faults.delay = std::time::Duration::from_millis(ms);
    }
    if let Some(d) = q.duplicate {
        core.faults.duplicate = d;
    }
    control_result(Ok(
        serde_json::json!({"delay_ms": core.faults.delay.as_millis() as u64, "duplicate": core.faults.duplicate}),
    ))
}

// ------------------------------------------------------------------------------------------
// Agents

#[derive(Clone)]
pub(crate) struct AgentCtx {
    pub shared: Arc<Shared>,
    /// The host this listener belongs to; the agent id registered for it can change (a wiped
    /// agent comes back with a new one) or vanish (the agent was removed).
    pub host: String,
}

pub(crate) fn agent_router(ctx: AgentCtx) -> Router {
    Router::new()
        .route("/api/v1/executor", any(executor_endpoint))
        .route("/slave(1)/api/v1/executor", any(executor_endpoint))
        .with_state(ctx)
}

/// The agent's validation of executor calls (400 "..." in the agent's words).
fn validate_executor_call(call: &executor::Call) -> Result<(), String> {
    if let executor::CallKind::Update(u) = &call.kind {
        let s = &u.status;
        let Some(uuid) = &s.uuid else { return Err("Expecting 'uuid' to be present".into()) };
        if !mesos::is_valid_status_uuid(uuid) {
            return Err(format!(
                "'uuid' is not a valid RFC-4122 UUID: expected 16 bytes with version 1-5, found {} bytes",
                uuid.len()
            ));
        }
        if s.source != Some(mesos::TaskSource::Executor) {
            return Err(format!(
                "Received Call from executor {} of type UPDATE with invalid source, expecting 'SOURCE_EXECUTOR'",
                call.executor_id.value
            ));
        }
        if s.state == mesos::TaskState::Staging {
            return Err(format!(
                "Received TASK_STAGING from executor {} which is not allowed",
                call.executor_id.value
            ));
        }
        if let Some(e) = &s.executor_id {
            if e != &call.executor_id {
                return Err(format!(
                    "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                    call.executor_id.value, e.value
                ));
            }
        }
    }
    Ok(())
}

async fn executor_endpoint(
    State(ctx): State<AgentCtx>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "POST")
            .body(Body::from("Expecting a 'POST' request"))
            .expect("valid response");
    }
    if let Err(r) = check_content_type(&headers) {
        return r.into_response();
    }
    let call: executor::Call = match decode(&body) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Some(agent) = ctx.shared.lock().agent_id_of_host(&ctx.host).map(str::to_owned) else {
        return text(503, "Agent is not running");
    };
    ctx.shared.record(Api::Executor, Dir::Call, Some(&agent), &body);
    if let Err(e) = validate_executor_call(&call) {
        return text(400, format!("Failed to validate agent::Call: {e}"));
    }
    let subscribing = matches!(call.kind, executor::CallKind::Subscribe(_));
    if subscribing && !accepts_json(&headers) {
        return text(
            406,
            "Expecting 'Accept' to allow 'application/json' (mini-mesos streams JSON events only)",
        );
    }
    if matches!(call.kind, executor::CallKind::Heartbeat) {
        return StatusCode::ACCEPTED.into_response();
    }
    let key = (call.framework_id.value.clone(), call.executor_id.value.clone());
    let mut core = ctx.shared.lock();
    if let Err(r) = core.executor_refusal(&agent, &key.0, &key.1, subscribing) {
        return r.into_response();
    }
    match call.kind {
        executor::CallKind::Subscribe(s) => {
            let (generation, rx) = core.executor_subscribe(&agent, &key, &s);
            drop(core);
            let shared = ctx.shared.clone();
            let on_close =
                Box::new(move || shared.lock().executor_stream_closed(&agent, &key, generation));
            stream_response(rx, None, on_close)
        }
        executor::CallKind::Update(u) => {
            core.executor_update(&agent, &key, u.status);
            StatusCode::ACCEPTED.into_response()
        }
        executor::CallKind::Message(m) => {
            core.executor_message(&agent, &key, m.data);
            StatusCode::ACCEPTED.into_response()
        }
        executor::CallKind::Heartbeat => StatusCode::ACCEPTED.into_response(),
        executor::CallKind::Unrecognized(_) => text(501, "Received 'UNKNOWN' call"),
    }
}

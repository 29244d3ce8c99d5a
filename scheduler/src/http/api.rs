//! The JSON endpoints: `/version`, `/v1/plan`, `/v1/nodes`, `/v1/capacity`, `/v1/health` and the operator
//! commands (pause, resume, retry) that go to the loop through the command channel.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{State as AppState, error};
use crate::view::{ApiCommand, ApiRefusal, ApiRequest, HealthStatus};

/// How long a command waits for the loop's answer before the caller gets 503.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn version(State(state): State<AppState>) -> Response {
    Json(json!({
        "name": "scaleio-scheduler",
        "version": state.ctx.version,
        "step_schema_version": scaleio::step::STEP_SCHEMA_VERSION,
    }))
    .into_response()
}

pub(super) async fn plan(State(state): State<AppState>) -> Response {
    let view = state.ctx.view.borrow().clone();
    Json(&view.plan).into_response()
}

pub(super) async fn nodes(State(state): State<AppState>) -> Response {
    let view = state.ctx.view.borrow().clone();
    Json(&view.nodes).into_response()
}

/// The ScaleIO capacity and the state of the gateway it is read from (`null`s until the cluster
/// has a gateway).
pub(super) async fn capacity(State(state): State<AppState>) -> Response {
    let view = state.ctx.view.borrow().clone();
    Json(json!({ "capacity": view.capacity, "gateway": view.gateway })).into_response()
}

/// 200 healthy, 202 deploying, 503 unhealthy; the body always carries the status and reasons.
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let view = state.ctx.view.borrow().clone();
    let health = view.health();
    let (done, total) = view.progress();
    let code = match health.status {
        HealthStatus::Healthy => StatusCode::OK,
        HealthStatus::Deploying => StatusCode::ACCEPTED,
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = json!({
        "status": health.status,
        "reasons": health.reasons,
        "subscribed": view.health.subscribed,
        "plan": view.plan.status,
        "paused": view.plan.paused,
        "steps_complete": done,
        "steps_total": total,
    });
    (code, Json(body)).into_response()
}

pub(super) async fn pause(State(state): State<AppState>) -> Response {
    command(&state, ApiCommand::Pause).await
}

pub(super) async fn resume(State(state): State<AppState>) -> Response {
    command(&state, ApiCommand::Resume).await
}

pub(super) async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    command(&state, ApiCommand::Retry(id)).await
}

/// Send the command to the loop and turn its reply into a response.
async fn command(state: &AppState, command: ApiCommand) -> Response {
    let unavailable = || {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler loop is not answering (it may be shutting down); try again shortly",
        )
    };
    tracing::info!(?command, "operator command");
    let (request, reply) = ApiRequest::new(command);
    if state.ctx.commands.send(request).await.is_err() {
        return unavailable();
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, reply).await {
        Ok(Ok(Ok(message))) => Json(json!({ "message": message })).into_response(),
        Ok(Ok(Err(refusal))) => {
            let code = match refusal {
                ApiRefusal::UnknownStep(_) => StatusCode::NOT_FOUND,
                ApiRefusal::NotRetryable { .. } => StatusCode::CONFLICT,
            };
            error(code, refusal.to_string())
        }
        Ok(Err(_)) | Err(_) => unavailable(),
    }
}

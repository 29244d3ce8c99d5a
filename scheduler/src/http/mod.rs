//! The scheduler's HTTP server (axum): JSON API, Prometheus metrics, the status page and the
//! artifacts agents download. Entry point: [`serve`].
//!
//! The server only reads `Arc<View>` snapshots from a watch channel and sends [`ApiRequest`]s to
//! the loop; it owns no scheduler state.

mod api;
mod artifacts;
mod auth;
mod metrics;
pub mod page;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::Secret;
use crate::view::{ApiRequest, View};

pub use artifacts::Artifacts;
pub use metrics::render as render_metrics;
pub use page::render as render_status_page;

/// The largest request body accepted (the API takes no bodies; this only bounds abuse): 413 above.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the HTTP server needs from the rest of the scheduler.
#[derive(Debug, Clone)]
pub struct ApiContext {
    /// The latest snapshot, published by the loop after every change.
    pub view: watch::Receiver<Arc<View>>,
    /// Where operator commands go; the loop answers each on its reply channel.
    pub commands: mpsc::Sender<ApiRequest>,
    /// Files served at `/artifacts/{file}` (executor binary, bundles).
    pub artifacts: Artifacts,
    /// When set, mutating endpoints need `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// Shown by `GET /version` and on the status page.
    pub version: &'static str,
}

#[derive(Debug)]
struct Shared {
    ctx: ApiContext,
    artifacts: artifacts::Resolved,
}

type State = Arc<Shared>;

/// Serve the API on `listener` until `shutdown` completes, then finish in-flight requests
/// (graceful shutdown) and return.
///
/// Fails only when the artifacts directory cannot be resolved at start (a configuration error)
/// or the server itself fails.
pub async fn serve(
    listener: TcpListener,
    ctx: ApiContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(ctx)?;
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// The router, for tests that drive it directly.
pub fn router(ctx: ApiContext) -> std::io::Result<Router> {
    let artifacts = ctx.artifacts.resolve()?;
    let state: State = Arc::new(Shared { ctx, artifacts });
    let mutating = Router::new()
        .route("/v1/plan/pause", post(api::pause))
        .route("/v1/plan/resume", post(api::resume))
        .route("/v1/steps/{id}/retry", post(api::retry))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Ok(Router::new()
        .route("/", get(page::status_page))
        .route("/version", get(api::version))
        .route("/v1/plan", get(api::plan))
        .route("/v1/nodes", get(api::nodes))
        .route("/v1/capacity", get(api::capacity))
        .route("/v1/health", get(api::health))
        .route("/metrics", get(metrics::metrics))
        .route("/artifacts/{file}", get(artifacts::get_artifact))
        .merge(mutating)
        .fallback(not_found)
        .layer(middleware::from_fn(limit_body))
        .layer(middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state))
}

/// A JSON error body: `{"error": "..."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn not_found(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {} {}; see GET / for the status page and GET /v1/plan, /v1/nodes, /v1/health, /metrics, /version",
            request.method(),
            request.uri().path()
        ),
    )
}

/// One debug line per request (method, path, status, time); server errors at warn. Headers are
/// never logged (they may carry the token), nor query strings.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let millis = started.elapsed().as_millis() as u64;
    if response.status().is_server_error() {
        tracing::warn!(%method, %path, status, millis, "HTTP request failed");
    } else {
        tracing::debug!(%method, %path, status, millis, "HTTP request");
    }
    response
}

/// Refuse bodies over [`MAX_BODY_BYTES`] with 413, whether announced by `Content-Length` or
/// streamed chunked, before any handler runs.
async fn limit_body(request: Request, next: Next) -> Response {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body larger than {MAX_BODY_BYTES} bytes; the API takes no request bodies"
            ),
        )
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The files served at `/artifacts`, by name (used by the status page to list them).
fn artifact_names(state: &Shared) -> BTreeMap<String, PathBuf> {
    state.artifacts.names()
}

//! The ScaleIO capacity poller: a task beside the loop that logs in to the REST gateway with the
//! admin password the scheduler holds, reads the system's statistics and reports them to the
//! loop, which puts them in the [`View`](crate::view::View) (`/metrics`, `/v1/capacity`, the
//! status page).
//!
//! The loop tells the poller which gateway to read ([`target`]): none until the cluster has one
//! (full mode: once every `configure-gateway` step of the plan is complete; pre-configured mode:
//! from the start). The poller reads soon after the target appears or changes (another endpoint,
//! or the plan completing, when the devices are all in), then every interval. A gateway that cannot be reached, refuses the login or answers
//! nonsense is reported with the reason; the last capacity read stays, with its time. The
//! poller never blocks the loop (reports go through a channel the loop drains), and never logs or
//! reports the password (gateway errors carry no credentials).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scaleio::Secret;
use scaleio::gateway::{Gateway, GatewayConfig, GatewayError};
use scaleio::step::GatewayTls;
use tokio::sync::{mpsc, watch};

use crate::core::{Action, State, StepStatus};
use crate::view::{CapacityView, UnixMillis};

/// How the poller logs in and which system it reads.
#[derive(Debug, Clone)]
pub struct Access {
    /// The ScaleIO admin user.
    pub username: String,
    /// The admin password (`--password-file` / `$SCALEIO_PASSWORD`).
    pub password: Secret,
    /// `--gateway-ca-file` (read on the scheduler's host) / `--gateway-insecure`.
    pub tls: GatewayTls,
    /// `--cluster-id`: read this system; otherwise the only one, else the one named `name`.
    pub system_id: Option<String>,
    /// `--cluster-name`.
    pub system_name: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// One reading of the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The gateway read.
    pub endpoint: String,
    /// When the reading finished.
    pub at: UnixMillis,
    /// The capacity, or why it could not be read (one line, no secret).
    pub result: Result<CapacityView, String>,
}

/// What the poller reads: a change makes it read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https://HOST[:PORT]`.
    pub endpoint: String,
    /// The plan is complete (every device is in the pool).
    pub plan_complete: bool,
}

/// What the poller should read now (see [`gateway_endpoint`]).
pub fn target(state: &State) -> Option<Target> {
    Some(Target { endpoint: gateway_endpoint(state)?, plan_complete: state.plan().is_complete() })
}

/// The gateway the poller should read now, as `https://HOST[:PORT]`: `None` until the cluster
/// has one (see the module docs). The host is `--gateway`, else the primary MDM.
pub fn gateway_endpoint(state: &State) -> Option<String> {
    let settings = state.settings();
    if matches!(settings.mode, scaleio::topology::Mode::Full) {
        let mut configure = state
            .plan()
            .steps()
            .filter(|s| matches!(s.action, Action::ConfigureGateway))
            .peekable();
        configure.peek()?;
        if !configure.all(|s| s.status == StepStatus::Complete) {
            return None;
        }
    }
    let host = match &settings.gateway {
        Some(g) => g.clone(),
        None => state.mdm_ips()?.primary,
    };
    Some(format!("https://{host}"))
}

fn now() -> UnixMillis {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    UnixMillis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The error and its causes on one line (gateway errors name requests and statuses, never
/// credentials).
fn one_line(e: &GatewayError) -> String {
    mesos::http::error_chain(e).replace('\n', " ")
}

/// Reads the capacity once through `gateway`.
pub async fn read(gateway: &Gateway, access: &Access) -> Result<CapacityView, String> {
    let system = match &access.system_id {
        Some(id) => gateway.find_system(Some(id), None).await,
        None => match gateway.find_system(None, None).await {
            Err(GatewayError::NotFound { .. }) => {
                gateway.find_system(None, Some(&access.system_name)).await
            }
            other => other,
        },
    }
    .map_err(|e| one_line(&e))?;
    let stats = gateway.system_statistics(&system.id).await.map_err(|e| one_line(&e))?;
    Ok(CapacityView::from(&stats))
}

/// A client for `endpoint`, or why none can be built (e.g. the CA file is missing here).
fn client(endpoint: &str, access: &Access) -> Result<Gateway, String> {
    let config = GatewayConfig {
        timeout: access.timeout,
        ..GatewayConfig::from_step(endpoint, &access.username, access.password.clone(), &access.tls)
    };
    Gateway::new(config).map_err(|e| match e {
        GatewayError::CaFile { path, .. } => format!(
            "cannot read the gateway CA file {path} on the scheduler's host (--gateway-ca-file names a path valid on every agent and on the scheduler's host)"
        ),
        other => one_line(&other),
    })
}

/// Runs the poller until `targets` or `reports` closes: reads the gateway `targets` names soon
/// after it appears or changes, then every `interval`.
pub async fn run(
    access: Access,
    mut targets: watch::Receiver<Option<Target>>,
    reports: mpsc::Sender<Report>,
    interval: Duration,
) {
    let mut current: Option<(String, Gateway)> = None;
    loop {
        let endpoint = targets.borrow_and_update().clone().map(|t| t.endpoint);
        if let Some(endpoint) = endpoint {
            if current.as_ref().is_none_or(|(e, _)| *e != endpoint) {
                current = None;
            }
            let result = match &current {
                Some((_, gateway)) => read(gateway, &access).await,
                None => match client(&endpoint, &access) {
                    Ok(gateway) => {
                        let result = read(&gateway, &access).await;
                        current = Some((endpoint.clone(), gateway));
                        result
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = &result {
                tracing::warn!(gateway = %endpoint, error = %e, "cannot read the ScaleIO capacity");
            }
            let report = Report { endpoint, at: now(), result };
            if reports.send(report).await.is_err() {
                return;
            }
        }
        tokio::select! {
            changed = targets.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

//! The read-only view of the scheduler that the HTTP API and status page render, the commands
//! the HTTP side sends to the loop, and the health verdict derived from the view.
//!
//! The loop owns the state; after each change it publishes a fresh `Arc<View>` through a
//! `tokio::sync::watch` channel. The HTTP side never mutates anything: it sends an
//! [`ApiRequest`] through an `mpsc` channel and waits for the loop's [`ApiReply`].

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use scaleio::topology::Persona;

/// A wall-clock instant in milliseconds since the Unix epoch (the core gets time as an argument
/// and stores it in this form, so it survives a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Seconds since the epoch, with millisecond precision.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Milliseconds from `self` to `later` (0 when `later` is earlier).
    pub fn millis_until(self, later: UnixMillis) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

impl fmt::Display for UnixMillis {
    /// RFC 3339 in UTC with second precision, e.g. `2026-12-02T15:04:05Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Everything the HTTP API shows, as one immutable snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The deployment plan.
    pub plan: PlanView,
    /// Every node (agent host) the scheduler knows, in a stable order.
    pub nodes: Vec<NodeView>,
    /// The framework id Mesos assigned, once subscribed for the first time.
    pub framework_id: Option<String>,
    /// What the health verdict is computed from.
    pub health: HealthInputs,
    /// Offers received and answered (accepted or declined) since this scheduler process started.
    pub offers_handled: u64,
    /// ScaleIO capacity from the gateway: the latest successful reading (it stays, marked by its
    /// time, while the gateway is unreachable; see [`View::gateway`]).
    pub capacity: Option<CapacityView>,
    /// The scheduler's latest look at the ScaleIO gateway (`None` until the cluster has one).
    pub gateway: Option<GatewayView>,
}

/// What the scheduler last saw of the ScaleIO REST gateway it reads capacity from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayView {
    /// `https://HOST[:PORT]`.
    pub endpoint: String,
    /// The latest reading succeeded.
    pub up: bool,
    /// When the latest reading finished.
    pub checked_at: Option<UnixMillis>,
    /// When the capacity in [`View::capacity`] was read.
    pub capacity_at: Option<UnixMillis>,
    /// Why the latest reading failed (one line, never a secret).
    pub error: Option<String>,
}

/// The deployment plan: phases in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    pub status: PlanStatus,
    /// Paused by an operator: no new step starts until resumed.
    pub paused: bool,
    pub phases: Vec<PhaseView>,
}

/// One phase: steps run serially or in parallel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    /// e.g. `preflight`, `mdm-cluster`, `reboot`.
    pub name: String,
    pub strategy: Strategy,
    pub status: PlanStatus,
    pub steps: Vec<StepView>,
}

/// One step on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// Unique and URL-safe (letters, digits, `-`, `_`, `.`); `POST /v1/steps/{id}/retry` names it.
    pub id: String,
    /// Hostname of the node the step runs on (`None` for cluster-level steps run by the scheduler).
    pub node: Option<String>,
    /// What the step does, e.g. `install-packages`.
    pub kind: String,
    pub status: StepStatus,
    /// Attempts made so far (0 before the first launch).
    pub attempts: u32,
    /// The latest message: progress while running, the reason when failed.
    pub message: Option<String>,
    pub started_at: Option<UnixMillis>,
    pub finished_at: Option<UnixMillis>,
}

/// A node: one agent host, identified by its hostname.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub hostname: String,
    pub ip: Option<String>,
    /// The agent's current incarnation (changes after an agent restart).
    pub agent_id: Option<String>,
    /// Chosen once the topology decides (full mode: after three MDM hosts are chosen).
    pub persona: Option<Persona>,
    pub status: NodeStatus,
    /// Detected OS, e.g. `ubuntu-14.04` or `rhel-7`, once preflight ran.
    pub platform: Option<String>,
}

/// Status of a plan or phase (dcos-commons vocabulary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Nothing started yet.
    #[default]
    Pending,
    /// Some steps started, none waits for an operator.
    InProgress,
    /// Every step complete.
    Complete,
    /// At least one step is in [`StepStatus::Error`]: it waits for an operator's retry.
    Error,
}

impl PlanStatus {
    /// The status of a phase made of steps with these statuses: a step that is neither pending,
    /// complete nor in error counts as in progress, then the phase rule of [`Self::of_phases`].
    pub fn of_steps<'a>(steps: impl IntoIterator<Item = &'a StepStatus>) -> PlanStatus {
        let as_plan: Vec<PlanStatus> = steps
            .into_iter()
            .map(|s| match s {
                StepStatus::Error => PlanStatus::Error,
                StepStatus::Complete => PlanStatus::Complete,
                StepStatus::Pending => PlanStatus::Pending,
                _ => PlanStatus::InProgress,
            })
            .collect();
        PlanStatus::of_phases(&as_plan)
    }

    /// The status of a plan made of phases with these statuses.
    pub fn of_phases<'a>(phases: impl IntoIterator<Item = &'a PlanStatus>) -> PlanStatus {
        let mut any = false;
        let mut all_complete = true;
        let mut all_pending = true;
        for status in phases {
            any = true;
            match status {
                PlanStatus::Error => return PlanStatus::Error,
                PlanStatus::Complete => all_pending = false,
                PlanStatus::Pending => all_complete = false,
                PlanStatus::InProgress => {
                    all_complete = false;
                    all_pending = false;
                }
            }
        }
        if !any || all_complete {
            PlanStatus::Complete
        } else if all_pending {
            PlanStatus::Pending
        } else {
            PlanStatus::InProgress
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Pending => "pending",
            PlanStatus::InProgress => "in_progress",
            PlanStatus::Complete => "complete",
            PlanStatus::Error => "error",
        }
    }
}

/// How the steps of a phase run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One step at a time, in order.
    Serial,
    /// All ready steps at once.
    Parallel,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Serial => "serial",
            Strategy::Parallel => "parallel",
        }
    }
}

/// Step status: pending → prepared → starting → running → complete | failed | error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for its phase or for an offer.
    Pending,
    /// An offer was matched; the launch is being prepared.
    Prepared,
    /// Launched; no update from the executor yet.
    Starting,
    /// The executor reported `TASK_RUNNING`.
    Running,
    /// Done.
    Complete,
    /// Failed with automatic retries left; it runs again after a backoff.
    Failed,
    /// Failed with no retries left: it waits for an operator (`POST /v1/steps/{id}/retry`).
    Error,
}

impl StepStatus {
    pub const ALL: [StepStatus; 7] = [
        StepStatus::Pending,
        StepStatus::Prepared,
        StepStatus::Starting,
        StepStatus::Running,
        StepStatus::Complete,
        StepStatus::Failed,
        StepStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Prepared => "prepared",
            StepStatus::Starting => "starting",
            StepStatus::Running => "running",
            StepStatus::Complete => "complete",
            StepStatus::Failed => "failed",
            StepStatus::Error => "error",
        }
    }
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Seen in an offer; its executor is not running yet.
    Discovered,
    /// Its steps are running.
    Deploying,
    /// Every step of the node is complete.
    Ready,
    /// A step of the node waits for an operator.
    Failed,
    /// The agent is gone (agent lost, or no offer since it disconnected).
    Lost,
}

impl NodeStatus {
    pub const ALL: [NodeStatus; 5] = [
        NodeStatus::Discovered,
        NodeStatus::Deploying,
        NodeStatus::Ready,
        NodeStatus::Failed,
        NodeStatus::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Discovered => "discovered",
            NodeStatus::Deploying => "deploying",
            NodeStatus::Ready => "ready",
            NodeStatus::Failed => "failed",
            NodeStatus::Lost => "lost",
        }
    }
}

/// What the health verdict is computed from; the loop fills it in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthInputs {
    /// Subscribed to the leading master right now.
    pub subscribed: bool,
    /// The master we are subscribed to (base URL), for the status page.
    pub master: Option<String>,
    /// The last store write failed with this message (cleared on the next success).
    pub store_error: Option<String>,
    /// Any other problem the loop wants an operator to see (e.g. "ScaleIO gateway unreachable").
    pub problems: Vec<String>,
}

/// ScaleIO system capacity, from the gateway's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityView {
    /// Usable capacity (after protection overhead).
    pub limit_kb: u64,
    /// Raw capacity of all devices.
    pub max_kb: u64,
    pub in_use_kb: u64,
    /// Free for new volumes.
    pub available_for_volumes_kb: u64,
    pub spare_kb: u64,
}

impl From<&scaleio::gateway::Statistics> for CapacityView {
    fn from(stats: &scaleio::gateway::Statistics) -> CapacityView {
        CapacityView {
            limit_kb: stats.capacity_limit_in_kb,
            max_kb: stats.max_capacity_in_kb,
            in_use_kb: stats.capacity_in_use_in_kb,
            available_for_volumes_kb: stats.capacity_available_for_volume_allocation_in_kb,
            spare_kb: stats.spare_capacity_in_kb,
        }
    }
}

/// The health verdict: `GET /v1/health` answers 200, 202 or 503 with these reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// Why the status is not `healthy`, one sentence each (empty when healthy).
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Subscribed, plan complete, nothing wrong.
    Healthy,
    /// Subscribed and working through the plan (or paused by an operator).
    Deploying,
    /// Needs attention: not subscribed, a step waits for an operator, the store fails, ….
    Unhealthy,
}

impl View {
    /// Every step of the plan, in plan order.
    pub fn steps(&self) -> impl Iterator<Item = &StepView> {
        self.plan.phases.iter().flat_map(|phase| phase.steps.iter())
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&StepView> {
        self.steps().find(|step| step.id == id)
    }

    /// Steps done and steps in total.
    pub fn progress(&self) -> (usize, usize) {
        let total = self.steps().count();
        let done = self.steps().filter(|s| s.status == StepStatus::Complete).count();
        (done, total)
    }

    /// The health verdict from the view alone.
    pub fn health(&self) -> Health {
        let mut unhealthy = Vec::new();
        if !self.health.subscribed {
            unhealthy.push("not subscribed to a Mesos master".to_owned());
        }
        if let Some(error) = &self.health.store_error {
            unhealthy.push(format!("the state store failed: {error}"));
        }
        // A lost node's steps are in error but wait for its agent, not for an operator: one
        // reason per lost node, with why (the first of its steps' messages).
        let lost: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Lost)
            .map(|n| n.hostname.as_str())
            .collect();
        for host in &lost {
            let waiting: Vec<&StepView> = self
                .steps()
                .filter(|s| s.status == StepStatus::Error && s.node.as_deref() == Some(*host))
                .collect();
            let why =
                waiting.iter().find_map(|s| s.message.as_deref()).unwrap_or("its agent is gone");
            unhealthy.push(format!(
                "node {host} is lost, {} of its steps wait for its agent: {why}",
                waiting.len()
            ));
        }
        for step in self.steps().filter(|s| {
            s.status == StepStatus::Error && !s.node.as_deref().is_some_and(|n| lost.contains(&n))
        }) {
            let on = step.node.as_deref().map(|n| format!(" on {n}")).unwrap_or_default();
            let why = step.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            unhealthy.push(format!(
                "step {}{on} waits for an operator after {} attempt(s){why}",
                step.id, step.attempts
            ));
        }
        unhealthy.extend(self.health.problems.iter().cloned());
        if !unhealthy.is_empty() {
            return Health { status: HealthStatus::Unhealthy, reasons: unhealthy };
        }
        let (done, total) = self.progress();
        if total == 0 || self.plan.status != PlanStatus::Complete || done < total {
            let mut reasons = vec![if total == 0 {
                "waiting for agents: the plan has no steps yet".to_owned()
            } else {
                format!("deploying: {done} of {total} steps complete")
            }];
            if self.plan.paused {
                reasons.push("the plan is paused by an operator".to_owned());
            }
            return Health { status: HealthStatus::Deploying, reasons };
        }
        Health { status: HealthStatus::Healthy, reasons: Vec::new() }
    }
}

/// What an operator asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCommand {
    /// Start no new step until resumed (running steps finish).
    Pause,
    /// Undo [`ApiCommand::Pause`].
    Resume,
    /// Run this step again now: it goes back to pending and its attempt budget restarts.
    Retry(String),
}

/// An [`ApiCommand`] plus the channel the loop answers on.
#[derive(Debug)]
pub struct ApiRequest {
    pub command: ApiCommand,
    pub reply: oneshot::Sender<ApiReply>,
}

/// The loop's answer to an [`ApiRequest`]: `Ok` carries a one-line summary for the operator.
pub type ApiReply = Result<String, ApiRefusal>;

/// Why the loop refused a command. The HTTP side maps these to status codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiRefusal {
    /// 404.
    #[error("no step has the id `{0}`; GET /v1/plan lists the step ids")]
    UnknownStep(String),
    /// 409: e.g. retrying a step that is running or complete.
    #[error("step `{id}` is {status}; only failed or error steps can be retried")]
    NotRetryable { id: String, status: &'static str },
}

impl ApiRequest {
    /// A request and the receiver its reply arrives on.
    pub fn new(command: ApiCommand) -> (ApiRequest, oneshot::Receiver<ApiReply>) {
        let (reply, receiver) = oneshot::channel();
        (ApiRequest { command, reply }, receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, status: StepStatus) -> StepView {
        StepView {
            id: id.to_owned(),
            node: Some("agent-1".to_owned()),
            kind: "preflight".to_owned(),
            status,
            attempts: 1,
            message: Some("disk /dev/xvdf is mounted".to_owned()),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn unix_millis_print_as_rfc3339_utc() {
        assert_eq!(UnixMillis(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixMillis(951_782_400_000).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(UnixMillis(1_796_223_845_999).to_string(), "2026-12-02T15:04:05Z");
    }

    #[test]
    fn phase_status_follows_its_steps() {
        use StepStatus::*;
        assert_eq!(PlanStatus::of_steps(&[Pending, Pending]), PlanStatus::Pending);
        assert_eq!(PlanStatus::of_steps(&[Complete, Pending]), PlanStatus::InProgress);
        assert_eq!(PlanStatus::of_steps(&[Failed, Pending]), PlanStatus::InProgress);
        assert_eq!(PlanStatus::of_steps(&[Complete, Error, Running]), PlanStatus::Error);
        assert_eq!(PlanStatus::of_steps(&[Complete, Complete]), PlanStatus::Complete);
        assert_eq!(
            PlanStatus::of_phases(&[PlanStatus::Complete, PlanStatus::Pending]),
            PlanStatus::InProgress
        );
    }

    #[test]
    fn health_is_unhealthy_with_reasons_then_deploying_then_healthy() {
        let mut view = View::default();
        view.plan.phases.push(PhaseView {
            name: "preflight".to_owned(),
            strategy: Strategy::Parallel,
            status: PlanStatus::Error,
            steps: vec![step("preflight-agent-1", StepStatus::Error)],
        });
        view.plan.status = PlanStatus::Error;
        let health = view.health();
        assert_eq!(health.status, HealthStatus::Unhealthy);
        assert_eq!(
            health.reasons,
            [
                "not subscribed to a Mesos master",
                "step preflight-agent-1 on agent-1 waits for an operator after 1 attempt(s): disk /dev/xvdf is mounted"
            ]
        );

        // A lost node: one reason naming it and why, not one "waits for an operator" per step.
        view.nodes.push(NodeView {
            hostname: "agent-1".to_owned(),
            ip: None,
            agent_id: None,
            persona: None,
            status: NodeStatus::Lost,
            platform: None,
        });
        view.plan.phases[0].steps[0].message =
            Some("the agent on agent-1 (S1) has been gone for 700 s".to_owned());
        view.plan.phases[0].steps.push(StepView {
            id: "sds-agent-1".to_owned(),
            message: None,
            ..step("sds-agent-1", StepStatus::Error)
        });
        assert_eq!(
            view.health().reasons,
            [
                "not subscribed to a Mesos master",
                "node agent-1 is lost, 2 of its steps wait for its agent: the agent on agent-1 (S1) has been gone for 700 s"
            ]
        );
        view.nodes.clear();
        view.plan.phases[0].steps.pop();

        view.health.subscribed = true;
        view.plan.phases[0].steps[0].status = StepStatus::Running;
        view.plan.status = PlanStatus::InProgress;
        view.plan.paused = true;
        let health = view.health();
        assert_eq!(health.status, HealthStatus::Deploying);
        assert_eq!(
            health.reasons,
            ["deploying: 0 of 1 steps complete", "the plan is paused by an operator"]
        );

        view.plan.phases[0].steps[0].status = StepStatus::Complete;
        view.plan.status = PlanStatus::Complete;
        assert_eq!(view.health(), Health { status: HealthStatus::Healthy, reasons: vec![] });

        // Subscribed but no agent offered yet: not healthy until there is something done.
        let mut empty = View { health: view.health.clone(), ..View::default() };
        empty.plan.status = PlanStatus::of_phases(&[]);
        assert_eq!(
            empty.health(),
            Health {
                status: HealthStatus::Deploying,
                reasons: vec!["waiting for agents: the plan has no steps yet".to_owned()]
            }
        );
    }
}

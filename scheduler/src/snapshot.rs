//! The core state as the HTTP side sees it: [`view`] turns a [`State`] into the read-only
//! [`View`] the loop publishes after every change.

use crate::core::plan::{Phase, StepRecord, Strategy as CoreStrategy};
use crate::core::{State, StepStatus as CoreStatus, Time};
use crate::view::{
    CapacityView, GatewayView, HealthInputs, NodeStatus, NodeView, PhaseView, PlanStatus, PlanView,
    StepStatus, StepView, Strategy, UnixMillis, View,
};

/// What the loop knows beyond the core state.
#[derive(Debug, Clone, Default)]
pub struct LoopFacts {
    /// Subscribed right now.
    pub subscribed: bool,
    /// The master URL.
    pub master: Option<String>,
    /// The last store failure.
    pub store_error: Option<String>,
    /// The latest capacity read from the gateway.
    pub capacity: Option<CapacityView>,
    /// The latest look at the gateway.
    pub gateway: Option<GatewayView>,
}

fn millis(t: Option<Time>) -> Option<UnixMillis> {
    t.map(|t| UnixMillis(t.0))
}

fn step_status(s: CoreStatus) -> StepStatus {
    match s {
        CoreStatus::Pending => StepStatus::Pending,
        CoreStatus::Prepared => StepStatus::Prepared,
        CoreStatus::Starting => StepStatus::Starting,
        CoreStatus::Running => StepStatus::Running,
        CoreStatus::Complete => StepStatus::Complete,
        CoreStatus::Failed { .. } => StepStatus::Failed,
        CoreStatus::Error => StepStatus::Error,
    }
}

fn step_view(s: &StepRecord) -> StepView {
    StepView {
        id: s.id.clone(),
        node: Some(s.node.to_string()),
        kind: s.action.kind().to_owned(),
        status: step_status(s.status),
        attempts: s.attempts,
        message: s.message.as_deref().map(str::to_owned),
        started_at: millis(s.started_at),
        finished_at: millis(s.finished_at),
    }
}

fn phase_view(p: &Phase) -> PhaseView {
    let steps: Vec<StepView> = p.steps.iter().map(step_view).collect();
    PhaseView {
        name: p.name.as_str().to_owned(),
        strategy: match p.name.strategy() {
            CoreStrategy::Serial => Strategy::Serial,
            CoreStrategy::Parallel => Strategy::Parallel,
        },
        status: PlanStatus::of_steps(steps.iter().map(|s| &s.status)),
        steps,
    }
}

/// The view of `state`.
pub fn view(state: &State, facts: &LoopFacts) -> View {
    let d = state.durable();
    let phases: Vec<PhaseView> = d.plan.phases().iter().map(phase_view).collect();
    let status = if d.plan.steps().next().is_none() {
        PlanStatus::Pending
    } else {
        PlanStatus::of_phases(phases.iter().map(|p| &p.status))
    };
    let nodes = d
        .nodes
        .values()
        .map(|n| {
            // Through the plan's node index: a scan of every step per node made each turn's
            // view cost nodes × steps (5 s at 10,000 agents).
            let steps: Vec<&StepRecord> =
                d.plan.node_positions(&n.hostname).iter().map(|&pos| d.plan.at(pos)).collect();
            let status = if n.lost {
                NodeStatus::Lost
            } else if steps.iter().any(|s| s.status == CoreStatus::Error) {
                NodeStatus::Failed
            } else if !steps.is_empty() && steps.iter().all(|s| s.status == CoreStatus::Complete) {
                NodeStatus::Ready
            } else if steps.iter().any(|s| s.attempts > 0) {
                NodeStatus::Deploying
            } else {
                NodeStatus::Discovered
            };
            let platform = match &n.facts {
                Some(f) => Some(format!("{}-{}", f.os.id, f.os.version_id)),
                None => n.attributes.iter().find(|(k, _)| k == "os").map(|(_, v)| v.clone()),
            };
            NodeView {
                hostname: n.hostname.clone(),
                ip: Some(n.ip.clone()),
                agent_id: n.agent_id.clone(),
                persona: n.persona,
                status,
                platform,
            }
        })
        .collect();
    View {
        plan: PlanView { status, paused: d.paused, phases },
        nodes,
        framework_id: d.framework_id.clone(),
        health: HealthInputs {
            subscribed: facts.subscribed,
            master: facts.master.clone(),
            store_error: facts.store_error.clone(),
            problems: state.problems(),
        },
        offers_handled: state.offers_handled(),
        capacity: facts.capacity,
        gateway: facts.gateway.clone(),
    }
}

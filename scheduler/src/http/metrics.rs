//! `GET /metrics`: the view in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::State as AppState;
use crate::view::{NodeStatus, StepStatus, View};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let view = state.ctx.view.borrow().clone();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&view)).into_response()
}

/// The metrics text for one snapshot.
pub fn render(view: &View) -> String {
    let mut out = String::new();
    let (done, total) = view.progress();

    family(
        &mut out,
        "scaleio_scheduler_plan_steps",
        "gauge",
        "Steps of the deployment plan by status.",
    );
    for status in StepStatus::ALL {
        let count = view.steps().filter(|s| s.status == status).count();
        sample(
            &mut out,
            "scaleio_scheduler_plan_steps",
            &[("status", status.as_str())],
            count as f64,
        );
    }
    family(
        &mut out,
        "scaleio_scheduler_plan_progress_ratio",
        "gauge",
        "Fraction of plan steps complete (0 while the plan is still empty).",
    );
    let ratio = if total == 0 { 0.0 } else { done as f64 / total as f64 };
    sample(&mut out, "scaleio_scheduler_plan_progress_ratio", &[], ratio);
    family(
        &mut out,
        "scaleio_scheduler_plan_paused",
        "gauge",
        "1 while an operator has paused the plan.",
    );
    sample(&mut out, "scaleio_scheduler_plan_paused", &[], f64::from(u8::from(view.plan.paused)));
    family(
        &mut out,
        "scaleio_scheduler_phase_steps_complete",
        "gauge",
        "Complete steps per phase.",
    );
    for phase in &view.plan.phases {
        let complete = phase.steps.iter().filter(|s| s.status == StepStatus::Complete).count();
        sample(
            &mut out,
            "scaleio_scheduler_phase_steps_complete",
            &[("phase", &phase.name)],
            complete as f64,
        );
    }
    family(&mut out, "scaleio_scheduler_phase_steps", "gauge", "Steps per phase.");
    for phase in &view.plan.phases {
        sample(
            &mut out,
            "scaleio_scheduler_phase_steps",
            &[("phase", &phase.name)],
            phase.steps.len() as f64,
        );
    }

    family(&mut out, "scaleio_scheduler_nodes", "gauge", "Nodes (agent hosts) by status.");
    for status in NodeStatus::ALL {
        let count = view.nodes.iter().filter(|n| n.status == status).count();
        sample(&mut out, "scaleio_scheduler_nodes", &[("status", status.as_str())], count as f64);
    }

    family(
        &mut out,
        "scaleio_scheduler_step_duration_seconds",
        "gauge",
        "Wall time of each finished step, from its latest start to its finish.",
    );
    for step in view.steps() {
        if let (Some(start), Some(end)) = (step.started_at, step.finished_at) {
            let node = step.node.as_deref().unwrap_or("");
            let labels = [("step", step.id.as_str()), ("kind", step.kind.as_str()), ("node", node)];
            sample(
                &mut out,
                "scaleio_scheduler_step_duration_seconds",
                &labels,
                start.millis_until(end) as f64 / 1000.0,
            );
        }
    }
    family(&mut out, "scaleio_scheduler_step_attempts", "gauge", "Attempts made per step.");
    for step in view.steps() {
        sample(
            &mut out,
            "scaleio_scheduler_step_attempts",
            &[("step", &step.id)],
            f64::from(step.attempts),
        );
    }

    family(
        &mut out,
        "scaleio_scheduler_offers_handled_total",
        "counter",
        "Offers accepted or declined since the scheduler started.",
    );
    sample(&mut out, "scaleio_scheduler_offers_handled_total", &[], view.offers_handled as f64);
    family(
        &mut out,
        "scaleio_scheduler_subscribed",
        "gauge",
        "1 while subscribed to a Mesos master.",
    );
    sample(
        &mut out,
        "scaleio_scheduler_subscribed",
        &[],
        f64::from(u8::from(view.health.subscribed)),
    );

    if let Some(gateway) = &view.gateway {
        family(
            &mut out,
            "scaleio_gateway_up",
            "gauge",
            "1 if the latest capacity reading from the ScaleIO gateway succeeded.",
        );
        sample(&mut out, "scaleio_gateway_up", &[], f64::from(u8::from(gateway.up)));
        if let Some(at) = gateway.capacity_at {
            family(
                &mut out,
                "scaleio_capacity_read_timestamp_seconds",
                "gauge",
                "When the ScaleIO capacity below was read from the gateway.",
            );
            sample(&mut out, "scaleio_capacity_read_timestamp_seconds", &[], at.as_secs_f64());
        }
    }
    if let Some(capacity) = view.capacity {
        let kb = |value: u64| value as f64 * 1024.0;
        for (name, help, value) in [
            ("scaleio_capacity_limit_bytes", "Usable ScaleIO capacity.", capacity.limit_kb),
            ("scaleio_capacity_max_bytes", "Raw ScaleIO capacity of all devices.", capacity.max_kb),
            ("scaleio_capacity_in_use_bytes", "ScaleIO capacity in use.", capacity.in_use_kb),
            (
                "scaleio_capacity_available_for_volumes_bytes",
                "ScaleIO capacity free for new volumes.",
                capacity.available_for_volumes_kb,
            ),
            ("scaleio_capacity_spare_bytes", "ScaleIO spare capacity.", capacity.spare_kb),
        ] {
            family(&mut out, name, "gauge", help);
            sample(&mut out, name, &[], kb(value));
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape `\`, `"` and newlines.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_label;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

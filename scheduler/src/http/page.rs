//! `GET /`: the status page a person reads at a glance — health, plan progress, what needs
//! attention (failed steps with their messages), nodes, the plan step by step. Plain
//! server-rendered HTML with a little CSS; it reloads itself every few seconds. Every value from
//! the view is HTML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::State as AppState;
use crate::view::{HealthStatus, StepStatus, StepView, View};

/// Seconds between automatic reloads.
const REFRESH_SECS: u32 = 5;

pub(super) async fn status_page(State(state): State<AppState>) -> Response {
    let view = state.ctx.view.borrow().clone();
    let artifacts: Vec<String> = super::artifact_names(&state).into_keys().collect();
    let html = render(&view, state.ctx.version, &artifacts);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'"),
        ],
        html,
    )
        .into_response()
}

const STYLE: &str = "
body{font:15px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 24px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header h1{font-size:20px;margin:0}header .meta{color:#c9d1d9;font-size:13px}
main{padding:16px 24px;max-width:1200px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 8px}h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{color:#57606a;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;font-size:13px}
.healthy,.complete,.ready{background:#dafbe1;color:#116329}
.deploying,.in_progress,.running,.starting,.prepared{background:#ddf4ff;color:#0550ae}
.unhealthy,.error,.failed,.lost{background:#ffebe9;color:#a40e26}
.pending,.discovered{background:#eaeef2;color:#57606a}
.paused{background:#fff8c5;color:#7d4e00}
.bar{height:14px;background:#eaeef2;border-radius:7px;overflow:hidden;margin:6px 0}
.bar div{height:100%;background:#2da44e}
.attention{border-color:#cf222e}.attention li{margin:4px 0}
.msg{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
td.nw{white-space:nowrap}
footer{color:#57606a;font-size:12px;padding:0 24px 16px}
";

/// The page for one snapshot. `artifacts` are the names served at `/artifacts/`.
pub fn render(view: &View, version: &str, artifacts: &[String]) -> String {
    let health = view.health();
    let (done, total) = view.progress();
    let health_label = match health.status {
        HealthStatus::Healthy => "Healthy",
        HealthStatus::Deploying => "Deploying",
        HealthStatus::Unhealthy => "Needs attention",
    };
    let health_class = match health.status {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Deploying => "deploying",
        HealthStatus::Unhealthy => "unhealthy",
    };
    let percent = (done * 100).checked_div(total).unwrap_or(0);

    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>ScaleIO scheduler: {health_label} ({done}/{total})</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = write!(
        h,
        "<header><h1>ScaleIO framework</h1><span id=\"health\" class=\"badge {health_class}\">{health_label}</span>"
    );
    if view.plan.paused {
        h.push_str("<span class=\"badge paused\">Paused</span>");
    }
    let _ = write!(
        h,
        "<span class=\"meta\">scheduler {} · framework {} · {}</span></header>\n<main>\n",
        esc(version),
        esc(view.framework_id.as_deref().unwrap_or("not registered yet")),
        match (&view.health.subscribed, &view.health.master) {
            (true, Some(master)) => format!("subscribed to {}", esc(master)),
            (true, None) => "subscribed".to_owned(),
            (false, _) => "not subscribed to a master".to_owned(),
        }
    );

    // Progress.
    let _ = write!(
        h,
        "<section id=\"progress\"><h2>Plan <span class=\"badge {0}\">{0}</span></h2>\
<div class=\"bar\" title=\"{percent}%\"><div style=\"width:{percent}%\"></div></div>\
<div><strong>{done} of {total} steps complete</strong> ({percent}%)",
        view.plan.status.as_str()
    );
    let counts: Vec<String> = StepStatus::ALL
        .iter()
        .filter(|s| **s != StepStatus::Complete)
        .filter_map(|status| {
            let n = view.steps().filter(|s| s.status == *status).count();
            (n > 0).then(|| format!("{n} {}", status.as_str()))
        })
        .collect();
    if !counts.is_empty() {
        let _ = write!(h, " · {}", esc(&counts.join(", ")));
    }
    h.push_str("</div>");
    for phase in &view.plan.phases {
        let complete = phase.steps.iter().filter(|s| s.status == StepStatus::Complete).count();
        let _ = write!(
            h,
            " <span class=\"badge {}\" title=\"{}\">{} {complete}/{}</span>",
            phase.status.as_str(),
            esc(phase.strategy.as_str()),
            esc(&phase.name),
            phase.steps.len()
        );
    }
    h.push_str("</section>\n");

    // What needs attention.
    let troubled: Vec<&StepView> = view
        .steps()
        .filter(|s| matches!(s.status, StepStatus::Error | StepStatus::Failed))
        .collect();
    if health.status == HealthStatus::Unhealthy || !troubled.is_empty() {
        h.push_str("<section id=\"attention\" class=\"attention\"><h2>Needs attention</h2>");
        if health.status == HealthStatus::Unhealthy {
            h.push_str("<ul>");
            for reason in &health.reasons {
                let _ = write!(h, "<li>{}</li>", esc(reason));
            }
            h.push_str("</ul>");
        }
        if !troubled.is_empty() {
            h.push_str(
                "<table><tr><th>Step</th><th>Node</th><th>Status</th><th>Attempts</th><th>Message</th></tr>",
            );
            for step in &troubled {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td><span class=\"badge {2}\">{2}</span></td><td>{3}</td><td class=\"msg\">{4}</td></tr>",
                    esc(&step.id),
                    esc(step.node.as_deref().unwrap_or("cluster")),
                    step.status.as_str(),
                    step.attempts,
                    esc(step.message.as_deref().unwrap_or("")),
                );
            }
            h.push_str("</table>");
            if troubled.iter().any(|s| s.status == StepStatus::Error) {
                h.push_str(
                    "<p>Steps in <em>error</em> wait for an operator: fix the cause, then \
<code>POST /v1/steps/&lt;id&gt;/retry</code>.</p>",
                );
            }
        }
        h.push_str("</section>\n");
    }

    // Nodes.
    let _ = write!(h, "<section id=\"nodes\"><h2>Nodes ({})</h2>", view.nodes.len());
    if view.nodes.is_empty() {
        h.push_str("<p>No agent has been offered yet.</p>");
    } else {
        h.push_str(
            "<table><tr><th>Host</th><th>IP</th><th>Persona</th><th>Platform</th><th>Status</th><th>Steps</th><th>Agent id</th></tr>",
        );
        // Each node's (complete, all) steps, counted in one pass over the plan.
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::with_capacity(view.nodes.len());
        for step in view.steps() {
            if let Some(node) = step.node.as_deref() {
                let c = counts.entry(node).or_default();
                c.0 += usize::from(step.status == StepStatus::Complete);
                c.1 += 1;
            }
        }
        for node in &view.nodes {
            let (complete, all) = counts.get(node.hostname.as_str()).copied().unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"badge {4}\">{4}</span></td><td>{5}/{6}</td><td class=\"msg\">{7}</td></tr>",
                esc(&node.hostname),
                esc(node.ip.as_deref().unwrap_or("")),
                node.persona.map_or("not chosen yet", |p| p.as_str()),
                esc(node.platform.as_deref().unwrap_or("")),
                node.status.as_str(),
                complete,
                all,
                esc(node.agent_id.as_deref().unwrap_or("")),
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>\n");

    // Capacity, and how fresh it is.
    if view.capacity.is_some() || view.gateway.is_some() {
        h.push_str("<section id=\"capacity\"><h2>ScaleIO capacity</h2>");
        if let Some(capacity) = view.capacity {
            let gib = |kb: u64| kb as f64 / (1024.0 * 1024.0);
            let _ = write!(
                h,
                "<p>{:.1} GiB usable, {:.1} GiB in use, {:.1} GiB free for volumes, {:.1} GiB spare, {:.1} GiB raw</p>",
                gib(capacity.limit_kb),
                gib(capacity.in_use_kb),
                gib(capacity.available_for_volumes_kb),
                gib(capacity.spare_kb),
                gib(capacity.max_kb),
            );
        }
        if let Some(gateway) = &view.gateway {
            let read = match gateway.capacity_at {
                Some(at) => format!("read at {at}"),
                None => "not read yet".to_owned(),
            };
            if gateway.up {
                let _ = write!(h, "<p>From the gateway {}, {read}.</p>", esc(&gateway.endpoint));
            } else {
                let _ = write!(
                    h,
                    "<p class=\"attention\">The gateway {} cannot be read: {}. Capacity {read}.</p>",
                    esc(&gateway.endpoint),
                    esc(gateway.error.as_deref().unwrap_or("no answer yet")),
                );
            }
        }
        h.push_str("</section>\n");
    }

    // The plan, step by step.
    h.push_str("<section id=\"plan\"><h2>Steps</h2>");
    if view.plan.phases.is_empty() {
        h.push_str("<p>The plan is empty until agents are offered.</p>");
    }
    for phase in &view.plan.phases {
        let _ = write!(
            h,
            "<h3>{} <span class=\"badge {1}\">{1}</span> <small>{2}</small></h3>\
<table><tr><th>Step</th><th>Node</th><th>Kind</th><th>Status</th><th>Attempts</th><th>Started</th><th>Took</th><th>Message</th></tr>",
            esc(&phase.name),
            phase.status.as_str(),
            phase.strategy.as_str(),
        );
        for step in &phase.steps {
            let took = match (step.started_at, step.finished_at) {
                (Some(start), Some(end)) => duration(start.millis_until(end)),
                _ => String::new(),
            };
            let _ = write!(
                h,
                "<tr><td class=\"nw\">{}</td><td class=\"nw\">{}</td><td class=\"nw\">{}</td><td><span class=\"badge {3}\">{3}</span></td><td>{4}</td><td class=\"nw\">{5}</td><td class=\"nw\">{6}</td><td class=\"msg\">{7}</td></tr>",
                esc(&step.id),
                esc(step.node.as_deref().unwrap_or("cluster")),
                esc(&step.kind),
                step.status.as_str(),
                step.attempts,
                step.started_at.map(|t| t.to_string()).unwrap_or_default(),
                took,
                esc(step.message.as_deref().unwrap_or("")),
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>\n</main>\n");

    let _ = write!(
        h,
        "<footer>Reloads every {REFRESH_SECS} s · JSON: <a href=\"/v1/plan\">plan</a>, \
<a href=\"/v1/nodes\">nodes</a>, <a href=\"/v1/health\">health</a> · <a href=\"/metrics\">metrics</a> · \
{} artifact(s) served",
        artifacts.len()
    );
    if !artifacts.is_empty() {
        let list: Vec<String> = artifacts
            .iter()
            .map(|name| format!("<a href=\"/artifacts/{0}\">{0}</a>", esc(name)))
            .collect();
        let _ = write!(h, ": {}", list.join(", "));
    }
    h.push_str("</footer>\n</body></html>\n");
    h
}

/// `1h 02m`, `3m 04s`, `5.2s`.
fn duration(millis: u64) -> String {
    let secs = millis / 1000;
    if secs >= 3600 {
        format!("{}h {:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}.{}s", secs, millis % 1000 / 100)
    }
}

/// Escape text for HTML element content and quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{duration, esc};

    #[test]
    fn text_is_escaped_and_durations_read_well() {
        assert_eq!(esc("<script>\"a\" & 'b'"), "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;");
        assert_eq!(duration(5_250), "5.2s");
        assert_eq!(duration(184_000), "3m 04s");
        assert_eq!(duration(3_720_000), "1h 02m");
    }
}

//! What `cargo xtask demo` reads from the scheduler's API (`/v1/health`, `/v1/plan`,
//! `/v1/nodes`) and how it shows it: the verdict, one progress line, the per-node summary. Pure
//! functions over the JSON, read leniently (unknown fields ignored, missing ones shown as `-`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// What `/v1/health` says about the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: the plan is complete and the cluster healthy.
    Healthy,
    /// 202: still deploying.
    Deploying,
    /// 503, or a plan in `error`: with the scheduler's reasons.
    Unhealthy(Vec<String>),
}

/// The verdict from `/v1/health`'s status code and body.
pub fn verdict(status: u16, health: &Value) -> Verdict {
    let reasons: Vec<String> = health["reasons"]
        .as_array()
        .map(|r| {
            r.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect()
        })
        .unwrap_or_default();
    match status {
        200 => Verdict::Healthy,
        202 if health["plan"] != "error" => Verdict::Deploying,
        _ => Verdict::Unhealthy(if reasons.is_empty() {
            vec![format!("/v1/health answered {status}: {health}")]
        } else {
            reasons
        }),
    }
}

/// `deploying 14/40 steps · phase mdm-cluster: install-packages on agent-2 (running)`.
pub fn progress_line(health: &Value, plan: &Value) -> String {
    let done = health["steps_complete"].as_u64().unwrap_or(0);
    let total = health["steps_total"].as_u64().unwrap_or(0);
    let status = health["status"].as_str().unwrap_or("unknown");
    let mut line = format!("{status} {done}/{total} steps");
    if health["paused"] == true {
        line.push_str(" (paused)");
    }
    if health["subscribed"] == false {
        line.push_str(" · not subscribed to the master");
    }
    let phases = plan["phases"].as_array().map(Vec::as_slice).unwrap_or_default();
    if let Some(phase) = phases.iter().find(|p| p["status"] != "complete") {
        let _ = write!(line, " · phase {}", phase["name"].as_str().unwrap_or("?"));
        let steps = phase["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
        let active: Vec<String> = steps
            .iter()
            .filter(|s| !matches!(s["status"].as_str(), Some("complete" | "pending")))
            .take(3)
            .map(|s| {
                let node = s["node"].as_str().map(|n| format!(" on {n}")).unwrap_or_default();
                format!(
                    "{}{node} ({})",
                    s["kind"].as_str().unwrap_or("?"),
                    s["status"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if !active.is_empty() {
            let _ = write!(line, ": {}", active.join(", "));
        }
    }
    line
}

/// Failed steps with their messages, for the error report.
pub fn failed_steps(plan: &Value) -> Vec<String> {
    plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().into_iter().flatten())
        .filter(|s| matches!(s["status"].as_str(), Some("failed" | "error")))
        .map(|s| {
            format!(
                "{} ({}{}) after {} attempt(s): {}",
                s["id"].as_str().unwrap_or("?"),
                s["kind"].as_str().unwrap_or("?"),
                s["node"].as_str().map(|n| format!(" on {n}")).unwrap_or_default(),
                s["attempts"].as_u64().unwrap_or(0),
                s["message"].as_str().unwrap_or("no message")
            )
        })
        .collect()
}

/// One line per node: hostname, IP, persona, status, steps complete/total on it, and the time
/// from its first step's start to its last step's end.
pub fn summary(nodes: &Value, plan: &Value) -> String {
    #[derive(Default)]
    struct Steps {
        done: u64,
        total: u64,
        first: Option<u64>,
        last: Option<u64>,
    }
    let mut per_node: BTreeMap<String, Steps> = BTreeMap::new();
    let steps = plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().into_iter().flatten());
    for s in steps {
        let node = s["node"].as_str().unwrap_or("(cluster)").to_owned();
        let e = per_node.entry(node).or_default();
        e.total += 1;
        if s["status"] == "complete" {
            e.done += 1;
        }
        if let Some(t) = s["started_at"].as_u64() {
            e.first = Some(e.first.map_or(t, |f| f.min(t)));
        }
        if let Some(t) = s["finished_at"].as_u64() {
            e.last = Some(e.last.map_or(t, |l| l.max(t)));
        }
    }
    let mut out = format!(
        "{:<24} {:<15} {:<10} {:<10} {:>7} {:>8}\n",
        "node", "ip", "persona", "status", "steps", "time"
    );
    let mut row = |host: &str, ip: &str, persona: &str, status: &str, s: Option<&Steps>| {
        let (steps, time) = match s {
            Some(s) => (
                format!("{}/{}", s.done, s.total),
                match (s.first, s.last) {
                    (Some(a), Some(b)) if b >= a => format!("{:.1}s", (b - a) as f64 / 1000.0),
                    _ => "-".to_owned(),
                },
            ),
            None => ("0/0".to_owned(), "-".to_owned()),
        };
        let _ =
            writeln!(out, "{host:<24} {ip:<15} {persona:<10} {status:<10} {steps:>7} {time:>8}");
    };
    for n in nodes.as_array().into_iter().flatten() {
        let host = n["hostname"].as_str().unwrap_or("?");
        row(
            host,
            n["ip"].as_str().unwrap_or("-"),
            n["persona"].as_str().unwrap_or("-"),
            n["status"].as_str().unwrap_or("-"),
            per_node.get(host),
        );
    }
    if let Some(cluster) = per_node.get("(cluster)") {
        row("(cluster steps)", "-", "-", "-", Some(cluster));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan() -> Value {
        json!({"status": "in_progress", "paused": false, "phases": [
            {"name": "preflight", "strategy": "parallel", "status": "complete", "steps": [
                {"id": "preflight-a1", "node": "a1", "kind": "preflight", "status": "complete",
                 "attempts": 1, "started_at": 1000, "finished_at": 1500},
                {"id": "preflight-a2", "node": "a2", "kind": "preflight", "status": "complete",
                 "attempts": 1, "started_at": 1100, "finished_at": 1400}]},
            {"name": "mdm-cluster", "strategy": "serial", "status": "in_progress", "steps": [
                {"id": "create-cluster", "node": null, "kind": "create-cluster", "status": "complete",
                 "attempts": 1, "started_at": 2000, "finished_at": 2600},
                {"id": "add-mdm-a1", "node": "a1", "kind": "add-mdm", "status": "running",
                 "attempts": 2, "message": "adding", "started_at": 2600},
                {"id": "add-mdm-a2", "node": "a2", "kind": "add-mdm", "status": "failed",
                 "attempts": 3, "message": "scli: MDM already in another cluster"},
                {"id": "add-mdm-a3", "node": "a3", "kind": "add-mdm", "status": "pending", "attempts": 0}]}
        ], "future_field": 1})
    }

    #[test]
    fn verdicts_follow_the_status_code_and_keep_the_reasons() {
        assert_eq!(verdict(200, &json!({"status": "healthy"})), Verdict::Healthy);
        assert_eq!(
            verdict(202, &json!({"status": "deploying", "plan": "in_progress"})),
            Verdict::Deploying
        );
        assert_eq!(
            verdict(503, &json!({"reasons": ["step add-mdm-a2 failed 3 times"]})),
            Verdict::Unhealthy(vec!["step add-mdm-a2 failed 3 times".to_owned()])
        );
        assert_eq!(
            verdict(202, &json!({"plan": "error", "reasons": ["x"]})),
            Verdict::Unhealthy(vec!["x".to_owned()])
        );
        let Verdict::Unhealthy(r) = verdict(500, &json!({})) else { panic!("unhealthy") };
        assert!(r[0].contains("/v1/health answered 500"), "{r:?}");
    }

    #[test]
    fn the_progress_line_names_the_phase_and_active_steps() {
        let health = json!({"status": "deploying", "steps_complete": 3, "steps_total": 6,
                            "paused": false, "subscribed": true});
        expect_test::expect![[r#"deploying 3/6 steps · phase mdm-cluster: add-mdm on a1 (running), add-mdm on a2 (failed)"#]]
            .assert_eq(&progress_line(&health, &plan()));
        let paused = json!({"status": "deploying", "steps_complete": 0, "steps_total": 0,
                            "paused": true, "subscribed": false});
        expect_test::expect![[r#"deploying 0/0 steps (paused) · not subscribed to the master"#]]
            .assert_eq(&progress_line(&paused, &json!({})));
    }

    #[test]
    fn failed_steps_carry_node_attempts_and_message() {
        assert_eq!(
            failed_steps(&plan()),
            vec![
                "add-mdm-a2 (add-mdm on a2) after 3 attempt(s): scli: MDM already in another cluster"
            ]
        );
    }

    #[test]
    fn the_summary_has_one_row_per_node_and_the_cluster_steps() {
        let nodes = json!([
            {"hostname": "a1", "ip": "10.0.0.1", "persona": "primary", "status": "deploying"},
            {"hostname": "a2", "ip": "10.0.0.2", "persona": "secondary", "status": "failed"},
            {"hostname": "a3", "ip": null, "persona": null, "status": "discovered"}
        ]);
        expect_test::expect![[r#"
            node                     ip              persona    status       steps     time
            a1                       10.0.0.1        primary    deploying      1/2     0.5s
            a2                       10.0.0.2        secondary  failed         1/2     0.3s
            a3                       -               -          discovered     0/1        -
            (cluster steps)          -               -          -              1/1     0.6s
        "#]]
        .assert_eq(&summary(&nodes, &plan()));
    }
}

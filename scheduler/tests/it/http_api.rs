//! The JSON API, metrics and operator commands over real HTTP: what an operator's curl or a
//! Prometheus scrape sees.

use std::sync::Arc;

use reqwest::StatusCode;
use scheduler::view::{ApiCommand, StepStatus, View};
use serde_json::{Value, json};

use crate::http_support::{Options, Server, TOKEN, complete_view, deploying_view};

async fn get(server: &Server, path: &str) -> (StatusCode, String) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn post(server: &Server, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().post(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn version_plan_and_nodes_show_the_latest_view() {
    let server = Server::start(deploying_view(), Options::default()).await;

    let (status, body) = get(&server, "/version").await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["name"], "scaleio-scheduler");
    assert_eq!(body["version"], "9.8.7-test");
    assert_eq!(body["step_schema_version"], scaleio::step::STEP_SCHEMA_VERSION);

    let (status, body) = get(&server, "/v1/plan").await;
    assert_eq!(status, 200);
    let plan: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plan["status"], "error");
    assert_eq!(plan["paused"], false);
    let phases: Vec<&str> =
        plan["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(phases, ["preflight", "prerequisites", "mdm-cluster"]);
    let failed = &plan["phases"][1]["steps"][1];
    assert_eq!(failed["id"], "prerequisites-agent-2");
    assert_eq!(failed["node"], "agent-2");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["attempts"], 3);
    assert!(failed["message"].as_str().unwrap().contains("Unable to locate package"));
    assert_eq!(plan["phases"][2]["strategy"], "serial");

    let (status, body) = get(&server, "/v1/nodes").await;
    assert_eq!(status, 200);
    let nodes: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(nodes[0]["hostname"], "agent-1");
    assert_eq!(nodes[0]["persona"], "primary");
    assert_eq!(nodes[0]["ip"], "10.0.0.11");
    assert_eq!(nodes[2]["persona"], Value::Null);
    assert_eq!(nodes[1]["status"], "failed");

    // The loop publishes a new snapshot: the API shows it on the next request.
    server.view.send_replace(Arc::new(complete_view()));
    let (_, body) = get(&server, "/v1/plan").await;
    let plan: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plan["status"], "complete");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn health_answers_503_with_reasons_then_202_then_200() {
    let server = Server::start(deploying_view(), Options::default()).await;
    let health = |server: &Server| {
        let url = server.url("/v1/health");
        async move {
            let response = reqwest::get(url).await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };

    let (status, body) = health(&server).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    let reasons = body["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{body}");
    let reason = reasons[0].as_str().unwrap();
    assert!(reason.contains("prerequisites-agent-2 on agent-2 waits for an operator"), "{reason}");
    assert!(reason.contains("Unable to locate package"), "{reason}");

    let mut view = deploying_view();
    view.plan.phases[1].steps[1].status = StepStatus::Running;
    view.plan.status = scheduler::view::PlanStatus::InProgress;
    server.view.send_replace(Arc::new(view.clone()));
    let (status, body) = health(&server).await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "deploying");
    assert_eq!(body["steps_complete"], 4);
    assert_eq!(body["steps_total"], 7);

    view.health.subscribed = false;
    server.view.send_replace(Arc::new(view));
    let (status, body) = health(&server).await;
    assert_eq!(status, 503);
    assert_eq!(body["reasons"], json!(["not subscribed to a Mesos master"]));

    server.view.send_replace(Arc::new(complete_view()));
    let (status, body) = health(&server).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "healthy", "reasons": [], "subscribed": true, "plan": "complete", "paused": false, "steps_complete": 7, "steps_total": 7})
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn commands_reach_the_loop_and_its_answers_become_status_codes() {
    let server = Server::start(deploying_view(), Options::default()).await;

    let (status, body) = post(&server, "/v1/plan/pause", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "plan paused"})));
    let (_, plan) = get(&server, "/v1/plan").await;
    assert_eq!(serde_json::from_str::<Value>(&plan).unwrap()["paused"], true);
    let (status, _) = post(&server, "/v1/plan/resume", None).await;
    assert_eq!(status, 200);

    let (status, body) = post(&server, "/v1/steps/prerequisites-agent-2/retry", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "step prerequisites-agent-2 will run again");

    let (status, body) = post(&server, "/v1/steps/no-such-step/retry", None).await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("no step has the id `no-such-step`"),
        "{body}"
    );

    let (status, body) = post(&server, "/v1/steps/prerequisites-agent-3/retry", None).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"],
        "step `prerequisites-agent-3` is running; only failed or error steps can be retried"
    );

    // GET on a command endpoint is not a command.
    let (status, _) = get(&server, "/v1/plan/pause").await;
    assert_eq!(status, 405);

    assert_eq!(
        *server.commands.lock().unwrap(),
        [
            ApiCommand::Pause,
            ApiCommand::Resume,
            ApiCommand::Retry("prerequisites-agent-2".to_owned()),
            ApiCommand::Retry("no-such-step".to_owned()),
            ApiCommand::Retry("prerequisites-agent-3".to_owned()),
        ]
    );
    server.stop().await.unwrap();
}

/// Log lines written on this thread while a [`Capture`] lives (current-thread runtime: the
/// server runs on the test's thread, so it sees everything the server logs for this test).
///
/// The subscriber is the process-wide default, installed once, rather than a scoped
/// `set_default`: a scoped subscriber races with other tests' threads over tracing's cached
/// per-callsite interest and maximum level, which dropped this test's debug lines in about half
/// of the full runs. Threads without a capture write nowhere.
struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

impl Capture {
    fn start() -> Capture {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(|| ThreadWriter)
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test in this binary installs a global subscriber");
        });
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURE.with(|c| *c.borrow_mut() = Some(buffer.clone()));
        Capture(buffer)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}

/// Writes to the current thread's [`Capture`], if any.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(buffer) = c.borrow().as_ref() {
                buffer.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn with_a_token_mutations_need_it_and_it_is_never_echoed() {
    let capture = Capture::start();
    let server =
        Server::start(deploying_view(), Options { token: Some(TOKEN), ..Options::default() }).await;

    for (token, expected) in [
        (None, "needs `Authorization: Bearer <token>`"),
        (Some("wrong"), "does not match"),
        (Some(&TOKEN[..TOKEN.len() - 1]), "does not match"),
    ] {
        let mut request = reqwest::Client::new().post(server.url("/v1/plan/pause"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"scaleio-scheduler\"");
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{body}");
        assert!(!body.contains(TOKEN));
    }
    // Basic auth carrying the token is not a bearer token.
    let response = reqwest::Client::new()
        .post(server.url("/v1/plan/pause"))
        .basic_auth("admin", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(server.commands.lock().unwrap().is_empty(), "no command got through");

    let (status, _) = post(&server, "/v1/plan/pause", Some(TOKEN)).await;
    assert_eq!(status, 200);
    let (status, _) = post(&server, "/v1/steps/prerequisites-agent-2/retry", Some(TOKEN)).await;
    assert_eq!(status, 200);

    // Reads stay open, and nothing anywhere shows the token.
    for path in ["/", "/version", "/v1/plan", "/v1/nodes", "/v1/health", "/metrics", "/nope"] {
        let (status, body) = get(&server, path).await;
        assert!(status != 401, "{path} needs no token");
        assert!(!body.contains(TOKEN), "{path} shows the token");
    }
    server.stop().await.unwrap();

    // The log tells an operator what happened, and never the token (right or wrong).
    let logs = capture.text();
    assert!(logs.contains("refused a mutating API call without a valid token"), "{logs}");
    assert!(logs.contains("operator command"), "{logs}");
    assert!(logs.contains("HTTP request method=POST path=/v1/plan/pause status=401"), "{logs}");
    assert!(!logs.contains(&TOKEN[..8]), "a token reached the log:\n{logs}");
}

#[tokio::test]
async fn oversized_bodies_get_413_before_any_command_runs() {
    let server =
        Server::start(deploying_view(), Options { token: Some(TOKEN), ..Options::default() }).await;
    let big = vec![b'x'; 1024 * 1024];
    let response = reqwest::Client::new()
        .post(server.url("/v1/plan/pause"))
        .bearer_auth(TOKEN)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body = response.text().await.unwrap();
    assert!(body.contains("larger than 16384 bytes"), "{body}");

    // Chunked, without Content-Length.
    let stream = futures_util::stream::iter(
        big.chunks(8192).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let response = reqwest::Client::new()
        .post(server.url("/v1/plan/pause"))
        .bearer_auth(TOKEN)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(server.commands.lock().unwrap().is_empty());

    // A small body is fine (and ignored).
    let response = reqwest::Client::new()
        .post(server.url("/v1/plan/pause"))
        .bearer_auth(TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn commands_answer_503_when_the_loop_is_gone() {
    let server =
        Server::start(deploying_view(), Options { consumer: false, ..Options::default() }).await;
    let (status, body) = post(&server, "/v1/plan/pause", None).await;
    assert_eq!(status, 503);
    assert!(body["error"].as_str().unwrap().contains("not answering"), "{body}");
    // Reads still work.
    let (status, _) = get(&server, "/v1/plan").await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_get_a_json_404_naming_the_endpoints() {
    let server = Server::start(View::default(), Options::default()).await;
    let (status, body) = get(&server, "/v2/plan").await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.starts_with("no such endpoint: GET /v2/plan;"), "{message}");
    assert!(message.contains("/v1/plan"), "{message}");
    server.stop().await.unwrap();
}

/// Checks the Prometheus text exposition format line by line and returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(matches!(kind, "gauge" | "counter"), "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice for {name}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"));
                for pair in split_labels(labels) {
                    let (key, quoted) = pair.split_once('=').unwrap();
                    assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                    assert!(quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
                }
                (name, labels)
            }
            None => (series, ""),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        samples.push((name.to_owned(), labels.to_owned(), value));
    }
    samples
}

fn split_labels(labels: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in labels.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == ',' && !in_quotes {
            out.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn value(samples: &[(String, String, f64)], name: &str, labels: &str) -> Option<f64> {
    samples.iter().find(|(n, l, _)| n == name && l == labels).map(|(_, _, v)| *v)
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_with_progress_nodes_durations_and_capacity() {
    let server = Server::start(deploying_view(), Options::default()).await;
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let samples = parse_prometheus(&response.text().await.unwrap());
    let v = |name, labels| value(&samples, name, labels);
    assert_eq!(v("scaleio_scheduler_plan_steps", r#"status="complete""#), Some(4.0));
    assert_eq!(v("scaleio_scheduler_plan_steps", r#"status="error""#), Some(1.0));
    assert_eq!(v("scaleio_scheduler_plan_steps", r#"status="running""#), Some(1.0));
    assert_eq!(v("scaleio_scheduler_plan_steps", r#"status="pending""#), Some(1.0));
    assert_eq!(v("scaleio_scheduler_plan_progress_ratio", ""), Some(4.0 / 7.0));
    assert_eq!(v("scaleio_scheduler_nodes", r#"status="deploying""#), Some(2.0));
    assert_eq!(v("scaleio_scheduler_nodes", r#"status="failed""#), Some(1.0));
    assert_eq!(v("scaleio_scheduler_nodes", r#"status="ready""#), Some(0.0));
    assert_eq!(v("scaleio_scheduler_offers_handled_total", ""), Some(42.0));
    assert_eq!(v("scaleio_scheduler_subscribed", ""), Some(1.0));
    assert_eq!(
        v(
            "scaleio_scheduler_step_duration_seconds",
            r#"step="preflight-agent-1",kind="preflight",node="agent-1""#
        ),
        Some(12.5)
    );
    assert_eq!(v("scaleio_scheduler_step_attempts", r#"step="prerequisites-agent-2""#), Some(3.0));
    assert!(
        !samples.iter().any(|(n, _, _)| n.starts_with("scaleio_capacity")),
        "no capacity before the gateway answered"
    );

    server.view.send_replace(Arc::new(complete_view()));
    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    let samples = parse_prometheus(&text);
    assert_eq!(value(&samples, "scaleio_scheduler_plan_progress_ratio", ""), Some(1.0));
    assert_eq!(value(&samples, "scaleio_scheduler_nodes", r#"status="ready""#), Some(3.0));
    assert_eq!(
        value(&samples, "scaleio_capacity_limit_bytes", ""),
        Some(100.0 * 1024.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        value(&samples, "scaleio_capacity_in_use_bytes", ""),
        Some(8.0 * 1024.0 * 1024.0 * 1024.0)
    );

    // Hostile label values stay one well-formed line.
    let mut view = deploying_view();
    view.plan.phases[0].steps[0].id = "odd\"id\\with\nnewline".to_owned();
    server.view.send_replace(Arc::new(view));
    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    let samples = parse_prometheus(&text);
    assert_eq!(
        value(&samples, "scaleio_scheduler_step_attempts", r#"step="odd\"id\\with\nnewline""#),
        Some(1.0)
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_server_and_frees_the_port() {
    let server = Server::start(View::default(), Options::default()).await;
    let addr = server.addr;
    assert_eq!(reqwest::get(server.url("/version")).await.unwrap().status(), 200);
    server.stop().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
}

#[tokio::test]
async fn before_any_agent_is_offered_everything_says_waiting() {
    let mut view = View::default();
    view.health.subscribed = true;
    let server = Server::start(view, Options::default()).await;
    let response = reqwest::get(server.url("/v1/health")).await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reasons"], json!(["waiting for agents: the plan has no steps yet"]));
    let (_, text) = get(&server, "/metrics").await;
    let samples = parse_prometheus(&text);
    assert_eq!(value(&samples, "scaleio_scheduler_plan_progress_ratio", ""), Some(0.0));
    let (status, page) = get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("0 of 0 steps complete</strong> (0%)"), "{page}");
    assert!(page.contains("No agent has been offered yet."), "{page}");
    assert!(page.contains("The plan is empty until agents are offered."), "{page}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_gateway_shows_as_down_with_its_reason_and_the_last_capacity() {
    let mut view = complete_view();
    let gateway = view.gateway.as_mut().expect("gateway");
    gateway.up = false;
    gateway.checked_at = Some(scheduler::view::UnixMillis(1_796_223_990_000));
    gateway.error = Some("gateway request GET /api/login failed: connection refused".to_owned());
    let server = Server::start(view, Options::default()).await;
    let samples = parse_prometheus(
        &reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap(),
    );
    assert_eq!(value(&samples, "scaleio_gateway_up", ""), Some(0.0));
    assert_eq!(
        value(&samples, "scaleio_capacity_read_timestamp_seconds", ""),
        Some(1_796_223_860.0),
        "the capacity shown is the last one read, with its time"
    );
    assert_eq!(
        value(&samples, "scaleio_capacity_limit_bytes", ""),
        Some(100.0 * 1024.0 * 1024.0 * 1024.0)
    );
    let body: serde_json::Value =
        reqwest::get(server.url("/v1/capacity")).await.unwrap().json().await.unwrap();
    assert_eq!(body["gateway"]["up"], false);
    assert_eq!(
        body["gateway"]["error"],
        "gateway request GET /api/login failed: connection refused"
    );
    assert_eq!(body["capacity"]["limit_kb"], 100 * 1024 * 1024);
    let page = reqwest::get(server.url("/")).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("The gateway https://10.0.0.11 cannot be read: gateway request GET /api/login failed: connection refused. Capacity read at 2026-12-02T15:04:20Z."),
        "{page}"
    );

    // Before the cluster has a gateway: no gateway metric, no capacity.
    server.view.send_replace(Arc::new(deploying_view()));
    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(!text.contains("scaleio_gateway_up"), "{text}");
    let body: serde_json::Value =
        reqwest::get(server.url("/v1/capacity")).await.unwrap().json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "capacity": null, "gateway": null }));
    server.stop().await.unwrap();
}

//! The scheduler connection against a strict loopback master: headers, stream ids, redirects,
//! 503 retries, heartbeat loss and re-subscription, ERROR, basic auth.

use std::time::Duration;

use mesos::http::{Backoff, Credentials, Secret};
use mesos::scheduler::connection::{self, CallError, Config, Notice};
use mesos::scheduler::{CallKind, Event};
use mesos::{FrameworkID, FrameworkInfo, OfferID};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::fake_master::{FakeMaster, Script};

fn config(master: &FakeMaster) -> Config {
    let mut c = Config::new(master.url(), FrameworkInfo::new("root", "test-fw"));
    c.backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(40) };
    c
}

async fn next(rx: &mut UnboundedReceiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notice within 10 s")
        .expect("the connection is still running")
}

async fn until_subscribed(rx: &mut UnboundedReceiver<Notice>) -> FrameworkID {
    loop {
        match next(rx).await {
            Notice::Event(Event::Subscribed(s)) => return s.framework_id,
            Notice::Stopped { reason } => panic!("stopped: {reason}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn subscribes_then_sends_calls_with_stream_id_and_exact_headers() {
    let master = FakeMaster::start(Script::default()).await;
    let (handle, mut rx) = connection::connect(config(&master)).expect("connect");
    assert_eq!(until_subscribed(&mut rx).await, FrameworkID::new("fw-1"));
    assert_eq!(next(&mut rx).await, Notice::Event(Event::Heartbeat));
    assert_eq!(handle.framework_id(), Some(FrameworkID::new("fw-1")));
    handle
        .call(CallKind::decline(vec![OfferID::new("o-1")], None))
        .await
        .expect("DECLINE accepted with 202");

    let seen = master.seen();
    assert_eq!(seen.len(), 2);
    let (subscribe, decline) = (&seen[0], &seen[1]);
    assert!(
        subscribe.headers.get("mesos-stream-id").is_none(),
        "SUBSCRIBE never carries a stream id"
    );
    assert!(subscribe.call.as_ref().expect("decoded").framework_id.is_none());
    for s in [subscribe, decline] {
        assert_eq!(s.headers["content-type"], "application/json");
        assert_eq!(s.headers["accept"], "application/json");
    }
    assert_eq!(decline.headers["mesos-stream-id"], "stream-1");
    assert_eq!(
        decline.call.as_ref().expect("decoded").framework_id,
        Some(FrameworkID::new("fw-1"))
    );
    handle.close();
    assert!(matches!(next(&mut rx).await, Notice::Stopped { .. }));
}

#[tokio::test]
async fn calls_before_subscription_are_refused_locally() {
    let master = FakeMaster::start(Script { unavailable: 1000, ..Script::default() }).await;
    let (handle, _rx) = connection::connect(config(&master)).expect("connect");
    let err = handle.call(CallKind::reconcile_all()).await.expect_err("not subscribed");
    assert!(matches!(err, CallError::NotSubscribed { .. }), "{err}");
    assert!(err.to_string().contains("wait for SUBSCRIBED"), "{err}");
}

#[tokio::test]
async fn follows_protocol_relative_redirect_to_the_leader() {
    let leader = FakeMaster::start(Script::default()).await;
    let follower =
        FakeMaster::start(Script { redirect_to: Some(leader.addr.port()), ..Script::default() })
            .await;
    let (handle, mut rx) = connection::connect(config(&follower)).expect("connect");
    until_subscribed(&mut rx).await;
    handle.call(CallKind::reconcile_all()).await.expect("calls go to the leader");
    assert_eq!(follower.seen().len(), 1);
    let seen = leader.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.path == "/master/api/v1/scheduler"), "path taken from Location");
}

#[tokio::test]
async fn service_unavailable_is_retried_with_backoff() {
    let master = FakeMaster::start(Script { unavailable: 3, ..Script::default() }).await;
    let (_handle, mut rx) = connection::connect(config(&master)).expect("connect");
    let mut disconnects = Vec::new();
    loop {
        match next(&mut rx).await {
            Notice::Disconnected { reason, retry_in } => {
                assert!(reason.contains("503"), "{reason}");
                disconnects.push(retry_in);
            }
            Notice::Event(Event::Subscribed(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(disconnects.len(), 3);
    assert!(disconnects.iter().all(|d| *d <= Duration::from_millis(40)), "capped: {disconnects:?}");
    assert!(disconnects[2] >= Duration::from_millis(20), "grows: {disconnects:?}");
}

#[tokio::test]
async fn heartbeat_loss_resubscribes_with_the_framework_id_and_new_stream_id() {
    let master = FakeMaster::start(Script::default()).await;
    let mut c = config(&master);
    c.heartbeat_timeout = Some(Duration::from_millis(300));
    let (handle, mut rx) = connection::connect(c).expect("connect");
    until_subscribed(&mut rx).await;
    let reason = loop {
        if let Notice::Disconnected { reason, .. } = next(&mut rx).await {
            break reason;
        }
    };
    assert!(reason.contains("no heartbeat"), "{reason}");
    assert_eq!(until_subscribed(&mut rx).await, FrameworkID::new("fw-1"));
    handle.call(CallKind::reconcile_all()).await.expect("call on the new stream");

    let seen = master.seen();
    let resubscribe = seen[1].call.as_ref().expect("decoded");
    let CallKind::Subscribe(s) = &resubscribe.kind else {
        panic!("expected SUBSCRIBE, got {resubscribe:?}")
    };
    assert_eq!(resubscribe.framework_id, Some(FrameworkID::new("fw-1")));
    assert_eq!(s.framework_info.id, Some(FrameworkID::new("fw-1")));
    assert_eq!(seen[2].headers["mesos-stream-id"], "stream-2");
}

#[tokio::test]
async fn closed_stream_resubscribes_and_stale_stream_id_is_refused() {
    let master = FakeMaster::start(Script::default()).await;
    let (handle, mut rx) = connection::connect(config(&master)).expect("connect");
    until_subscribed(&mut rx).await;
    // Another instance took over: the master's current stream id changes.
    master.inner.lock().expect("lock").stream_id = Some("someone-else".to_owned());
    let err = handle.call(CallKind::reconcile_all()).await.expect_err("stale stream id");
    let CallError::Refused { status, body, .. } = &err else { panic!("{err}") };
    assert_eq!(status.as_u16(), 400);
    assert!(body.contains("didn't match"), "{body}");
    // The master closes the stream: the connection re-subscribes on its own.
    master.inner.lock().expect("lock").events = None;
    assert!(matches!(next(&mut rx).await, Notice::Event(Event::Heartbeat)));
    assert!(matches!(next(&mut rx).await, Notice::Disconnected { .. }));
    until_subscribed(&mut rx).await;
}

#[tokio::test]
async fn error_event_is_surfaced_and_ends_the_connection() {
    let master = FakeMaster::start(Script {
        error: Some("Framework has been removed".to_owned()),
        ..Script::default()
    })
    .await;
    let (_handle, mut rx) = connection::connect(config(&master)).expect("connect");
    assert_eq!(
        next(&mut rx).await,
        Notice::Event(Event::Error(mesos::scheduler::Error {
            message: "Framework has been removed".to_owned()
        }))
    );
    let Notice::Stopped { reason } = next(&mut rx).await else { panic!("expected Stopped") };
    assert!(reason.contains("Framework has been removed"), "{reason}");
    assert!(rx.recv().await.is_none(), "nothing after Stopped");
}

#[tokio::test]
async fn basic_auth_on_every_request_and_401_stops() {
    // "p:s" in base64.
    let master = FakeMaster::start(Script {
        authorization: Some("Basic cDpz".to_owned()),
        ..Script::default()
    })
    .await;
    let mut c = config(&master);
    c.credentials = Some(Credentials { principal: "p".to_owned(), secret: Secret::new("s") });
    let (handle, mut rx) = connection::connect(c).expect("connect");
    until_subscribed(&mut rx).await;
    handle.call(CallKind::reconcile_all()).await.expect("authorized call");
    assert!(master.seen().iter().all(|s| s.headers["authorization"] == "Basic cDpz"));

    let mut wrong = config(&master);
    wrong.credentials =
        Some(Credentials { principal: "p".to_owned(), secret: Secret::new("nope") });
    assert!(!format!("{wrong:?}").contains("nope"), "the secret never appears in Debug output");
    let (_h, mut rx) = connection::connect(wrong).expect("connect");
    let Notice::Stopped { reason } = next(&mut rx).await else { panic!("expected Stopped") };
    assert!(reason.contains("401"), "{reason}");
}

/// On paused tokio time: with the real interval from SUBSCRIBED (15 s), silence is tolerated
/// until 5 × 15 s, then the connection re-subscribes.
#[tokio::test(start_paused = true)]
async fn heartbeat_deadline_is_five_intervals_on_paused_time() {
    let master = FakeMaster::start(Script::default()).await;
    let (_handle, mut rx) = connection::connect(config(&master)).expect("connect");
    until_subscribed(&mut rx).await;
    assert_eq!(next(&mut rx).await, Notice::Event(Event::Heartbeat));
    let silent_since = tokio::time::Instant::now();
    let Notice::Disconnected { reason, .. } = rx.recv().await.expect("running") else {
        panic!("expected Disconnected")
    };
    let waited = silent_since.elapsed();
    assert!(reason.contains("75s"), "{reason}");
    assert!(waited >= Duration::from_secs(75) && waited < Duration::from_secs(76), "{waited:?}");
}

/// On paused tokio time: the default backoff doubles from 0.5 s and is capped at 15 s.
#[tokio::test(start_paused = true)]
async fn default_backoff_is_capped_exponential_on_paused_time() {
    let master = FakeMaster::start(Script { unavailable: 8, ..Script::default() }).await;
    let c = Config::new(master.url(), FrameworkInfo::new("root", "test-fw"));
    let (_handle, mut rx) = connection::connect(c).expect("connect");
    let mut ceilings = Vec::new();
    loop {
        match rx.recv().await.expect("running") {
            Notice::Disconnected { retry_in, .. } => ceilings.push(retry_in),
            Notice::Event(Event::Subscribed(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected_ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0];
    assert_eq!(ceilings.len(), expected_ceilings.len());
    for (got, ceiling) in ceilings.iter().zip(expected_ceilings) {
        let ceiling = Duration::from_secs_f64(ceiling);
        assert!(
            *got >= ceiling / 2 && *got <= ceiling,
            "{got:?} not within [{:?}, {ceiling:?}]",
            ceiling / 2
        );
    }
}

#[tokio::test]
async fn fake_master_is_as_strict_as_the_real_one_about_content_type() {
    let master = FakeMaster::start(Script::default()).await;
    let client = reqwest::Client::new();
    let body = r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#;
    let response = client
        .post(master.url())
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 415);
    let response = client.post(master.url()).body(body).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 400, "missing Content-Type");
}

#[tokio::test]
async fn not_found_at_startup_and_unreachable_master_are_retried() {
    let master = FakeMaster::start(Script { not_found: 2, ..Script::default() }).await;
    let (_handle, mut rx) = connection::connect(config(&master)).expect("connect");
    for _ in 0..2 {
        let Notice::Disconnected { reason, .. } = next(&mut rx).await else {
            panic!("expected Disconnected")
        };
        assert!(reason.contains("404"), "{reason}");
    }
    until_subscribed(&mut rx).await;

    // Nothing listens on a port we just released: connection errors are retried, not fatal.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let mut c = Config::new(url, FrameworkInfo::new("root", "test-fw"));
    c.backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(20) };
    let (_handle, mut rx) = connection::connect(c).expect("connect");
    for _ in 0..3 {
        let Notice::Disconnected { reason, .. } = next(&mut rx).await else {
            panic!("expected Disconnected")
        };
        assert!(
            reason.contains("cannot reach the master") && reason.contains("/api/v1/scheduler"),
            "{reason}"
        );
    }
}

//! The emulator's scheduler API over real HTTP: the subscription stream, every rejection the
//! real master gives (status and body), offers, filters, suppression, reconciliation, framework
//! failover and teardown.

use std::time::Duration;

use mesos::scheduler::{self, Call, CallKind, Event};
use mesos::{
    CommandInfo, Filters, FrameworkID, Operation, Resource, TaskID, TaskInfo, TaskReason,
    TaskSource, TaskState,
};
use testkit::emulator::EmulatorConfig;

use crate::emulator_support::{
    Sched, WAIT, client, eventually, fast_config, framework_info, pump, start, subscribe_raw,
};

fn post(
    c: &reqwest::Client,
    url: &reqwest::Url,
    ct: Option<&str>,
    body: &str,
) -> reqwest::RequestBuilder {
    let mut r = c.post(url.join("api/v1/scheduler").expect("url")).body(body.to_owned());
    if let Some(ct) = ct {
        r = r.header("Content-Type", ct);
    }
    r
}

async fn status_body(r: reqwest::RequestBuilder) -> (u16, String) {
    let resp = r.send().await.expect("request");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

#[tokio::test]
async fn subscribe_streams_subscribed_heartbeat_and_offers_in_the_real_shape() {
    let emu = start(fast_config(2)).await;
    let c = client();
    let resp = subscribe_raw(&c, &emu.master_url(), framework_info("shape")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().get("content-length").is_none(), "the stream is chunked");
    let stream_id = resp.headers()["mesos-stream-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&stream_id).is_ok(), "stream id is a UUID: {stream_id}");
    let (mut events, mut raw) = pump(resp);
    let Some(Event::Subscribed(s)) = events.recv().await else { panic!("SUBSCRIBED first") };
    assert_eq!(s.heartbeat_interval_seconds, Some(0.3), "the configured interval is reported");
    assert!(s.framework_id.value.ends_with("-0000"), "{}", s.framework_id);
    let master = s.master_info.expect("master_info");
    assert_eq!(master.version.as_deref(), Some("1.12.0"));
    assert_eq!(master.ip, 16777343, "127.0.0.1 as a network-order uint32, like the fixture");
    assert_eq!(events.recv().await, Some(Event::Heartbeat), "a HEARTBEAT right after SUBSCRIBED");
    let offers = loop {
        match tokio::time::timeout(WAIT, events.recv()).await.expect("offers in time") {
            Some(Event::Offers(o)) => break o.offers,
            Some(_) => {}
            None => panic!("stream ended"),
        }
    };
    assert_eq!(offers.len(), 2, "one offer per agent");
    let o = &offers[0];
    assert_eq!(o.hostname, "agent-1");
    assert_eq!(o.attributes[0].text.as_ref().unwrap().value, "ubuntu14");
    assert!(o.resources.iter().all(|r| r.role.as_deref() == Some("*")), "pre-refinement role '*'");
    assert!(o.allocation_info.is_none(), "no allocation_info without MULTI_ROLE");
    let url = o.url.as_ref().expect("url");
    assert_eq!(url.path.as_deref(), Some("/slave(1)"));
    assert_eq!(url.address.ip.as_deref(), Some("127.1.0.1"), "each agent has its own loopback IP");
    // The raw records have Mesos' nesting: {"offers":{"offers":[..]}}.
    let mut saw_offers = false;
    while let Ok(v) = raw.try_recv() {
        if v["type"] == "OFFERS" {
            assert!(v["offers"]["offers"].is_array(), "{v}");
            saw_offers = true;
        }
    }
    assert!(saw_offers);
    // Heartbeats keep coming on the configured interval.
    let hb = tokio::time::timeout(WAIT, async {
        loop {
            if events.recv().await == Some(Event::Heartbeat) {
                break;
            }
        }
    })
    .await;
    assert!(hb.is_ok(), "periodic HEARTBEAT");
}

#[tokio::test]
async fn every_synchronous_rejection_has_the_masters_status_and_body() {
    let emu = start(fast_config(1)).await;
    let url = emu.master_url();
    let c = client();
    let subscribe =
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x"}}}"#;

    assert_eq!(
        status_body(post(&c, &url, Some("application/json; charset=utf-8"), subscribe)).await,
        (415, "Expecting 'Content-Type' of application/json or application/x-protobuf".into())
    );
    assert_eq!(status_body(post(&c, &url, None, subscribe)).await.0, 400, "no Content-Type");
    let get = c.get(url.join("api/v1/scheduler").unwrap()).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    assert_eq!(
        status_body(post(&c, &url, Some("application/json"), r#"{"type":1}"#)).await,
        (400, "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'".into())
    );
    let (code, body) = status_body(post(
        &c,
        &url,
        Some("application/json"),
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root"}}}"#,
    ))
    .await;
    assert_eq!(code, 400, "FrameworkInfo.name is required: {body}");
    assert!(body.contains("name"), "{body}");
    let (code, body) = status_body(post(&c, &url, Some("application/json"), "{not json")).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        status_body(
            post(&c, &url, Some("application/json"), subscribe).header("Mesos-Stream-Id", "x")
        )
        .await,
        (400, "Subscribe calls should not include the 'Mesos-Stream-Id' header".into())
    );
    let (code, body) = status_body(post(&c, &url, Some("application/json"), r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x","id":{"value":"f"}}}}"#)).await;
    assert_eq!(code, 400, "framework_info.id without a top-level framework_id: {body}");
    assert!(body.starts_with("Failed to validate scheduler::Call"), "{body}");
    assert_eq!(
        status_body(
            post(&c, &url, Some("application/json"), subscribe).header("Accept", "text/plain")
        )
        .await
        .0,
        406
    );
    assert_eq!(
        status_body(post(
            &c,
            &url,
            Some("application/json"),
            r#"{"type":"DECLINE","framework_id":{"value":"nope"},"decline":{"offer_ids":[]}}"#
        ))
        .await,
        (400, "Framework cannot be found".into())
    );
    let (code, body) = status_body(post(
        &c,
        &url,
        Some("application/json"),
        r#"{"type":"DECLINE","decline":{"offer_ids":[]}}"#,
    ))
    .await;
    assert_eq!(
        (code, body.as_str()),
        (400, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present")
    );
    let (code, _) = status_body(post(
        &c,
        &url,
        Some("application/json"),
        r#"{"type":"NOT_A_CALL","framework_id":{"value":"x"}}"#,
    ))
    .await;
    assert_eq!(code, 400, "an unknown type name is an absent type");

    let sched = Sched::subscribe(&url, framework_info("rejections")).await;
    let fid = sched.id();
    let decline = || Call::new(fid.clone(), CallKind::decline(vec![], None));
    assert_eq!(
        sched.call_with(decline(), None).await,
        (400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into())
    );
    let (code, body) = sched.call_with(decline(), Some("stale-stream")).await;
    assert_eq!(code, 400);
    assert!(body.contains("didn't match the stream ID"), "{body}");
    assert_eq!(sched.call_with(decline(), Some(&sched.stream_id)).await.0, 202);
    let unknown =
        r#"{"type":"UNKNOWN","framework_id":{"value":"F"}}"#.replace("F", &sched.framework_id);
    let resp = sched
        .client
        .post(sched.endpoint.clone())
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", &sched.stream_id)
        .body(unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);

    // ACKNOWLEDGE: uuid required (400 at parse), 37-byte and all-zero uuids refused.
    let ack = |uuid: &str| {
        format!(
            r#"{{"type":"ACKNOWLEDGE","framework_id":{{"value":"{}"}},"acknowledge":{{"agent_id":{{"value":"a"}},"task_id":{{"value":"t"}}{uuid}}}}}"#,
            sched.framework_id
        )
    };
    for (uuid, why) in [
        ("".to_owned(), "missing uuid"),
        (format!(r#","uuid":"{}""#, base64_of(&[b'a'; 37])), "37-byte text uuid"),
        (format!(r#","uuid":"{}""#, base64_of(&[0; 16])), "all-zero uuid"),
    ] {
        let resp = sched
            .client
            .post(sched.endpoint.clone())
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &sched.stream_id)
            .body(ack(&uuid))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{why}");
    }
    // After the subscription closes (within failover timeout): 403.
    assert!(emu.drop_subscription(&sched.framework_id));
    assert_eq!(
        sched.call_with(decline(), Some(&sched.stream_id)).await,
        (403, "Framework is not subscribed".into())
    );
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn task(id: &str, agent: &mesos::AgentID, resources: Vec<Resource>) -> TaskInfo {
    let mut t = TaskInfo::new(id, TaskID::new(id), agent.clone(), resources);
    t.command = Some(CommandInfo { value: Some("true".into()), ..CommandInfo::default() });
    t
}

#[tokio::test]
async fn invalid_offers_and_invalid_tasks_get_master_updates_without_uuid() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("accept")).await;
    let offers = sched.offers().await;
    let offer = &offers[0];
    let agent = offer.agent_id.clone();

    // An unknown offer: TASK_LOST / REASON_INVALID_OFFERS.
    let launch =
        Operation::launch(vec![task("t-lost", &agent, vec![Resource::scalar("cpus", 0.1)])]);
    let (code, _) = sched
        .call(CallKind::accept(vec![mesos::OfferID::new("no-such-offer")], vec![launch], None))
        .await;
    assert_eq!(code, 202, "invalid offers are reported asynchronously");
    let s = sched.update_for("t-lost").await;
    assert_eq!(
        (s.state, s.reason, s.source),
        (TaskState::Lost, Some(TaskReason::InvalidOffers), Some(TaskSource::Master))
    );
    assert!(s.uuid.is_none(), "master-generated updates carry no uuid");

    // One ACCEPT with several invalid tasks: each gets TASK_ERROR / REASON_TASK_INVALID.
    let bad = vec![
        task("t-nores", &agent, vec![]),
        task("a/b", &agent, vec![Resource::scalar("cpus", 0.1)]),
        task("t-big", &agent, vec![Resource::scalar("cpus", 1000.0)]),
        task("t-gpu", &agent, vec![Resource::scalar("gpus", 1.0)]),
        task("t-agent", &mesos::AgentID::new("other"), vec![Resource::scalar("cpus", 0.1)]),
    ];
    let (code, _) = sched
        .call(CallKind::accept(
            vec![offer.id.clone()],
            vec![Operation::launch(bad)],
            Some(Filters::refuse(0.0)),
        ))
        .await;
    assert_eq!(code, 202);
    for (id, needle) in [
        ("t-nores", "Task uses no resources"),
        ("a/b", "'/'"),
        ("t-big", "more than available"),
        ("t-gpu", "gpus"),
        ("t-agent", "invalid agent"),
    ] {
        let s = sched.update_for(id).await;
        assert_eq!(s.state, TaskState::Error, "{id}");
        assert_eq!(s.reason, Some(TaskReason::TaskInvalid), "{id}");
        assert!(s.uuid.is_none());
        let msg = s.message.unwrap_or_default();
        assert!(msg.contains(needle), "{id}: {msg}");
    }
    // The offer is used up: accepting it again is an invalid offer.
    let again =
        Operation::launch(vec![task("t-again", &agent, vec![Resource::scalar("cpus", 0.1)])]);
    sched.call(CallKind::accept(vec![offer.id.clone()], vec![again], None)).await;
    assert_eq!(sched.update_for("t-again").await.reason, Some(TaskReason::InvalidOffers));
    // Resources came back: offered again.
    let back = sched.offers().await;
    assert_eq!(
        back[0].resources.iter().find(|r| r.name == "cpus").and_then(Resource::scalar_value),
        Some(4.0)
    );
    // A JSON TaskInfo without `name` is a synchronous 400, nothing launched.
    let body = format!(
        r#"{{"type":"ACCEPT","framework_id":{{"value":"{}"}},"accept":{{"offer_ids":[{{"value":"{}"}}],"operations":[{{"type":"LAUNCH","launch":{{"task_infos":[{{"task_id":{{"value":"x"}},"agent_id":{{"value":"{}"}}}}]}}}}]}}}}"#,
        sched.framework_id, back[0].id.value, agent.value
    );
    let resp = sched
        .client
        .post(sched.endpoint.clone())
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", &sched.stream_id)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(emu.state().tasks().next().is_none());
}

#[tokio::test]
async fn decline_filters_suppress_and_revive() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("filters")).await;
    let offers = sched.offers().await;
    let (code, _) = sched
        .call(CallKind::decline(vec![offers[0].id.clone()], Some(Filters::refuse(3600.0))))
        .await;
    assert_eq!(code, 202);
    // Many allocation cycles later: still nothing.
    tokio::time::sleep(Duration::from_millis(400)).await;
    while let Ok(e) = sched.events.try_recv() {
        assert!(!matches!(e, Event::Offers(_)), "refused agent re-offered: {e:?}");
    }
    assert_eq!(sched.call(CallKind::Revive(scheduler::Revive::default())).await.0, 202);
    sched.offers().await;
    // SUPPRESS: no offers even when declined with refuse 0.
    assert_eq!(sched.call(CallKind::Suppress(scheduler::Suppress::default())).await.0, 202);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Decline whatever is outstanding, then watch.
    let mut outstanding = Vec::new();
    while let Ok(e) = sched.events.try_recv() {
        if let Event::Offers(o) = e {
            outstanding.extend(o.offers);
        }
    }
    sched.decline_all(&outstanding).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(e) = sched.events.try_recv() {
        assert!(!matches!(e, Event::Offers(_)), "suppressed framework got offers: {e:?}");
    }
    // Re-subscribing without suppressed_roles un-suppresses.
    let mut info = framework_info("filters");
    info.id = sched.id();
    let mut again = Sched::subscribe(&emu.master_url(), info).await;
    assert_eq!(again.framework_id, sched.framework_id);
    again.offers().await;
}

/// As the real allocator (`addFramework` and `reviveOffers` both allocate at once): with an
/// allocation interval of an hour, offers still follow SUBSCRIBE and every REVIVE, while a
/// declined agent stays filtered until the REVIVE.
#[tokio::test]
async fn subscribe_and_revive_allocate_without_waiting_for_the_interval() {
    let config =
        EmulatorConfig { allocation_interval: Duration::from_secs(3600), ..fast_config(2) };
    let emu = start(config).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("revive-now")).await;
    let offers = sched.offers().await;
    assert_eq!(offers.len(), 2, "one offer per agent right after SUBSCRIBED: {offers:?}");
    sched
        .call(CallKind::decline(
            offers.iter().map(|o| o.id.clone()).collect(),
            Some(Filters::refuse(3600.0)),
        ))
        .await;
    assert_eq!(sched.call(CallKind::Revive(scheduler::Revive::default())).await.0, 202);
    let again = sched.offers().await;
    assert_eq!(again.len(), 2, "REVIVE re-offers both agents at once: {again:?}");
    assert!(again.iter().all(|o| offers.iter().all(|p| p.id != o.id)), "new offer ids");
}

#[tokio::test]
async fn reconciliation_and_kill_of_unknown_tasks() {
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("reconcile")).await;
    let offers = sched.offers().await;
    let agent = offers[0].agent_id.clone();
    let r = scheduler::Reconcile {
        tasks: vec![
            scheduler::ReconcileTask { task_id: TaskID::new("ghost"), agent_id: None },
            scheduler::ReconcileTask {
                task_id: TaskID::new("ghost-on-agent"),
                agent_id: Some(agent.clone()),
            },
        ],
    };
    assert_eq!(sched.call(CallKind::Reconcile(r)).await.0, 202);
    let s = sched.update_for("ghost").await;
    assert_eq!(s.state, TaskState::Lost, "not PARTITION_AWARE: TASK_LOST");
    assert_eq!(s.message.as_deref(), Some("Reconciliation: Task is unknown"));
    assert_eq!(
        (s.reason, s.source, s.uuid),
        (Some(TaskReason::Reconciliation), Some(TaskSource::Master), None)
    );
    assert_eq!(sched.update_for("ghost-on-agent").await.state, TaskState::Lost);
    // PARTITION_AWARE frameworks get TASK_UNKNOWN / TASK_GONE.
    let mut info = framework_info("pa");
    info.capabilities.push(mesos::FrameworkCapabilityType::PartitionAware.into());
    let mut pa = Sched::subscribe(&emu.master_url(), info).await;
    let r = scheduler::Reconcile {
        tasks: vec![
            scheduler::ReconcileTask { task_id: TaskID::new("u"), agent_id: None },
            scheduler::ReconcileTask { task_id: TaskID::new("g"), agent_id: Some(agent) },
        ],
    };
    pa.call(CallKind::Reconcile(r)).await;
    assert_eq!(pa.update_for("u").await.state, TaskState::Unknown);
    assert_eq!(pa.update_for("g").await.state, TaskState::Gone);
    // KILL of an unknown task answers like reconciliation.
    let kill =
        scheduler::Kill { task_id: TaskID::new("nobody"), agent_id: None, kill_policy: None };
    assert_eq!(sched.call(CallKind::Kill(kill)).await.0, 202);
    let s = sched.update_for("nobody").await;
    assert_eq!((s.state, s.reason), (TaskState::Lost, Some(TaskReason::Reconciliation)));
}

#[tokio::test]
async fn a_second_subscription_fails_the_first_over() {
    let emu = start(fast_config(1)).await;
    let mut first = Sched::subscribe(&emu.master_url(), framework_info("fo")).await;
    let mut info = framework_info("fo");
    info.id = first.id();
    let second = Sched::subscribe(&emu.master_url(), info).await;
    assert_eq!(second.framework_id, first.framework_id);
    assert_ne!(second.stream_id, first.stream_id, "a new stream id");
    let err = first
        .wait_for("ERROR", |e| match e {
            Event::Error(e) => Some(e.message.clone()),
            _ => None,
        })
        .await;
    assert_eq!(err, "Framework failed over");
    let end =
        tokio::time::timeout(WAIT, async { while first.events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "the old stream is closed after ERROR");
    let decline = Call::new(first.id(), CallKind::decline(vec![], None));
    assert_eq!(
        second.call_with(decline.clone(), Some(&first.stream_id)).await.0,
        400,
        "old stream id"
    );
    assert_eq!(second.call_with(decline, Some(&second.stream_id)).await.0, 202);
}

#[tokio::test]
async fn failover_timeout_zero_removes_the_framework_and_teardown_too() {
    let emu = start(fast_config(1)).await;
    let mut info = framework_info("zero");
    info.failover_timeout = Some(0.0);
    let sched = Sched::subscribe(&emu.master_url(), info.clone()).await;
    let id = sched.framework_id.clone();
    drop(sched); // closes the subscription connection
    eventually("framework removed", || emu.state().framework(&id).is_none()).await;
    info.id = Some(FrameworkID::new(id.clone()));
    let resp = subscribe_raw(&client(), &emu.master_url(), info).await;
    assert_eq!(resp.status(), 200, "refusals after 200 arrive as ERROR");
    let (mut events, _) = pump(resp);
    assert_eq!(
        events.recv().await,
        Some(Event::Error(scheduler::Error { message: "Framework has been removed".into() }))
    );
    assert_eq!(events.recv().await, None, "then the stream closes");

    // Other asynchronous refusals: ERROR, then the stream closes.
    let mut bad = framework_info("bad-roles");
    bad.capabilities.push(mesos::FrameworkCapabilityType::MultiRole.into());
    bad.roles = vec!["a".into()];
    bad.role = Some("a".into());
    let (mut events, _) = pump(subscribe_raw(&client(), &emu.master_url(), bad).await);
    assert!(
        matches!(events.recv().await, Some(Event::Error(e)) if e.message.contains("MULTI_ROLE"))
    );
    assert_eq!(events.recv().await, None);

    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("teardown")).await;
    assert_eq!(sched.call(CallKind::Teardown).await.0, 202);
    let end =
        tokio::time::timeout(WAIT, async { while sched.events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "TEARDOWN closes the stream");
    assert_eq!(
        sched.call(CallKind::decline(vec![], None)).await,
        (400, "Framework cannot be found".into())
    );
}

#[tokio::test]
async fn a_non_leading_master_redirects_and_no_leader_is_503() {
    let emu = start(testkit::emulator::EmulatorConfig { standby: true, ..fast_config(1) }).await;
    let urls = emu.master_urls();
    let leader_port = urls[0].port().unwrap();
    let c = client();
    let resp = subscribe_raw(&c, &urls[1], framework_info("redirect")).await;
    assert_eq!(resp.status(), 307);
    assert_eq!(
        resp.headers()["location"],
        format!("//localhost:{leader_port}/master/api/v1/scheduler")
    );
    let state = c.get(urls[1].join("master/state").unwrap()).send().await.unwrap();
    assert_eq!(state.status(), 307);
    assert_eq!(state.headers()["location"], format!("//localhost:{leader_port}/master/state"));
    // Fail over: the standby leads, the old leader redirects to it.
    let sched = Sched::subscribe(&urls[0], framework_info("ha")).await;
    let r = c.post(urls[0].join("__control/fail-over").unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.leader_url(), Some(urls[1].clone()));
    let resp = subscribe_raw(&c, &urls[0], framework_info("x")).await;
    assert_eq!(resp.status(), 307);
    // The framework re-subscribes with its id on the new leader.
    let mut info = framework_info("ha");
    info.id = sched.id();
    let again = Sched::subscribe(&urls[1], info).await;
    assert_eq!(again.framework_id, sched.framework_id);
    emu.set_leader(None);
    let (code, body) = status_body(post(&c, &urls[1], Some("application/json"), "{}")).await;
    assert_eq!((code, body.as_str()), (503, "No leader elected"));
}

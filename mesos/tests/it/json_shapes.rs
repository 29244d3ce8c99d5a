//! One JSON fixture per call and event type of both APIs, written from the .proto definitions
//! (not from the docs' examples): each decodes to the expected variant and re-encodes to itself.
//! Plus the tolerance and strictness rules of Mesos' JSON reader.

use std::collections::BTreeSet;

use mesos::scheduler::{self, CallKind};
use mesos::{TaskReason, TaskState, executor};
use serde_json::{Value, json};

const F: &str = "11111111-2222-3333-4444-555555555555-0000";
/// base64 of 16 bytes of a v4 uuid.
const UUID: &str = "I+EMT9tbQRKjf8ZzcRN4eA==";

fn resource_cpus() -> Value {
    json!({"name":"cpus","type":"SCALAR","scalar":{"value":0.5},"allocation_info":{"role":"r1"}})
}

fn task_info() -> Value {
    json!({
        "name":"t1","task_id":{"value":"t1"},"agent_id":{"value":"S0"},
        "resources":[resource_cpus(),
            {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31001}]}},
            {"name":"disk","type":"SCALAR","scalar":{"value":64.0},
             "reservations":[{"type":"DYNAMIC","role":"r1","principal":"p","labels":{"labels":[{"key":"k","value":"v"}]}}],
             "disk":{"persistence":{"id":"vol-1","principal":"p"},"volume":{"mode":"RW","container_path":"data"}}}],
        "executor":{
            "type":"CUSTOM","executor_id":{"value":"e1"},"framework_id":{"value":F},
            "command":{"uris":[{"value":"http://h/x.tar.gz","executable":false,"extract":true,"cache":false,"output_file":"x.tar.gz"}],
                       "environment":{"variables":[{"name":"K","type":"VALUE","value":"v"}]},
                       "shell":false,"value":"./x/bin/run","arguments":["run","--flag"],"user":"root"},
            "container":{"type":"MESOS","volumes":[{"container_path":"data","mode":"RW",
                "source":{"type":"DOCKER_VOLUME","docker_volume":{"driver":"rexray","name":"v1",
                    "driver_options":{"parameter":[{"key":"size","value":"5"}]}}}}]},
            "resources":[resource_cpus()],"name":"exec","shutdown_grace_period":{"nanoseconds":5000000000_i64},
            "labels":{"labels":[{"key":"a"}]}},
        "kill_policy":{"grace_period":{"nanoseconds":3000000000_i64}},
        "data":"cGVlcg==","labels":{"labels":[{"key":"k","value":"v"}]},
        "max_completion_time":{"nanoseconds":60000000000_i64},
        "limits":{"cpus":{"value":2.0},"mem":{"value":512.0}}
    })
}

fn task_status() -> Value {
    json!({"task_id":{"value":"t1"},"state":"TASK_RUNNING","message":"ok","source":"SOURCE_EXECUTOR",
           "reason":"REASON_TASK_CHECK_STATUS_UPDATED","data":"cGVlcg==","agent_id":{"value":"S0"},
           "executor_id":{"value":"e1"},"timestamp":1795338337.6062033,"uuid":UUID,"healthy":true,
           "labels":{"labels":[{"key":"k","value":"v"}]},
           "container_status":{"container_id":{"value":"c1","parent":{"value":"c0"}},
               "network_infos":[{"ip_addresses":[{"protocol":"IPv4","ip_address":"127.0.0.1"}]}],"executor_pid":42},
           "unreachable_time":{"nanoseconds":1},"limitation":{"resources":[resource_cpus()]}})
}

fn framework_info() -> Value {
    json!({"user":"root","name":"fw","id":{"value":F},"failover_timeout":604800.0,"checkpoint":true,
           "roles":["r1"],"hostname":"h","principal":"p","webui_url":"http://h:8080",
           "capabilities":[{"type":"MULTI_ROLE"},{"type":"PARTITION_AWARE"},{"type":"TASK_KILLING_STATE"}],
           "labels":{"labels":[{"key":"k","value":"v"}]},
           "offer_filters":{"r1":{"min_allocatable_resources":{"quantities":[{"quantities":{"cpus":{"value":1.0}}}]}}}})
}

fn offer() -> Value {
    json!({"id":{"value":"O1"},"framework_id":{"value":F},"agent_id":{"value":"S0"},"hostname":"a1",
           "url":{"scheme":"http","address":{"hostname":"a1","ip":"10.0.0.2","port":5051},"path":"/slave(1)"},
           "domain":{"fault_domain":{"region":{"name":"r"},"zone":{"name":"z"}}},
           "resources":[resource_cpus(),{"name":"x","type":"SET","set":{"item":["a","b"]},"role":"*"}],
           "attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}},{"name":"n","type":"SCALAR","scalar":{"value":3.0}}],
           "executor_ids":[{"value":"e1"}],
           "unavailability":{"start":{"nanoseconds":1},"duration":{"nanoseconds":2}},
           "allocation_info":{"role":"r1"}})
}

fn scheduler_calls() -> Vec<Value> {
    let fid = json!({"value":F});
    vec![
        json!({"type":"SUBSCRIBE","framework_id":fid,"subscribe":{"framework_info":framework_info(),"suppressed_roles":["r1"]}}),
        json!({"type":"TEARDOWN","framework_id":fid}),
        json!({"type":"ACCEPT","framework_id":fid,"accept":{"offer_ids":[{"value":"O1"}],"operations":[
            {"type":"LAUNCH","launch":{"task_infos":[task_info()]}},
            {"type":"LAUNCH_GROUP","launch_group":{"executor":{"type":"DEFAULT","executor_id":{"value":"e2"},"framework_id":fid},
                "task_group":{"tasks":[task_info()]}}},
            {"type":"RESERVE","id":{"value":"op1"},"reserve":{"resources":[resource_cpus()]}},
            {"type":"UNRESERVE","unreserve":{"resources":[resource_cpus()]}},
            {"type":"CREATE","create":{"volumes":[resource_cpus()]}},
            {"type":"DESTROY","destroy":{"volumes":[resource_cpus()]}}],
            "filters":{"refuse_seconds":5.0}}}),
        json!({"type":"DECLINE","framework_id":fid,"decline":{"offer_ids":[{"value":"O1"}],"filters":{"refuse_seconds":3600.0}}}),
        json!({"type":"ACCEPT_INVERSE_OFFERS","framework_id":fid,"accept_inverse_offers":{"inverse_offer_ids":[{"value":"I1"}]}}),
        json!({"type":"DECLINE_INVERSE_OFFERS","framework_id":fid,"decline_inverse_offers":{"inverse_offer_ids":[{"value":"I1"}],"filters":{"refuse_seconds":1.0}}}),
        json!({"type":"REVIVE","framework_id":fid,"revive":{"roles":["r1"]}}),
        json!({"type":"SUPPRESS","framework_id":fid,"suppress":{"roles":["r1"]}}),
        json!({"type":"KILL","framework_id":fid,"kill":{"task_id":{"value":"t1"},"agent_id":{"value":"S0"},"kill_policy":{"grace_period":{"nanoseconds":1}}}}),
        json!({"type":"SHUTDOWN","framework_id":fid,"shutdown":{"executor_id":{"value":"e1"},"agent_id":{"value":"S0"}}}),
        json!({"type":"ACKNOWLEDGE","framework_id":fid,"acknowledge":{"agent_id":{"value":"S0"},"task_id":{"value":"t1"},"uuid":UUID}}),
        json!({"type":"ACKNOWLEDGE_OPERATION_STATUS","framework_id":fid,"acknowledge_operation_status":{"agent_id":{"value":"S0"},"resource_provider_id":{"value":"rp"},"uuid":UUID,"operation_id":{"value":"op1"}}}),
        json!({"type":"RECONCILE","framework_id":fid,"reconcile":{"tasks":[{"task_id":{"value":"t1"},"agent_id":{"value":"S0"}}]}}),
        json!({"type":"RECONCILE_OPERATIONS","framework_id":fid,"reconcile_operations":{"operations":[{"operation_id":{"value":"op1"},"agent_id":{"value":"S0"}}]}}),
        json!({"type":"MESSAGE","framework_id":fid,"message":{"agent_id":{"value":"S0"},"executor_id":{"value":"e1"},"data":"cGluZw=="}}),
        json!({"type":"REQUEST","framework_id":fid,"request":{"requests":[{"agent_id":{"value":"S0"},"resources":[resource_cpus()]}]}}),
        json!({"type":"UPDATE_FRAMEWORK","framework_id":fid,"update_framework":{"framework_info":framework_info(),"suppressed_roles":["r1"]}}),
    ]
}

fn scheduler_events() -> Vec<Value> {
    vec![
        json!({"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":F},"heartbeat_interval_seconds":15.0,
            "master_info":{"id":"m","ip":16777343,"port":5050,"pid":"master@127.0.0.1:5050","hostname":"m1","version":"1.12.0",
                "address":{"hostname":"m1","ip":"127.0.0.1","port":5050},"capabilities":[{"type":"AGENT_UPDATE"}]}}}),
        json!({"type":"OFFERS","offers":{"offers":[offer()]}}),
        json!({"type":"INVERSE_OFFERS","inverse_offers":{"inverse_offers":[{"id":{"value":"I1"},"framework_id":{"value":F},
            "agent_id":{"value":"S0"},"unavailability":{"start":{"nanoseconds":5}},"resources":[resource_cpus()]}]}}),
        json!({"type":"RESCIND","rescind":{"offer_id":{"value":"O1"}}}),
        json!({"type":"RESCIND_INVERSE_OFFER","rescind_inverse_offer":{"inverse_offer_id":{"value":"I1"}}}),
        json!({"type":"UPDATE","update":{"status":task_status()}}),
        json!({"type":"UPDATE_OPERATION_STATUS","update_operation_status":{"status":{"operation_id":{"value":"op1"},
            "state":"OPERATION_FINISHED","message":"done","converted_resources":[resource_cpus()],"uuid":{"value":UUID},
            "agent_id":{"value":"S0"},"resource_provider_id":{"value":"rp"}}}}),
        json!({"type":"MESSAGE","message":{"agent_id":{"value":"S0"},"executor_id":{"value":"e1"},"data":"cG9uZw=="}}),
        json!({"type":"FAILURE","failure":{"agent_id":{"value":"S0"},"executor_id":{"value":"e1"},"status":768}}),
        json!({"type":"ERROR","error":{"message":"Framework failed over"}}),
        json!({"type":"HEARTBEAT"}),
    ]
}

fn executor_calls() -> Vec<Value> {
    let ids = |v: Value| {
        let mut v = v;
        v["executor_id"] = json!({"value":"e1"});
        v["framework_id"] = json!({"value":F});
        v
    };
    vec![
        ids(
            json!({"type":"SUBSCRIBE","subscribe":{"unacknowledged_tasks":[task_info()],"unacknowledged_updates":[{"status":task_status()}]}}),
        ),
        ids(json!({"type":"UPDATE","update":{"status":task_status()}})),
        ids(json!({"type":"MESSAGE","message":{"data":"cG9uZw=="}})),
        ids(json!({"type":"HEARTBEAT"})),
    ]
}

fn executor_events() -> Vec<Value> {
    vec![
        json!({"type":"SUBSCRIBED","subscribed":{"executor_info":task_info()["executor"].clone(),"framework_info":framework_info(),
            "agent_info":{"hostname":"a1","port":5051,"resources":[resource_cpus()],
                "attributes":[{"name":"os","type":"TEXT","text":{"value":"ubuntu"}}],"id":{"value":"S0"}},
            "container_id":{"value":"c1"}}}),
        json!({"type":"LAUNCH","launch":{"task":task_info()}}),
        json!({"type":"LAUNCH_GROUP","launch_group":{"task_group":{"tasks":[task_info(),task_info()]}}}),
        json!({"type":"KILL","kill":{"task_id":{"value":"t1"},"kill_policy":{"grace_period":{"nanoseconds":0}}}}),
        json!({"type":"ACKNOWLEDGED","acknowledged":{"task_id":{"value":"t1"},"uuid":UUID}}),
        json!({"type":"MESSAGE","message":{"data":"cGluZw=="}}),
        json!({"type":"ERROR","error":{"message":"boom"}}),
        json!({"type":"SHUTDOWN"}),
        json!({"type":"HEARTBEAT"}),
    ]
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(fixture: &Value) -> T {
    let decoded: T =
        serde_json::from_value(fixture.clone()).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let encoded = serde_json::to_value(&decoded).expect("encode");
    assert_eq!(&encoded, fixture, "re-encoding changes the JSON");
    decoded
}

fn names(list: &[Value]) -> BTreeSet<String> {
    list.iter().map(|v| v["type"].as_str().expect("type").to_owned()).collect()
}

#[test]
fn every_scheduler_call_type_round_trips() {
    let fixtures = scheduler_calls();
    for f in &fixtures {
        let call: scheduler::Call = round_trip(f);
        assert_eq!(call.kind.type_name(), f["type"]);
        assert!(!matches!(call.kind, CallKind::Unrecognized(_)));
    }
    let expected = "ACCEPT ACCEPT_INVERSE_OFFERS ACKNOWLEDGE ACKNOWLEDGE_OPERATION_STATUS DECLINE \
        DECLINE_INVERSE_OFFERS KILL MESSAGE RECONCILE RECONCILE_OPERATIONS REQUEST REVIVE SHUTDOWN \
        SUBSCRIBE SUPPRESS TEARDOWN UPDATE_FRAMEWORK";
    assert_eq!(names(&fixtures), expected.split_whitespace().map(str::to_owned).collect());
}

#[test]
fn every_scheduler_event_type_round_trips() {
    let fixtures = scheduler_events();
    for f in &fixtures {
        let event: scheduler::Event = round_trip(f);
        assert_eq!(event.type_name(), f["type"]);
    }
    assert_eq!(names(&fixtures).len(), 11);
    let scheduler::Event::Offers(o) = round_trip(&scheduler_events()[1]) else { panic!("offers") };
    assert_eq!(o.offers[0].resources[0].scalar_value(), Some(0.5), "nested offers.offers");
}

#[test]
fn every_executor_call_and_event_type_round_trips() {
    let calls = executor_calls();
    for f in &calls {
        let call: executor::Call = round_trip(f);
        assert_eq!(call.kind.type_name(), f["type"]);
    }
    assert_eq!(names(&calls).len(), 4);
    let events = executor_events();
    for f in &events {
        let event: executor::Event = round_trip(f);
        assert_eq!(event.type_name(), f["type"]);
    }
    assert_eq!(names(&events).len(), 9);
}

#[test]
fn builders_produce_the_proto_shapes() {
    let status: mesos::TaskStatus = serde_json::from_value(task_status()).expect("status");
    let ack = CallKind::acknowledge(&status).expect("has uuid and agent");
    let call = scheduler::Call::new(Some(mesos::FrameworkID::new(F)), ack);
    assert_eq!(
        serde_json::to_value(&call).expect("encode"),
        json!({"framework_id":{"value":F},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"S0"},"task_id":{"value":"t1"},"uuid":UUID}})
    );
    let mut no_uuid = status.clone();
    no_uuid.uuid = None;
    assert!(CallKind::acknowledge(&no_uuid).is_none(), "master-generated updates are never acked");
    assert_eq!(
        serde_json::to_value(CallKind::reconcile_all()).expect("encode"),
        json!({"type":"RECONCILE","reconcile":{}}),
        "implicit reconciliation sends an empty, present message"
    );
    let first_subscribe = executor::Call {
        executor_id: mesos::ExecutorID::new("e1"),
        framework_id: mesos::FrameworkID::new(F),
        kind: executor::CallKind::Subscribe(executor::Subscribe::default()),
    };
    assert_eq!(
        serde_json::to_value(&first_subscribe).expect("encode"),
        json!({"executor_id":{"value":"e1"},"framework_id":{"value":F},"type":"SUBSCRIBE","subscribe":{}}),
        "the agent requires a present subscribe message"
    );
    let volume = mesos::Volume::docker_volume(
        "data",
        mesos::VolumeMode::Rw,
        "rexray",
        "v1",
        vec![mesos::Parameter { key: "size".to_owned(), value: "5".to_owned() }],
    );
    assert_eq!(
        serde_json::to_value(volume).expect("encode"),
        json!({"mode":"RW","container_path":"data","source":{"type":"DOCKER_VOLUME","docker_volume":{
            "driver":"rexray","name":"v1","driver_options":{"parameter":[{"key":"size","value":"5"}]}}}})
    );
}

#[test]
fn reader_tolerance_like_stout() {
    // Unknown keys, unknown enum values in optional fields, int64 as strings, defaults present,
    // unknown event types, bare Infinity written by rapidjson.
    let record = br#"{"type":"UPDATE","extra":1,"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING",
        "reason":"REASON_FROM_THE_FUTURE","source":"SOURCE_NEW","unreachable_time":{"nanoseconds":"12"},
        "timestamp":"1.5","healthy":"true","new_field":{"x":1}}}}"#;
    let scheduler::Event::Update(u) = scheduler::Event::from_record(record).expect("tolerant")
    else {
        panic!()
    };
    assert_eq!(
        u.status.reason,
        Some(TaskReason::Unrecognized("REASON_FROM_THE_FUTURE".to_owned()))
    );
    assert_eq!(u.status.unreachable_time.map(|t| t.nanoseconds), Some(12));
    assert_eq!(u.status.timestamp, Some(1.5));
    assert_eq!(u.status.healthy, Some(true));
    assert_eq!(u.status.state, TaskState::Running);

    let unknown =
        scheduler::Event::from_record(br#"{"type":"NEW_EVENT","new_event":{}}"#).expect("tolerant");
    assert_eq!(unknown, scheduler::Event::Unrecognized("NEW_EVENT".to_owned()));

    let launch = br#"{"type":"LAUNCH","launch":{"task":{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"S"},
        "limits":{"cpus":{"value":Infinity},"mem":{"value":512}}}}}"#;
    let executor::Event::Launch(l) = executor::Event::from_record(launch).expect("bare Infinity")
    else {
        panic!()
    };
    assert!(l.task.limits["cpus"].value.is_infinite());

    let defaults = json!({"type":"SUBSCRIBED","subscribed":{"executor_info":{"executor_id":{"value":"e"},
        "command":{"shell":true,"uris":[{"value":"u","extract":true}]}},
        "framework_info":{"user":"u","name":"n","failover_timeout":0.0,"checkpoint":false},
        "agent_info":{"hostname":"a","port":5051}}});
    let executor::Event::Subscribed(s) = serde_json::from_value(defaults).expect("defaults") else {
        panic!()
    };
    assert!(s.executor_info.command.expect("command").is_shell());
}

#[test]
fn server_side_decoding_is_strict_where_the_master_answers_400() {
    let bad = [
        (json!({"type":1,"framework_id":{"value":F}}), "enum as a number"),
        (json!({"framework_id":{"value":F},"teardown":{}}), "missing type"),
        (json!({"type":"FROBNICATE","framework_id":{"value":F}}), "unknown type"),
        (json!({"type":"DECLINE","framework_id":{"value":F}}), "missing required payload"),
        (
            json!({"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"fw"}}}),
            "FrameworkInfo.user",
        ),
        (
            json!({"type":"ACCEPT","framework_id":{"value":F},"accept":{"offer_ids":[{"value":"O"}],
            "operations":[{"type":"LAUNCH","launch":{"task_infos":[{"task_id":{"value":"t"},"agent_id":{"value":"S"}}]}}]}}),
            "TaskInfo.name",
        ),
        (
            json!({"type":"ACCEPT","framework_id":{"value":F},"accept":{"offer_ids":[{"value":"O"}],
            "operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"S"},
            "resources":[{"name":"cpus","scalar":{"value":1}}]}]}}]}}),
            "Resource.type",
        ),
        (
            json!({"type":"ACKNOWLEDGE","framework_id":{"value":F},"acknowledge":{"agent_id":{"value":"S"},"task_id":{"value":"t"},"uuid":"-_-_"}}),
            "url-safe base64",
        ),
    ];
    for (body, what) in bad {
        assert!(
            serde_json::from_value::<scheduler::Call>(body.clone()).is_err(),
            "{what} must be rejected: {body}"
        );
    }
    let explicit_unknown: scheduler::Call =
        serde_json::from_value(json!({"type":"UNKNOWN","framework_id":{"value":F}}))
            .expect("UNKNOWN decodes (501)");
    assert_eq!(explicit_unknown.kind, CallKind::Unrecognized("UNKNOWN".to_owned()));
    let revive: scheduler::Call = serde_json::from_value(
        json!({"type":"REVIVE","framework_id":{"value":F},"revive":{"role":"x"}}),
    )
    .expect("revive");
    assert_eq!(
        revive.kind,
        CallKind::Revive(scheduler::Revive::default()),
        "doc typo 'role' revives all roles"
    );
    assert!(
        serde_json::from_value::<executor::Call>(
            json!({"type":"SUBSCRIBE","executor_id":{"value":"e"},"framework_id":{"value":F}})
        )
        .is_err(),
        "executor SUBSCRIBE requires \"subscribe\":{{}}"
    );
    assert!(
        serde_json::from_value::<executor::Call>(
            json!({"type":"HEARTBEAT","executor_id":{"value":"e"}})
        )
        .is_err(),
        "framework_id is required on every executor call"
    );
}

/// The boxed `reservation` and `disk` of a resource read and write the same JSON as inline ones,
/// and keep every resource small: an OFFERS event of 10,000 agents holds ~40,000 of them.
#[test]
fn a_resource_with_a_legacy_reservation_and_a_disk_round_trips_and_stays_small() {
    let json = json!({"name":"disk","type":"SCALAR","scalar":{"value":64.0},"role":"r1",
        "reservation":{"principal":"p","labels":{"labels":[{"key":"k","value":"v"}]}},
        "disk":{"persistence":{"id":"vol-1"},"volume":{"mode":"RW","container_path":"data"}}});
    let r: mesos::v1::Resource = serde_json::from_value(json.clone()).expect("decodes");
    assert_eq!(r.reservation.as_ref().and_then(|x| x.principal.as_deref()), Some("p"));
    assert_eq!(
        r.disk.as_ref().and_then(|d| d.persistence.as_ref()).map(|p| p.id.as_str()),
        Some("vol-1")
    );
    assert_eq!(serde_json::to_value(&r).expect("encodes"), json);
    assert!(size_of::<mesos::v1::Resource>() <= 256, "{} bytes", size_of::<mesos::v1::Resource>());
}

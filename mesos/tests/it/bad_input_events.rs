//! Malformed and unexpected event JSON for both APIs, built from the real Mesos 1.12 samples:
//! unknown fields anywhere decode to the same event (forward compatibility), broken JSON and
//! wrong shapes are errors that say where and what, and no input makes the decoders panic or
//! overflow the stack.

use mesos::{executor, scheduler};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::wire::wire_samples;

/// The real event samples of one API, as JSON values.
fn events(api: &str) -> Vec<Value> {
    let samples: Vec<Value> = wire_samples()
        .into_iter()
        .filter(|(a, d, _)| a == api && d == "event")
        .map(|(_, _, body)| body)
        .collect();
    assert!(samples.len() >= 8, "expected the real {api} event samples");
    samples
}

/// Decodes one record with the API's event decoder; `Ok` holds the re-encoded event.
fn decode(api: &str, record: &[u8]) -> Result<Value, String> {
    match api {
        "scheduler" => scheduler::Event::from_record(record)
            .map(|e| serde_json::to_value(e).expect("encode"))
            .map_err(|e| e.to_string()),
        "executor" => executor::Event::from_record(record)
            .map(|e| serde_json::to_value(e).expect("encode"))
            .map_err(|e| e.to_string()),
        other => panic!("unknown api {other}"),
    }
}

/// Adds an unknown scalar, object and array field to every object in `v`, as a newer Mesos
/// would.
fn with_unknown_fields(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out: serde_json::Map<String, Value> =
                o.iter().map(|(k, v)| (k.clone(), with_unknown_fields(v))).collect();
            out.insert("added_in_mesos_2".into(), json!(7));
            out.insert("new_message".into(), json!({"nested": {"deep": [1, "x", null]}}));
            out.insert("new_repeated".into(), json!([{"a": 1}, {"b": [true]}]));
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(with_unknown_fields).collect()),
        other => other.clone(),
    }
}

#[test]
fn unknown_fields_at_every_level_of_every_real_event_are_ignored() {
    for api in ["scheduler", "executor"] {
        for body in events(api) {
            let plain = decode(api, &serde_json::to_vec(&body).unwrap()).expect("real sample");
            let extended = with_unknown_fields(&body);
            let decoded = decode(api, &serde_json::to_vec(&extended).unwrap())
                .unwrap_or_else(|e| panic!("{api} {} with unknown fields: {e}", body["type"]));
            assert_eq!(decoded, plain, "{api} {}: unknown fields changed the event", body["type"]);
        }
    }
}

#[test]
fn every_truncation_of_every_real_event_is_an_error_with_a_position() {
    for api in ["scheduler", "executor"] {
        for body in events(api) {
            let record = serde_json::to_vec(&body).unwrap();
            for cut in 0..record.len() {
                let err = decode(api, &record[..cut]).expect_err("a truncated record");
                assert!(
                    err.contains("EOF while parsing") && err.contains("line 1 column"),
                    "{api} {} cut at {cut}: {err}",
                    body["type"]
                );
            }
        }
    }
}

#[test]
fn wrong_shapes_are_errors_that_name_the_problem() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("scheduler", b"[1,2]", "expected a map"),
        ("scheduler", b"\"HEARTBEAT\"", "expected a map"),
        ("scheduler", b"null", "expected a map"),
        ("executor", b"42", "expected a map"),
        ("scheduler", br#"{"type":1}"#, "expected 'type' to be a string naming the Event type"),
        ("executor", br#"{"type":["LAUNCH"]}"#, "expected 'type' to be a string"),
        ("scheduler", br#"{"type":"OFFERS"}"#, "expecting 'offers' to be present"),
        ("scheduler", br#"{"type":"UPDATE","update":null}"#, "expecting 'update' to be present"),
        ("executor", br#"{"type":"LAUNCH"}"#, "expecting 'launch' to be present"),
        (
            "scheduler",
            br#"{"type":"UPDATE","update":{"status":{"task_id":{"value":5},"state":"TASK_RUNNING"}}}"#,
            "in 'update'",
        ),
        (
            "scheduler",
            br#"{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":3}}}"#,
            "numbers are rejected",
        ),
        (
            "scheduler",
            br#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"f"},"heartbeat_interval_seconds":1e400}}"#,
            "number out of range at line 1 column 98",
        ),
        ("scheduler", b"{\"type\":\"HEARTBEAT\"} trailing", "trailing characters"),
        ("executor", b"{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"\xff\"}}}", "invalid unicode code point at line 1 column 44"),
    ];
    for (api, record, needle) in cases {
        let err = decode(api, record).expect_err(&String::from_utf8_lossy(record));
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "{api} {}: {needle:?} not in {err:?}",
            String::from_utf8_lossy(record)
        );
    }
}

#[test]
fn events_without_a_type_or_with_a_new_one_decode_as_unrecognized() {
    // Lenient like a framework must be towards a newer master: skip, do not fail.
    let cases: &[(&[u8], &str)] = &[
        (b"{}", ""),
        (br#"{"type":null,"offers":{}}"#, ""),
        (br#"{"type":"UNKNOWN"}"#, "UNKNOWN"),
        (br#"{"type":"RESCIND_ALL","rescind_all":{"why":"new"}}"#, "RESCIND_ALL"),
    ];
    for (record, name) in cases {
        let event = scheduler::Event::from_record(record).expect("lenient");
        assert_eq!(event, scheduler::Event::Unrecognized((*name).to_owned()));
        let event = executor::Event::from_record(record).expect("lenient");
        assert_eq!(event, executor::Event::Unrecognized((*name).to_owned()));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [200, 100_000] {
        let mut nested = String::from(r#"{"type":"HEARTBEAT","x":"#);
        nested.push_str(&"[".repeat(depth));
        nested.push_str(&"]".repeat(depth));
        nested.push('}');
        for api in ["scheduler", "executor"] {
            let err = decode(api, nested.as_bytes()).expect_err("too deep");
            assert!(err.contains("recursion limit exceeded"), "{api} depth {depth}: {err}");
        }
    }
}

#[test]
fn non_finite_numbers_from_mesos_writer_are_accepted_only_outside_strings() {
    // Mesos writes bare Infinity in limits; inside a string it is text and stays text.
    let record = br#"{"type":"MESSAGE","message":{"agent_id":{"value":"Infinity"},"executor_id":{"value":"NaN"},"data":""}}"#;
    let scheduler::Event::Message(m) = scheduler::Event::from_record(record).expect("decodes")
    else {
        panic!("a MESSAGE event")
    };
    assert_eq!(m.agent_id.value, "Infinity");
    assert_eq!(m.executor_id.value, "NaN");
    let err = decode("scheduler", br#"{"type":"HEARTBEAT","x":Infinityy}"#).expect_err("bad token");
    assert!(err.contains("line 1 column"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Any bytes: an event or an error, never a panic.
    #[test]
    fn arbitrary_records_never_panic(record in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = scheduler::Event::from_record(&record);
        let _ = executor::Event::from_record(&record);
    }

    /// A real event with a few bytes overwritten: an event or an error, never a panic; when it
    /// still decodes, it re-encodes to JSON that decodes again to the same event.
    #[test]
    fn mutated_real_events_never_panic(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let samples: Vec<(&str, Value)> = events("scheduler")
            .into_iter()
            .map(|b| ("scheduler", b))
            .chain(events("executor").into_iter().map(|b| ("executor", b)))
            .collect();
        let (api, body) = &samples[which.index(samples.len())];
        let mut record = serde_json::to_vec(body).unwrap();
        for (at, byte) in edits {
            let i = at.index(record.len());
            record[i] = byte;
        }
        if let Ok(value) = decode(api, &record) {
            let again = decode(api, &serde_json::to_vec(&value).unwrap());
            prop_assert_eq!(again, Ok(value));
        }
    }
}

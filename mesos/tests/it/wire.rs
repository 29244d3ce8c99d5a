//! Every sample a real Mesos 1.12 master and agent sent or received decodes, and re-encodes to
//! the same JSON (modulo numbers written as integers).

use std::path::PathBuf;

use mesos::{executor, scheduler};
use serde_json::Value;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/real-mesos-1.12/wire.jsonl")
}

pub(crate) fn wire_samples() -> Vec<(String, String, Value)> {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the real-Mesos wire samples at {}: {e}\n\
             hint: the repository must sit beside `shared/` (the fixtures live in shared/fixtures)",
            path.display()
        )
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("wire.jsonl line is JSON");
            let api = v["api"].as_str().expect("api").to_owned();
            let dir = v["dir"].as_str().expect("dir").to_owned();
            (api, dir, v["body"].clone())
        })
        .collect()
}

/// Numbers compare by value: Mesos' `32` and our `32.0` are the same double.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().expect("number")),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_real_wire_sample_decodes_and_round_trips() {
    let samples = wire_samples();
    assert!(samples.len() >= 30, "expected the full sample set, found {}", samples.len());
    for (api, dir, body) in samples {
        let reencoded = match (api.as_str(), dir.as_str()) {
            ("scheduler", "call") => {
                let call: scheduler::Call = serde_json::from_value(body.clone())
                    .unwrap_or_else(|e| panic!("scheduler call {body}: {e}"));
                assert!(!matches!(call.kind, scheduler::CallKind::Unrecognized(_)), "{body}");
                serde_json::to_value(&call).expect("encode")
            }
            ("scheduler", "event") => {
                let event: scheduler::Event = serde_json::from_value(body.clone())
                    .unwrap_or_else(|e| panic!("scheduler event {body}: {e}"));
                assert!(!matches!(event, scheduler::Event::Unrecognized(_)), "{body}");
                serde_json::to_value(&event).expect("encode")
            }
            ("executor", "call") => {
                let call: executor::Call = serde_json::from_value(body.clone())
                    .unwrap_or_else(|e| panic!("executor call {body}: {e}"));
                assert!(!matches!(call.kind, executor::CallKind::Unrecognized(_)), "{body}");
                serde_json::to_value(&call).expect("encode")
            }
            ("executor", "event") => {
                let event: executor::Event = serde_json::from_value(body.clone())
                    .unwrap_or_else(|e| panic!("executor event {body}: {e}"));
                assert!(!matches!(event, executor::Event::Unrecognized(_)), "{body}");
                serde_json::to_value(&event).expect("encode")
            }
            other => panic!("unexpected sample kind {other:?}"),
        };
        assert_eq!(normalize(&reencoded), normalize(&body), "round trip of {api} {dir}");
    }
}

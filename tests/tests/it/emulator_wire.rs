//! The recorded real Mesos 1.12 traffic (`fixtures/real-mesos-1.12/wire.jsonl`) decodes with the
//! `mesos` crate, and the emulator's events have the same shape (key paths and JSON types).

use std::collections::{BTreeMap, BTreeSet};

const FIXTURE: &str = "/work/shared/fixtures/real-mesos-1.12/wire.jsonl";

fn fixture_lines() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(FIXTURE).expect("the real-Mesos fixture is readable");
    text.lines().map(|l| serde_json::from_str(l).expect("fixture line is JSON")).collect()
}

#[test]
fn every_fixture_call_and_event_decodes() {
    let lines = fixture_lines();
    assert!(lines.len() >= 30, "{} lines", lines.len());
    for l in lines {
        let body = serde_json::to_vec(&l["body"]).unwrap();
        let ty = l["body"]["type"].as_str().unwrap().to_owned();
        match (l["api"].as_str().unwrap(), l["dir"].as_str().unwrap()) {
            ("scheduler", "call") => {
                let c: mesos::scheduler::Call =
                    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{ty}: {e}"));
                assert_eq!(c.kind.type_name(), ty);
            }
            ("scheduler", "event") => {
                let e = mesos::scheduler::Event::from_record(&body)
                    .unwrap_or_else(|e| panic!("{ty}: {e}"));
                assert_eq!(e.type_name(), ty);
            }
            ("executor", "call") => {
                let c: mesos::executor::Call =
                    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{ty}: {e}"));
                assert_eq!(c.kind.type_name(), ty);
            }
            ("executor", "event") => {
                let e = mesos::executor::Event::from_record(&body)
                    .unwrap_or_else(|e| panic!("{ty}: {e}"));
                assert_eq!(e.type_name(), ty);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Every key path in `v` with its JSON type (array elements share the path `[]`).
fn paths(v: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, &'static str>) {
    out.insert(prefix.to_owned(), kind(v));
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                paths(v, &format!("{prefix}.{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// Fields that only appear when the traffic carries them (the fixture's framework sent data,
/// messages and its executor used no uuid-less updates); everything else of the real events
/// must appear in the emulator's events with the same JSON type.
const OPTIONAL: &[&str] = &[
    ".data",
    ".message",
    ".reason",
    ".executor_ids",
    ".executor_id",
    ".container_status",
    ".name",
    ".hostname",
    ".failover_timeout",
    ".checkpoint",
    ".allocation_info",
    ".role",
];

/// Compares the emulator's recorded events with the fixture's, type by type.
pub fn same_shapes_as_the_fixtures(recorded: &[serde_json::Value]) {
    let group = |lines: &[serde_json::Value]| {
        let mut by: BTreeMap<String, BTreeMap<String, &'static str>> = BTreeMap::new();
        for l in lines.iter().filter(|l| l["dir"] == "event") {
            let key =
                format!("{} {}", l["api"].as_str().unwrap(), l["body"]["type"].as_str().unwrap());
            paths(&l["body"], "", by.entry(key).or_default());
        }
        by
    };
    let real = group(&fixture_lines());
    let ours = group(recorded);
    let mut problems = BTreeSet::new();
    for (ty, real_paths) in &real {
        let Some(our_paths) = ours.get(ty) else { continue };
        for (path, real_kind) in real_paths {
            match our_paths.get(path) {
                Some(k) if k == real_kind => {}
                Some(k) => {
                    problems
                        .insert(format!("{ty}: {path} is {k}, the real master sends {real_kind}"));
                }
                None if OPTIONAL.iter().any(|o| path.contains(o)) => {}
                None => {
                    problems.insert(format!("{ty}: {path} missing"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "emulator events differ from real Mesos: {problems:#?}");
}

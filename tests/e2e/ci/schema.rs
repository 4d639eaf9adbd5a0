//! Real JSON events against the checked-in JSON Schema.

use super::*;
use std::collections::BTreeSet;

/// The schema with every object closed (`unevaluatedProperties: false`),
/// so that an event field the schema does not describe fails validation.
/// `finding-fields` stays open: it is closed where it is used.
fn closed(schema: &mut serde_json::Value, open: bool) {
    match schema {
        serde_json::Value::Object(map) => {
            let is_object_schema = map.contains_key("properties") || map.contains_key("allOf");
            for (k, v) in map.iter_mut() {
                if k == "$defs" {
                    for (name, def) in v.as_object_mut().unwrap() {
                        closed(def, name == "finding-fields");
                    }
                } else {
                    closed(v, false);
                }
            }
            if is_object_schema && !open {
                map.insert("unevaluatedProperties".into(), false.into());
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| closed(v, false)),
        _ => {}
    }
}

#[test]
fn every_emitted_event_matches_the_checked_in_json_schema() {
    let schema = events_schema();
    let mut strict = schema.clone();
    closed(&mut strict, false);
    let validators = [
        (
            "schema",
            jsonschema::validator_for(&schema).expect("a valid schema"),
        ),
        (
            "closed schema",
            jsonschema::validator_for(&strict).expect("a valid schema"),
        ),
    ];
    let run = run_json(&[
        "-p",
        "ffi-bugs",
        "-p",
        "heap-bugs",
        "-p",
        "misc-behaviour",
        "-p",
        "not-libtest",
        "--guard-side",
        "after",
        "--timeout",
        "1s",
        "--",
        "--include-ignored",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    for event in &run.events {
        for (name, v) in &validators {
            let errors: Vec<String> = v
                .iter_errors(event)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:#?}\n{event:#}");
        }
    }
    // The run covered every event type and the optional parts of findings.
    let types: BTreeSet<&str> = run
        .events
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["run-started", "test-finished", "finding", "run-finished"])
    );
    let findings = run.findings();
    assert!(findings.iter().any(|f| f["allocation"].is_object()));
    assert!(findings
        .iter()
        .any(|f| f["kind"] == "timeout" && !f["threads"].as_array().unwrap().is_empty()));
    assert!(findings.iter().any(|f| f["location"].is_null()));
    assert!(findings.iter().any(|f| f["access"].is_object()));

    // The schema constrains: wrong values and unknown fields are caught.
    let mut bad = run.summary().clone();
    bad["exit_code"] = "100".into();
    assert!(!validators[0].1.is_valid(&bad));
    let mut bad = findings[0].clone();
    bad["id"] = "FFC-xyz".into();
    assert!(!validators[0].1.is_valid(&bad));
    let mut extra = run.summary().clone();
    extra["surprise"] = 1.into();
    assert!(validators[0].1.is_valid(&extra), "v1 allows added fields");
    assert!(
        !validators[1].1.is_valid(&extra),
        "the closed schema does not"
    );
    let with_findings = run
        .events
        .iter()
        .find(|e| e["type"] == "test-finished" && e["status"] == "findings")
        .unwrap();
    for pointer in ["/findings/0", "/findings/0/backtrace/0", "/allocations"] {
        let mut extra = with_findings.clone();
        extra.pointer_mut(pointer).unwrap()["surprise"] = 1.into();
        assert!(validators[0].1.is_valid(&extra), "{pointer}");
        assert!(!validators[1].1.is_valid(&extra), "{pointer}");
    }
    let mut extra = findings[0].clone();
    extra["surprise"] = 1.into();
    assert!(!validators[1].1.is_valid(&extra));
}

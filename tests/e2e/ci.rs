//! Running in CI: partitions, JUnit, GitHub Actions annotations, the JSON
//! schema, configuration profiles and suppressions; one module each, with
//! the helpers they share here.

mod adopt;
mod config;
mod github;
mod junit;
mod partition;
mod schema;
mod suppress;

use crate::support::{self, *};

/// The checked-in JSON Schema of the events.
pub fn events_schema() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/events-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A run with `FFI_CHECK_CONFIG` pointing at a file holding `config`.
pub fn run_with_config(name: &str, config: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let dir = scratch(name);
    let file = dir.join("ffi-check.toml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = ffi_check();
    cmd.env("FFI_CHECK_CONFIG", &file)
        .args(["--message-format", "json"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    support::parse_output(cmd.output().unwrap())
}

/// Validates every event of a run against the checked-in schema.
pub fn assert_matches_schema(run: &Run) {
    let validator = jsonschema::validator_for(&events_schema()).unwrap();
    for event in &run.events {
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
    }
}

//! Running the tool on the fixtures and reading what it says.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixture workspace.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// One target directory shared by every e2e test, so fixtures build once.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures")
}

/// `cargo-ffi-check` with the fixture manifest and shared target dir.
pub fn ffi_check() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"));
    cmd.arg("--manifest-path")
        .arg(fixtures().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir())
        .env_remove("RUST_BACKTRACE")
        // This repository's own CI may run on GitHub Actions: tests opt in.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("FFI_CHECK_CONFIG")
        .env_remove("FFI_CHECK_PROFILE")
        .env("NO_COLOR", "1");
    cmd
}

/// A finished run: exit code, JSON events, stderr text.
pub struct Run {
    pub code: i32,
    pub events: Vec<Value>,
    pub stderr: String,
    pub stdout: String,
}

impl Run {
    /// The `test-finished` events for `test` (any binary).
    pub fn finished(&self, test: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "test-finished" && e["test"] == test)
            .collect()
    }

    /// The single `test-finished` event for `test`.
    pub fn one(&self, test: &str) -> &Value {
        let f = self.finished(test);
        assert_eq!(
            f.len(),
            1,
            "expected one result for {test}:\n{}",
            self.stderr
        );
        f[0]
    }

    /// The distinct `finding` events.
    pub fn findings(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "finding")
            .collect()
    }

    /// The `run-finished` event.
    pub fn summary(&self) -> &Value {
        self.events
            .iter()
            .find(|e| e["type"] == "run-finished")
            .unwrap_or_else(|| panic!("no run-finished event:\n{}", self.stderr))
    }
}

/// Runs with `--message-format json` and the given arguments.
pub fn run_json(args: &[&str]) -> Run {
    let out = ffi_check()
        .args(["--message-format", "json"])
        .args(args)
        .output()
        .expect("running cargo-ffi-check");
    parse_output(out)
}

/// Runs with human output.
pub fn run_human(args: &[&str]) -> Run {
    parse_output(
        ffi_check()
            .args(args)
            .output()
            .expect("running cargo-ffi-check"),
    )
}

/// Reads a finished command's output.
pub fn parse_output(out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let events = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        events,
        stderr,
        stdout,
    }
}

/// Asserts that `run` exited 0 and that each of `tests` finished `jobs`
/// times (one per seed), passed, with no finding.
pub fn assert_each_passed_clean(run: &Run, tests: &[&str], jobs: usize) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    for test in tests {
        let finished = run.finished(test);
        assert_eq!(finished.len(), jobs, "{test}: {}", run.stderr);
        for ev in finished {
            assert_eq!(ev["status"], "passed", "{ev:#}");
            assert_eq!(ev["findings"], serde_json::json!([]), "{ev:#}");
        }
    }
}

/// The 1-based line of `file` (relative to the fixtures) holding `marker`.
pub fn line_of(file: &str, marker: &str) -> u64 {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "marker {marker:?} must occur once in {file}");
    hits[0] as u64
}

/// The line of the `BUG:` marker inside C function `function` of `file`.
pub fn bug_line(file: &str, function: &str) -> u64 {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(&format!("{function}(")) && !l.trim_end().ends_with(';'))
        .unwrap_or_else(|| panic!("no function {function} in {file}"));
    let bug = lines[start..]
        .iter()
        .position(|l| l.contains("BUG:"))
        .unwrap_or_else(|| panic!("no BUG: marker in {function} of {file}"));
    (start + bug + 1) as u64
}

/// The only finding of a test-finished event.
pub fn only_finding(event: &Value) -> &Value {
    let f = event["findings"].as_array().expect("findings array");
    assert_eq!(f.len(), 1, "expected exactly one finding: {event:#}");
    &f[0]
}

/// The function names in an array of frames (a `backtrace`, an
/// `allocated_at`), innermost first.
pub fn functions(frames: &Value) -> Vec<String> {
    frames
        .as_array()
        .expect("an array of frames")
        .iter()
        .filter_map(|f| f["function"].as_str().map(String::from))
        .collect()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The standard output of fixture test `test` of package `package`'s
/// library, run natively (no supervisor, no preloaded library) from the
/// binary the tool builds too (`cargo test --no-run`, same target dir).
pub fn native_stdout(package: &str, test: &str) -> String {
    let build = Command::new(env!("CARGO"))
        .args([
            "test",
            "--no-run",
            "--message-format=json",
            "--lib",
            "-p",
            package,
        ])
        .arg("--manifest-path")
        .arg(fixtures().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let executable = String::from_utf8_lossy(&build.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["target"]["name"] == package.replace('-', "_") && m["executable"].is_string())
        .and_then(|m| m["executable"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("no test executable for {package}'s library"));
    let run = Command::new(executable)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "natively: {stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

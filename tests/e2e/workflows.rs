//! The GitHub Actions workflows under `.github/workflows/` (this repository's
//! CI and the examples users copy) are well-formed: parsed as YAML and
//! checked for the structure GitHub requires, and linted with `actionlint`
//! where it is installed. The README shows the example as it is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workflows_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

fn key<'a>(map: &'a Yaml, name: &str) -> Option<&'a Yaml> {
    match map {
        Yaml::Hash(h) => h.get(&Yaml::String(name.into())),
        _ => None,
    }
}

fn keys(map: &Yaml) -> Vec<String> {
    match map {
        Yaml::Hash(h) => h
            .keys()
            .map(|k| match k {
                Yaml::String(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Every string in a node, recursively.
fn strings(node: &Yaml, out: &mut Vec<String>) {
    match node {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(a) => a.iter().for_each(|n| strings(n, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// The `matrix.NAME` references inside `${{ }}` expressions.
fn matrix_references(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for expr in text.split("${{").skip(1) {
        let expr = expr.split("}}").next().unwrap_or("");
        for part in expr.split("matrix.").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            refs.push(name);
        }
    }
    refs
}

const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "permissions",
    "env",
    "defaults",
    "concurrency",
    "jobs",
];
const JOB_KEYS: &[&str] = &[
    "name",
    "permissions",
    "needs",
    "if",
    "runs-on",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "steps",
    "timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
    "uses",
    "with",
    "secrets",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "if",
    "name",
    "uses",
    "run",
    "working-directory",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
];

/// The problems of one workflow, as `where: what` lines (empty: fine).
fn check_workflow(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let docs = match YamlLoader::load_from_str(text) {
        Ok(d) => d,
        Err(e) => return vec![format!("not YAML: {e}")],
    };
    let [doc] = &docs[..] else {
        return vec![format!("{} YAML documents, expected one", docs.len())];
    };
    for k in keys(doc) {
        if !WORKFLOW_KEYS.contains(&k.as_str()) {
            problems.push(format!("unknown top-level key `{k}`"));
        }
    }
    match key(doc, "on") {
        Some(Yaml::String(_) | Yaml::Array(_) | Yaml::Hash(_)) => {}
        _ => problems.push("`on` is missing or not an event, a list or a map".into()),
    }
    let Some(jobs @ Yaml::Hash(job_map)) = key(doc, "jobs") else {
        problems.push("`jobs` is missing or not a map".into());
        return problems;
    };
    if job_map.is_empty() {
        problems.push("`jobs` is empty".into());
    }
    let job_ids: BTreeSet<String> = keys(jobs).into_iter().collect();
    for (id, job) in job_map {
        let id = id.as_str().unwrap_or("?");
        let at = format!("jobs.{id}");
        for k in keys(job) {
            if !JOB_KEYS.contains(&k.as_str()) {
                problems.push(format!("{at}: unknown key `{k}`"));
            }
        }
        for need in match key(job, "needs") {
            Some(Yaml::String(s)) => vec![s.clone()],
            Some(Yaml::Array(a)) => a
                .iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect(),
            _ => vec![],
        } {
            if !job_ids.contains(&need) {
                problems.push(format!("{at}: needs unknown job `{need}`"));
            }
        }
        if key(job, "uses").is_some() {
            // A reusable workflow call: no runner, no steps.
            continue;
        }
        if key(job, "runs-on").is_none() {
            problems.push(format!("{at}: no `runs-on`"));
        }
        match key(job, "steps") {
            Some(Yaml::Array(steps)) if !steps.is_empty() => {
                for (i, step) in steps.iter().enumerate() {
                    let at = format!("{at}.steps[{i}]");
                    if !matches!(step, Yaml::Hash(_)) {
                        problems.push(format!("{at}: not a map"));
                        continue;
                    }
                    for k in keys(step) {
                        if !STEP_KEYS.contains(&k.as_str()) {
                            problems.push(format!("{at}: unknown key `{k}`"));
                        }
                    }
                    match (key(step, "uses"), key(step, "run")) {
                        (Some(Yaml::String(u)), None) if !u.trim().is_empty() => {}
                        (None, Some(Yaml::String(r))) if !r.trim().is_empty() => {}
                        (Some(_), Some(_)) => problems.push(format!("{at}: both `uses` and `run`")),
                        _ => problems.push(format!("{at}: needs one non-empty `uses` or `run`")),
                    }
                    if key(step, "with").is_some() && key(step, "uses").is_none() {
                        problems.push(format!("{at}: `with` without `uses`"));
                    }
                }
            }
            _ => problems.push(format!("{at}: `steps` is missing or empty")),
        }
        // Every matrix.NAME used in the job is a matrix key.
        let matrix = key(job, "strategy").and_then(|s| key(s, "matrix"));
        let mut defined: BTreeSet<String> =
            matrix.map(keys).unwrap_or_default().into_iter().collect();
        if let Some(Yaml::Array(include)) = matrix.and_then(|m| key(m, "include")) {
            defined.extend(include.iter().flat_map(keys));
        }
        let mut texts = Vec::new();
        strings(job, &mut texts);
        for name in texts.iter().flat_map(|t| matrix_references(t)) {
            if !defined.contains(&name) {
                problems.push(format!(
                    "{at}: `matrix.{name}` is not a key of its strategy.matrix"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_workflow_has_the_structure_github_requires() {
    let files = workflow_files();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let problems = check_workflow(&text);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            file.display(),
            problems.join("\n")
        );
    }
}

#[test]
fn the_structure_check_catches_broken_workflows() {
    let good = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        share: [1, 2]\n    steps:\n      - run: echo ${{ matrix.share }}\n";
    assert_eq!(check_workflow(good), Vec::<String>::new());
    for (broken, says) in [
        (good.replace("on: push\n", ""), "`on` is missing"),
        (
            good.replace("    runs-on: ubuntu-latest\n", ""),
            "jobs.a: no `runs-on`",
        ),
        (
            good.replace(
                "      - run: echo",
                "      - uses: a/b@v1\n        run: echo",
            ),
            "both `uses` and `run`",
        ),
        (
            good.replace(
                "      - run: echo ${{ matrix.share }}\n",
                "      - name: nothing\n",
            ),
            "needs one non-empty `uses` or `run`",
        ),
        (
            good.replace("matrix.share", "matrix.shard"),
            "`matrix.shard` is not a key",
        ),
        (
            good.replace("runs-on:", "runs_on:"),
            "unknown key `runs_on`",
        ),
        (
            good.replace(
                "jobs:\n",
                "jobs:\n  b:\n    needs: c\n    runs-on: x\n    steps: [{run: x}]\n",
            ),
            "needs unknown job `c`",
        ),
        ("on: [push\n".to_string(), "not YAML"),
    ] {
        let problems = check_workflow(&broken).join("\n");
        assert!(
            problems.contains(says),
            "expected {says:?} for:\n{broken}\ngot: {problems}"
        );
    }
}

#[test]
fn actionlint_accepts_every_workflow_where_it_is_installed() {
    let Ok(out) = std::process::Command::new("actionlint")
        .arg("-no-color")
        .args(workflow_files())
        .output()
    else {
        eprintln!("actionlint is not installed; the structure check above still ran");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The condition that keeps the example jobs from running in this repository.
const SELF_SKIP: &str = "if: ${{ !endsWith(github.repository, '/cargo-ffi-check') }}";

#[test]
fn the_example_workflows_run_the_documented_commands() {
    let read = |name: &str| std::fs::read_to_string(workflows_dir().join(name)).unwrap();
    let single = read("ffi-check-example.yml");
    assert!(
        single.contains("run: cargo ffi-check --seeds 0..16 --junit target/ffi-check/junit.xml")
    );
    assert!(single.contains("uses: actions/upload-artifact@v4"));
    assert!(single.contains("path: target/ffi-check/junit.xml"));
    let parts = read("ffi-check-partitioned-example.yml");
    assert!(parts.contains("--partition hash:${{ matrix.share }}/3"));
    // The examples must not run (and fail on their OWNER placeholder) in
    // this repository: each job skips itself here.
    for example in [&single, &parts] {
        assert_eq!(example.matches(SELF_SKIP).count(), 1, "{example}");
    }
    // The README shows the example as users copy it: without its comment
    // header and without the line that skips it in this repository.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let body: String = single
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .filter(|l| !l.trim_start().starts_with('#') && l.trim() != SELF_SKIP)
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        readme.contains(&format!("```yaml\n{body}```")),
        "README.md must show ffi-check-example.yml without its comments and its `if:` line"
    );
}

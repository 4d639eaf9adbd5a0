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

/// The one YAML document of `text`, or what is wrong with it.
fn one_document(text: &str) -> Result<Yaml, String> {
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    if docs.len() != 1 {
        return Err(format!("{} YAML documents, expected one", docs.len()));
    }
    Ok(docs.remove(0))
}

/// The problems of one workflow, as `where: what` lines (empty: fine).
fn check_workflow(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let doc = match one_document(text) {
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let doc = &doc;
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
    let step = "uses: OWNER/cargo-ffi-check/.github/actions/ffi-check@v0\n        with:\n          seeds: 0..16\n";
    assert!(single.contains(step), "{single}");
    let parts = read("ffi-check-partitioned-example.yml");
    assert!(parts.contains(step), "{parts}");
    assert!(
        parts.contains("partition: hash:${{ matrix.share }}/3"),
        "{parts}"
    );
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

fn action_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/actions/ffi-check/action.yml")
}

fn action() -> Yaml {
    let text = std::fs::read_to_string(action_path()).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The problems of a composite action's metadata (empty: fine): what GitHub
/// requires (`name`, `description`, `runs.using: composite`, steps with
/// exactly one of `uses` and `run`, `shell` on every `run`) and what a typo
/// would break silently (an `inputs.X` that is not an input, a
/// `steps.ID` that is no earlier step's id, an action not pinned to a
/// version).
fn check_action(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let doc = match one_document(text) {
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let doc = &doc;
    for k in ["name", "description", "runs"] {
        if key(doc, k).is_none() {
            problems.push(format!("no `{k}`"));
        }
    }
    let inputs: BTreeSet<String> = key(doc, "inputs")
        .map(keys)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let runs = key(doc, "runs");
    if runs.and_then(|r| key(r, "using")).and_then(Yaml::as_str) != Some("composite") {
        problems.push("`runs.using` is not `composite`".into());
    }
    let Some(Yaml::Array(steps)) = runs.and_then(|r| key(r, "steps")) else {
        problems.push("`runs.steps` is missing".into());
        return problems;
    };
    let mut ids = BTreeSet::new();
    let check_refs = |at: &str, node: &Yaml, ids: &BTreeSet<String>, problems: &mut Vec<String>| {
        let mut texts = Vec::new();
        strings(node, &mut texts);
        for text in &texts {
            for expr in text
                .split("${{")
                .skip(1)
                .map(|e| e.split("}}").next().unwrap_or(""))
            {
                for (prefix, known) in [("inputs.", &inputs), ("steps.", ids)] {
                    for part in expr.split(prefix).skip(1) {
                        let name: String = part
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                            .collect();
                        if !known.contains(&name) {
                            problems.push(format!("{at}: `{prefix}{name}` is not defined"));
                        }
                    }
                }
            }
        }
    };
    for (i, step) in steps.iter().enumerate() {
        let at = format!("runs.steps[{i}]");
        for k in keys(step) {
            if !STEP_KEYS.contains(&k.as_str()) {
                problems.push(format!("{at}: unknown key `{k}`"));
            }
        }
        match (key(step, "uses"), key(step, "run")) {
            (Some(Yaml::String(u)), None) => {
                if !u.starts_with("./") && !u.contains('@') {
                    problems.push(format!("{at}: `{u}` is not pinned to a version"));
                }
            }
            (None, Some(Yaml::String(_))) => {
                if key(step, "shell").is_none() {
                    problems.push(format!(
                        "{at}: a `run` step of a composite action needs `shell`"
                    ));
                }
            }
            _ => problems.push(format!("{at}: needs exactly one of `uses` and `run`")),
        }
        check_refs(&at, step, &ids, &mut problems);
        if let Some(id) = key(step, "id").and_then(Yaml::as_str) {
            ids.insert(id.to_string());
        }
    }
    if let Some(outputs) = key(doc, "outputs") {
        check_refs("outputs", outputs, &ids, &mut problems);
    }
    problems
}

/// Every `with:` key a workflow passes to the action is one of its inputs.
#[test]
fn workflows_pass_the_action_only_inputs_it_has() {
    let inputs: BTreeSet<String> = key(&action(), "inputs")
        .map(keys)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut uses = 0;
    for file in workflow_files() {
        let doc = YamlLoader::load_from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap()
            .remove(0);
        let Some(Yaml::Hash(jobs)) = key(&doc, "jobs") else {
            continue;
        };
        for job in jobs.values() {
            let Some(Yaml::Array(steps)) = key(job, "steps") else {
                continue;
            };
            for step in steps {
                let Some(u) = key(step, "uses").and_then(Yaml::as_str) else {
                    continue;
                };
                if !u.contains(".github/actions/ffi-check") {
                    continue;
                }
                uses += 1;
                for k in key(step, "with").map(keys).unwrap_or_default() {
                    assert!(
                        inputs.contains(&k),
                        "{}: `{k}` is not an input of the action",
                        file.display()
                    );
                }
            }
        }
    }
    // The two examples and this repository's CI.
    assert_eq!(uses, 3);
}

#[test]
fn the_action_has_the_structure_github_requires() {
    let text = std::fs::read_to_string(action_path()).unwrap();
    assert_eq!(check_action(&text), Vec::<String>::new());
    for input in ["seeds", "args", "partition", "junit", "working-directory"] {
        assert!(
            key(&action(), "inputs")
                .and_then(|i| key(i, input))
                .is_some(),
            "{input}"
        );
    }
    // The checker itself catches what it is for.
    for (broken, says) in [
        (
            text.replace("inputs.seeds", "inputs.seed"),
            "`inputs.seed` is not defined",
        ),
        (
            text.replace("steps.prepare.outputs.key", "steps.prepared.outputs.key"),
            "`steps.prepared` is not defined",
        ),
        (text.replace("      shell: bash\n", ""), "needs `shell`"),
        (
            text.replace("actions/cache@v4", "actions/cache"),
            "not pinned",
        ),
        (
            text.replace("using: composite", "using: node20"),
            "not `composite`",
        ),
    ] {
        let problems = check_action(&broken).join("\n");
        assert!(
            problems.contains(says),
            "expected {says:?}, got: {problems}"
        );
    }
}

/// The `run` script of the action's step `id`.
fn step_script(id: &str) -> String {
    let doc = action();
    let Some(Yaml::Array(steps)) = key(&doc, "runs").and_then(|r| key(r, "steps")) else {
        panic!("no steps");
    };
    steps
        .iter()
        .find(|s| key(s, "id").and_then(Yaml::as_str) == Some(id))
        .and_then(|s| key(s, "run"))
        .and_then(Yaml::as_str)
        .unwrap_or_else(|| panic!("no run step {id}"))
        .to_string()
}

/// Runs `script` with bash in `dir`, with `env`; its status, output and
/// what it wrote to `$GITHUB_OUTPUT` as key=value pairs.
fn run_step(
    script: &str,
    dir: &Path,
    env: &[(&str, &str)],
) -> (i32, String, std::collections::BTreeMap<String, String>) {
    let output = dir.join("github-output");
    std::fs::write(&output, "").unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("GITHUB_OUTPUT", &output)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let outputs = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text, outputs)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("action-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_action_finds_the_tools_source_and_keys_the_cache_on_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let action_dir = repo.join(".github/actions/ffi-check");
    let dir = scratch("prepare");
    let script = step_script("prepare");
    let env = |partition: &'static str| {
        vec![
            (
                "GITHUB_ACTION_PATH",
                action_dir.to_str().unwrap().to_string(),
            ),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            ("PARTITION", partition.into()),
            ("ARTIFACT", "ffi-check-junit".into()),
        ]
    };
    let run = |env: &[(&str, String)]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_step(&script, &dir, &env)
    };
    let (code, text, first) = run(&env("hash:2/3"));
    assert_eq!(code, 0, "{text}");
    assert_eq!(first["source"], repo.to_str().unwrap());
    assert_eq!(first["artifact"], "ffi-check-junit-hash-2-3");
    let key = &first["key"];
    assert!(key.starts_with("cargo-ffi-check-Linux-X64-rustc_"), "{key}");
    // The same source and toolchain give the same key; no partition, the
    // plain artifact name.
    let (_, _, again) = run(&env(""));
    assert_eq!(&again["key"], key);
    assert_eq!(again["artifact"], "ffi-check-junit");
    // An action directory without the tool's source next to it is an error
    // that says so.
    let mut elsewhere = env("");
    elsewhere[0].1 = dir.join("a/b/c").to_str().unwrap().to_string();
    std::fs::create_dir_all(dir.join("a/b/c")).unwrap();
    let (code, text, _) = run(&elsewhere);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("::error title=cargo-ffi-check::"), "{text}");
}

#[test]
fn the_action_passes_its_inputs_to_the_tool_and_its_exit_status_on() {
    let dir = scratch("inputs");
    // A `cargo` that records its arguments, one per line, and exits with
    // $FAKE_STATUS.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("cargo");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ARGS_FILE\"\nexit \"$FAKE_STATUS\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let args_file = dir.join("args");
    let script = step_script("run");
    let run =
        |seeds: &str, args: &str, partition: &str, baseline: &str, junit: &str, status: &str| {
            let (code, text, outputs) = run_step(
                &script,
                &dir,
                &[
                    ("PATH", &path),
                    ("ARGS_FILE", args_file.to_str().unwrap()),
                    ("FAKE_STATUS", status),
                    ("SEEDS", seeds),
                    ("ARGS", args),
                    ("PARTITION", partition),
                    ("BASELINE", baseline),
                    ("JUNIT", junit),
                ],
            );
            let args = std::fs::read_to_string(&args_file).unwrap();
            (
                code,
                text,
                outputs,
                args.lines().map(String::from).collect::<Vec<_>>(),
            )
        };
    let (code, text, outputs, args) = run("0..16", "", "", "", "target/ffi-check/junit.xml", "0");
    assert_eq!(code, 0, "{text}");
    assert_eq!(outputs["exit-code"], "0");
    assert_eq!(
        args,
        [
            "ffi-check",
            "--seeds",
            "0..16",
            "--junit",
            "target/ffi-check/junit.xml"
        ]
    );
    // A partition, extra arguments split on whitespace, no JUnit; the
    // tool's status is the step's and the action's output.
    let (code, text, outputs, args) = run(
        "0,3",
        "-p my-sys  --features vendored",
        "hash:2/3",
        "",
        "",
        "100",
    );
    assert_eq!(code, 100, "{text}");
    assert_eq!(outputs["exit-code"], "100");
    assert_eq!(
        args,
        [
            "ffi-check",
            "--seeds",
            "0,3",
            "--partition",
            "hash:2/3",
            "-p",
            "my-sys",
            "--features",
            "vendored"
        ]
    );
    // A baseline.
    let (code, text, _, args) = run("0", "", "", "ffi-check-baseline.json", "", "0");
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        args,
        [
            "ffi-check",
            "--seeds",
            "0",
            "--baseline",
            "ffi-check-baseline.json"
        ]
    );
}

#[test]
fn the_actions_run_step_runs_the_real_tool_on_the_demo_and_reports_its_bug() {
    let dir = scratch("demo");
    let tool = Path::new(env!("CARGO_BIN_EXE_cargo-ffi-check"));
    let path = format!(
        "{}:{}",
        tool.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let junit = dir.join("junit.xml");
    let manifest = crate::support::fixtures().join("Cargo.toml");
    let target = crate::support::target_dir();
    let args = format!(
        "--manifest-path {} -p demo --target-dir {}",
        manifest.display(),
        target.display()
    );
    let summary = dir.join("summary.md");
    // The action's run step with these inputs for baseline and junit.
    let run = |baseline: &str, junit: &str| {
        run_step(
            &step_script("run"),
            &dir,
            &[
                ("PATH", &path),
                ("SEEDS", "0..2"),
                ("ARGS", &args),
                ("PARTITION", ""),
                ("BASELINE", baseline),
                ("JUNIT", junit),
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ],
        )
    };
    let (code, text, outputs) = run("", junit.to_str().unwrap());
    assert_eq!(code, 100, "{text}");
    assert_eq!(outputs["exit-code"], "100");
    // The annotation on the bug's line, the job summary and the report.
    assert!(text.contains("::error file="), "{text}");
    assert!(text.contains("null-dereference"), "{text}");
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(table.contains("null-dereference"), "{table}");
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(report.contains("<failure"), "{report}");
    // With a baseline that records the bug, the step passes and the
    // annotation is a warning.
    let status = std::process::Command::new(tool)
        .args(args.split(' '))
        .args(["--seeds", "0..2", "--write-baseline", "baseline.json"])
        .current_dir(&dir)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(100));
    let (code, text, outputs) = run("baseline.json", "");
    assert_eq!(code, 0, "{text}");
    assert_eq!(outputs["exit-code"], "0");
    assert!(text.contains("::warning file="), "{text}");
    assert!(!text.contains("::error"), "{text}");
}

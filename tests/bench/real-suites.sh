#!/usr/bin/env bash
# Real crates' test suites from crates.io, natively (`cargo nextest run`)
# against `cargo ffi-check`: how many natively passing tests ffi-check also
# passes under every seed (the rest are false verdicts: a failure, finding,
# hang or timeout the native run does not show), and the wall time of a
# one-seed ffi-check run over nextest's, build excluded (both are built
# first; each timed run still does cargo's no-op freshness check).
#
#   tests/bench/real-suites.sh                     # every crate below
#   tests/bench/real-suites.sh verdicts            # a group
#   tests/bench/real-suites.sh wait-timeout mio    # some crates
#   SEEDS=0..4 ROUNDS=3 tests/bench/real-suites.sh crossbeam-channel
#
# Arguments are group names (verdicts, ffi, schedule) and crate names; none
# means every crate. SEEDS (default 0..4) are the seeds of the verdict run;
# ROUNDS (default 1) alternates the two timed runs (nextest, ffi-check with
# one seed) that many times and reports medians. TIMEOUT (for example 300s)
# is ffi-check's --timeout per test (default its own, 60 s): some tests that
# take seconds natively are ten times slower under the supervisor and time
# out (crossbeam-channel's linearizable_* in select.rs: 6 s natively).
#
# Each crate's published source is fetched through cargo (crates.io,
# dev-dependencies as usual) into a scratch directory outside the
# repository, REAL_SUITES_DIR (default /tmp/ffi-check-real-suites):
# src/NAME-VERSION (made its own workspace, reused by later runs), target/
# (shared by every crate) and results/NAME/ (build logs, nextest's output and
# JUnit, ffi-check's JSON lines of the verdict run, summary.json). The
# tests' temporary files go to REAL_SUITES_TMP (below). A crate
# whose build fails is a `build failed` row naming its log; the next crate
# goes on.
#
# Prints a Markdown table, one row per crate, then per crate the false
# verdicts (status and finding kinds with their seeds), the tests that fail
# natively (counted in neither column), and tests only one side listed.
# Tests are joined by (binary id, test name): nextest's JUnit classname and
# ffi-check's `binary_id` are both nextest-style (`pkg`, `pkg::integration`,
# `pkg::bin/name`). A false verdict is not always the tool's mistake: it is
# any verdict other than a clean pass on a test that passes natively (a real
# memory bug that is silent natively counts too; read the finding).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=${REAL_SUITES_DIR:-/tmp/ffi-check-real-suites}
seeds=${SEEDS:-0..4}
rounds=${ROUNDS:-1}
target="$scratch/target"
# Both sides' temporary files (TMPDIR) go to a directory of their own on
# /dev/shm where there is one (REAL_SUITES_TMP overrides it): on ext4
# without a journal, as here, creating a file costs more the more files
# were deleted in the last seconds, so a file-heavy suite's time depended
# on what ran just before it (git2's natively: 0.6 s to 3 s).
tmp=${REAL_SUITES_TMP:-}
[[ -n $tmp || ! -d /dev/shm ]] || tmp=/dev/shm/ffi-check-real-suites-tmp
if [[ -n $tmp ]]; then
  mkdir -p "$tmp"
  export TMPDIR=$tmp
fi
timeout=()
[[ -z ${TIMEOUT:-} ]] || timeout=(--timeout "$TIMEOUT")

# group|crate|version|cargo arguments (features)|environment (VAR=value;...)
suites=(
  "verdicts|duct|1.1.2||"
  "verdicts|shared_child|1.1.2||"
  "verdicts|subprocess|1.2.3||"
  # Its tests use a lint that has since become an error on deny(warnings).
  "verdicts|wait-timeout|0.2.1||RUSTFLAGS=--cap-lints warn"
  "verdicts|signal-hook|0.3.18||"
  # The published package has no tests/ (Cargo.toml's include list): only
  # the unit tests in src/ run.
  "verdicts|mio|1.2.5|--all-features|"
  # Sockets, signals, processes and ptrace: tests that bind fixed ports
  # (sys::test_socket::test_timestamping, 6797) and paths collide if two
  # seeds of one test run at once.
  "verdicts|nix|0.31.3|--all-features|"
  # ffi versions without a required version: the newest that builds and
  # passes natively here (Rust 1.95), as of this script. bzip2 0.6 defaults to
  # libbz2-rs-sys (a Rust port); its bzip2-sys feature is the C libbzip2.
  "ffi|bzip2|0.6.1|--no-default-features --features bzip2-sys|"
  # zlib: the C zlib of libz-sys (it takes precedence over the Rust backend).
  "ffi|flate2|1.1.11|--features zlib|"
  "ffi|zstd-safe|8.3.0||"
  # 0.41 and later use std::assert_matches! in their tests, unstable in 1.95.
  "ffi|rusqlite|0.40.0|--features bundled|"
  # The published package excludes tests/ (its Cargo.toml): unit tests only.
  "ffi|secp256k1|0.33.1|--features rand,recovery,serde|"
  "ffi|git2|0.21.0|--features vendored-libgit2|"
  # An embedded interpreter (Lua 5.4, vendored): thousands of allocations
  # at start-up, then the test's own.
  "ffi|mlua|0.12.2|--features lua54,vendored|"
  "schedule|crossbeam-channel|0.5.17||"
)

want=("$@")
selected() { # group crate
  local w
  ((${#want[@]} == 0)) && return 0
  for w in "${want[@]}"; do [[ $w == "$1" || $w == "$2" ]] && return 0; done
  return 1
}
for w in "${want[@]}"; do
  known=0
  for s in "${suites[@]}"; do
    IFS='|' read -r g c _ <<<"$s"
    [[ $w == "$g" || $w == "$c" ]] && known=1
  done
  ((known)) || { echo "unknown group or crate: $w" >&2; exit 2; }
done

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
mkdir -p "$scratch/src" "$scratch/fetch" "$scratch/results" "$target"

# nextest's JUnit report, through a tool configuration file so the crate's
# own .config/nextest.toml (if any) still wins. It lands in nextest's store,
# target/nextest/default/ under the crate's workspace root (not --target-dir);
# without it (a crate whose configuration moves it), nextest's status lines
# on stderr are parsed instead.
nextest_conf="$scratch/nextest-tool.toml"
printf '[profile.default.junit]\npath = "junit.xml"\n' >"$nextest_conf"

# The crate's published source, once (tests/bench/lib/fetch-crate.sh).
source "$root/tests/bench/lib/fetch-crate.sh"
fetch() { fetch_crate "$1" "$2" "$scratch"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_ms=0 t_rc=0
timed() { # stdout-file stderr-file command...: sets t_ms, t_rc
  local out=$1 err=$2 s e
  shift 2
  s=$(date +%s%N)
  t_rc=0
  "$@" >"$out" 2>"$err" || t_rc=$?
  e=$(date +%s%N)
  t_ms=$(((e - s) / 1000000))
}
note() { printf '%s\n' "$*" >&2; }
environment=()
run() { env "${environment[@]}" "$@"; } # the crate's environment
failed_summary() { # results-dir crate version args message
  python3 - "$@" <<'EOF'
import json, sys
out, name, version, args, message = sys.argv[1:]
json.dump({"crate": name, "version": version, "args": args, "error": message},
          open(out + "/summary.json", "w"))
EOF
}

ran=()
for s in "${suites[@]}"; do
  IFS='|' read -r group name version args envs <<<"$s"
  selected "$group" "$name" || continue
  ran+=("$name")
  res="$scratch/results/$name"
  rm -rf "$res"
  mkdir -p "$res"
  read -ra flags <<<"$args"
  IFS=';' read -ra environment <<<"$envs"
  note "== $name $version $args ${envs:+($envs)}"
  if ! src=$(fetch "$name" "$version" 2>"$res/fetch.log"); then
    failed_summary "$res" "$name" "$version" "$args" "fetch failed: $res/fetch.log"
    continue
  fi
  common=(--manifest-path "$src/Cargo.toml" --target-dir "$target" "${flags[@]}")

  # Build everything first, for both. A published Cargo.lock can pin a
  # version the index no longer offers (rusqlite 0.43.0's jiff 0.2.45): then
  # it is updated (`cargo update`, every dependency to its newest compatible
  # version) and the build tried once more.
  build() { run cargo nextest run "${common[@]}" --no-run >>"$res/build-nextest.log" 2>&1; }
  if ! build && ! { grep -q 'failed to select a version' "$res/build-nextest.log" &&
    echo "== cargo update" >>"$res/build-nextest.log" &&
    cargo update --manifest-path "$src/Cargo.toml" >>"$res/build-nextest.log" 2>&1 && build; }; then
    failed_summary "$res" "$name" "$version" "$args" "build failed: $res/build-nextest.log"
    continue
  fi
  rc=0
  run "$ffi" ffi-check "${common[@]}" --list >"$res/ffi-list.txt" 2>"$res/build-ffi-check.log" || rc=$?
  if ((rc != 0)); then
    failed_summary "$res" "$name" "$version" "$args" "ffi-check --list exit $rc: $res/build-ffi-check.log"
    continue
  fi

  # Timed runs, alternating; the first nextest run's results are the native
  # verdicts.
  native_ms=() ffi_ms=() bad=""
  for ((i = 1; i <= rounds; i++)); do
    junits=("$src/target/nextest/default/junit.xml" "$target/nextest/default/junit.xml")
    rm -f "${junits[@]}"
    timed "$res/nextest-$i.stdout" "$res/nextest-$i.stderr" \
      run cargo nextest run "${common[@]}" --no-fail-fast --tool-config-file "real-suites:$nextest_conf"
    native_ms+=("$t_ms")
    for j in "${junits[@]}"; do [[ -f $j ]] && cp "$j" "$res/junit-$i.xml" && break; done
    ((t_rc == 0 || t_rc == 100)) || bad="nextest exit $t_rc: $res/nextest-$i.stderr"
    timed /dev/null /dev/null run "$ffi" ffi-check "${common[@]}" "${timeout[@]}" --seeds 0
    ffi_ms+=("$t_ms")
    ((t_rc == 0 || t_rc == 100)) || bad="ffi-check (timing run) exit $t_rc"
    [[ -z $bad ]] || break
  done
  if [[ -n $bad ]]; then
    failed_summary "$res" "$name" "$version" "$args" "$bad"
    continue
  fi

  # The verdict run: every seed, JSON events.
  rc=0
  run "$ffi" ffi-check "${common[@]}" "${timeout[@]}" --message-format json --seeds "$seeds" \
    >"$res/ffi-check.jsonl" 2>"$res/ffi-check.stderr" || rc=$?
  if ((rc != 0 && rc != 100)); then
    failed_summary "$res" "$name" "$version" "$args" "ffi-check exit $rc: $res/ffi-check.stderr"
    continue
  fi

  if ! python3 - "$res" "$name" "$version" "$args" \
    "$(printf '%s\n' "${native_ms[@]}" | median)" "$(printf '%s\n' "${ffi_ms[@]}" | median)" \
    "${native_ms[*]}" "${ffi_ms[*]}" <<'EOF' 2>"$res/analysis.log"
# Joins the native results (JUnit, else nextest's status lines) with the
# ffi-check events by (binary id, test name) and writes summary.json.
import json, os, re, sys
import xml.etree.ElementTree as ET

res, name, version, args, native_ms, ffi_ms, native_runs, ffi_runs = sys.argv[1:]

native = {}  # (binary, test) -> "PASS" | "FAIL"
junit = os.path.join(res, "junit-1.xml")
if os.path.exists(junit):
    for case in ET.parse(junit).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if "skipped" in tags:
            continue
        verdict = "FAIL" if tags & {"failure", "error"} else "PASS"
        native[(case.get("classname"), case.get("name"))] = verdict
else:
    # `        PASS [   0.004s] (  1/ 10) duct tests::test_foo`; the counter
    # is absent in older nextest, retries print `TRY 2 PASS`; the last wins.
    line_re = re.compile(
        r"^\s*(?:TRY \d+ )?([A-Z][A-Z-]*)\s+\[\s*[\d.]+s\]\s+(?:\(\s*\d+/\s*\d+\)\s+)?(\S+)\s+(.+?)\s*$")
    with open(os.path.join(res, "nextest-1.stderr"), errors="replace") as f:
        for line in f:
            m = line_re.match(re.sub(r"\x1b\[[0-9;]*m", "", line))
            if not m or m.group(1) in ("START", "SLOW", "RETRY", "SETUP"):
                continue
            status = m.group(1)
            native[(m.group(2), m.group(3))] = "PASS" if status in ("PASS", "LEAK") else "FAIL"

seeds = []
ffi = {}  # (binary, test) -> {seed: (status, (finding kinds...))}
with open(os.path.join(res, "ffi-check.jsonl"), errors="replace") as f:
    for line in f:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if event.get("type") == "run-started":
            seeds = event.get("seeds", [])
        elif event.get("type") == "test-finished":
            kinds = tuple(sorted({x.get("kind", "?") for x in event.get("findings") or []}))
            ffi.setdefault((event["binary_id"], event["test"]), {})[event["seed"]] = (event["status"], kinds)
listed = set()
with open(os.path.join(res, "ffi-list.txt"), errors="replace") as f:
    for line in f:
        parts = line.rstrip("\n").split(" ", 1)
        if len(parts) == 2:
            listed.add(tuple(parts))

def seed_list(xs):
    xs = sorted(xs)
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)

def outcomes(runs):
    """'failed [test-failure] on seeds 1,3; passed on seeds 0,2'"""
    by = {}
    for seed, (status, kinds) in runs.items():
        by.setdefault((status, kinds), []).append(seed)
    parts = []
    for (status, kinds), ss in sorted(by.items(), key=lambda kv: min(kv[1])):
        word = status + (f" [{', '.join(kinds)}]" if kinds else "")
        parts.append(f"{word} on seed{'s' if len(ss) > 1 else ''} {seed_list(ss)}")
    missing = [s for s in seeds if s not in runs]
    if missing:
        parts.append(f"not run on seed{'s' if len(missing) > 1 else ''} {seed_list(missing)}")
    return "; ".join(parts)

def clean(runs):
    return all(s in runs and runs[s] == ("passed", ()) for s in seeds)

keys = sorted(set(native) | set(ffi) | listed)
native_pass = [k for k in keys if native.get(k) == "PASS"]
false_verdicts = [(k, outcomes(ffi[k])) for k in native_pass if k in ffi and not clean(ffi[k])]
summary = {
    "crate": name, "version": version, "args": args,
    "tests": len(keys),
    "native_pass": len(native_pass),
    "ffi_pass": sum(1 for k in native_pass if k in ffi and clean(ffi[k])),
    "false_verdicts": [f"{b} {t}: {o}" for (b, t), o in false_verdicts],
    "native_failures": [f"{b} {t}" + (f" (ffi-check: {outcomes(ffi[(b, t)])})" if (b, t) in ffi else "")
                        for (b, t) in keys if native.get((b, t)) == "FAIL"],
    "only_native": [f"{b} {t}" for (b, t) in keys if (b, t) in native and (b, t) not in ffi],
    "only_ffi": [f"{b} {t}: {outcomes(ffi[(b, t)]) if (b, t) in ffi else 'listed, not run'}"
                 for (b, t) in keys if (b, t) not in native],
    "native_source": "junit" if os.path.exists(junit) else "stderr",
    "seeds": seeds,
    "nextest_ms": int(native_ms), "ffi_ms": int(ffi_ms),
    "nextest_runs": native_runs, "ffi_runs": ffi_runs,
}
json.dump(summary, open(os.path.join(res, "summary.json"), "w"), indent=1)
EOF
  then
    failed_summary "$res" "$name" "$version" "$args" "analysis failed: $res/analysis.log"
  fi
done

python3 - "$scratch/results" "$seeds" "$rounds" "${ran[@]}" <<'EOF'
import json, os, sys
results, seeds, rounds, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [json.load(open(os.path.join(results, n, "summary.json"))) for n in names]
print(f"seeds {seeds} (verdicts), 1 seed (timing), rounds {rounds}, jobs {os.cpu_count()}")
print()
print("| crate | tests | native pass | ffi-check pass | false verdicts | nextest s | ffi-check s (1 seed) | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    crate = f"{r['crate']} {r['version']}" + (f" `{r['args']}`" if r["args"] else "")
    if "error" in r:
        print(f"| {crate} | {r['error']} | | | | | | |")
        continue
    n, f = r["nextest_ms"] / 1000, r["ffi_ms"] / 1000
    print(f"| {crate} | {r['tests']} | {r['native_pass']} | {r['ffi_pass']} | {len(r['false_verdicts'])} "
          f"| {n:.2f} | {f:.2f} | {f / n if n else float('nan'):.2f} |")
for r in rows:
    if "error" in r:
        continue
    lists = [("false verdicts", r["false_verdicts"]),
             ("failed natively (in neither count)", r["native_failures"]),
             ("only nextest ran", r["only_native"]),
             ("only ffi-check listed", r["only_ffi"])]
    if not any(items for _, items in lists) and rounds == "1":
        continue
    print()
    print(f"### {r['crate']} {r['version']}")
    if rounds != "1":
        print(f"\nruns (ms): nextest {r['nextest_runs']}; ffi-check {r['ffi_runs']}")
    for title, items in lists:
        if items:
            print(f"\n{title}:")
            for item in items:
                print(f"- {item}")
print()
print(f"raw output: {results}/CRATE/")
EOF

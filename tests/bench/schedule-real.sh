#!/usr/bin/env bash
# The seeded schedule's cost on a real futex-heavy suite, side by side in
# one run, build excluded: crossbeam-channel 0.5.17 (258 tests, channels
# between threads with short sleeps), fetched from crates.io, three ways,
# ROUNDS (default 1) alternating rounds, medians:
#
#   cargo nextest run
#   cargo ffi-check --no-schedule          (one seed)
#   cargo ffi-check                        (one seed, the default schedule)
#
# then, from the JSON of the last schedule run: jobs that did not pass,
# the schedule's held time in all and per test (largest), and the tests
# whose time under the schedule exceeds their time without it by more than
# their budget allows (10 ms + 25 % of their own time, at most 2 s) plus
# SLACK_MS (default 1000 ms of noise on a loaded 2-core machine).
#
#   tests/bench/schedule-real.sh
#   ROUNDS=3 CRATE=crossbeam-channel VERSION=0.5.17 tests/bench/schedule-real.sh
#
# Scratch (source, target, results): REAL_SUITES_DIR (default
# /tmp/ffi-check-real-suites), shared with real-suites.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=${REAL_SUITES_DIR:-/tmp/ffi-check-real-suites}
rounds=${ROUNDS:-1}
crate=${CRATE:-crossbeam-channel}
version=${VERSION:-0.5.17}
slack=${SLACK_MS:-1000}
target="$scratch/target"
res="$scratch/results/schedule-$crate"
source "$root/tests/bench/lib/fetch-crate.sh"

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
mkdir -p "$res" "$target"
src=$(fetch_crate "$crate" "$version" "$scratch")
common=(--manifest-path "$src/Cargo.toml" --target-dir "$target")
cargo nextest run "${common[@]}" --no-run >"$res/build.log" 2>&1
"$ffi" ffi-check "${common[@]}" --list >/dev/null 2>>"$res/build.log"

ms() { # out command...: wall milliseconds
  local out=$1 s e
  shift
  s=$(date +%s%N)
  "$@" >"$out" 2>"$out.stderr" || true
  e=$(date +%s%N)
  echo $(((e - s) / 1000000))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

native=() off=() on=()
for ((i = 1; i <= rounds; i++)); do
  native+=("$(ms "$res/nextest-$i.txt" cargo nextest run "${common[@]}" --no-fail-fast)")
  off+=("$(ms "$res/off-$i.jsonl" "$ffi" ffi-check "${common[@]}" --no-schedule --message-format json)")
  on+=("$(ms "$res/on-$i.jsonl" "$ffi" ffi-check "${common[@]}" --message-format json)")
done
a=$(printf '%s\n' "${native[@]}" | median)
b=$(printf '%s\n' "${off[@]}" | median)
c=$(printf '%s\n' "${on[@]}" | median)
echo "$crate $version: rounds=$rounds jobs=$(nproc)"
echo "nextest_ms=$a (runs: ${native[*]})"
echo "ffi_check_no_schedule_ms=$b (runs: ${off[*]})"
echo "ffi_check_schedule_ms=$c (runs: ${on[*]})"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
  printf "schedule_over_no_schedule=%.2f\n", c / b
  printf "schedule_over_nextest=%.2f no_schedule_over_nextest=%.2f\n", c / a, b / a
}'
python3 - "$res/off-$rounds.jsonl" "$res/on-$rounds.jsonl" "$slack" <<'EOF'
import json, sys
off_path, on_path, slack = sys.argv[1], sys.argv[2], int(sys.argv[3])
def jobs(path):
    out = {}
    for line in open(path, errors="replace"):
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("type") == "test-finished":
                out[(e["binary_id"], e["test"])] = e
    return out
off, on = jobs(off_path), jobs(on_path)
for label, run in (("no schedule", off), ("schedule", on)):
    bad = sorted(f"{t[1]} ({e['status']})" for t, e in run.items() if e["status"] != "passed")
    print(f"{label}: {len(run)} jobs, {len(bad)} not passed" + (": " + ", ".join(bad) if bad else ""))
held = sorted(((e["schedule_held_ms"], t[1]) for t, e in on.items()), reverse=True)
print(f"schedule held in all: {sum(h for h, _ in held)} ms; largest: " +
      ", ".join(f"{t} {h} ms" for h, t in held[:5]))
over = []
for t, e in on.items():
    if t not in off:
        continue
    own = max(off[t]["duration_ms"], 1)
    allowed = min(10 + own // 4, 2000) + slack
    extra = e["duration_ms"] - off[t]["duration_ms"]
    if extra > allowed:
        over.append(f"{t[1]}: {off[t]['duration_ms']} -> {e['duration_ms']} ms (held {e['schedule_held_ms']})")
print(f"tests over their budget + {slack} ms: {len(over)}" + ("".join("\n  " + o for o in over)))
EOF

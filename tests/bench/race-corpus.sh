#!/usr/bin/env bash
# How well the seeded schedule exposes the ordering races of
# tests/fixtures/race-corpus (each race test NAME has a correct twin
# NAME_fixed of the same shape; see tests/fixtures/README.md), measured three
# ways for every test:
#
#   1. natively: the test binary run directly with `--exact tests::NAME -q`,
#      NATIVE times (default 500), each under `timeout 5`; a run that fails,
#      or hits the limit (a hang), counts;
#   2. seeds exposing: one run of `cargo ffi-check --seeds 0..SEEDS` (default
#      64) on the test; a seed exposes it when its `test-finished` status is
#      anything but `passed` (failed, findings, hung, timed-out: the column
#      says which, with how many seeds each);
#   3. reproduced: for each of the first 3 exposing seeds, RERUNS (default 5)
#      runs of `--seeds N`; counts how many expose it again.
#
# Prints a Markdown table: test | native fails / N | seeds exposing / S |
# reproduced / reruns. A race should fail natively at most once in 500 runs
# (except notify_then_publish and log_file_in_spawn_order, which fail in
# a large share on purpose), its twin never, and a twin should pass under
# every seed.
#
#   tests/bench/race-corpus.sh                       # every race and twin
#   tests/bench/race-corpus.sh pipe_spawn_order      # a race and its twin
#   tests/bench/race-corpus.sh pipe_spawn_order_fixed  # the twin alone
#   NATIVE=100 SEEDS=8 RERUNS=2 tests/bench/race-corpus.sh fork_while_locked
#   NATIVE=0 tests/bench/race-corpus.sh              # skip the native runs
#   SEEDS=0 tests/bench/race-corpus.sh               # native runs only
#
# A NAME without the `_fixed` suffix selects the race and its twin; PAIRS=0
# selects exactly the names given. Builds into target/bench-fixtures (or
# TARGET_DIR). FFI_CHECK_BIN=PATH measures another build of the tool (an
# earlier revision's, for a before/after table) instead of this tree's.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native=${NATIVE:-500}
seeds=${SEEDS:-64}
reruns=${RERUNS:-5}
pairs=${PAIRS:-1}
target=${TARGET_DIR:-"$root/target/bench-fixtures"}
manifest="$root/tests/fixtures/Cargo.toml"

ffi=${FFI_CHECK_BIN:-}
if [[ -z $ffi ]]; then
  if ((seeds > 0)); then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
  fi
  ffi="$root/target/release/cargo-ffi-check"
fi
common=(--manifest-path "$manifest" -p race-corpus --target-dir "$target" --message-format json)
bin=$(cargo test --manifest-path "$manifest" -p race-corpus --target-dir "$target" --no-run \
  --message-format json 2>/dev/null | grep '"executable":"/' | sed 's/.*"executable":"\([^"]*\)".*/\1/' | head -1)
echo "test binary: $bin" >&2
mapfile -t all < <("$bin" --list 2>/dev/null | sed -n 's/^tests::\(.*\): test$/\1/p')

tests=()
if (($# == 0)); then
  tests=("${all[@]}")
else
  for name in "$@"; do
    name=${name#tests::}
    if ! printf '%s\n' "${all[@]}" | grep -qx "$name"; then
      echo "no test tests::$name in race-corpus" >&2
      exit 2
    fi
    tests+=("$name")
    if ((pairs)) && [[ $name != *_fixed ]] && printf '%s\n' "${all[@]}" | grep -qx "${name}_fixed"; then
      tests+=("${name}_fixed")
    fi
  done
fi

# The seeds of one ffi-check run's JSON lines whose status is not passed,
# as "seed status" lines.
exposing() {
  grep '"type":"test-finished"' | grep -v '"status":"passed"' |
    sed -n 's/.*"seed":\([0-9]*\).*"status":"\([a-z-]*\)".*/\1 \2/p; t; s/.*"status":"\([a-z-]*\)".*"seed":\([0-9]*\).*/\2 \1/p' |
    sort -n -u || true
}

rows=()
for t in "${tests[@]}"; do
  native_col="-"
  if ((native > 0)); then
    fails=0
    for ((i = 0; i < native; i++)); do
      if ! timeout 5 "$bin" --exact "tests::$t" -q >/dev/null 2>&1; then
        fails=$((fails + 1))
      fi
    done
    native_col="$fails / $native"
    echo "$t: natively failed $fails of $native runs" >&2
  fi

  seeds_col="-" repro_col="-"
  if ((seeds > 0)); then
    # Exit status 100 (a finding) or 101 (a failed test) is an expected result.
    out=$("$ffi" "${common[@]}" --seeds "0..$seeds" --exact "tests::$t" 2>/dev/null || true)
    finished=$(grep -c '"type":"test-finished"' <<<"$out" || true)
    exposed=$(exposing <<<"$out")
    count=0 statuses=""
    if [[ -n "$exposed" ]]; then
      count=$(wc -l <<<"$exposed")
      statuses=$(awk '{print $2}' <<<"$exposed" | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}')
    fi
    seeds_col="$count / $seeds"
    [[ -n "$statuses" ]] && seeds_col+=" ($statuses)"
    ((finished == seeds)) || seeds_col+=" [only $finished finished]"
    echo "$t: seeds exposing (seed:status): ${exposed:+$(awk '{printf "%s:%s ", $1, $2}' <<<"$exposed")}${exposed:-none}" >&2

    if [[ -n "$exposed" ]]; then
      again_total=0 tried=0 per_seed=()
      for s in $(awk '{print $1}' <<<"$exposed" | head -3); do
        again=0
        for ((i = 0; i < reruns; i++)); do
          rerun=$("$ffi" "${common[@]}" --seeds "$s" --exact "tests::$t" 2>/dev/null || true)
          [[ -n "$(exposing <<<"$rerun")" ]] && again=$((again + 1))
        done
        echo "$t: seed $s exposed it again in $again of $reruns reruns" >&2
        again_total=$((again_total + again)) tried=$((tried + reruns))
        per_seed+=("seed $s: $again")
      done
      repro_col="$again_total / $tried ($(
        IFS=,
        echo "${per_seed[*]}" | sed 's/,/, /g'
      ))"
    fi
  fi
  rows+=("| \`$t\` | $native_col | $seeds_col | $repro_col |")
done

echo
echo "| test | native fails / N | seeds exposing / S | reproduced / reruns |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"

#!/usr/bin/env bash
# Adopting cargo ffi-check on a real suite with true findings in someone
# else's code, as README's "Adopting on an existing suite" walks through:
# git2 0.21.0 (vendored libgit2), whose own suite has leaks inside libgit2
# and a use-after-free (all confirmed by Valgrind; see real-suites.sh).
#
#   tests/bench/adopt.sh              # seeds 0 (SEEDS=0..4 for more)
#
# Prints each step's command, exit status and what the tool said; ends with
# "adopt: all steps held" when each step behaved as the README says:
#   1. a plain run fails (100) with leak findings;
#   2. --leaks report: no leak fails; what is left is the non-leak findings;
#   3. --gen-suppressions FILE, then the same run with FILE as configuration
#      exits 0 (the test that fails natively, merge::tests::smoke_merge_file,
#      is skipped: no suppression hides a failing test);
#   4. --write-baseline FILE, then --baseline FILE exits 0 (the natively
#      failing test included: the baseline knows its failure), and
#      generating suppressions again adds nothing.
# The crate's source and build go to REAL_SUITES_DIR (default
# /tmp/ffi-check-real-suites), shared with real-suites.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=${REAL_SUITES_DIR:-/tmp/ffi-check-real-suites}
seeds=${SEEDS:-0}
source "$root/tests/bench/lib/fetch-crate.sh"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
dir=$(fetch_crate git2 0.21.0 "$scratch")
work="$scratch/adopt"
rm -rf "$work"
mkdir -p "$work"
export CARGO_TARGET_DIR="$scratch/target"
args=(--manifest-path "$dir/Cargo.toml" --features vendored-libgit2 --seeds "$seeds" --message-format json)
failing_natively=merge::tests::smoke_merge_file
status=0 ok=1

step() { # name expected-status command...: runs it, keeps its JSON lines and stderr
  local name=$1 want=$2
  shift 2
  echo "== $name: ${*}" >&2
  status=0
  env -u FFI_CHECK_CONFIG "$@" >"$work/$name.jsonl" 2>"$work/$name.stderr" || status=$?
  summary "$work/$name.jsonl"
  grep -E '^ +(Wrote|Baseline) ' "$work/$name.stderr" >&2 || true
  echo "   exit $status (expected $want)" >&2
  [[ $status == "$want" ]] || ok=0
}
summary() { # jsonl: the distinct findings by kind, and the run's counts
  python3 - "$1" <<'EOF' >&2
import collections, json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
kinds = collections.Counter(e["kind"] for e in events if e["type"] == "finding")
marks = collections.Counter(e.get("baseline", "-") for e in events if e["type"] == "finding")
end = next(e for e in events if e["type"] == "run-finished")
print("   distinct findings:", dict(kinds) or "none", "| baseline marks:", dict(marks))
print("   jobs: %(passed)d passed, %(failed)d failed, %(with_findings)d with findings, "
      "%(known)d known; %(suppressed)d suppressed, %(reported)d leaks reported" % end)
EOF
}
distinct_kinds() { # jsonl -> the kinds of its distinct findings, sorted, one per line
  python3 -c 'import json,sys; print("\n".join(sorted({e["kind"] for e in map(json.loads, (l for l in open(sys.argv[1]) if l.startswith("{"))) if e["type"] == "finding"})))' "$1"
}

step plain 100 "$ffi" ffi-check "${args[@]}"
distinct_kinds "$work/plain.jsonl" | grep -qx leak || { echo "   no leak found" >&2; ok=0; }

step leaks-report 100 "$ffi" ffi-check "${args[@]}" --leaks report
if distinct_kinds "$work/leaks-report.jsonl" | grep -qx leak; then
  echo "   a leak still counts as a finding" >&2
  ok=0
fi

config="$work/ffi-check.toml"
step gen 100 "$ffi" ffi-check "${args[@]}" --skip "$failing_natively" --gen-suppressions "$config"
echo "   $(grep -c '^\[\[suppress\]\]' "$config") entries, frames: $(grep '^frame\|^module' "$config" | tr '\n' ' ')" >&2
step suppressed 0 env FFI_CHECK_CONFIG="$config" "$ffi" ffi-check "${args[@]}" --skip "$failing_natively"
before=$(cat "$config")
step gen-again 0 env FFI_CHECK_CONFIG="$config" "$ffi" ffi-check "${args[@]}" --skip "$failing_natively" --gen-suppressions "$config"
[[ $(cat "$config") == "$before" ]] || { echo "   the second --gen-suppressions changed the file" >&2; ok=0; }

baseline="$work/ffi-check-baseline.json"
step write-baseline 100 "$ffi" ffi-check "${args[@]}" --write-baseline "$baseline"
step baseline 0 "$ffi" ffi-check "${args[@]}" --baseline "$baseline"

((ok)) && echo "adopt: all steps held" || { echo "adopt: a step did not hold (see $work)"; exit 1; }

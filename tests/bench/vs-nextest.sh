#!/usr/bin/env bash
# Wall time of `cargo ffi-check` against `cargo nextest run` on the same suite
# (tests/fixtures/bench-suite: 200 small tests, some calling C), side by side
# in one run, build excluded (both are built first; each timed run still does
# cargo's no-op freshness check, as a user's run would).
#
#   tests/bench/vs-nextest.sh            # 7 alternating rounds
#   ROUNDS=15 tests/bench/vs-nextest.sh
#
# Prints the median of each, their ratio and the per-test overhead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-7}
target="$root/target/bench-fixtures"
manifest="$root/tests/fixtures/Cargo.toml"

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
common=(--manifest-path "$manifest" -p bench-suite --target-dir "$target")

cargo nextest run "${common[@]}" --no-run >/dev/null 2>&1
tests=$("$ffi" "${common[@]}" --list 2>/dev/null | wc -l)

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

nextest=() ffi_check=()
for ((i = 0; i < rounds; i++)); do
  nextest+=("$(ms cargo nextest run "${common[@]}" --no-fail-fast)")
  ffi_check+=("$(ms "$ffi" "${common[@]}")")
done
n=$(printf '%s\n' "${nextest[@]}" | median)
f=$(printf '%s\n' "${ffi_check[@]}" | median)
echo "tests=$tests rounds=$rounds jobs=$(nproc)"
echo "nextest_ms=$n (runs: ${nextest[*]})"
echo "ffi_check_ms=$f (runs: ${ffi_check[*]})"
awk -v n="$n" -v f="$f" -v t="$tests" -v j="$(nproc)" 'BEGIN {
  printf "ratio=%.2f\n", f / n
  printf "overhead_per_test_ms=%.2f (wall time over nextest, at -j%d)\n", (f - n) / t, j
}'

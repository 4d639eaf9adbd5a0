#!/usr/bin/env bash
# Faults handled per second in keep-going mode by one supervisor, next to the
# ptrace floor of this machine (../shared/bench/ptrace-floor.c), in one run.
#
#   tests/bench/faults.sh            # 200000 faults
#   FAULTS=500000 tests/bench/faults.sh
#
# The fixture test heap-bugs tests::many_faults reads one byte past a 64-byte
# Vec FFI_FAULTS times; each read faults on the guard page and is performed by
# the supervisor. The rate is (N - 1000) / (t(N) - t(1000)), which takes out
# process start-up and the first fault's analysis (symbolization).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${FAULTS:-200000}
floor_src="$root/../shared/bench/ptrace-floor.c"
target="$root/target/bench-fixtures"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
cc -O2 -o "$root/target/ptrace-floor" "$floor_src"

args=(--manifest-path "$root/tests/fixtures/Cargo.toml" -p heap-bugs --target-dir "$target"
  --guard-side after --include-ignored --exact tests::many_faults --message-format json)
"$ffi" "${args[@]}" >/dev/null 2>&1 || true # build

run() { # prints wall ms and the finding's occurrences
  local s e occ
  s=$(date +%s%N)
  occ=$(FFI_FAULTS=$1 "$ffi" "${args[@]}" 2>/dev/null | grep '"type":"test-finished"' | grep -o '"occurrences":[0-9]*' | cut -d: -f2 || true)
  e=$(date +%s%N)
  echo "$(((e - s) / 1000000)) ${occ:-0}"
}

read -r t1 o1 < <(run 1000)
read -r t2 o2 < <(run "$n")
floor=$("$root/target/ptrace-floor" "$n" | tee /dev/stderr | awk -F= '/floor_faults_per_s/ {print $2}' || true)
echo "ffi_check: $o1 faults in ${t1} ms, $o2 faults in ${t2} ms"
awk -v n1="$o1" -v n2="$o2" -v t1="$t1" -v t2="$t2" -v floor="$floor" 'BEGIN {
  rate = (n2 - n1) / ((t2 - t1) / 1000)
  printf "ffi_check_faults_per_s=%.0f\nfloor_faults_per_s=%.0f\nratio_to_floor=%.2f\n", rate, floor, rate / floor
}'

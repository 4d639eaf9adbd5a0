#!/usr/bin/env bash
# How well the seeded schedule exposes the pipe-and-stop race of
# tests/fixtures/races (a parent that mistakes an early stop for a spurious
# one and waits forever), measured three ways in one run:
#
#   1. natively: the test binary run directly, NATIVE times (default 500),
#      each with a 5 s limit; a run that hits the limit hung;
#   2. found: INVOCATIONS (default 20) runs of `cargo ffi-check --seeds 0..16`;
#      an invocation found it if at least one seed hung;
#   3. reproduced: for each hung seed seen in step 2 (at most 5), RERUNS
#      (default 5) runs of `--seeds N`; counts how many hang again.
#
#   tests/bench/races.sh
#   NATIVE=100 INVOCATIONS=5 tests/bench/races.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native=${NATIVE:-500}
invocations=${INVOCATIONS:-20}
reruns=${RERUNS:-5}
target="$root/target/bench-fixtures"
manifest="$root/tests/fixtures/Cargo.toml"
test=tests::pipe_and_stop_race

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
common=(--manifest-path "$manifest" -p races --target-dir "$target" --message-format json)
bin=$(cargo test --manifest-path "$manifest" -p races --target-dir "$target" --no-run \
  --message-format json 2>/dev/null | grep '"executable":"/' | sed 's/.*"executable":"\([^"]*\)".*/\1/' | head -1)

hung_native=0
echo "test binary: $bin"
for ((i = 0; i < native; i++)); do
  if ! timeout 5 "$bin" --exact "$test" -q >/dev/null 2>&1; then
    hung_native=$((hung_native + 1))
  fi
done
echo "native: $hung_native of $native runs hung"

found=0 seeds_seen=()
for ((i = 0; i < invocations; i++)); do
  # Exit status 100 (a finding) is the expected result here, not an error.
  out=$("$ffi" "${common[@]}" --seeds 0..16 --exact "$test" 2>/dev/null || true)
  hung=$(grep '"type":"test-finished"' <<<"$out" | grep '"status":"hung"' |
    sed 's/.*"seed":\([0-9]*\).*/\1/' | sort -n | tr '\n' ' ' || true)
  [[ -n "$hung" ]] && found=$((found + 1))
  echo "invocation $((i + 1)): hung on seeds: ${hung:-none}"
  for s in $hung; do seeds_seen+=("$s"); done
done
echo "found: $found of $invocations invocations of --seeds 0..16 hung on at least one seed"

mapfile -t distinct < <(printf '%s\n' "${seeds_seen[@]}" | sort -n | uniq -c | sort -rn | awk '{print $2}' | head -5)
for s in "${distinct[@]}"; do
  again=0
  for ((i = 0; i < reruns; i++)); do
    out=$("$ffi" "${common[@]}" --seeds "$s" --exact "$test" 2>/dev/null || true)
    if grep -q '"status":"hung"' <<<"$out"; then
      again=$((again + 1))
    fi
  done
  echo "reproduced: seed $s hung again in $again of $reruns reruns"
done

#!/usr/bin/env bash
# The cost of the seeded schedule on a syscall-heavy clean suite (the
# `clean` fixtures without the million-allocation test, and the channel
# pipeline of `races`: threads, futexes, pipes, fork), side by side in one
# run, build excluded, ROUNDS (default 5) alternating rounds, medians:
#
#   one seed without the schedule (--no-schedule)
#   one seed with it (the default)
#   16 seeds with it (--seeds 0..16), on all cores
#
#   tests/bench/schedule.sh
#
# FFI_CHECK_BIN=PATH measures another build of the tool (an earlier
# revision's, for a before/after comparison) instead of this tree's.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-5}
target="$root/target/bench-fixtures"
manifest="$root/tests/fixtures/Cargo.toml"

ffi=${FFI_CHECK_BIN:-}
if [[ -z $ffi ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
  ffi="$root/target/release/cargo-ffi-check"
fi
suite=(--manifest-path "$manifest" --target-dir "$target" -p clean -p races
  --skip a_million --skip lock_order --skip pipe_and_stop --skip missed_condvar)
tests=$("$ffi" "${suite[@]}" --list 2>/dev/null | wc -l)

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

off=() on=() sixteen=()
for ((i = 0; i < rounds; i++)); do
  off+=("$(ms "$ffi" "${suite[@]}" --no-schedule)")
  on+=("$(ms "$ffi" "${suite[@]}")")
  sixteen+=("$(ms "$ffi" "${suite[@]}" --seeds 0..16)")
done
a=$(printf '%s\n' "${off[@]}" | median)
b=$(printf '%s\n' "${on[@]}" | median)
c=$(printf '%s\n' "${sixteen[@]}" | median)
echo "tests=$tests rounds=$rounds jobs=$(nproc)"
echo "one_seed_no_schedule_ms=$a (runs: ${off[*]})"
echo "one_seed_schedule_ms=$b (runs: ${on[*]})"
echo "sixteen_seeds_schedule_ms=$c (runs: ${sixteen[*]})"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
  printf "schedule_cost_ratio=%.2f (one seed, with / without)\n", b / a
  printf "sixteen_over_one_ratio=%.2f (16 seeds / 1 seed, both with the schedule)\n", c / b
}'

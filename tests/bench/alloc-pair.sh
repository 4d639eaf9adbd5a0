#!/usr/bin/env bash
# The cost of one guarded malloc+free pair against the floor of the system
# calls and page fault it cannot avoid (alloc-pair.c), side by side in one
# run: ROUNDS (default 7) alternating rounds of N (default 100000) pairs
# each, medians, in nanoseconds per pair. The guard allocator is built from
# tracer/preload/ with the flags of tracer/build.rs and preloaded as the
# supervisor does, without a supervisor (nothing faults here). The guarded
# pairs run in threads of 400, one thread after the other; `late_pair_ns`
# is the mean pair past a thread's first 20000 allocations, and
# `concurrent_pair_ns` the wall time per pair of two threads at once.
#
#   tests/bench/alloc-pair.sh
#   N=200000 ROUNDS=9 tests/bench/alloc-pair.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-7}
n=${N:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}
"$cc" -O2 -pthread -o "$work/pair" "$root/tests/bench/alloc-pair.c"
"$cc" -shared -fPIC -O2 -g -fvisibility=hidden -fno-stack-protector -o "$work/guard.so" \
  "$root"/tracer/preload/*.c -pthread -ldl -lgcc_s

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mp=() ma=() g=() w=() c2=()
for ((i = 0; i < rounds; i++)); do
  mp+=("$("$work/pair" floor-mprotect "$n")")
  ma+=("$("$work/pair" floor-madvise "$n")")
  g+=("$(LD_PRELOAD="$work/guard.so" "$work/pair" malloc "$n")")
  w+=("$(LD_PRELOAD="$work/guard.so" "$work/pair" late "$n")")
  c2+=("$(LD_PRELOAD="$work/guard.so" "$work/pair" concurrent "$n")")
done
a=$(printf '%s\n' "${mp[@]}" | median)
b=$(printf '%s\n' "${ma[@]}" | median)
c=$(printf '%s\n' "${g[@]}" | median)
d=$(printf '%s\n' "${w[@]}" | median)
e=$(printf '%s\n' "${c2[@]}" | median)
echo "pairs=$n rounds=$rounds kernel=$(uname -r)"
echo "floor_mprotect_ns=$a (runs: ${mp[*]})"
echo "floor_madvise_ns=$b (runs: ${ma[*]})"
echo "guard_pair_ns=$c (runs: ${g[*]})"
echo "late_pair_ns=$d (past a thread's first 20000 allocations; runs: ${w[*]})"
echo "concurrent_pair_ns=$e (two threads at once, wall time per pair; runs: ${c2[*]})"
if [[ $b == unsupported ]]; then
  awk -v a="$a" -v c="$c" 'BEGIN { printf "guard_over_floor=%.2f (mprotect floor; guard regions unsupported)\n", c / a }'
else
  awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
    printf "guard_over_madvise_floor=%.2f guard_over_mprotect_floor=%.2f\n", c / b, c / a }'
fi

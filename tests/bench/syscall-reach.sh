#!/usr/bin/env bash
# What each way of reaching system calls that bypass dynamic symbols (stdio's
# internal write, raw `syscall` instructions) costs per call on this machine,
# side by side in one run (syscall-reach.c): an eventfd write + read pair,
# PAIRS (default 200000) pairs per mode, each mode in a fresh child, ROUNDS
# (default 5) runs, medians of ns/call and of the ratio to plain:
#
#   plain             no interception
#   seccomp-allow     a filter over ~20 hand-over calls that allows them all
#   seccomp-allow-ip  the same calls allowed after the instruction-pointer test
#   seccomp-trap      SIGSYS unless issued from the one re-issue instruction,
#                     the handler re-issues (the hold-in-SIGSYS design)
#   sud               syscall user dispatch, the handler flips the selector
#
#   tests/bench/syscall-reach.sh
#   ROUNDS=9 PAIRS=500000 tests/bench/syscall-reach.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-5}
pairs=${PAIRS:-200000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-gcc}" -O2 -pthread -o "$work/reach" "$root/tests/bench/syscall-reach.c"

for ((i = 0; i < rounds; i++)); do
  if ! "$work/reach" "$pairs" >"$work/run.$i"; then
    cat "$work/run.$i" >&2
    echo "syscall-reach: round $i failed (wrong eventfd value or a mode died)" >&2
    exit 1
  fi
done

echo "kernel=$(uname -r) cpus=$(nproc) rounds=$rounds pairs=$pairs"
echo
echo "| mode | ns/call | ratio to plain |"
echo "|---|---:|---:|"
# One line per mode, in the program's order; medians over the rounds.
cat "$work"/run.* | awk '
  $2 == "unavailable" { if (!(($1) in seen)) { seen[$1] = 1; order[++n] = $1 }; na[$1] = 1; next }
  {
    if (!(($1) in seen)) { seen[$1] = 1; order[++n] = $1 }
    k = ++c[$1]; ns[$1, k] = $2; ratio[$1, k] = $3
  }
  function median(a, m, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = a[m, i]
    for (i = 2; i <= cnt; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= n; i++) {
      m = order[i]
      if (!c[m]) { printf "| %s | unavailable | |\n", m; continue }
      printf "| %s | %.1f | %.2f |\n", m, median(ns, m, c[m]), median(ratio, m, c[m])
    }
  }'

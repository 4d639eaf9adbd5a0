#!/usr/bin/env bash
# An allocation-heavy suite (tests/fixtures/clean: string functions on sizes
# 1..4097, realloc chains, large alignments, fork after threads, a million
# allocations from eight threads) under `cargo nextest run` and under
# `cargo ffi-check` with the guard allocator, side by side, build excluded.
# Prints wall time and peak resident memory (the largest process, from
# getrusage of the waited children) of each, and the ratio.
#
#   tests/bench/alloc-heavy.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-3}
target="$root/target/bench-fixtures"
common=(--manifest-path "$root/tests/fixtures/Cargo.toml" -p clean --target-dir "$target")
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
cargo nextest run "${common[@]}" --no-run >/dev/null 2>&1
"$ffi" "${common[@]}" --list >/dev/null 2>&1

# Wall ms and peak RSS (KiB) of a command and its descendants.
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = (time.monotonic() - t) * 1000
print(int(wall), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
for ((i = 0; i < rounds; i++)); do
  read -r nw nr < <(measure cargo nextest run "${common[@]}")
  read -r fw fr < <(measure "$ffi" "${common[@]}")
  echo "round $i: nextest ${nw} ms ${nr} KiB; ffi-check ${fw} ms ${fr} KiB"
  awk -v n="$nw" -v f="$fw" 'BEGIN { printf "  ratio=%.2f\n", f / n }'
done

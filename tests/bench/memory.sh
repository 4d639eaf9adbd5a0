#!/usr/bin/env bash
# The supervisor's own memory across thousands of test processes: the peak
# resident memory of cargo-ffi-check (sampled every 50 ms from /proc) while
# a crashing test (a NULL write in C, whose every run is unwound and
# symbolized) runs under 300 and then 3000 seeds. Flat memory means the two
# peaks are about the same.
#
#   tests/bench/memory.sh
#   SEEDS_SMALL=100 SEEDS_LARGE=1000 tests/bench/memory.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
small=${SEEDS_SMALL:-300}
large=${SEEDS_LARGE:-3000}
target="$root/target/bench-fixtures"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
args=(--manifest-path "$root/tests/fixtures/Cargo.toml" -p ffi-bugs --target-dir "$target"
  --exact tests::null_write_through_out_pointer -q)
"$ffi" "${args[@]}" --list >/dev/null

# Peak VmRSS (KiB) of the command, sampled; and its wall time (ms).
peak() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    try:
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("VmRSS:"):
                peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.05)
print(peak, int((time.monotonic() - t) * 1000))
PY
}
read -r rss_small ms_small < <(peak "$ffi" "${args[@]}" --seeds "0..$small")
read -r rss_large ms_large < <(peak "$ffi" "${args[@]}" --seeds "0..$large")
echo "seeds 0..$small: peak ${rss_small} KiB, ${ms_small} ms"
echo "seeds 0..$large: peak ${rss_large} KiB, ${ms_large} ms"
awk -v a="$rss_small" -v b="$rss_large" 'BEGIN { printf "peak_ratio=%.2f\n", b / a }'

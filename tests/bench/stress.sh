#!/usr/bin/env bash
# Stress run of the run's guarantees (issue 21, point 6): a generated crate of
# TESTS tests (crashes, panics, hangs, timeouts, fork storms, signals,
# self-tracing, plain passes) under SEEDS seeds; one full run, then RUNS runs
# interrupted with SIGINT at a random moment. Checks that each run ends within
# its bound (the full run: within BOUND s; an interrupted one: within 2 s of
# the signal), that no test process is left (found by a marker in their
# environment), and that the report holds the output of every finished job
# (each test prints `stress-start NAME` first).
#
#   tests/bench/stress.sh                       # 200 tests x 8 seeds, 20 SIGINTs
#   TESTS=40 SEEDS=2 RUNS=5 tests/bench/stress.sh
set -euo pipefail
TESTS=${TESTS:-200}
SEEDS=${SEEDS:-8}
RUNS=${RUNS:-20}
BOUND=${BOUND:-900}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/ffi-check-stress.XXXXXX)
MARKER="FFI_CHECK_STRESS_MARKER=$WORK"
trap 'rm -rf "$WORK"' EXIT

cargo build -q --manifest-path "$ROOT/Cargo.toml" -p cargo-ffi-check
TOOL=${CARGO_TARGET_DIR:-$ROOT/target}/debug/cargo-ffi-check

# The crate: test i does kind i % 8.
mkdir -p "$WORK/stress/src"
cat > "$WORK/stress/Cargo.toml" <<TOML
[package]
name = "stress"
version = "0.1.0"
edition = "2021"
[lib]
doctest = false
[workspace]
TOML
{
  cat <<'RS'
#[cfg(test)]
mod tests {
    extern "C" {
        fn fork() -> i32;
        fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
        fn _exit(code: i32) -> !;
        fn raise(sig: i32) -> i32;
        fn ptrace(request: i32, pid: i32, addr: usize, data: usize) -> i64;
        fn __errno_location() -> *mut i32;
        fn gettid() -> i32;
    }
    fn start(name: &str) {
        println!("stress-start {name}");
    }
    fn run(kind: usize) {
        match kind {
            0 => {}
            1 => panic!("stress panic"),
            // SAFETY (all below): plain libc calls of a test process.
            2 => std::process::abort(),
            3 => loop {
                std::thread::sleep(std::time::Duration::from_millis(100));
            },
            4 => unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u32>(), 1) },
            5 => unsafe {
                let mut pids = Vec::new();
                for _ in 0..64 {
                    let pid = fork();
                    if pid == 0 {
                        _exit(0);
                    }
                    pids.push(pid);
                }
                for pid in pids {
                    let mut status = 0;
                    waitpid(pid, &mut status, 0);
                }
            },
            6 => unsafe {
                raise(15);
            },
            _ => unsafe {
                let me = std::process::id() as i32;
                for (request, target) in [(16, me), (0x4206, gettid())] {
                    assert_eq!(ptrace(request, target, 0, 0), -1);
                    assert_eq!(*__errno_location(), 1, "EPERM");
                }
            },
        }
    }
RS
  for i in $(seq 0 $((TESTS - 1))); do
    printf '    #[test]\n    fn t%03d() {\n        start("t%03d");\n        run(%d);\n    }\n' "$i" "$i" $((i % 8))
  done
  echo "}"
} > "$WORK/stress/src/lib.rs"

ffi() {
  env "$MARKER" "$TOOL" --manifest-path "$WORK/stress/Cargo.toml" \
    --message-format json --timeout 2s --hang-grace 1s --seeds "0..$SEEDS" "$@"
}
leftovers() {
  grep -lsz "$MARKER" /proc/[0-9]*/environ 2>/dev/null | grep -v "/proc/$$/" | wc -l || true
}
# Every finished job's report has its output.
check_outputs() {
  python3 - "$1" <<'PY'
import json, sys
bad = 0; n = 0
for line in open(sys.argv[1]):
    if not line.startswith('{'): continue
    e = json.loads(line)
    if e.get('type') != 'test-finished' or e['status'] in ('cancelled',): continue
    n += 1
    name = e['test'].split('::')[-1]
    if f"stress-start {name}" not in e['stdout']:
        bad += 1
print(f"{n} {bad}")
PY
}

ffi --list > /dev/null   # builds the crate
fail=0
start=$(date +%s.%N)
ffi > "$WORK/full.json" 2> "$WORK/full.err" || true
end=$(date +%s.%N)
read -r n bad < <(check_outputs "$WORK/full.json")
left=$(leftovers)
printf 'full run: %d tests x %d seeds: %.1f s, %s jobs reported, %s without their output, %s processes left\n' \
  "$TESTS" "$SEEDS" "$(echo "$end - $start" | bc)" "$n" "$bad" "$left"
[ "$bad" = 0 ] && [ "$left" = 0 ] && [ "$(echo "$end - $start < $BOUND" | bc)" = 1 ] || fail=1

# Job control: a background job of a script otherwise starts with SIGINT
# ignored, and a signal sent before the tool installs its handler is lost.
set -m
worst=0
for r in $(seq 1 "$RUNS"); do
  ffi > "$WORK/int.json" 2> "$WORK/int.err" &
  pid=$!
  sleep "$(python3 -c "import random; print(round(random.uniform(0.5, 8), 2))")"
  # The job is its own process group (set -m).
  sent=$(date +%s.%N)
  kill -INT -- "-$pid" 2>/dev/null || true   # its process group, as Ctrl-C
  code=0; wait "$pid" || code=$?
  took=$(echo "$(date +%s.%N) - $sent" | bc)
  sleep 0.2
  read -r n bad < <(check_outputs "$WORK/int.json")
  left=$(leftovers)
  summary=$(grep -c "interrupted" "$WORK/int.err" || true)
  printf 'interrupted run %2d: exit %s %.2f s after SIGINT, %s jobs reported, %s without output, %s processes left, summary says interrupted: %s\n' \
    "$r" "$code" "$took" "$n" "$bad" "$left" "$summary"
  [ "$(echo "$took > $worst" | bc)" = 1 ] && worst=$took
  { [ "$bad" = 0 ] && [ "$left" = 0 ] && [ "$(echo "$took < 2" | bc)" = 1 ]; } || fail=1
done
printf 'slowest end after SIGINT: %.2f s\n' "$worst"
[ "$fail" = 0 ] && echo "stress: all checks held" || { echo "stress: a check failed"; exit 1; }

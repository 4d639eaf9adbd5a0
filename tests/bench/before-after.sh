#!/usr/bin/env bash
# Wall time of `cargo nextest run`, of `cargo ffi-check` built from an
# earlier revision, and of `cargo ffi-check` built from this tree, side by
# side on the same crate (alternating, ROUNDS rounds, medians): what a
# change costs or saves, on top of the noise of the machine.
#
#   tests/bench/before-after.sh REV CRATE-DIR [cargo arguments...]
#   tests/bench/before-after.sh 587e5ef /tmp/ffi-check-real-suites/src/git2-0.21.0 --features vendored-libgit2
#
# CRATE-DIR is a crate's source, for example one that real-suites.sh
# fetched (REAL_SUITES_DIR/src/NAME-VERSION); its build goes to
# REAL_SUITES_DIR/target, shared with real-suites.sh. REV is built once into
# a worktree under REAL_SUITES_DIR/revs/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rev=${1:?usage: before-after.sh REV CRATE-DIR [cargo arguments...]}
crate=${2:?usage: before-after.sh REV CRATE-DIR [cargo arguments...]}
shift 2
rounds=${ROUNDS:-3}
scratch=${REAL_SUITES_DIR:-/tmp/ffi-check-real-suites}
sha=$(git -C "$root" rev-parse --short "$rev")
tree="$scratch/revs/$sha"
if [[ ! -d $tree ]]; then
  mkdir -p "$scratch/revs"
  git -C "$root" worktree add --detach "$tree" "$sha" >/dev/null
fi
cargo build --release --quiet --manifest-path "$tree/Cargo.toml" -p cargo-ffi-check --target-dir "$tree/target"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
before="$tree/target/release/cargo-ffi-check"
after="$root/target/release/cargo-ffi-check"
common=(--manifest-path "$crate/Cargo.toml" --target-dir "$scratch/target" "$@")
export TMPDIR=/dev/shm
cargo nextest run "${common[@]}" --no-run >/dev/null 2>&1
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
n=() b=() a=()
for ((i = 0; i < rounds; i++)); do
  n+=("$(ms cargo nextest run "${common[@]}" --no-fail-fast)")
  b+=("$(ms "$before" ffi-check "${common[@]}" --seeds 0)")
  a+=("$(ms "$after" ffi-check "${common[@]}" --seeds 0)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
N=$(median "${n[@]}") B=$(median "${b[@]}") A=$(median "${a[@]}")
awk -v c="$(basename "$crate")" -v r="$sha" -v n="$N" -v b="$B" -v a="$A" 'BEGIN {
  printf "%s: nextest %d ms | %s %d ms (%.2fx) | this tree %d ms (%.2fx)\n", c, n, r, b, b / n, a, a / n }'

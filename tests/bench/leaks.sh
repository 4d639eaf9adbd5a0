#!/usr/bin/env bash
# Leak findings on the real crates' suites of real-suites.sh's ffi group,
# against Valgrind, and what the leak check costs.
#
#   tests/bench/leaks.sh [crate...]          (default: the ffi group)
#   ROUNDS=3 tests/bench/leaks.sh git2
#
# For each crate (fetched at the pinned version by tests/bench/lib/fetch-crate.sh,
# built once, never committed):
# 1. cargo ffi-check --seeds 0 --leaks on and --leaks off, alternating ROUNDS
#    times (default 3): the median of each and their ratio (the leak check's
#    cost in a one-seed run, build excluded);
# 2. every test with a `leak` finding (from the first --leaks on run, JSON)
#    runs alone under `valgrind --leak-check=full`; each finding (its
#    allocation site, file:line, and directly/indirectly) is confirmed when
#    Valgrind has a "definitely lost" (for directly) or "indirectly lost"
#    (for indirectly) record whose stack has that file:line.
# Prints a Markdown table; raw output in $LEAKS_DIR (default
# /tmp/ffi-check-leaks).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=${REAL_SUITES_DIR:-/tmp/ffi-check-real-suites}
out=${LEAKS_DIR:-/tmp/ffi-check-leaks}
rounds=${ROUNDS:-3}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }

# group|crate|version|cargo arguments, as in real-suites.sh.
suites=()
while IFS= read -r line; do suites+=("$line"); done < <(
  grep -oE '^  "ffi\|[^"]*"' "$root/tests/bench/real-suites.sh" | sed -E 's/^  "//; s/"$//'
)
want=("$@")

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p cargo-ffi-check
ffi="$root/target/release/cargo-ffi-check"
source "$root/tests/bench/lib/fetch-crate.sh"
mkdir -p "$out" "$scratch/src" "$scratch/fetch"
target="$scratch/target"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(((e - s) / 1000000)); }

rows=()
for s in "${suites[@]}"; do
  IFS='|' read -r _ name version args _ <<<"$s"
  if ((${#want[@]})); then
    keep=0
    for w in "${want[@]}"; do [[ $w == "$name" ]] && keep=1; done
    ((keep)) || continue
  fi
  echo "== $name $version $args" >&2
  src=$(fetch_crate "$name" "$version" "$scratch")
  read -ra flags <<<"$args"
  common=(--manifest-path "$src/Cargo.toml" --target-dir "$target" "${flags[@]}")
  res="$out/$name"
  mkdir -p "$res"
  "$ffi" ffi-check "${common[@]}" --list >/dev/null 2>"$res/build.log"
  # Executables by nextest-style binary id, for Valgrind.
  cargo test "${common[@]}" --no-run --message-format json 2>/dev/null >"$res/artifacts.jsonl"
  "$ffi" ffi-check "${common[@]}" --seeds 0 --leaks on --message-format json >"$res/ffi-check.jsonl" 2>"$res/ffi-check.stderr" || true
  on=() off=()
  for ((i = 0; i < rounds; i++)); do
    off+=("$(ms "$ffi" ffi-check "${common[@]}" --seeds 0 --leaks off)")
    on+=("$(ms "$ffi" ffi-check "${common[@]}" --seeds 0 --leaks on)")
  done
  rows+=("$(python3 - "$res" "$name $version" "$(printf '%s\n' "${off[@]}" | median)" \
    "$(printf '%s\n' "${on[@]}" | median)" <<'EOF'
# Valgrind for every test with a leak finding; one table row.
import json, os, re, subprocess, sys
res, crate, off_ms, on_ms = sys.argv[1:]
exes = {}
for line in open(os.path.join(res, "artifacts.jsonl")):
    try:
        a = json.loads(line)
    except ValueError:
        continue
    if a.get("reason") != "compiler-artifact" or not a.get("executable") or not a["profile"].get("test"):
        continue
    pkg = a["package_id"].split("#")[-1].split("@")[0].split("/")[-1]
    kind = a["target"]["kind"][0]
    bid = pkg if kind == "lib" else f"{pkg}::{a['target']['name']}"
    exes[bid] = a["executable"]
findings = {}
for line in open(os.path.join(res, "ffi-check.jsonl")):
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e.get("type") != "test-finished":
        continue
    for f in e["findings"]:
        loc = f.get("location") or {}
        if f["kind"] == "leak" and loc.get("file"):
            how = "indirect" if "indirectly" in f["message"] else "direct"
            site = f"{os.path.basename(loc['file'])}:{loc['line']}"
            findings.setdefault((e["binary_id"], e["test"]), set()).add((site, how))
confirmed = unconfirmed = 0
details = []
for (bid, test), sites in sorted(findings.items()):
    exe = exes.get(bid)
    log = ""
    if exe:
        p = subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                            exe, test, "--exact", "--test-threads", "1"],
                           capture_output=True, text=True, timeout=600)
        log = p.stderr
    with open(os.path.join(res, "valgrind-" + re.sub(r"[^A-Za-z0-9_.-]", "_", test) + ".log"), "w") as fh:
        fh.write(log)
    records = []
    for block in re.split(r"==\d+== \n", log):
        m = re.search(r"are (definitely|indirectly) lost", block)
        if m:
            records.append(("direct" if m.group(1) == "definitely" else "indirect",
                            set(re.findall(r"\(([^():\s]+:\d+)\)", block))
                            | set(os.path.basename(x) for x in re.findall(r"\(([^()\s]+:\d+)\)", block))))
    for site, how in sorted(sites):
        ok = any(h == how and site in stack for h, stack in records)
        confirmed += ok
        unconfirmed += not ok
        details.append(f"  - {'confirmed' if ok else 'NOT in Valgrind'}: {bid} {test}: {site} ({how})")
ratio = int(on_ms) / max(int(off_ms), 1)
print(f"| {crate} | {len(findings)} | {confirmed + unconfirmed} | {confirmed} | {unconfirmed} "
      f"| {int(off_ms) / 1000:.2f} | {int(on_ms) / 1000:.2f} | {ratio:.2f} |")
for d in details:
    print(d, file=sys.stderr)
EOF
  )")
done
echo
echo "rounds $rounds, seed 0, jobs $(nproc)"
echo
echo "| crate | tests with leaks | leak findings (sites) | confirmed by Valgrind | not confirmed | --leaks off s | --leaks on s | on/off |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "raw output: $out/CRATE/"

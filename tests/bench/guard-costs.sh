#!/usr/bin/env bash
# The kernel's cost of each step of a guard's life (guard-costs.c), one run.
#
#   tests/bench/guard-costs.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-cc}" -O2 -o "$work/costs" "$root/tests/bench/guard-costs.c"
echo "kernel=$(uname -r)"
"$work/costs"

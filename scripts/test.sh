#!/usr/bin/env bash
# Builds perfbpf and runs every test through ctest. As root, a skipped [bpf] test is a
# failure: those tests are the ones that prove the probes measure the truth.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
(cd "$build_dir" && ctest --output-on-failure --timeout 300 "$@") 2>&1 | tee "$log" || status=$?

skipped=$(grep -cE '\*\*\*Skipped|\(Skipped\)' "$log" || true)
if [[ $(id -u) -eq 0 && $skipped -gt 0 ]]; then
	echo "test.sh: $skipped test(s) skipped while running as root: [bpf] tests must run here" >&2
	exit 1
fi
if ! grep -qE '^[0-9]+% tests passed' "$log"; then
	echo "test.sh: ctest ran no test" >&2
	exit 1
fi
exit "$status"

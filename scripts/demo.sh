#!/usr/bin/env bash
# Builds perfbpf and profiles the bundled demo service: five functions, from ~1 us of CPU to
# ~2 ms waits, timed call by call. Needs root (sudo) to load the BPF programs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh" >/dev/null

report="$build_dir/demo-report.json"
echo "demo: sudo perfbpf -f '*_request' -f lookup_cache -f query_database -f render_response -o $report -- demo_service 400"
echo
"$build_dir/perfbpf" -f '*_request' -f lookup_cache -f query_database -f render_response \
	-o "$report" -- "$build_dir/tests/workloads/demo_service" 400
echo
echo "demo: JSON report: $report"
echo "demo: re-render it any time, no root needed: $build_dir/perfbpf report $report"

#!/usr/bin/env bash
# Builds perfbpf and profiles the bundled demo service: five functions, from ~1 us of CPU to
# ~2 ms waits, timed call by call. Needs root (sudo) to load the BPF programs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh" >/dev/null

report="$build_dir/demo-report.json"
# A per-function threshold the demo's slow path crosses, so the analysis and a live alert show
# up; a short interval, so the live resource lines do too.
threshold='function:handle_request.p99=1ms'
echo "demo: sudo perfbpf -f '*_request' -f lookup_cache -f query_database -f render_response -i 0.1 --threshold $threshold -o $report -- demo_service 400"
echo
"$build_dir/perfbpf" -f '*_request' -f lookup_cache -f query_database -f render_response -i 0.1 \
	--threshold "$threshold" -o "$report" -- "$build_dir/tests/workloads/demo_service" 400
echo
echo "demo: JSON report: $report"
echo "demo: re-render it any time, no root needed: $build_dir/perfbpf report $report"
echo "demo: analyse it (bottlenecks, trends, health, advice): $build_dir/perfbpf analyze $report"

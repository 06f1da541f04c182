#!/usr/bin/env bash
# Benchmarks perfbpf against bpftrace and libbpf-tools funclatency on the same workloads, in
# one session; writes bench/results/latest.{json,md}. Needs root. Takes a few minutes.
#   sudo scripts/bench.sh [--rounds N]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh" >/dev/null
for peer in bpftrace libbpf-tools; do
	dpkg-query -W -f='${Status}' "$peer" 2>/dev/null | grep -q "install ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$peer" >/dev/null
done
exec /usr/bin/python3 "$root/bench/run_bench.py" "$build_dir" "$@"

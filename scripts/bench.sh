#!/usr/bin/env bash
# Benchmarks perfbpf against bpftrace and libbpf-tools funclatency on the same workloads, in
# one session; writes bench/results/latest.{json,md}. Needs root. Takes a few minutes.
#   sudo scripts/bench.sh [--rounds N]
# The CI gate's false alarms and detection against a naive gate and Mann-Whitney, under
# stress-ng --cpu 1; writes bench/results/gate-latest.{json,md}. About half an hour.
#   sudo scripts/bench.sh gate [--pool-rounds N] [--trials N]
# Stacks side by side with `perf record --call-graph dwarf` (completeness, profiler CPU, output
# size) on Debian's nginx under ab, sqlite3 and zstd; writes bench/results/stacks-latest.{json,md}
# (stacks-latest-999hz.* with --freq 999). About ten minutes.
#   sudo scripts/bench.sh stacks [--seconds S] [--short S] [--freq HZ]
# perfbpf's own cost (CPU, RSS, start-up, probe floor, fork-heavy slowdown, attach) against the
# tool a user would run for each job (perf, offcputime, funclatency, bpftrace, runqlat), in
# alternating rounds; writes bench/results/selfcost-latest.{json,md}. About ten minutes.
#   sudo scripts/bench.sh selfcost [--rounds N] [--seconds S] [--only ROW,...]
# What --decompose costs per probed call (CET + NOP5 build) and to threads with no open probed
# frame (perf bench sched pipe); writes bench/results/decompose-latest.{json,md}. A few minutes.
#   sudo scripts/bench.sh decompose [--rounds N]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh" >/dev/null
# The peers a mode measures against, installed from Debian when missing.
need() {
	for peer in "$@"; do
		dpkg-query -W -f='${Status}' "$peer" 2>/dev/null | grep -q "install ok installed" ||
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$peer" >/dev/null
	done
}
if [[ ${1:-} == gate ]]; then
	shift
	need stress-ng
	exec /usr/bin/python3 "$root/bench/gate_bench.py" "$build_dir" "$@"
fi
if [[ ${1:-} == stacks ]]; then
	shift
	need linux-perf nginx apache2-utils sqlite3 zstd
	exec /usr/bin/python3 "$root/bench/stacks_bench.py" "$build_dir" "$@"
fi
if [[ ${1:-} == selfcost ]]; then
	shift
	need linux-perf bpftrace libbpf-tools stress-ng gcc time
	exec /usr/bin/python3 "$root/bench/selfcost_bench.py" "$build_dir" "$@"
fi
if [[ ${1:-} == decompose ]]; then
	shift
	need linux-perf
	exec /usr/bin/python3 "$root/bench/decompose_bench.py" "$build_dir" "$@"
fi
need bpftrace libbpf-tools
exec /usr/bin/python3 "$root/bench/run_bench.py" "$build_dir" "$@"

#!/usr/bin/env python3
"""gate_target's UNITS (its stages' work per call) for gated sessions on this machine.

    gate_units.py PERFBPF GATE_TARGET     prints UNITS

Enough work that the probes take about 2 % of a session's time, under the gate's 5 % budget
(past it a session's latencies are marked untrusted and the verdict is inconclusive). A probed
call costs 0.8 us on one of these VMs and 3.3 us on another (perfbpf calibrate): measured here,
not assumed. A pass calls 20 stages doing 50 * UNITS xorshift steps in all, so the probes' share
is 20 * cost / (50 * UNITS * step) and 2 % needs UNITS = 20 * cost / step; never below the
workload's default 10 000. Runs as root (calibration is root's, in /var/cache/perfbpf).
"""
import json
import math
import os
import subprocess
import sys

CALIBRATION = "/var/cache/perfbpf/calibration.json"  # root's cache (src/util/cache_dir.h)


def gate_units(perfbpf, gate_target):
    # The cached calibration, as the gated sessions use it; measured only if there is none (a
    # fresh one would replace, under whatever load the machine has now, what other tests use).
    if not os.path.exists(CALIBRATION):
        subprocess.run([perfbpf, "calibrate"], check=True, stdout=subprocess.DEVNULL)
    with open(CALIBRATION) as f:
        sites = json.load(f)["calibration"]["sites"]
    cost_ns = next(s["cost_ns"] for s in sites if s["kind"] == "optimized" and s["method"] == "uretprobe")
    # One step's time: stage_00 does 10 000 steps a call by default.
    out = subprocess.run([gate_target, "20"], check=True, capture_output=True, text=True).stdout
    p50 = next(float(line.split("=", 1)[1]) for line in out.split() if line.startswith("stage_00_p50_ns="))
    step_ns = p50 / 10000
    units = max(10000, math.ceil(20 * cost_ns / step_ns))
    print(f"gate_units: probed call {cost_ns:.0f} ns, step {step_ns:.2f} ns: UNITS {units}", file=sys.stderr)
    return units


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(gate_units(sys.argv[1], sys.argv[2]))

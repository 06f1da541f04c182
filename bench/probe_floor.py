#!/usr/bin/env python3
"""BPF program time per probed call of perfbpf's function timing against the floor of timing a
call in a uprobe session, piece by piece (bench/probe_floor.bpf.c): no-op, two clock reads and
a record, and that plus a per-thread stamp and the attach cookie. Same target (the NOP5 site
of tests/workloads/funclat_target_nop5's leaf), same calls, tools alternating over the rounds,
kernel statistics (run_time_ns) on only while the target runs; medians and ranges.

    python3 bench/probe_floor.py BUILD [--rounds N] [--calls N]
"""
import argparse
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import run_bench  # noqa: E402
from selfcost_bench import program_time, summary  # noqa: E402

TOOLS = ["floor-noop", "floor-clocks", "floor-stamp", "perfbpf"]


def probe_site(binary, function):
    """File offset of FUNCTION's probed instruction: after endbr64 when it starts with one."""
    syms = subprocess.check_output(["readelf", "-Ws", binary], text=True)
    value = next(int(f[1], 16) for f in (l.split() for l in syms.splitlines()) if len(f) >= 8 and f[7] == function)
    for line in subprocess.check_output(["readelf", "-lW", binary], text=True).splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, vaddr, filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if vaddr <= value < vaddr + filesz:
                at = value - vaddr + off
                with open(binary, "rb") as b:
                    b.seek(at)
                    return at + 4 if b.read(4) == b"\xf3\x0f\x1e\xfa" else at
    raise RuntimeError(f"{function} not in a LOAD segment of {binary}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=200000)
    args = p.parse_args()
    build = os.path.abspath(args.build)
    binary = f"{build}/tests/workloads/funclat_target_nop5"
    site = probe_site(binary, "leaf")
    subprocess.run([f"{build}/perfbpf", "calibrate"], check=True, stdout=subprocess.DEVNULL)
    args.perfbpf = f"{build}/perfbpf"

    def argv_of(tool, pid, report):
        if tool == "perfbpf":
            return run_bench.tool_argv(tool, binary, pid, args.perfbpf, report)
        return [f"{build}/bench/probe_floor", tool.split("-")[1], binary, str(site), str(pid)], "attached"
    per_call = program_time(args, binary, args.calls, TOOLS, argv_of)
    print("| program | BPF program time per call (ns, median [range]) | over the no-op |")
    print("|---|---|---|")
    noop = summary(per_call["floor-noop"])["median"]
    for t in TOOLS:
        s = summary(per_call[t])
        print(f"| {t} | {s['median']:.0f} [{min(per_call[t]):.0f}-{max(per_call[t]):.0f}] | +{s['median'] - noop:.0f} |")


if __name__ == "__main__":
    main()

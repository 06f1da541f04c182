#!/usr/bin/python3
"""perfbpf against its peers (bpftrace, libbpf-tools funclatency) in one session, on the same
workload binaries, in alternating rounds; medians and ratios to bench/results/.

    bench/run_bench.py BUILD_DIR [--rounds N] [--out DIR]

Needs root (every tool loads BPF). Figures are this machine's, measured now; the targets are
printed as pass/fail and kept with the numbers.
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def read_until(stream, marker, timeout):
    """Reads lines from a pipe until one contains MARKER; returns all text read."""
    got, deadline = "", time.monotonic() + timeout
    while marker not in got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([stream], [], [], left)[0]:
            break
        line = stream.readline()
        if not line:
            break
        got += line
    return got


def key_values(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class Target:
    """A workload waiting on stdin: tools attach to its pid, then it runs."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = read_until(self.proc.stdout, "ready", 10)
        if "ready" not in ready:
            raise RuntimeError(f"{binary} did not start")
        self.pid = self.proc.pid

    def run(self):
        out, _ = self.proc.communicate("go\n", timeout=300)
        return key_values(out)


class Tool:
    """A profiler attached to one pid: started, waited for until its probes are in, stopped."""

    def __init__(self, name, argv, ready_marker, env=None):
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        seen = read_until(self.proc.stdout, ready_marker, 30)
        if ready_marker not in seen:
            self.proc.kill()
            raise RuntimeError(f"{name} did not attach: {seen!r}")
        time.sleep(0.3)  # tools print their banner just before the last attach returns

    def peak_rss_bytes(self):
        try:
            for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def stop(self):
        rss = self.peak_rss_bytes()
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return rss, out


def tool_argv(tool, binary, pid, perfbpf, report):
    noop = f"uprobe:{binary}:leaf {{}} uretprobe:{binary}:leaf {{}}"
    hist = (f"uprobe:{binary}:leaf {{ @s[tid] = nsecs; }} "
            f"uretprobe:{binary}:leaf /@s[tid]/ {{ @ns = hist(nsecs - @s[tid]); delete(@s[tid]); }}")
    return {
        "bpftrace-noop": (["bpftrace", "-p", str(pid), "-e", noop], "Attaching"),
        "bpftrace-hist": (["bpftrace", "-p", str(pid), "-e", hist], "Attaching"),
        # stdbuf: funclatency prints its banner with stdio, fully buffered into a pipe.
        "funclatency": (["stdbuf", "-oL", "funclatency", "-p", str(pid), ":leaf"], "Tracing"),
        # Function timing only, like the peers: no stack sampling.
        "perfbpf": ([perfbpf, "--pid", str(pid), "-f", "leaf", "--sample-freq", "0", "--collectors", "none", "-q", "-o", report], "Ctrl-C to stop"),
    }[tool]


def overhead(args, builds, tools):
    """Per-call cost of a probed tiny function: loop time with the tool minus without."""
    samples = {(b, t): [] for b in builds for t in ["none", *tools]}
    rss = {t: [] for t in tools}
    for r in range(args.rounds):
        for build, binary in builds.items():
            calls = "50000" if build == "plain" else "200000"  # plain sites are single-stepped: slow
            for tool in ["none", *tools]:
                target = Target(binary, "wait-loop", calls)
                attached = None
                if tool != "none":
                    with tempfile.NamedTemporaryFile(suffix=".json") as report:
                        argv, marker = tool_argv(tool, binary, target.pid, args.perfbpf, report.name)
                        attached = Tool(tool, argv, marker)
                        result = target.run()
                        peak, _ = attached.stop()
                        rss[tool].append(peak)
                else:
                    result = target.run()
                samples[(build, tool)].append(float(result["loop_ns_per_call"]))
        print(f"  overhead round {r + 1}/{args.rounds} done", file=sys.stderr)
    base = {b: statistics.median(samples[(b, "none")]) for b in builds}
    out = {}
    for build in builds:
        out[build] = {"unprobed_ns_per_call": base[build]}
        for tool in tools:
            out[build][tool] = statistics.median(samples[(build, tool)]) - base[build]
    return out, {t: statistics.median(v) for t, v in rss.items() if v}


def accuracy(args, builds):
    """A 20 us function: perfbpf's corrected and raw figures and bpftrace's mean, against the
    body time the workload measured of itself."""
    out = {}
    for build in ("plain", "cet_nop5"):
        binary = builds[build]
        row = {}
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            target = Target(binary, "wait-timed", "2000", "20")
            tool = Tool("perfbpf", [args.perfbpf, "--pid", str(target.pid), "-f", "timed_work", "--sample-freq", "0", "--collectors", "none",
                                    "-q", "-o", report.name],
                        "Ctrl-C to stop")
            truth = target.run()
            tool.stop()
            f = json.load(open(report.name))["functions"][0]
        row["truth_p50_ns"] = float(truth["timed_body_p50_ns"])
        row["truth_mean_ns"] = float(truth["timed_body_mean_ns"])
        row["perfbpf_site"] = f["probe"]["site"]
        row["perfbpf_corrected_p50_ns"] = f["latency_ns"]["p50"]
        row["perfbpf_raw_p50_ns"] = f["latency_raw_ns"]["p50"]
        row["perfbpf_corrected_mean_ns"] = f["latency_ns"]["mean"]

        target = Target(binary, "wait-timed", "2000", "20")
        script = (f"uprobe:{binary}:timed_work {{ @s[tid] = nsecs; }} "
                  f"uretprobe:{binary}:timed_work /@s[tid]/ {{ @mean = avg(nsecs - @s[tid]); delete(@s[tid]); }}")
        tool = Tool("bpftrace", ["bpftrace", "-p", str(target.pid), "-e", script], "Attaching")
        target.run()
        _, printed = tool.stop()
        mean = [line for line in printed.splitlines() if line.startswith("@mean")]
        row["bpftrace_mean_ns"] = float(mean[0].split(":")[1]) if mean else None
        out[build] = row
    return out


def startup(args, builds):
    """Launch to first probed call, seen by the target: it calls leaf() in a loop and notes
    when a call first becomes slow."""
    times = {"perfbpf": [], "bpftrace-noop": [], "funclatency": []}
    binary = builds["nop5"]
    for _ in range(args.rounds):
        for tool in times:
            target = subprocess.Popen([binary, "detect-probe"], stdout=subprocess.PIPE, text=True)
            time.sleep(0.05)
            with tempfile.NamedTemporaryFile(suffix=".json") as report:
                argv, _ = tool_argv(tool, binary, target.pid, args.perfbpf, report.name)
                launched = time.monotonic_ns()
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                out, _ = target.communicate(timeout=60)
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)
            first = key_values(out).get("first_probed_ns")
            if first:
                times[tool].append((int(first) - launched) / 1e6)
    return {t: statistics.median(v) for t, v in times.items() if v}


def aggregator(args):
    runs = [json.loads(subprocess.check_output([f"{args.build}/bench/aggregator_bench"], text=True))
            for _ in range(3)]
    return statistics.median(r["events_per_second"] for r in runs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results"))
    args = p.parse_args()
    args.build = os.path.abspath(args.build)
    args.perfbpf = f"{args.build}/perfbpf"
    w = f"{args.build}/tests/workloads"
    builds = {"plain": f"{w}/funclat_target", "nop5": f"{w}/funclat_target_nop5",
              "cet_nop5": f"{w}/funclat_target_cet_nop5"}
    tools = ["bpftrace-noop", "bpftrace-hist", "funclatency", "perfbpf"]

    subprocess.run([args.perfbpf, "calibrate"], check=True, stdout=subprocess.DEVNULL)
    print("bench: per-call overhead ...", file=sys.stderr)
    cost, rss = overhead(args, builds, tools)
    print("bench: latency accuracy ...", file=sys.stderr)
    acc = accuracy(args, builds)
    print("bench: start-up ...", file=sys.stderr)
    start = startup(args, builds)
    print("bench: aggregator throughput ...", file=sys.stderr)
    agg = aggregator(args)

    peers = ["bpftrace-noop", "bpftrace-hist", "funclatency"]
    cet = cost["cet_nop5"]
    targets = [
        ("overhead <= 1.05x bpftrace no-op pair, same site (plain build)",
         cost["plain"]["perfbpf"] / cost["plain"]["bpftrace-noop"], "<=", 1.05),
        ("overhead <= 1.05x bpftrace no-op pair, same site (NOP5 build)",
         cost["nop5"]["perfbpf"] / cost["nop5"]["bpftrace-noop"], "<=", 1.05),
        ("overhead <= 0.2x the cheapest peer on the CET + NOP5 build",
         cet["perfbpf"] / min(cet[t] for t in peers), "<=", 0.2),
        ("corrected p50 error <= max(2%, 1 us), plain build",
         abs(acc["plain"]["perfbpf_corrected_p50_ns"] - acc["plain"]["truth_p50_ns"]),
         "<=", max(0.02 * acc["plain"]["truth_p50_ns"], 1000)),
        ("corrected p50 error <= max(2%, 1 us), CET + NOP5 build",
         abs(acc["cet_nop5"]["perfbpf_corrected_p50_ns"] - acc["cet_nop5"]["truth_p50_ns"]),
         "<=", max(0.02 * acc["cet_nop5"]["truth_p50_ns"], 1000)),
        ("start-up to first probed call <= 100 ms", start.get("perfbpf", float("inf")), "<=", 100),
        ("perfbpf peak RSS <= 32 MiB", rss.get("perfbpf", 0) / 2**20, "<=", 32),
        ("aggregator >= 2M events/s", agg, ">=", 2e6),
    ]
    verdicts = [{"target": name, "measured": value, "limit": limit,
                 "pass": value <= limit if op == "<=" else value >= limit} for name, value, op, limit in targets]

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "kernel": platform.release(), "rounds": args.rounds, "overhead_ns_per_call": cost,
              "peak_rss_bytes": rss, "accuracy": acc, "startup_ms": start, "aggregator_events_per_s": agg,
              "targets": verdicts}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")

    md = [f"Measured {result['date']} on Linux {result['kernel']}, {args.rounds} alternating rounds, medians.", "",
          "| per-call overhead (ns) | " + " | ".join(tools) + " |", "|---" * (len(tools) + 1) + "|"]
    for build in builds:
        md.append(f"| {build} build | " + " | ".join(f"{cost[build][t]:.0f}" for t in tools) + " |")
    md += ["", "| 20 us function | truth p50 | perfbpf corrected p50 | perfbpf raw p50 | bpftrace mean (truth mean) |",
           "|---|---|---|---|---|"]
    for build, a in acc.items():
        bt = f"{a['bpftrace_mean_ns']:.0f}" if a["bpftrace_mean_ns"] else "-"
        md.append(f"| {build} ({a['perfbpf_site']} site) | {a['truth_p50_ns']:.0f} | {a['perfbpf_corrected_p50_ns']} | "
                  f"{a['perfbpf_raw_p50_ns']} | {bt} ({a['truth_mean_ns']:.0f}) |")
    md += ["", "| start-up to first probed call (ms) | " + " | ".join(start) + " |", "|---" * (len(start) + 1) + "|",
           "| NOP5 build | " + " | ".join(f"{v:.0f}" for v in start.values()) + " |", "",
           "| peak RSS (MiB) | " + " | ".join(rss) + " |", "|---" * (len(rss) + 1) + "|",
           "| during the overhead runs | " + " | ".join(f"{v / 2**20:.1f}" for v in rss.values()) + " |", "",
           f"Aggregator: {agg / 1e6:.1f} M events/s on one core.", "", "| target | measured | limit | |", "|---|---|---|---|"]
    for v in verdicts:
        md.append(f"| {v['target']} | {v['measured']:.3g} | {v['limit']:.3g} | {'PASS' if v['pass'] else 'FAIL'} |")
    (out / "latest.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

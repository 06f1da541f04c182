#!/usr/bin/python3
"""The agent's memory over one simulated hour at 10x speed.

    sudo bench/agent_memory.py [BUILD_DIR] [--minutes 6]

The default configuration's periods (300 s) and intervals (10 s) run ten times faster: 30 s
periods of 1 s intervals, twelve periods in six minutes, with a probed serve_target planted
(so per-process sessions come and go each period too), all collectors and 19 Hz sampling. RSS
(/proc/PID/status VmRSS) is read every second and as each period starts (the last one written
and its memory handed back); the target: after the first period (the warm-up), the Theil-Sen
trend of RSS over the run is less than 5 % of its median. Also reports the peak, the file count and size kept in output_dir, and the agent's CPU
time. Writes bench/results/agent_memory.json.
"""
import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(root, "build"))
    ap.add_argument("--minutes", type=float, default=6)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("agent_memory.py: run as root (the agent loads BPF programs)")
    work = tempfile.mkdtemp(prefix="perfbpf-agent-bench-")
    out_dir = os.path.join(work, "out")
    config = os.path.join(work, "agent.json")
    with open(config, "w") as f:
        json.dump({"listen": "127.0.0.1:0", "output_dir": out_dir, "period_s": 30, "interval_s": 1, "sample_freq": 19,
                   "max_output_mb": 64, "process_scan_s": 0.1,
                   "probes": [{"process": "serve_target", "functions": ["handle_request", "parse_request"]}]}, f)
    target = subprocess.Popen([os.path.join(args.build, "tests/workloads/serve_target"), "loop",
                               os.path.join(work, "log")], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    agent = subprocess.Popen([os.path.join(args.build, "perfbpf"), "agent", "--config", config],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    period_ends = []  # RSS (KiB) when each period's files were written
    samples = []

    def read_log():
        # "period N" is logged once period N-1 is written and its memory handed back.
        for line in agent.stderr:
            if re.match(r"perfbpf agent: period [1-9]", line) and agent.poll() is None:
                period_ends.append(rss_kib(agent.pid))
    threading.Thread(target=read_log, daemon=True).start()
    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end and agent.poll() is None:
        samples.append(rss_kib(agent.pid))
        time.sleep(1)
    cpu = cpu_s(agent.pid) if agent.poll() is None else float("nan")
    agent.send_signal(signal.SIGTERM)
    rc = agent.wait(120)
    target.kill()
    target.wait()
    files = glob.glob(os.path.join(out_dir, "perfbpf-*"))
    # The trend, not the noise: the first period is the warm-up (everything allocated once),
    # then the Theil-Sen slope of RSS over the period ends, over the whole run, relative to the
    # median. Single readings move by a few MiB either way with what the machine runs.
    steady = period_ends[1:]
    slopes = sorted((steady[j] - steady[i]) / (j - i) for i in range(len(steady)) for j in range(i + 1, len(steady)))
    median = sorted(steady)[len(steady) // 2] if steady else float("nan")
    growth = slopes[len(slopes) // 2] * (len(steady) - 1) / median if slopes else float("nan")
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "simulated_hours": args.minutes / 60 * 10,
        "periods": len(period_ends),
        "rss_kib_at_period_ends": period_ends,
        "rss_kib_peak": max(samples) if samples else None,
        "rss_growth_over_the_run": growth,
        "rss_growth_first_to_last_period": (period_ends[-1] - period_ends[0]) / period_ends[0] if period_ends else None,
        "agent_cpu_s": cpu,
        "files_kept": len(files),
        "bytes_kept": sum(os.path.getsize(p) for p in files),
        "exit_code": rc,
        "target": "growth < 0.05",
        "pass": growth < 0.05 and rc == 0,
    }
    os.makedirs(os.path.join(root, "bench/results"), exist_ok=True)
    with open(os.path.join(root, "bench/results/agent_memory.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

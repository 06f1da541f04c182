#!/usr/bin/python3
"""The agent's memory over one simulated hour at 10x speed.

    sudo bench/agent_memory.py [BUILD_DIR] [--minutes 6] [--stress-cpu N] [--out FILE]

The default configuration's periods (300 s) and intervals (10 s) run ten times faster: 30 s
periods of 1 s intervals, twelve periods in six minutes, with a probed serve_target planted
(so per-process sessions come and go each period too), all collectors and 19 Hz sampling with
DWARF unwinding. RSS (/proc/PID/status VmRSS, with its anonymous and file-backed parts) is read
every second and as each period starts (the last one written and its memory handed back); the
agent's own log line of each period (heap in use from mallinfo2, the period's peak) is kept
too. The target: after the first period (the warm-up), the Theil-Sen trend of RSS over the run
is less than 5 % of its median. --stress-cpu N runs `stress-ng --cpu N` beside it (a loaded
machine). Writes bench/results/agent_memory.json unless --out says otherwise.
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


def status_kib(pid):
    """VmRSS, RssAnon and RssFile (KiB)."""
    with open("/proc/%d/status" % pid) as f:
        text = f.read()
    return tuple(int(re.search(key + r":\s+(\d+)", text).group(1)) for key in ("VmRSS", "RssAnon", "RssFile"))


def theil_sen_growth(values):
    """The Theil-Sen slope over VALUES times their span, relative to their median."""
    slopes = sorted((values[j] - values[i]) / (j - i) for i in range(len(values)) for j in range(i + 1, len(values)))
    if not slopes:
        return float("nan")
    median = sorted(values)[len(values) // 2]
    return slopes[len(slopes) // 2] * (len(values) - 1) / median


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(root, "build"))
    ap.add_argument("--minutes", type=float, default=6)
    ap.add_argument("--stress-cpu", type=int, default=0, help="run stress-ng --cpu N beside the agent")
    ap.add_argument("--out", default=os.path.join(root, "bench/results/agent_memory.json"))
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
    stress = None
    if args.stress_cpu:
        stress = subprocess.Popen(["stress-ng", "--cpu", str(args.stress_cpu), "--timeout", "%ds" % (args.minutes * 60 + 60)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load_before = os.getloadavg()
    agent = subprocess.Popen([os.path.join(args.build, "perfbpf"), "agent", "--config", config],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    period_ends = []  # (RSS, anon, file) KiB when each period's files were written
    agent_lines = []  # the agent's own account of each period's end
    samples = []

    def read_log():
        # "period N" is logged once period N-1 is written and its memory handed back.
        for line in agent.stderr:
            if line.startswith("perfbpf agent: memory after period"):
                agent_lines.append(line.strip()[len("perfbpf agent: "):])
            if re.match(r"perfbpf agent: period [1-9]", line) and agent.poll() is None:
                period_ends.append(status_kib(agent.pid))
    threading.Thread(target=read_log, daemon=True).start()
    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end and agent.poll() is None:
        samples.append(status_kib(agent.pid))
        time.sleep(1)
    cpu = cpu_s(agent.pid) if agent.poll() is None else float("nan")
    agent.send_signal(signal.SIGTERM)
    rc = agent.wait(120)
    target.kill()
    target.wait()
    load_after = os.getloadavg()
    if stress:
        stress.terminate()
        stress.wait()
    files = glob.glob(os.path.join(out_dir, "perfbpf-*"))
    # The trend, not the noise: the first period is the warm-up (everything allocated once),
    # then the Theil-Sen slope of RSS over the period ends, over the whole run, relative to the
    # median. Single readings move by a few MiB either way with what the machine runs.
    steady = period_ends[1:]
    growth = theil_sen_growth([p[0] for p in steady])
    peak = max(samples) if samples else None
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": "stress-ng --cpu %d beside the agent" % args.stress_cpu if args.stress_cpu else "no load added",
        "load_average_1m_before_after": [load_before[0], load_after[0]],
        "simulated_hours": args.minutes / 60 * 10,
        "periods": len(period_ends),
        "rss_kib_at_period_ends": [p[0] for p in period_ends],
        "anon_kib_at_period_ends": [p[1] for p in period_ends],
        "file_kib_at_period_ends": [p[2] for p in period_ends],
        "agent_log_at_period_ends": agent_lines,
        # The largest RSS read during the periods, and what it was made of: sessions' symbol
        # tables, mapped debug sections and BPF ring buffers live while a period runs.
        "rss_kib_peak": peak[0] if peak else None,
        "rss_kib_peak_anon_file": [peak[1], peak[2]] if peak else None,
        "rss_growth_over_the_run": growth,
        "anon_growth_over_the_run": theil_sen_growth([p[1] for p in steady]),
        "rss_growth_first_to_last_period": (period_ends[-1][0] - period_ends[0][0]) / period_ends[0][0] if period_ends else None,
        "agent_cpu_s": cpu,
        "files_kept": len(files),
        "bytes_kept": sum(os.path.getsize(p) for p in files),
        "exit_code": rc,
        "target": "growth < 0.05",
        "pass": growth < 0.05 and rc == 0,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""`perfbpf agent` under a test supervisor for 60 s, with a process planted after it started.

    test_agent.py PERFBPF WORKLOADS_DIR

The supervisor (this script) starts the agent with a config of 12-second periods, a probe on
serve_target's handle_request, a small output cap, and /metrics on a free loopback port. It
checks that the planted serve_target is found and probed (its calls appear in /metrics with its
pid), that periods end with a JSON report and a pprof profile that go tool pprof reads, that a
SIGHUP after the config changed ends the period, reloads (the new period has the new interval)
and keeps serving, that the output directory never holds more than the cap at the end of a
period, and that SIGTERM ends the agent with exit 0 and a last report.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from checks import Failures, need_root

CAP_MB = 0.5


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metrics(url):
    """/metrics, or "" while a period's first snapshot is not there yet (503)."""
    try:
        return get(url + "metrics")
    except urllib.error.HTTPError as e:
        if e.code != 503:
            raise
        return ""


class Log:
    """The agent's stderr, read on a thread so the supervisor can wait for lines."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            sys.stdout.write("agent| " + line)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, pattern, timeout, start=0):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    m = re.search(pattern, self.lines[i])
                    if m:
                        return m, i + 1
                left = end - time.monotonic()
                if left <= 0:
                    return None, len(self.lines)
                self.cond.wait(left)


def write_config(path, out_dir, interval):
    with open(path, "w") as f:
        json.dump({"listen": "127.0.0.1:0", "output_dir": out_dir, "period_s": 12, "interval_s": interval,
                   "sample_freq": 19, "collectors": ["sched", "memory"], "max_output_mb": CAP_MB,
                   "process_scan_s": 0.2, "probes": [{"process": "serve_target", "functions": ["handle_request"]}]}, f)


def total_size(out_dir):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(out_dir, "perfbpf-*")))


def periods_left(out_dir):
    """How many periods' files remain (their names end with the period's time stamp)."""
    return len({re.sub(r"^.*-(\d{8}T[\d.]+Z)\..*$", r"\1", os.path.basename(p))
                for p in glob.glob(os.path.join(out_dir, "perfbpf-*"))})


def main():
    perfbpf, workloads = sys.argv[1:3]
    need_root()
    t = Failures()
    work = tempfile.mkdtemp(prefix="perfbpf-agent-")
    out_dir, config = os.path.join(work, "out"), os.path.join(work, "agent.json")
    write_config(config, out_dir, 0.5)
    started = time.monotonic()
    agent = subprocess.Popen([perfbpf, "agent", "--config", config], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = Log(agent.stderr)
    planted = None
    try:
        m, at = log.wait_for(r"dashboard at (http://\S+/),", 60)
        t.check(m is not None, "the agent serves its dashboard and /metrics")
        if not m:
            return t.finish()
        url = m.group(1)
        planted = subprocess.Popen([os.path.join(workloads, "serve_target"), "loop", os.path.join(work, "log")],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        # Any other serve_target running is probed too, as it should be: wait for this one.
        m, at = log.wait_for(r"probing serve_target \(pid %d\)" % planted.pid, 30, at)
        t.check(m is not None, "the planted serve_target (pid %d) is found and probed" % planted.pid)
        series = 'perfbpf_function_calls_total{function="handle_request",object="%s",pid="%d"}' % (
            os.path.join(workloads, "serve_target"), planted.pid)
        calls, end = 0, time.monotonic() + 30
        while time.monotonic() < end and calls == 0:
            mm = re.search(re.escape(series) + r" (\d+)", metrics(url))
            calls = int(mm.group(1)) if mm else 0
            time.sleep(0.3)
        t.check(calls > 0, "/metrics counts its calls: %s %d" % (series, calls))
        m, at = log.wait_for(r"wrote (\d+) file", 30, at)
        t.check(m is not None and int(m.group(1)) >= 2, "the first period ends with its files (%s)" % (m and m.group(0)))

        # A changed config, then SIGHUP: the period ends early, the new config takes effect.
        write_config(config, out_dir, 0.25)
        time.sleep(3)
        agent.send_signal(signal.SIGHUP)
        m, at = log.wait_for(r"SIGHUP", 10, at)
        t.check(m is not None, "SIGHUP ends the period and reloads")
        m, at = log.wait_for(r"period (\d+) ", 30, at)
        t.check(m is not None and agent.poll() is None, "the agent goes on with period %s" % (m and m.group(1)))
        m2, at = log.wait_for(r"probing serve_target \(pid %d\)" % planted.pid, 30, at)
        t.check(m2 is not None, "the planted process is probed again in the new period")
        calls_after, end = 0, time.monotonic() + 30
        while time.monotonic() < end and calls_after == 0:
            mm = re.search(re.escape(series) + r" (\d+)", metrics(url))
            calls_after = int(mm.group(1)) if mm else 0
            time.sleep(0.3)
        t.check(calls_after > 0, "/metrics serves the new period's calls (%d)" % calls_after)
        # The new period's first snapshot replaces the last one of the old period.
        interval, end = None, time.monotonic() + 30
        while time.monotonic() < end and interval != 0.25:
            interval = json.loads(get(url + "report.json")).get("system", {}).get("interval_s")
            time.sleep(0.3)
        t.check(interval == 0.25, "the reloaded config is in force (interval_s %s)" % interval)

        # Run to 60 s in all; the cap holds at the end of every period: the files are within it,
        # or (a period larger than the cap alone) only the period just written is left.
        sizes, within = [], True
        while time.monotonic() - started < 60:
            m, at = log.wait_for(r"wrote \d+ file", max(0.1, 60 - (time.monotonic() - started)), at)
            if m:
                size, stamps = total_size(out_dir), periods_left(out_dir)
                sizes.append((size, stamps))
                within = within and (size <= CAP_MB * 1024 * 1024 or stamps == 1)
        t.check(sizes and within, "output_dir within %s MB after each period (bytes, periods left): %s"
                % (CAP_MB, sizes))
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(60)
        t.check(rc == 0, "SIGTERM ends the agent with exit 0 (%d)" % rc)
        # Each period's end says what the agent holds; the heap in use (glibc's own account) is
        # what the period's sessions left behind: the same after every period but the first.
        def memory_lines():
            text = "".join(log.lines)
            return (len(re.findall(r"wrote \d+ file", text)),
                    [float(x) for x in re.findall(r"memory after period \d+: rss [\d.]+ MiB .*heap in use ([\d.]+) MiB", text)])
        written, heap = memory_lines()
        end = time.monotonic() + 5  # the reader thread may still be on the exited agent's last lines
        while len(heap) < written and time.monotonic() < end:
            time.sleep(0.1)
            written, heap = memory_lines()
        t.check(len(heap) == written and len(heap) >= 3, "every period's end logs the agent's memory (%d of %d)"
                % (len(heap), written))
        t.check(heap and max(heap[1:] or heap) <= heap[0] + 1.0,
                "the heap in use between periods stays flat (MiB after each period: %s)" % heap)
        removed = sum(int(x) for x in re.findall(r"removed (\d+) old", "".join(log.lines)))
        t.check(removed > 0, "rotation removed %d old files to stay under the cap" % removed)
        t.check(total_size(out_dir) <= CAP_MB * 1024 * 1024 or periods_left(out_dir) == 1,
                "%d bytes left in output_dir, %d period(s)" % (total_size(out_dir), periods_left(out_dir)))
        reports = sorted(glob.glob(os.path.join(out_dir, "perfbpf-system-*.json")))
        profiles = sorted(glob.glob(os.path.join(out_dir, "perfbpf-system-*.pb.gz")))
        processes = sorted(glob.glob(os.path.join(out_dir, "perfbpf-serve_target-%d-*.json" % planted.pid)))
        t.check(reports and profiles and processes, "system reports %d, profiles %d, process reports %d remain"
                % (len(reports), len(profiles), len(processes)))
        if processes:
            p = json.load(open(processes[-1]))
            t.check(p["functions"][0]["calls"] > 0, "the last process report counts %d calls of handle_request"
                    % p["functions"][0]["calls"])
        if profiles:
            r = subprocess.run(["go", "tool", "pprof", "-top", profiles[-1]], capture_output=True, text=True,
                               env=dict(os.environ, GOCACHE="/tmp/perfbpf-go-cache"))
            t.check(r.returncode == 0 and "Total samples" in r.stdout, "go tool pprof reads the agent's profile")
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        if planted:
            planted.kill()
            planted.wait()
        shutil.rmtree(work, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())

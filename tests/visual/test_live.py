#!/usr/bin/python3
"""A live session's dashboard in headless Chromium and its /metrics scraped by a real
Prometheus server (Debian's), both while the session runs.

    test_live.py PERFBPF WORKLOADS_DIR OUT_DIR

perfbpf --serve 127.0.0.1:0 times serve_target's functions. The target handles N requests, says
so, then waits on its stdin: the numbers stop moving while the session still runs, so what
Prometheus scraped, what the dashboard shows and the final report can be compared exactly.
  - Chromium: the dashboard loads without a console error, updates each interval, its CPU
    chart holds the points of the report it rendered, the flame graph zooms; screenshot kept.
  - Prometheus: scrapes every second; a PromQL query of the call counter returns N, the
    report's count; histogram_quantile() over the buckets lands in the bucket holding the
    report's p99; the p99 query of docs/fleet.md runs; `promtool check metrics` passes on
    the live exposition.
  - The session ends when the target does; the final report has N calls; the server is gone.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from cdp import Browser
from checks import Failures, check_flamegraph, need_root

REQUESTS = 6000


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_line_with(stream, needle, timeout):
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line, seen
    return None, seen


class Prometheus:
    def __init__(self, target, workdir):
        self.port = free_port()
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                    "  - job_name: perfbpf\n    static_configs:\n      - targets: ['%s']\n" % target)
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))

    def query(self, promql):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": promql}))
        return json.loads(get(url))["data"]["result"]

    def wait_ready(self, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if "Ready" in get("http://127.0.0.1:%d/-/ready" % self.port, 2):
                    return True
            except OSError:
                time.sleep(0.2)
        return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    perfbpf, workloads, out = sys.argv[1:4]
    need_root()
    t = Failures()
    shots = os.path.join(out, "screenshots")
    work = tempfile.mkdtemp(prefix="perfbpf-live-")
    report_path = os.path.join(work, "r.json")
    session = subprocess.Popen(
        [perfbpf, "-q", "--serve", "127.0.0.1:0", "-f", "handle_request", "-f", "parse_request", "-f", "write_log",
         "--sample-freq", "199", "--off-cpu", "-i", "0.5", "-o", report_path, "--",
         os.path.join(workloads, "serve_target"), str(REQUESTS), os.path.join(work, "log")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prometheus = None
    try:
        line, seen = read_line_with(session.stderr, "dashboard at", 60)
        t.check(line is not None, "perfbpf says where the dashboard is: %s" % (line or "".join(seen)))
        if line is None:
            return t.finish()
        url = line.split("dashboard at ")[1].split(",")[0].strip()
        t.check(url.startswith("http://127.0.0.1:"), "it listens on loopback: " + url)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        prometheus = Prometheus("127.0.0.1:%d" % port, work)
        t.check(prometheus.wait_ready(), "prometheus is ready on 127.0.0.1:%d" % prometheus.port)

        with Browser(work) as browser:
            page = browser.open(url)
            page.wait_for("document.body.getAttribute('data-rendered') !== null")
            first = page.eval("document.body.getAttribute('data-rendered')")
            page.wait_for("document.body.getAttribute('data-rendered') !== %s" % json.dumps(first), timeout=30)
            second = page.eval("document.body.getAttribute('data-rendered')")
            page.wait_for("document.body.getAttribute('data-rendered') !== %s" % json.dumps(second), timeout=30)
            t.check(True, "the dashboard updates while the session runs (%s s, %s s, ...)" % (first, second))
            # The target is done: the counts stop moving, the dashboard catches up with them.
            done, _ = read_line_with(session.stdout, "requests=", 300)
            t.check(done is not None and done.strip() == "requests=%d" % REQUESTS, "the target handled %s" % done)
            page.wait_for("perfbpfReport.state.report.functions.some(f => f.demangled === 'handle_request' && "
                          "f.calls === %d)" % REQUESTS, timeout=30)
            page.wait_for("perfbpfReport.state.report.stacks && perfbpfReport.state.report.stacks.samples > 0", 30)
            cpu = page.eval("[perfbpfReport.charts['chart-cpu'].data.datasets[0].data.map(p => [p.x, p.y]),"
                            " perfbpfReport.state.report.system.series.map(s => [s.t, s.cpu_pct])]")
            t.check(cpu[0] == cpu[1] and len(cpu[0]) > 2,
                    "the live CPU chart holds the %d points of the report it shows" % len(cpu[1]))
            shown = page.eval("document.querySelector('#functions-grid tbody tr[data-fn=handle_request] td:nth-child(2)')"
                              ".textContent")
            t.check(shown.replace(",", "") == str(REQUESTS), "the table shows %s calls of handle_request" % shown)
            live_report = json.loads(get(url + "report.json"))
            t.check(live_report["session"]["end_reason"] == "running", "/report.json is the report so far")
            page.wait_for("!!document.querySelector('#flamegraph-cpu svg.perfbpf-flamegraph')", timeout=30)
            stacks = page.eval("perfbpfReport.state.report.stacks")
            page.pump(1.5)  # the next refresh of the flame graphs lands, then no more while zoomed
            check_flamegraph(page, t, "document.querySelector('#flamegraph-cpu svg')",
                             json.loads(get(url + "report.json"))["stacks"], "handle_request", "handle_request",
                             "dashboard flame graph") if stacks else None
            page.click_element("document.querySelector('#flamegraph-cpu .reset')")
            t.check(not page.errors, "the dashboard runs without a console error %s" % page.errors)
            page.screenshot(os.path.join(shots, "dashboard.png"))

        # Prometheus: the scraped counter reaches the report's count and stays there.
        promql = 'perfbpf_function_calls_total{function="handle_request"}'
        value, end = None, time.monotonic() + 60
        while time.monotonic() < end:
            result = prometheus.query(promql)
            value = result[0]["value"][1] if result else None
            if value == str(REQUESTS):
                break
            time.sleep(0.5)
        t.check(value == str(REQUESTS), "PromQL %s = %s, the report's %d" % (promql, value, REQUESTS))
        metrics = get(url + "metrics")
        lint = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
        t.check(lint.returncode == 0, "promtool check metrics passes on the live exposition %s" % lint.stdout)
        live_report = json.loads(get(url + "report.json"))
        p99 = next(f for f in live_report["functions"] if f["demangled"] == "parse_request")["latency_ns"]["p99"] / 1e9
        q = prometheus.query('histogram_quantile(0.99, perfbpf_function_latency_seconds_bucket{function="parse_request"})')
        estimate = float(q[0]["value"][1]) if q else float("nan")
        bounds = [float(x) for x in ("1e-07 2.5e-07 5e-07 1e-06 2.5e-06 5e-06 1e-05 2.5e-05 5e-05 0.0001 0.00025 0.0005 "
                                     "0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 25 50 100").split()]
        upper = min([b for b in bounds if b >= estimate] or [float("inf")])
        lower = max([b for b in bounds if b < upper] or [0])
        t.check(lower <= p99 <= upper * 1.004,
                "histogram_quantile(0.99) = %.3g s lies in the bucket (%g, %g] holding the report's p99 %.3g s"
                % (estimate, lower, upper, p99))
        # rate() needs two samples of a series in its window: on a fast machine the counter is
        # final at the first scrape after the requests, so wait for a second scrape first.
        scrapes, end = 0, time.monotonic() + 60
        while time.monotonic() < end:
            result = prometheus.query('count_over_time(%s[1m])' % promql)
            scrapes = int(result[0]["value"][1]) if result else 0
            if scrapes >= 2:
                break
            time.sleep(0.5)
        fleet = prometheus.query('histogram_quantile(0.99, sum by (function, le) '
                                 '(rate(perfbpf_function_latency_seconds_bucket[1m])))')
        t.check(len(fleet) >= 3, "the fleet p99 query of docs/fleet.md returns a series per function (%d, %d scrapes)"
                % (len(fleet), scrapes))

        session.stdin.close()  # the target exits, and with it the session
        rc = session.wait(120)
        t.check(rc == 0, "the session ended with the target (exit %d)" % rc)
        final = json.load(open(report_path))
        calls = next(f for f in final["functions"] if f["demangled"] == "handle_request")["calls"]
        t.check(calls == REQUESTS, "the final report has %d calls of handle_request, Prometheus had %s" % (calls, value))
        try:
            get(url + "metrics", 2)
            t.check(False, "the server stopped with the session")
        except OSError:
            t.check(True, "the server stopped with the session")
    finally:
        if session.poll() is None:
            session.send_signal(signal.SIGINT)
            session.wait(60)
        if prometheus:
            prometheus.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("screenshots in " + shots)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())

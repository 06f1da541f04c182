#!/usr/bin/python3
"""The HTML report and the SVG flame graph of a real session, in headless Chromium.

    test_html_report.py PERFBPF WORKLOADS_DIR OUT_DIR

A session on serve_target (on-CPU and off-CPU stacks, four timed functions, every collector)
writes the JSON report, the HTML report and the SVG flame graph. In Chromium: no console error;
the functions table sorts and selects; the histogram and the CPU chart hold exactly the report's
numbers; each flame graph zooms on a real click, searches through its prompt with the matched
share the report's stacks give, and resets. `perfbpf report` then renders every format from the
saved report byte for byte as the session did. Screenshots stay in OUT_DIR/screenshots.
"""
import os
import shutil
import sys
import tempfile

from cdp import Browser
from checks import Failures, check_flamegraph, load, need_root, run


def check_shares(page, t, report):
    headers = page.eval("Array.from(document.querySelectorAll('#functions-grid th')).map(h => h.textContent)")
    cells = page.eval("Object.fromEntries(Array.from(document.querySelectorAll('#functions-grid tbody tr'))"
                      ".map(r => [r.dataset.fn, Array.from(r.cells).map(c => c.textContent)]))")
    t.check("% of session" not in headers, "no column sums threads' time over the session's wall time: %s" % headers)
    wall_ns = report["session"]["duration_s"] * 1e9
    col = {h: i for i, h in enumerate(headers)}
    for f in report["functions"]:
        row = cells[f["demangled"]]
        threads = f["threads"]
        t.check(abs(sum(x["total_ns"] for x in threads) - f["latency_ns"]["total"]) <= 1,
                "%s: its threads' times add up to its total" % f["demangled"])
        want = {"% of thread time": 100 * f["latency_ns"]["total"] / (wall_ns * len(threads)),
                "busiest thread": 100 * max(x["total_ns"] for x in threads) / wall_ns}
        for name, value in want.items():
            shown = float(row[col[name]].rstrip("%"))
            # The cell shows one decimal: the report's figure rounded.
            t.check(abs(shown - value) <= 0.05 + 1e-9, "%s: %s shows %.1f%% (the report gives %.3f%%)" %
                    (f["demangled"], name, shown, value))
        if f["demangled"] == "handle_request":
            t.check(len(threads) == 2 and f["latency_ns"]["total"] > wall_ns,
                    "handle_request ran on 2 threads, %.0f%% of the wall time summed (the case a share of the session "
                    "would pass 100 %%)" % (100 * f["latency_ns"]["total"] / wall_ns))
    for name in headers:
        if "%" in name or "thread" in name or "session" in name:
            for fn, row in cells.items():
                v = float(row[col[name]].rstrip("%"))
                t.check(0 <= v <= 100, "%s's '%s' is a share within 0-100 %% (%.1f%%)" % (fn, name, v))
    legend = page.eval("document.querySelector('#functions-legend').textContent")
    t.check("% of thread time" in legend and "busiest thread" in legend, "the legend says what the shares are")


def main():
    perfbpf, workloads, out = sys.argv[1:4]
    need_root()
    t = Failures()
    shots = os.path.join(out, "screenshots")
    work = tempfile.mkdtemp(prefix="perfbpf-html-")
    files = {name: os.path.join(work, name) for name in
             ("r.json", "r.html", "r.svg", "r.pb.gz", "r.speedscope.json", "r.prom", "r.folded")}
    r = run([perfbpf, "-q", "-f", "handle_request", "-f", "parse_request", "-f", "render_response", "-f", "write_log",
             "--sample-freq", "499", "--off-cpu", "-i", "0.1", "-o", files["r.json"], "--html", files["r.html"],
             "--flamegraph-off-cpu", files["r.svg"], "--pprof", files["r.pb.gz"], "--speedscope", files["r.speedscope.json"],
             "--metrics-file", files["r.prom"], "--folded", files["r.folded"], "--threshold",
             "function:handle_request.p99=100us", "--", os.path.join(workloads, "serve_target"), "20000",
             os.path.join(work, "log")], stdin=open(os.devnull))
    print(r.stderr)
    t.check(r.returncode == 0, "the session ran (exit %d)" % r.returncode)
    if r.returncode != 0:
        return t.finish()
    report = load(files["r.json"])
    os.makedirs(os.path.join(out, "pprof"), exist_ok=True)  # for the go tool pprof test
    shutil.copy(files["r.pb.gz"], os.path.join(out, "pprof", "session.pb.gz"))
    shutil.copy(files["r.json"], os.path.join(out, "pprof", "session.json"))
    t.check(os.path.getsize(files["r.html"]) < 2_000_000, "the HTML report is %d bytes" % os.path.getsize(files["r.html"]))

    with Browser(work) as browser:
        page = browser.open("file://" + files["r.html"])
        page.wait_for("document.body.getAttribute('data-rendered') !== null")
        page.pump(0.5)
        t.check(not page.errors, "the HTML report loads without a console error %s" % page.errors)
        rows = page.eval("document.querySelectorAll('#functions-grid tbody tr').length")
        t.check(rows == len(report["functions"]), "the table has a row per function (%d)" % rows)

        # Sorting: click the "calls" header; the rows follow the report's calls, descending.
        page.click_element("document.querySelector('#functions-grid th[data-key=calls]')")
        shown = page.eval("Array.from(document.querySelectorAll('#functions-grid tbody tr')).map(r => r.dataset.fn)")
        by_calls = [f["demangled"] for f in sorted(report["functions"], key=lambda f: -f["calls"])]
        t.check(shown == by_calls, "a click on 'calls' sorts by calls: %s" % shown)

        # Shares: every column labelled as a share holds what the report's numbers give, and none
        # labelled a share of the session or of thread time passes 100 % (handle_request runs on
        # two threads at once: its summed time over the wall time alone would be ~200 %).
        check_shares(page, t, report)

        # Select write_log: its histogram is drawn with exactly the report's buckets and percentiles.
        page.click_element("document.querySelector('#functions-grid tbody tr[data-fn=write_log]')")
        f = next(f for f in report["functions"] if f["demangled"] == "write_log")
        points = page.eval("perfbpfReport.charts['chart-histogram'].data.datasets[0].data.filter(p => p.y > 0)"
                           ".map(p => [p.x, p.y])")
        want = [[max(1, b), c] for b, c in zip(f["histogram"]["bounds_ns"], f["histogram"]["counts"])]
        t.check(points == want, "the histogram of write_log is the report's %d buckets" % len(want))
        marks = page.eval("perfbpfReport.charts['chart-histogram'].options.plugins.perfbpfMarks.marks.map(m => m.value)")
        lat = f["latency_ns"]
        t.check(marks == [lat["p50"], lat["p90"], lat["p99"], lat["p999"]],
                "p50/p90/p99/p99.9 are marked at the report's values %s" % marks)
        t.check(page.eval("perfbpfReport.charts['chart-histogram'].options.scales.x.type") == "logarithmic",
                "the histogram's latency axis is logarithmic")

        # The CPU chart: one point per interval, the report's cpu_pct at its t.
        cpu = page.eval("perfbpfReport.charts['chart-cpu'].data.datasets[0].data.map(p => [p.x, p.y])")
        series = report["system"]["series"]
        t.check(cpu == [[s["t"], s["cpu_pct"]] for s in series], "the CPU chart has the report's %d points" % len(series))
        p99 = page.eval("perfbpfReport.charts['chart-function-p99'].data.datasets.map(d => d.label)")
        t.check("handle_request" in p99, "per-function p99 over time is drawn for %s" % p99)
        alerts = report.get("analysis", {}).get("alerts", [])
        marked = page.eval("perfbpfReport.charts['chart-function-p99'].options.plugins.perfbpfMarks.marks.length")
        t.check(marked == len([a for a in alerts if a["metric"].startswith("function.")]),
                "the %d function alerts are marked on the p99 chart" % marked)
        lost = page.eval("document.querySelector('#quality-table').textContent")
        t.check("function call records lost" in lost and "perfbpf's own peak RSS" in lost,
                "losses and perfbpf's own overhead are shown")
        page.screenshot(os.path.join(shots, "html-report.png"))

        check_flamegraph(page, t, "document.querySelector('#flamegraph-cpu svg')", report["stacks"], "parse_request",
                         "handle_request", "HTML on-CPU flame graph")
        check_flamegraph(page, t, "document.querySelector('#flamegraph-off-cpu svg')", report["off_cpu"], "fdatasync",
                         "fdatasync", "HTML off-CPU flame graph")
        page.screenshot(os.path.join(shots, "html-report-flamegraphs-searched.png"))
        t.check(not page.errors, "no console error after the interactions %s" % page.errors)

        # The standalone SVG of the off-CPU time (--flamegraph-off-cpu): the same script, the same checks.
        svg = browser.open("file://" + files["r.svg"])
        svg.pump(0.3)
        t.check(not svg.errors, "the SVG flame graph loads without a console error %s" % svg.errors)
        check_flamegraph(svg, t, "document.documentElement", report["off_cpu"], "fdatasync|nanosleep",
                         "fdatasync", "SVG flame graph")
        svg.click_element("document.querySelector('.frames g[data-name=fdatasync] rect')")
        svg.screenshot(os.path.join(shots, "svg-flamegraph-zoomed.png"))
        t.check(not svg.errors, "no console error in the SVG after the interactions %s" % svg.errors)

        # The synthetic 10-minute, 20-function report the unit tests wrote renders too.
        synthetic = os.path.join(out, "html", "synthetic-10min-20fn.html")
        if os.path.exists(synthetic):
            big = browser.open("file://" + synthetic)
            big.wait_for("document.body.getAttribute('data-rendered') !== null")
            t.check(not big.errors, "the 10-minute synthetic report renders without error %s" % big.errors)
            big.screenshot(os.path.join(shots, "html-synthetic-10min-20fn.png"))

    # Every format again from the saved report, without a session: the same bytes.
    for name, option in (("r.html", "--html"), ("r.svg", "--flamegraph-off-cpu"), ("r.pb.gz", "--pprof"),
                         ("r.speedscope.json", "--speedscope"), ("r.prom", "--metrics-file"), ("r.folded", "--folded")):
        again = files[name] + ".again"
        rr = run([perfbpf, "report", files["r.json"], option, again])
        same = rr.returncode == 0 and open(again, "rb").read() == open(files[name], "rb").read()
        t.check(same, "perfbpf report %s %s renders what the session wrote %s" % (files["r.json"], option, rr.stderr))
    shutil.rmtree(work, ignore_errors=True)
    print("screenshots in " + shots)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The HTML report's split view of a --decompose session, in headless Chromium.

    test_html_decompose.py PERFBPF WORKLOADS_DIR OUT_DIR

A session on decompose_target (each call spins, sleeps, writes with O_DIRECT + fsync and waits
on a mutex another thread holds) writes the JSON and the HTML report. In Chromium: no console
error; "Where the time went" holds a row for all calls and one for the p99 calls, each part's
share what the report's totals give; the slowest calls are listed in the report's order with
their durations, parts and the longest wait's kind and stack, frame by frame. A session without
--decompose leaves the section hidden.
"""
import os
import sys
import tempfile

from cdp import Browser
from checks import Failures, load, need_root, run

PARTS = ["on_cpu", "runqueue", "io", "lock", "sleep"]


def session(perfbpf, workloads, work, name, decompose):
    files = {k: os.path.join(work, name + k) for k in (".json", ".html")}
    r = run([perfbpf, "-q", "-f", "slow_request", "--sample-freq", "0", "--collectors", "none", "-o", files[".json"],
             "--html", files[".html"], *(["--decompose"] if decompose else []), "--",
             os.path.join(workloads, "decompose_target"), "6", "/var/tmp/perfbpf-html-decompose-%d" % os.getpid()],
            stdin=open(os.devnull))
    return r, files


def shares(d):
    total = sum(d[p]["total"] for p in PARTS)
    return {p: 100.0 * d[p]["total"] / total if total else 0.0 for p in PARTS}


def main():
    perfbpf, workloads, out = sys.argv[1:4]
    need_root()
    t = Failures()
    shots = os.path.join(out, "screenshots")
    os.makedirs(shots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="perfbpf-html-decompose-")
    r, files = session(perfbpf, workloads, work, "split", True)
    t.check(r.returncode == 0, "the --decompose session ran (exit %d): %s" % (r.returncode, r.stderr))
    if r.returncode != 0:
        return t.finish()
    plain, plain_files = session(perfbpf, workloads, work, "plain", False)
    t.check(plain.returncode == 0, "the plain session ran (exit %d)" % plain.returncode)
    report = load(files[".json"])
    f = report["functions"][0]
    t.check("decomposition_ns" in f and f["slowest_calls"], "the report has the split and the slowest calls")
    if "decomposition_ns" not in f:
        return t.finish()

    with Browser(work) as browser:
        page = browser.open("file://" + files[".html"])
        page.wait_for("document.body.getAttribute('data-rendered') !== null")
        page.pump(0.3)
        t.check(not page.errors, "the HTML report loads without a console error %s" % page.errors)
        t.check(page.eval("document.querySelector('#decomposition').hidden") is False,
                "'Where the time went' is shown for a --decompose report")
        rows = page.eval("Array.from(document.querySelectorAll('#decomposition-grid tbody tr')).map(r => "
                         "({fn: r.dataset.fn, band: r.dataset.band, cells: Object.fromEntries(Array.from("
                         "r.querySelectorAll('td[data-part]')).map(c => [c.dataset.part, [Number(c.dataset.share), "
                         "c.textContent]]))}))")
        t.check([(x["fn"], x["band"]) for x in rows] == [(f["demangled"], "all"), (f["demangled"], "p99")],
                "a row for all calls and one for the p99 calls: %s" % [(x["fn"], x["band"]) for x in rows])
        for row, split in zip(rows, [f["decomposition_ns"], f["decomposition_ns"]["p99_calls"]]):
            want = shares(split)
            for part in PARTS:
                share, text = row["cells"].get(part, [None, ""])
                t.check(share is not None and abs(share - want[part]) < 1e-6,
                        "%s calls, %s: share %s%% is the report's %.4f%%" % (row["band"], part, share, want[part]))
                t.check(text.startswith("%.1f%%" % want[part]), "%s calls, %s shows '%s'" % (row["band"], part, text))
            t.check(abs(sum(row["cells"][p][0] for p in PARTS) - 100) < 1e-6, "%s calls' shares sum to 100 %%" % row["band"])
        # The workload's calls block on all four kinds: each shows, none is hidden at zero.
        for part in ("on_cpu", "io", "lock", "sleep"):
            t.check(rows[0]["cells"][part][0] > 1, "all calls: %s has a visible share" % part)

        calls = page.eval("Array.from(document.querySelectorAll('.slow-calls > ol > li')).map(li => ({d: "
                          "Number(li.dataset.duration), text: li.textContent, frames: Array.from("
                          "li.querySelectorAll('.wait-stack li')).map(x => x.textContent), holder: Array.from("
                          "li.querySelectorAll('.holder-stack li')).map(x => x.textContent)}))")
        want_calls = f["slowest_calls"]
        t.check([c["d"] for c in calls] == [c["duration_ns"] for c in want_calls],
                "the %d slowest calls in the report's order" % len(want_calls))
        for shown, c in zip(calls, want_calls):
            t.check(("tid %d" % c["tid"]) in shown["text"], "slow call shows its thread %d" % c["tid"])
            if "wait" in c:
                w = c["wait"]
                t.check("(%s)" % w["kind"] in shown["text"], "slow call shows its longest wait's kind %s" % w["kind"])
                t.check(shown["frames"] == ["%s %s" % (fr["name"], fr["object"]) for fr in w["stack"]],
                        "the wait's %d frames, in order" % len(w["stack"]))
                if "holder_tid" in w:
                    t.check(("lock held by tid %d" % w["holder_tid"]) in shown["text"], "the lock holder is named")
                t.check(shown["holder"] == ["%s %s" % (fr["name"], fr["object"]) for fr in w.get("holder_stack", [])],
                        "the holder's %d frames, in order" % len(w.get("holder_stack", [])))
        # Each call's 5 ms lock wait is its longest, ended by the holder's unlock: its stack is kept.
        t.check(any(c.get("wait", {}).get("holder_stack") for c in want_calls), "a lock holder's stack is in the report")
        page.screenshot(os.path.join(shots, "html-decomposition.png"))
        t.check(not page.errors, "no console error %s" % page.errors)

        if plain.returncode == 0:
            page = browser.open("file://" + plain_files[".html"])
            page.wait_for("document.body.getAttribute('data-rendered') !== null")
            t.check(page.eval("document.querySelector('#decomposition').hidden") is True,
                    "without --decompose the section stays hidden")
            t.check(not page.errors, "the plain report loads without a console error %s" % page.errors)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())

"""Checks shared by the browser tests: flame graphs (zoom, search, reset) against the report's
stacks, chart data against the report's numbers, and small process helpers."""
import json
import os
import re
import subprocess
import sys

SKIP = 77  # ctest: skipped (scripts/test.sh fails on it when running as root)


def need_root():
    if os.geteuid() != 0:
        print("SKIPPED: needs root to run perfbpf sessions (CAP_BPF + CAP_PERFMON)")
        sys.exit(SKIP)


class Failures:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, len(self.failed)))
        return 1 if self.failed else 0


def load(path):
    with open(path) as f:
        return json.load(f)


def expected_match(stacks, pattern, width_px=1180.0, min_px=0.1):
    """What a flame-graph search for PATTERN must report, from the report's stacks: each stack
    counted once if a frame of it matches, however many do (names as the graph shows them:
    "all", the process, frames with " [k]" on kernel ones). Returns (drawn, truth, total): the
    graph leaves out frames narrower than MIN_PX, so DRAWN counts a stack only when a matching
    frame of it is drawn, and TRUTH whether drawn or not."""
    regex = re.compile(pattern)
    paths, total = [], 0
    for s in stacks["stacks"]:
        total += s["count"]
        names = ["all", stacks["processes"].get(str(s["tgid"]), "pid-%d" % s["tgid"])]
        for i in s["frames"]:
            f = stacks["frames"][i]
            names.append(f["name"] + (" [k]" if f["kernel"] else ""))
        paths.append((names, s["count"]))
    node_count = {}
    for names, count in paths:
        for depth in range(1, len(names) + 1):
            key = tuple(names[:depth])
            node_count[key] = node_count.get(key, 0) + count
    drawn = truth = 0
    for names, count in paths:
        matches = [regex.search(n) is not None for n in names]
        truth += count if any(matches) else 0
        for depth in range(1, len(names) + 1):
            if node_count[tuple(names[:depth])] * width_px / max(total, 1) < min_px:
                break
            if matches[depth - 1]:
                drawn += count
                break
    return drawn, truth, total


def check_flamegraph(page, t, svg_js, stacks, pattern, zoom_name, label):
    """SVG_JS: an expression for the <svg> element. Clicks (real mouse events) the widest frame
    named ZOOM_NAME, searches PATTERN through the Search button's prompt, resets."""
    t.check(page.eval("!!(%s).perfbpf" % svg_js), label + ": the flame graph script ran")
    width = page.eval("+(%s).getAttribute('data-width')" % svg_js)
    pad = page.eval("+(%s).getAttribute('data-pad')" % svg_js)
    full = width - 2 * pad
    # Zoom: click the widest frame with that name.
    frame_js = ("Array.from((%s).querySelectorAll('.frames g')).filter(g => g.getAttribute('data-name') === %s)"
                ".sort((a, b) => b.getAttribute('data-w') - a.getAttribute('data-w'))[0].querySelector('rect')"
                % (svg_js, json.dumps(zoom_name)))
    before = page.eval("+(%s).getAttribute('width')" % frame_js)
    page.click_element(frame_js)
    after = page.eval("+(%s).getAttribute('width')" % frame_js)
    zoomed = page.eval("(%s).perfbpf.zoomed && (%s).perfbpf.zoomed.getAttribute('data-name')" % (svg_js, svg_js))
    t.check(zoomed == zoom_name, "%s: a click on %s zooms into it (zoomed: %s)" % (label, zoom_name, zoomed))
    t.check(abs(after - full) < 0.5 and before < full,
            "%s: the zoomed frame spans the width (%.1f px -> %.1f px of %.1f)" % (label, before, after, full))
    hidden = page.eval("Array.from((%s).querySelectorAll('.frames g')).filter(g => g.style.display === 'none').length"
                       % svg_js)
    t.check(hidden > 0, "%s: frames outside the zoomed one are hidden (%d)" % (label, hidden))
    # Search through the button and its prompt, as a user does.
    page.prompt_answer = pattern
    dialogs = len(page.dialogs)
    page.click_element("(%s).querySelector('.search')" % svg_js)
    page.pump(0.3)
    t.check(len(page.dialogs) == dialogs + 1, label + ": Search asks for a regular expression")
    got = page.eval("(%s).perfbpf.matched" % svg_js)
    drawn, truth, total = expected_match(stacks, pattern, width - 2 * pad)
    t.check(got is not None and got["count"] == drawn,
            "%s: search %r matches %s of %d, the report's stacks say %d of what is drawn (%.2f%%), %d in all"
            % (label, pattern, got and got["count"], total, drawn, 100.0 * drawn / max(total, 1), truth))
    # Frames too narrow to draw (< 0.1 px each) can only hide a sliver of the truth.
    t.check(truth - drawn <= total * 1e-4, "%s: frames too narrow to draw hide %d of %d" % (label, truth - drawn, total))
    text = page.eval("(%s).querySelector('.matched').textContent" % svg_js)
    t.check(("%.2f%%" % (100.0 * drawn / max(total, 1))) in text, "%s: the graph shows %r" % (label, text))
    highlighted = page.eval("Array.from((%s).querySelectorAll('.frames rect')).filter(r => r.getAttribute('fill') === "
                            "'rgb(230,0,230)').length" % svg_js)
    t.check(highlighted > 0, "%s: matching frames are highlighted (%d)" % (label, highlighted))
    page.click_element("(%s).querySelector('.reset')" % svg_js)
    root_width = page.eval("+(%s).querySelector('.frames g rect').getAttribute('width')" % svg_js)
    t.check(page.eval("(%s).perfbpf.zoomed" % svg_js) is None and abs(root_width - full) < 0.5,
            label + ": Reset zoom shows the whole graph again")


def run(argv, **kw):
    print("$ " + " ".join(argv), flush=True)
    return subprocess.run(argv, text=True, capture_output=True, **kw)

#!/usr/bin/python3
"""`go tool pprof` (Debian's golang-go) reads perfbpf's pprof output.

    test_pprof.py PROFILE.pb.gz REPORT.json

-raw's sample values, summed per sample type, must equal the report's stacks.samples and
off_cpu.samples; -top and -traces must read the file; the executable's mapping must carry the
build-id the report recorded. REPORT is the JSON report of the same session (or the synthetic
fixture the unit tests wrote with it).
"""
import os
import re
import subprocess
import sys

from checks import Failures, load


def pprof(*args):
    env = dict(os.environ, HOME=os.environ.get("HOME", "/tmp"), GOCACHE="/tmp/perfbpf-go-cache", GOFLAGS="-mod=mod")
    r = subprocess.run(["go", "tool", "pprof"] + list(args), capture_output=True, text=True, env=env, timeout=300)
    return r.returncode, r.stdout + r.stderr


def main():
    profile, report_path = sys.argv[1:3]
    if not os.path.exists(profile) and os.geteuid() != 0:
        print("SKIPPED: %s is written by a session, which needs root" % profile)
        return 77
    report = load(report_path)
    t = Failures()
    rc, raw = pprof("-raw", profile)
    t.check(rc == 0, "go tool pprof -raw reads %s" % profile)
    section = raw.split("Samples:\n", 1)[1].split("Locations", 1)[0] if "Samples:\n" in raw else ""
    header = section.splitlines()[0] if section else ""
    t.check(header.split() == ["samples/count[dflt]", "off_cpu/nanoseconds"] or
            header.split() == ["samples/count", "off_cpu/nanoseconds[dflt]"],
            "two sample types: %r" % header)
    totals = [0, 0]
    for line in section.splitlines()[1:]:
        m = re.match(r"\s*(\d+)\s+(\d+):", line)
        if m:
            totals[0] += int(m.group(1))
            totals[1] += int(m.group(2))
    stacks = (report.get("stacks") or {}).get("samples", 0)
    off = (report.get("off_cpu") or {}).get("samples", 0)
    t.check(totals[0] == stacks, "on-CPU samples: pprof %d, report %d" % (totals[0], stacks))
    t.check(totals[1] == off, "off-CPU ns: pprof %d, report %d" % (totals[1], off))
    for ids in ((report.get("stacks") or {}).get("build_ids", {}), (report.get("off_cpu") or {}).get("build_ids", {})):
        for path, build_id in ids.items():
            t.check(re.search(r"\s%s %s" % (re.escape(path), build_id), raw) is not None,
                    "the mapping of %s carries its build-id %s" % (path, build_id))
    for index in (["-sample_index=samples"] if stacks else []) + (["-sample_index=off_cpu"] if off else []):
        rc, top = pprof("-top", index, profile)
        want = stacks if index.endswith("samples") else off
        m = re.search(r"Total samples = (\S+)", top)
        t.check(rc == 0 and m is not None, "go tool pprof -top %s: %s" % (index, m and m.group(0)))
        if index.endswith("samples") and m:
            t.check(int(m.group(1)) == want, "-top's total %s equals the report's %d" % (m.group(1), want))
        rc, traces = pprof("-traces", index, profile)
        t.check(rc == 0 and traces.count("-----------+") > 0, "go tool pprof -traces %s lists the stacks" % index)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())

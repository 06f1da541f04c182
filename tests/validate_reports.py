#!/usr/bin/python3
"""Validates every report in a directory against docs/report-schema.json with python3-jsonschema,
an implementation independent of perfbpf's own reader. Also proves the schema has teeth: a
report with a required field removed must fail, and so must broken copies of a report's
system and analysis sections.

    validate_reports.py SCHEMA REPORT_DIR
"""
import copy
import json
import pathlib
import sys

import jsonschema


def main() -> int:
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    reports = sorted(pathlib.Path(sys.argv[2]).glob("*.json"))
    if not reports:
        print(f"no reports in {sys.argv[2]}: the unit test that writes them did not run")
        return 1
    failed = 0
    for path in reports:
        report = json.loads(path.read_text())
        errors = sorted(validator.iter_errors(report), key=lambda e: str(list(e.path)))
        for e in errors:
            print(f"FAIL {path.name}: {'/'.join(map(str, e.path))}: {e.message}")
        failed += bool(errors)
        if not errors:
            print(f"ok   {path.name}")

    # Negative checks: each mutation must be rejected.
    base = max((json.loads(p.read_text()) for p in reports), key=lambda r: len(r.get("functions", [])))
    mutations = {
        "session.duration_s removed": lambda r: r["session"].pop("duration_s"),
        "events.lost negative": lambda r: r["events"].__setitem__("lost", -1),
        "schema renamed": lambda r: r.__setitem__("schema", "other/1"),
    }
    if base["functions"]:
        mutations["functions[0].latency_ns removed"] = lambda r: r["functions"][0].pop("latency_ns")
    negatives = [(name, base, mutate) for name, mutate in mutations.items()]

    # The system section is optional at the top, so its shape is checked on a report that has one.
    # The unit test's fixture (system.json) has every part filled (threads, disks, series); a
    # real session's may not, so it is preferred for the mutations.
    loaded = sorted(((p.name != "system.json", json.loads(p.read_text())) for p in reports), key=lambda t: t[0])
    with_system = [r for _, r in loaded if "system" in r]
    if not with_system:
        print(f"FAIL no report in {sys.argv[2]} has a system section: the unit test that writes one did not run")
        failed += 1
        negatives.append(("(no system section to mutate)", None, None))
    else:
        sys_base = with_system[0]
        system = {
            "system.totals.cpu_time_ns as a string": lambda r: r["system"]["totals"].__setitem__("cpu_time_ns", "1"),
            "system.totals.net.retransmits removed": lambda r: r["system"]["totals"]["net"].pop("retransmits"),
            "system.processes[0].threads[0].tid removed": lambda r: r["system"]["processes"][0]["threads"][0].pop("tid"),
            "system.processes[0].cpu_pct negative": lambda r: r["system"]["processes"][0].__setitem__("cpu_pct", -1),
            "system.disks[0].latency_ns.total.histogram removed":
                lambda r: r["system"]["disks"][0]["latency_ns"]["total"].pop("histogram"),
            "system.runqueue_latency_ns.p99 removed": lambda r: r["system"]["runqueue_latency_ns"].pop("p99"),
            "system.series[0].dt removed": lambda r: r["system"]["series"][0].pop("dt"),
            "system.scope unknown": lambda r: r["system"].__setitem__("scope", "host"),
            "system.lost_by_reason negative": lambda r: r["system"]["lost_by_reason"].__setitem__("x", -1),
        }
        negatives += [(name, sys_base, mutate) for name, mutate in system.items()]

    # The analysis section, on the unit test's fixture (analysis.json) that has every part filled.
    with_analysis = [r for _, r in sorted(((p.name != "analysis.json", json.loads(p.read_text())) for p in reports),
                                          key=lambda t: t[0]) if "analysis" in r]
    if not with_analysis:
        print(f"FAIL no report in {sys.argv[2]} has an analysis section: the unit test that writes one did not run")
        failed += 1
    else:
        analysis = {
            "analysis.bottlenecks[0].severity not in the enum":
                lambda r: r["analysis"]["bottlenecks"][0].__setitem__("severity", "severe"),
            "analysis.health.score as a string": lambda r: r["analysis"]["health"].__setitem__("score", "72"),
            "analysis.bottlenecks[0].evidence removed": lambda r: r["analysis"]["bottlenecks"][0].pop("evidence"),
            "analysis.health.grade unknown": lambda r: r["analysis"]["health"].__setitem__("grade", "E"),
            "analysis.trends[0].direction unknown": lambda r: r["analysis"]["trends"][0].__setitem__("direction", "up"),
            "analysis.bottlenecks[0].evidence.data_share above 1":
                lambda r: r["analysis"]["bottlenecks"][0]["evidence"].__setitem__("data_share", 1.5),
            "functions[0].series[0].p99 removed": lambda r: r["functions"][0]["series"][0].pop("p99"),
        }
        negatives += [(name, with_analysis[0], mutate) for name, mutate in analysis.items()]

    for name, base, mutate in negatives:
        if base is None:
            continue
        broken = copy.deepcopy(base)
        mutate(broken)
        if validator.is_valid(broken):
            print(f"FAIL schema accepts a broken report ({name})")
            failed += 1
        else:
            print(f"ok   rejects {name}")
    checks = len(reports) + len(negatives)
    print(f"{checks - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

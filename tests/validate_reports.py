#!/usr/bin/python3
"""Validates every report in a directory against docs/report-schema.json with python3-jsonschema,
an implementation independent of perfbpf's own reader. Also proves the schema has teeth: a
report with a required field removed must fail.

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
    for name, mutate in mutations.items():
        broken = copy.deepcopy(base)
        mutate(broken)
        if validator.is_valid(broken):
            print(f"FAIL schema accepts a broken report ({name})")
            failed += 1
        else:
            print(f"ok   rejects {name}")
    checks = len(reports) + len(mutations)
    print(f"{checks - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

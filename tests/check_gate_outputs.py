#!/usr/bin/python3
"""Checks the gate's outputs with tools independent of perfbpf: every *.json verdict (and
calibration) against docs/gate-schema.json with python3-jsonschema, every *.xml as JUnit with
Python's XML parser: well-formed, one test case per function and statistic, as many failures
as the verdict has failing checks. Also proves the schema has teeth (broken copies must fail).

    check_gate_outputs.py SCHEMA DIR
"""
import copy
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

import jsonschema

STATISTICS = {"mean", "p50", "p90", "p99", "p999", "calls", "total", "on_cpu",
              "cpu_time", "peak_rss", "disk_bytes", "net_bytes"}


def validator_for(schema, definition):
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    cls = jsonschema.validators.validator_for(schema)
    return cls(sub)


def check_junit(path, verdicts, failed):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        print(f"FAIL {path.name}: not well-formed XML: {e}")
        return failed + 1
    problems = []
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag != "testsuites" or len(suites) != 1:
        problems.append("expected <testsuites> holding one <testsuite>")
    cases = [c for s in suites for c in s.findall("testcase")]
    pairs = [(c.get("classname"), c.get("name")) for c in cases]
    if len(set(pairs)) != len(pairs):
        problems.append("a function and statistic appears twice")
    for classname, name in pairs:
        if not classname or not classname.startswith("perfbpf.gate.") or name not in STATISTICS:
            problems.append(f"bad test case {classname!r} {name!r}")
    for s in suites:
        if int(s.get("tests", -1)) != len(cases):
            problems.append(f"tests={s.get('tests')} but {len(cases)} test cases")
        if int(s.get("failures", -1)) != sum(1 for c in cases if c.find("failure") is not None):
            problems.append("failures attribute does not count the <failure> elements")
    verdict = verdicts.get(path.stem)
    if verdict is not None:
        expected = {("perfbpf.gate." + (c["function"] or "target"), c["statistic"]) for c in verdict["checks"]}
        if expected != set(pairs):
            problems.append("test cases differ from the verdict's checks (one per function and statistic)")
        failing = sum(1 for c in cases if c.find("failure") is not None)
        if failing != verdict["summary"]["failing"]:
            problems.append(f"{failing} <failure> but the verdict has {verdict['summary']['failing']} failing checks")
    for p in problems:
        print(f"FAIL {path.name}: {p}")
    if not problems:
        print(f"ok   {path.name}: {len(cases)} test cases")
    return failed + bool(problems)


def main() -> int:
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)
    verdict_v, calibration_v = validator_for(schema, "verdict"), validator_for(schema, "calibration")
    directory = pathlib.Path(sys.argv[2])
    files = sorted(directory.glob("*.json"))
    if not files:
        print(f"no verdicts in {directory}: the tests that write them did not run")
        return 1
    failed, verdicts = 0, {}
    for path in files:
        doc = json.loads(path.read_text())
        is_calibration = "calibration" in doc
        v = calibration_v if is_calibration else verdict_v
        errors = sorted(v.iter_errors(doc), key=lambda e: str(list(e.path)))
        for e in errors:
            print(f"FAIL {path.name}: {'/'.join(map(str, e.path))}: {e.message}")
        verdict = doc["aa"] if is_calibration else doc
        counts = {o: sum(1 for c in verdict["checks"] if c["outcome"] == o)
                  for o in ("regression", "inconclusive", "unresolved", "improved", "pass")}
        for outcome, n in counts.items():
            if verdict["summary"][outcome] != n:
                print(f"FAIL {path.name}: summary.{outcome} is {verdict['summary'][outcome]}, the checks say {n}")
                errors.append(outcome)
        failed += bool(errors)
        if not errors:
            print(f"ok   {path.name}")
        if not is_calibration:
            verdicts[path.stem] = doc

    xmls = sorted(directory.glob("*.xml"))
    if not xmls:
        print(f"FAIL no JUnit files in {directory}")
        failed += 1
    for path in xmls:
        failed = check_junit(path, verdicts, failed)

    # The schema's teeth, on a verdict with a failing check.
    base = next((d for d in verdicts.values() if d["summary"]["failing"] > 0), None)
    negatives = 0
    if base is None:
        print("FAIL no verdict with a regression to mutate")
        failed += 1
    else:
        first_failing = next(i for i, c in enumerate(base["checks"]) if c["fails"])
        mutations = {
            "verdict unknown": lambda d: d.__setitem__("verdict", "maybe"),
            "exit code 2 in a verdict": lambda d: d.__setitem__("exit_code", 2),
            "regression with exit code 0": lambda d: d.__setitem__("exit_code", 0),
            "check outcome unknown": lambda d: d["checks"][0].__setitem__("outcome", "slower"),
            "failing check that is not a regression":
                lambda d: d["checks"][first_failing].__setitem__("outcome", "pass"),
            "summary.checks removed": lambda d: d["summary"].pop("checks"),
            "check statistic unknown": lambda d: d["checks"][0].__setitem__("statistic", "p98"),
            "check change_pct as a string": lambda d: d["checks"][0].__setitem__("change_pct", "5"),
        }
        for name, mutate in mutations.items():
            broken = copy.deepcopy(base)
            mutate(broken)
            negatives += 1
            if verdict_v.is_valid(broken):
                print(f"FAIL schema accepts a broken verdict ({name})")
                failed += 1
            else:
                print(f"ok   rejects {name}")
    checks = len(files) + len(xmls) + negatives
    print(f"{checks - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

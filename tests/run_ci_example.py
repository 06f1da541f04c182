#!/usr/bin/python3
"""Runs one job of an example CI file (examples/ci/) here, the way its CI would: the shell steps
in order with the CI's shell flags and variables, conditions (`if: always()`), exit-code
handling (GitLab's allow_failure: exit_codes), then checks what the job left behind.

GitHub Actions: `uses:` steps are actions from the marketplace (checkout, artifacts); they are
listed and skipped. GitLab CI: before_script and script run in one shell, after_script apart.

    run_ci_example.py {github|gitlab} FILE JOB --workdir DIR --path DIR
        [--env NAME=VALUE]... --expect {success|failure|allowed-failure}
        [--expect-file NAME]... [--expect-output TEXT]... [--expect-summary TEXT]... [--needs-bpf]
        [--gate-target PATH]

"{gate_units}" in an --env value becomes gate_target's UNITS for this machine (gate_units.py,
measured on --gate-target).

--path is put first on PATH (where the perfbpf under test is). Exit 0 when the job ended as
expected and every expectation holds.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import yaml

import gate_units


def sudo_shim(bindir):
    """CI runners run as a user with passwordless sudo; tests here run as root, maybe without sudo."""
    if shutil.which("sudo") or os.geteuid() != 0:
        return
    shim = pathlib.Path(bindir) / "sudo"
    shim.write_text('#!/bin/sh\n# stand-in for sudo when already root: drop its options, run the command\n'
                    'while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done\nexec "$@"\n')
    shim.chmod(0o755)


def run_script(text, env, cwd, shell_flags, log):
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        proc = subprocess.run(["bash", "--noprofile", "--norc", *shell_flags, path], env=env, cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        os.unlink(path)
    log.append(proc.stdout)
    sys.stdout.write(proc.stdout)
    return proc.returncode


def github_job(doc, job_name, env, workdir, log):
    job = doc["jobs"][job_name]
    failed = False
    for i, step in enumerate(job.get("steps", [])):
        name = step.get("name") or step.get("uses") or f"step {i + 1}"
        if "uses" in step:
            print(f"--- skip {name}: a marketplace action, not run locally")
            continue
        condition = str(step.get("if", "success()")).replace("${{", "").replace("}}", "").strip()
        if condition not in ("always()", "success()", "failure()"):
            raise SystemExit(f"unsupported condition in step {name!r}: {condition}")
        if (condition == "success()" and failed) or (condition == "failure()" and not failed):
            print(f"--- skip {name}: if {condition}")
            continue
        script = step["run"]
        if "${{" in script:
            raise SystemExit(f"step {name!r} uses ${{{{ }}}} expressions; the examples keep them to the build job")
        cwd = workdir / step.get("working-directory", ".")
        print(f"--- run {name}")
        # GitHub's default shell for `run` on Linux: bash --noprofile --norc -eo pipefail {0}.
        code = run_script(script, env, cwd, ["-eo", "pipefail"], log)
        print(f"--- {name}: exit {code}")
        if code != 0 and not step.get("continue-on-error", False):
            failed = True
    return "failure" if failed else "success"


def gitlab_job(doc, job_name, env, workdir, log):
    job = doc[job_name]

    def lines(key):
        value = job.get(key, [])
        return [value] if isinstance(value, str) else list(value)

    print(f"--- run before_script + script of {job_name}")
    # One shell for both, as GitLab's shell executor does, stopping at the first failure.
    code = run_script("\n".join(lines("before_script") + lines("script")) + "\n", env, workdir, ["-eo", "pipefail"], log)
    print(f"--- script: exit {code}")
    if job.get("after_script"):
        run_script("\n".join(lines("after_script")) + "\n", env, workdir, [], log)
    if code == 0:
        return "success"
    allow = job.get("allow_failure", False)
    if allow is True:
        return "allowed-failure"
    if isinstance(allow, dict):
        codes = allow.get("exit_codes", [])
        codes = [codes] if isinstance(codes, int) else codes
        if code in codes:
            return "allowed-failure"
    return "failure"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["github", "gitlab"])
    ap.add_argument("file")
    ap.add_argument("job")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--expect", required=True, choices=["success", "failure", "allowed-failure"])
    ap.add_argument("--expect-file", action="append", default=[])
    ap.add_argument("--expect-output", action="append", default=[])
    ap.add_argument("--expect-summary", action="append", default=[])
    ap.add_argument("--needs-bpf", action="store_true", help="exit 77 (skipped) unless root")
    ap.add_argument("--gate-target", help="gate_target, to size {gate_units} in --env values (gate_units.py)")
    a = ap.parse_args()
    if a.needs_bpf and os.geteuid() != 0:
        print("SKIPPED: the job runs BPF sessions (root)")
        return 77

    doc = yaml.safe_load(pathlib.Path(a.file).read_text())
    workdir = pathlib.Path(a.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    tools = workdir / ".tools"
    tools.mkdir()
    sudo_shim(tools)
    summary = workdir / ".step-summary.md"

    env = dict(os.environ)
    if a.kind == "github":
        env.update({k: str(v) for k, v in doc.get("env", {}).items()})
        env.update({k: str(v) for k, v in doc["jobs"][a.job].get("env", {}).items()})
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workdir),
                    "RUNNER_TEMP": str(tools), "GITHUB_STEP_SUMMARY": str(summary)})
    else:
        env.update({k: str(v) for k, v in doc.get("variables", {}).items()})
        env.update({k: str(v) for k, v in doc[a.job].get("variables", {}).items()})
        env.update({"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_DIR": str(workdir)})
    units = None
    for kv in a.env:
        key, _, value = kv.partition("=")
        if "{gate_units}" in value:  # the same work on both sides, scaled to this machine's probes
            if units is None:
                units = gate_units.gate_units(f"{a.path}/perfbpf", a.gate_target)
            value = value.replace("{gate_units}", str(units))
        env[key] = value
    env["PATH"] = f"{a.path}:{tools}:{env.get('PATH', '/usr/bin:/bin')}"

    log = []
    outcome = (github_job if a.kind == "github" else gitlab_job)(doc, a.job, env, workdir, log)
    print(f"--- job outcome: {outcome} (expected {a.expect})")
    problems = [] if outcome == a.expect else [f"job ended {outcome}, expected {a.expect}"]
    for name in a.expect_file:
        if not (workdir / name).is_file():
            problems.append(f"the job left no {name}")
    output = "".join(log)
    for text in a.expect_output:
        if text not in output:
            problems.append(f"the job's output lacks {text!r}")
    summary_text = summary.read_text() if summary.exists() else ""
    for text in a.expect_summary:
        if text not in summary_text:
            problems.append(f"the step summary lacks {text!r}")
    for p in problems:
        print(f"FAIL {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

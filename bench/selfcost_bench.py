#!/usr/bin/python3
"""perfbpf's own cost against the tool a user would otherwise run for the same job: the same
workload, the same window, perfbpf and the peer in alternating rounds (the order flips each
round), medians with their ranges, and the ratio perfbpf / peer.

    bench/selfcost_bench.py BUILD_DIR [--rounds N] [--seconds S] [--out DIR] [--only ROW,...]

Rows (issue 17's table):
  system      perfbpf --system (its defaults: every collector, 99 Hz stacks) against
              `perf record -a -g -F 99`, with stress-ng --cpu 1 --switch 1 --fork 1 running:
              the tool's CPU (user + system, wait4) and peak RSS (GNU time's %M); and
              perf's CPU with `perf report`'s added, which names the stacks perfbpf names
              within its session
  offcpu      perfbpf --system --off-cpu (no collectors, no sampling) against libbpf-tools
              offcputime, same workload
  sample99, sample999
              perfbpf --pid P --call-graph fp against `perf record -g -p P` at 99 and 999 Hz
              on a CPU-bound stress-ng worker (frame pointers both: like for like)
  funcrss     function timing: perfbpf --pid P -f leaf (no sampling, no collectors) against
              funclatency -p P :leaf, peak RSS, on funclat_target_nop5
  startup     launch to first probed call as the target sees it, against funclatency
  floor       per probed call on a NOP5 site against bpftrace's no-op uprobe+uretprobe pair (the
              kernel's floor) and against the timing peers in the same rounds: bpftrace's timing
              pair (@s[tid] = nsecs; hist(nsecs - @s[tid])) and funclatency; with each tool's
              BPF program time per call from the kernel's statistics (kernel.bpf_stats_enabled,
              run_time_ns of the programs the tool holds), in a pass of its own (they slow every
              probe hit)
  fork        slowdown of a fork-heavy workload (stress-ng --fork 1 --fork-ops N, its CPU time)
              under perfbpf --system --collectors sched against under runqlat; and, in a pass
              of its own, each tool's BPF program time per context switch over the same
              workload (kernel statistics, as for the floor row)
  attach      functions probed at once: time from launch to attached for 4096, 10 000 and 100 000 generated
              functions (no peer: the goal is absolute, <= 2 s per 10 000)

Needs root. Writes DIR/selfcost-latest.{json,md}.
"""
import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import run_bench  # noqa: E402  (the probe-floor and start-up measurements are shared with it)

BACKGROUND = ["stress-ng", "--cpu", "1", "--switch", "1", "--fork", "1", "--quiet"]


def measured(argv, **kw):
    """Runs ARGV to its end; returns (CPU seconds of it and its reaped children, peak RSS bytes).
    The peak comes from GNU time, which forks the tool from its own small process: a tool
    exec'd straight from this Python process inherits its peak (exec keeps the larger of the old
    and new image's high-water mark in ru_maxrss), 17 MiB for /bin/true."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".maxrss") as peak:
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak.name, *argv],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        _, status, ru = os.wait4(p.pid, 0)  # time's own CPU is a fork and a wait
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, -signal.SIGINT, 130):
            raise RuntimeError(f"{argv[0]} exited with {code}: {' '.join(argv)}")
        return ru.ru_utime + ru.ru_stime, int(peak.read().split()[-1]) * 1024


def alternate(rounds, runs):
    """RUNS: {name: fn() -> dict of figures}; each round runs them all, the order flipped every
    round. Returns {name: {figure: [values]}}."""
    out = {name: {} for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            for k, v in runs[name]().items():
                out[name].setdefault(k, []).append(v)
        print(f"  round {r + 1}/{rounds}", file=sys.stderr)
    return out


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


class Background:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

    def pid(self):
        """A worker's pid (stress-ng forks its workers; the first child)."""
        kids = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(kids[0]) if kids else self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def perf_record_and_report(data, seconds):
    """perf record -a -g's CPU and peak RSS, and its CPU with perf report's added: perf names
    the stacks afterwards, which perfbpf does within its session (both then have the job done)."""
    cpu, rss = measured(["perf", "record", "-a", "-g", "-F", "99", "-q", "-o", data, "--", "sleep", str(seconds)])
    report_cpu, _ = measured(["perf", "report", "-i", data, "--stdio"])
    return {"cpu_s": cpu, "rss": rss, "cpu_s_with_report": cpu + report_cpu}


def system_rows(args, tmp, perfbpf):
    s = args.seconds
    report, data = f"{tmp}/system.json", f"{tmp}/perf.data"
    bg = Background(BACKGROUND)
    try:
        sysw = alternate(args.rounds, {
            "perfbpf": lambda: dict(zip(("cpu_s", "rss"), measured([perfbpf, "--system", "-d", str(s), "-q", "-o", report]))),
            "perf": lambda: perf_record_and_report(data, s),
        }) if "system" in args.only else None
        offcpu = alternate(args.rounds, {
            "perfbpf": lambda: dict(zip(("cpu_s", "rss"), measured([perfbpf, "--system", "--off-cpu", "--collectors", "none",
                                                                      "--sample-freq", "0", "-d", str(s), "-q", "-o", report]))),
            "offcputime": lambda: dict(zip(("cpu_s", "rss"), measured(["offcputime", str(s)]))),
        }) if "offcpu" in args.only else None
    finally:
        bg.stop()
    return sysw, offcpu


def sampling_rows(args, tmp, perfbpf):
    s, out = args.seconds, {}
    bg = Background(["stress-ng", "--cpu", "1", "--quiet"])
    try:
        pid = str(bg.pid())
        for hz in (99, 999):
            if f"sample{hz}" not in args.only:
                continue
            out[hz] = alternate(args.rounds, {
                "perfbpf": lambda: dict(zip(("cpu_s", "rss"), measured(
                    [perfbpf, "--pid", pid, "--call-graph", "fp", "--sample-freq", str(hz), "--collectors", "none",
                     "-d", str(s), "-q", "-o", f"{tmp}/sample.json"]))),
                "perf": lambda: dict(zip(("cpu_s", "rss"), measured(
                    ["perf", "record", "-g", "-F", str(hz), "-p", pid, "-q", "-o", f"{tmp}/sample.data", "--", "sleep", str(s)]))),
            })
    finally:
        bg.stop()
    return out


def rss_by_mapping(pid):
    """Diagnostic: {mapped file's name or [anon]/[heap]/anon_inode:...: resident KiB} of PID from
    /proc/PID/smaps, what its peak RSS is made of when read at the peak."""
    out, name = {}, None
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split(None, 5)
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = os.path.basename(head[5].strip()) if len(head) > 5 and head[5].strip() else "[anon]"
            elif head[0] == "Rss:":
                out[name] = out.get(name, 0) + int(head[1])
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v}


def funcrss_row(args, tmp, perfbpf, binary, mappings):
    """MAPPINGS gets each tool's rss_by_mapping of its last round, read with its VmHWM."""
    def run(tool):
        target = run_bench.Target(binary, "wait-loop", "2000000")
        argv, marker = run_bench.tool_argv(tool, binary, target.pid, perfbpf, f"{tmp}/func.json")
        t = run_bench.Tool(tool, argv, marker)
        target.run()
        mappings[tool] = rss_by_mapping(t.proc.pid)
        rss, _ = t.stop()
        return {"rss": rss}
    return alternate(args.rounds, {"perfbpf": lambda: run("perfbpf"), "funclatency": lambda: run("funclatency")})


def fork_row(args, tmp, perfbpf):
    ops = str(args.fork_ops)

    def workload(tool_argv):
        tool = None
        if tool_argv:
            tool = subprocess.Popen(tool_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)  # attached (both print nothing we can wait for through -q)
        # CPU, not wall time: the probes run in the forking tasks' own context and show in their
        # CPU, which other tenants on a busy machine stretch far less than wall time.
        cpu_s, _ = measured(["stress-ng", "--fork", "1", "--fork-ops", ops, "--quiet"])
        if tool:
            tool.send_signal(signal.SIGINT)
            tool.wait(timeout=60)
        return {"cpu_s": cpu_s}
    tools = fork_tools(tmp, perfbpf)
    runs = alternate(args.rounds, {
        "bare": lambda: workload(None),
        "perfbpf": lambda: workload(tools["perfbpf"]),
        "runqlat": lambda: workload(tools["runqlat"]),
    })
    return runs, fork_program_time(args, tmp, perfbpf)


def fork_tools(tmp, perfbpf):
    """The fork row's tools: perfbpf's run-queue collector alone, and runqlat."""
    return {"perfbpf": [perfbpf, "--system", "--collectors", "sched", "--sample-freq", "0", "-q", "-o",
                        f"{tmp}/fork.json"],
            "runqlat": ["runqlat"]}


@contextlib.contextmanager
def bpf_stats():
    """Kernel BPF run-time statistics on for the block only (they slow every probe hit)."""
    stats = pathlib.Path("/proc/sys/kernel/bpf_stats_enabled")
    stats.write_text("1\n")
    try:
        yield
    finally:
        stats.write_text("0\n")


def context_switches():
    for line in pathlib.Path("/proc/stat").read_text().splitlines():
        if line.startswith("ctxt "):
            return int(line.split()[1])
    raise RuntimeError("/proc/stat has no ctxt line")


def fork_program_time(args, tmp, perfbpf):
    """Each tool's BPF program time per context switch, over the same fork-heavy workload, from
    the kernel's statistics (on only while the workload runs): the probes' own cost in the
    switching tasks' context, free of the CPU-time noise that hides a slowdown of a few percent.
    Per context switch (/proc/stat ctxt), not per fork: both tools' programs fire on every
    switch and wake-up machine-wide, and the machine's other tenants switch too. A pass of its
    own, tools alternating, as the statistics slow every probe hit."""
    ops = args.fork_ops
    tools = fork_tools(tmp, perfbpf)
    out = {t: {"bpf_ns_per_switch": []} for t in tools}
    for r in range(args.rounds):
        for name in list(tools) if r % 2 == 0 else list(tools)[::-1]:
            tool = subprocess.Popen(tools[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.5)  # attached
                with bpf_stats():
                    t0, c0 = bpf_run_time(tool.pid)[0], context_switches()
                    measured(["stress-ng", "--fork", "1", "--fork-ops", str(ops), "--quiet"])
                    t1, c1 = bpf_run_time(tool.pid)[0], context_switches()
            finally:
                tool.send_signal(signal.SIGINT)
                tool.wait(timeout=60)
            out[name]["bpf_ns_per_switch"].append((t1 - t0) / max(c1 - c0, 1))
    return out


def attach_row(args, tmp, perfbpf):
    out = {}
    for n in (4096, 10000, 100000):
        src = pathlib.Path(f"{tmp}/many{n}.c")
        src.write_text("".join(f"__attribute__((noinline)) int fn_{i}(int x) {{ return x + {i}; }}\n" for i in range(n)) +
                       "#include <stdio.h>\nint main(void) { getchar(); return 0; }\n")
        binary = f"{tmp}/many{n}"
        subprocess.run(["gcc", "-O1", "-o", binary, str(src)], check=True)
        times, refused = [], None
        for _ in range(args.rounds):
            target = subprocess.Popen([binary], stdin=subprocess.PIPE)
            start = time.monotonic()
            tool = subprocess.Popen([perfbpf, "--pid", str(target.pid), "-f", "fn_*", "--sample-freq", "0", "--collectors",
                                     "none", "-o", f"{tmp}/many.json"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            seen = run_bench.read_until(tool.stdout, "Ctrl-C to stop", 120)
            if "Ctrl-C to stop" in seen:
                times.append(time.monotonic() - start)
                tool.send_signal(signal.SIGINT)
            else:
                refused = seen.strip().splitlines()[-1] if seen.strip() else "no output"
            tool.communicate(timeout=120)
            target.communicate(b"\n", timeout=30)
            if refused:
                break
        out[n] = {"attach_s": summary(times)} if times else {"refused": refused}
    return out


FLOOR_TOOLS = ["bpftrace-noop", "bpftrace-hist", "funclatency", "perfbpf"]


def bpf_prog_ids(pid):
    """Ids of the BPF programs PID holds: through its program and link descriptors (fdinfo)."""
    ids = set()
    for fd in pathlib.Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            for line in fd.read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def bpf_run_time(tool_pid):
    """(run_time_ns, run_cnt) summed over the BPF programs TOOL_PID holds."""
    ids = bpf_prog_ids(tool_pid)
    total = runs = 0
    for prog in json.loads(subprocess.check_output(["bpftool", "-j", "prog", "show"], text=True)):
        if prog.get("id") in ids:
            total += prog.get("run_time_ns", 0)
            runs += prog.get("run_cnt", 0)
    return total, runs


def program_time(args, binary, calls=200000, tools=FLOOR_TOOLS, argv_of=None):
    """Each tool's BPF program time per probed call, kernel statistics on only while the target
    runs: the per-round figures, tools alternating. ARGV_OF(tool, target_pid, report_path) gives
    a tool's (argv, marker); run_bench.tool_argv's by default."""
    if argv_of is None:
        def argv_of(tool, pid, report):
            return run_bench.tool_argv(tool, binary, pid, args.perfbpf, report)
    per_call = {t: [] for t in tools}
    for r in range(args.rounds):
        for tool in tools if r % 2 == 0 else tools[::-1]:
            target = run_bench.Target(binary, "wait-loop", str(calls))
            with tempfile.NamedTemporaryFile(suffix=".json") as report:
                argv, marker = argv_of(tool, target.pid, report.name)
                attached = run_bench.Tool(tool, argv, marker)
                with bpf_stats():
                    t0, _ = bpf_run_time(attached.proc.pid)
                    target.run()
                    t1, _ = bpf_run_time(attached.proc.pid)
                attached.stop()
            per_call[tool].append((t1 - t0) / calls)
    return per_call


def ratio_row(name, measured_runs, ours, peer, figure, unit, scale, goal, peer_figure=None):
    a, b = summary(measured_runs[ours][figure]), summary(measured_runs[peer][peer_figure or figure])
    return {"job": name, "figure": figure, "unit": unit, "perfbpf": {k: v * scale if k != "values" else v for k, v in a.items()},
            "peer_name": peer, "peer": {k: v * scale if k != "values" else v for k, v in b.items()},
            "ratio": a["median"] / b["median"] if b["median"] else float("inf"), "goal": goal}


def main():
    rows_all = ["system", "offcpu", "sample99", "sample999", "funcrss", "startup", "floor", "fork", "attach"]
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--fork-ops", type=int, default=20000)
    p.add_argument("--only", default=",".join(rows_all))
    p.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results"))
    args = p.parse_args()
    args.only = set(args.only.split(","))
    args.build = os.path.abspath(args.build)
    perfbpf = f"{args.build}/perfbpf"
    args.perfbpf = perfbpf
    nop5 = f"{args.build}/tests/workloads/funclat_target_nop5"
    rows, extra = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        if args.only & {"system", "offcpu"}:
            print("selfcost: --system and --off-cpu ...", file=sys.stderr)
            sysw, offcpu = system_rows(args, tmp, perfbpf)
            if sysw:
                rows.append(ratio_row("--system vs perf record -a -g", sysw, "perfbpf", "perf", "cpu_s", "s", 1, 1.0))
                rows.append(ratio_row("--system vs perf record -a -g", sysw, "perfbpf", "perf", "rss", "MiB", 2**-20, 1.0))
                rows.append(ratio_row("--system vs perf record -a -g + perf report (stacks named)", sysw, "perfbpf", "perf",
                                      "cpu_s", "s", 1, 1.0, peer_figure="cpu_s_with_report"))
            if offcpu:
                rows.append(ratio_row("--off-cpu vs offcputime", offcpu, "perfbpf", "offcputime", "cpu_s", "s", 1, 1.0))
                rows.append(ratio_row("--off-cpu vs offcputime", offcpu, "perfbpf", "offcputime", "rss", "MiB", 2**-20, 1.0))
        if args.only & {"sample99", "sample999"}:
            print("selfcost: stack sampling --pid ...", file=sys.stderr)
            for hz, runs in sampling_rows(args, tmp, perfbpf).items():
                rows.append(ratio_row(f"sampling --pid {hz} Hz (fp) vs perf record -g", runs, "perfbpf", "perf", "cpu_s", "s", 1, 1.0))
        if "funcrss" in args.only:
            print("selfcost: function timing RSS ...", file=sys.stderr)
            mappings = {}
            rows.append(ratio_row("function timing vs funclatency", funcrss_row(args, tmp, perfbpf, nop5, mappings),
                                  "perfbpf", "funclatency", "rss", "MiB", 2**-20, 2.0))
            extra["funcrss_kib_by_mapping"] = mappings
            for tool, m in mappings.items():
                top = ", ".join(f"{k} {v}" for k, v in list(m.items())[:12])
                print(f"  {tool} resident KiB by mapping: {top}", file=sys.stderr)
        if "startup" in args.only:
            print("selfcost: start-up ...", file=sys.stderr)
            start = run_bench.startup(args, {"nop5": nop5})
            rows.append({"job": "start-up to first probed call vs funclatency", "figure": "ms", "unit": "ms",
                         "perfbpf": {"median": start.get("perfbpf")}, "peer_name": "funclatency",
                         "peer": {"median": start.get("funclatency")},
                         "ratio": start["perfbpf"] / start["funclatency"], "goal": 1.0})
        if "floor" in args.only:
            print("selfcost: probe floor ...", file=sys.stderr)
            subprocess.run([perfbpf, "calibrate"], check=True, stdout=subprocess.DEVNULL)
            cost, _ = run_bench.overhead(args, {"nop5": nop5}, FLOOR_TOOLS)
            c = cost["nop5"]
            prog = {t: summary(v) for t, v in program_time(args, nop5).items()}
            extra["floor"] = {"ns_per_call": c, "bpf_program_ns_per_call": prog}
            for peer, name, goal in [("bpftrace-noop", "NOP5 site vs bpftrace no-op pair (kernel floor)", 1.05),
                                     ("bpftrace-hist", "NOP5 site vs bpftrace timing pair", 1.0),
                                     ("funclatency", "NOP5 site vs funclatency", 1.0)]:
                rows.append({"job": f"per probed call, {name}", "figure": "ns", "unit": "ns",
                             "perfbpf": {"median": c["perfbpf"]}, "peer_name": peer,
                             "peer": {"median": c[peer]}, "ratio": c["perfbpf"] / c[peer], "goal": goal})
                rows.append({"job": f"BPF program time per call, vs {peer}", "figure": "ns (kernel stats)", "unit": "ns",
                             "perfbpf": prog["perfbpf"], "peer_name": peer, "peer": prog[peer],
                             "ratio": prog["perfbpf"]["median"] / prog[peer]["median"], "goal": goal})
        if "fork" in args.only:
            print("selfcost: fork-heavy slowdown ...", file=sys.stderr)
            f, prog = fork_row(args, tmp, perfbpf)
            bare = statistics.median(f["bare"]["cpu_s"])
            slow = {t: 100 * (statistics.median(f[t]["cpu_s"]) / bare - 1) for t in ("perfbpf", "runqlat")}
            # The bare runs' spread is the noise: slowdowns inside it cannot be told apart.
            noise = 100 * (max(f["bare"]["cpu_s"]) - min(f["bare"]["cpu_s"])) / bare
            rows.append({"job": "fork-heavy slowdown vs runqlat", "figure": "slowdown %", "unit": "%",
                         "perfbpf": {"median": slow["perfbpf"]}, "peer_name": "runqlat", "peer": {"median": slow["runqlat"]},
                         "ratio": slow["perfbpf"] / slow["runqlat"] if slow["runqlat"] > 0 else float("nan"), "goal": 1.0,
                         "pass": slow["perfbpf"] <= max(slow["runqlat"], 0) + noise, "noise_pct": noise,
                         "workload_cpu_s": f})
            rows.append(ratio_row("fork-heavy: BPF program time per context switch, vs runqlat", prog, "perfbpf",
                                  "runqlat", "bpf_ns_per_switch", "ns", 1, 1.0))
        if "attach" in args.only:
            print("selfcost: functions probed at once ...", file=sys.stderr)
            extra["attach"] = attach_row(args, tmp, perfbpf)

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "kernel": platform.release(), "rounds": args.rounds, "seconds": args.seconds, "rows": rows, **extra}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "selfcost-latest.json").write_text(json.dumps(result, indent=2) + "\n")

    def fmt(d):
        if d.get("median") is None:
            return "-"
        rng = f" [{d['min']:.3g}-{d['max']:.3g}]" if "min" in d else ""
        return f"{d['median']:.3g}{rng}"
    md = [f"Measured {result['date']} on Linux {result['kernel']}, {args.rounds} alternating rounds of {args.seconds:g} s, "
          "medians [ranges].", "",
          "| job | figure | perfbpf | peer | peer's figure | perfbpf / peer | goal | |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = r.get("pass", r["ratio"] <= r["goal"])
        md.append(f"| {r['job']} | {r['figure']} ({r['unit']}) | {fmt(r['perfbpf'])} | {r['peer_name']} | {fmt(r['peer'])} | "
                  f"{r['ratio']:.2f}x | <= {r['goal']:g}x | {'PASS' if ok else 'FAIL'} |")
    for n, a in extra.get("attach", {}).items():
        md.append(f"| {n} functions probed at once | attach (s) | {fmt(a['attach_s']) if 'attach_s' in a else 'refused: ' + a['refused']}"
                  f" | - | - | - | <= {2 * n / 10000:.2g} s | "
                  f"{'PASS' if 'attach_s' in a and a['attach_s']['median'] <= 2 * n / 10000 else 'FAIL'} |")
    (out / "selfcost-latest.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Stack completeness and cost, perfbpf (--call-graph dwarf, its default) side by side with
`perf record --call-graph dwarf` on the same runs of Debian's nginx (under ab), sqlite3 and zstd,
which are built without frame pointers. Also perfbpf --call-graph fp, to show what CFI adds.

    bench/stacks_bench.py BUILD_DIR [--rounds N] [--seconds S] [--short S] [--freq HZ] [--out DIR]

For each workload, N rounds; in each round one run of S seconds at HZ samples per second per
tool, the tools' order rotating from round to round (other work on the machine then weighs on
every tool alike); each figure is the median of the rounds, with its range:
  complete %   samples of the workload whose user stack reaches main, _start, __libc_start_main
               or start_thread (the thread's own start), over all its samples with a user stack;
  CPU s        the profiler's own CPU time (user + system, from wait4), and for perf also with
               `perf script` (perf unwinds DWARF stacks then, perfbpf during the session);
  sampling CPU ms/s  what each further second of sampling costs: the CPU (with post-processing)
               of an S-second run less that of a SHORT-second one, over S - SHORT; it leaves out
               what a run costs whatever its length (loading BPF, reading symbols, writing);
               ms/1000 samples the same difference per sample more (run at --freq 999 for a
               figure above the noise of the fixed costs); only with --short > 0 (the default 0
               leaves the short runs out);
  output KiB   perf.data, against perfbpf's JSON report plus its folded file;
  ratio        perfbpf dwarf's CPU over perf's, both without and with `perf script` (issue 15's
               goal: under 0.5), the median of the rounds' ratios with their range.
Needs root. Writes DIR/stacks-latest.{json,md}.
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOTS = {"main", "_start", "__libc_start_main", "__libc_start_call_main", "start_thread"}


def run_measured(argv, **kw):
    """Runs ARGV to its end; returns (exit code, CPU seconds of it and its children)."""
    p = subprocess.Popen(argv, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime


class Workload:
    """A target process that runs for the whole measured window."""

    def __init__(self, name, tmp, seconds):
        self.name, self.tmp, self.seconds = name, tmp, seconds
        self.procs = []

    def start(self):
        t = self.tmp
        if self.name == "sqlite3":
            sql = (
                "CREATE TABLE t(a INTEGER, b TEXT);"
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<400000)"
                " INSERT INTO t SELECT x, hex(randomblob(16)) FROM c;"
                "CREATE INDEX ib ON t(b);"
                + "SELECT count(*), sum(length(b)) FROM t WHERE b LIKE '%AB%' ORDER BY b;" * 400
            )
            p = subprocess.Popen(["sqlite3", ":memory:"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            p.stdin.write(sql)
            p.stdin.close()
            self.procs = [p]
            self.pid = p.pid
        elif self.name == "zstd":
            data = t / "data.bin"
            if not data.exists():
                with open(data, "wb") as f:  # compressible text with some entropy: real work per byte
                    words = [os.urandom(3).hex() for _ in range(4096)]
                    import random
                    rnd = random.Random(1)
                    for _ in range(48):
                        f.write(" ".join(rnd.choice(words) for _ in range(200000)).encode())
            # One process for the whole run: the same file compressed over and over.
            p = subprocess.Popen(["zstd", "-q", "-9", "-T1", "-c", *[str(data)] * 100], stdout=subprocess.DEVNULL)
            self.procs = [p]
            self.pid = p.pid
        elif self.name == "nginx":
            (t / "www").mkdir(exist_ok=True)
            (t / "www" / "index.html").write_bytes(b"x" * 4096)
            conf = t / "nginx.conf"
            conf.write_text(
                f"worker_processes 1; daemon off; pid {t}/nginx.pid; error_log {t}/error.log;\n"
                "events { worker_connections 1024; }\n"
                f"http {{ access_log off; server {{ listen 127.0.0.1:18089; root {t}/www; }} }}\n")
            master = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(t)], stderr=subprocess.DEVNULL)
            for _ in range(100):
                kids = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
                if kids:
                    break
                time.sleep(0.05)
            self.pid = int(kids[0])
            load = subprocess.Popen(["ab", "-q", "-k", "-c", "8", "-t", str(self.seconds + 30), "-n", "100000000",
                                     "http://127.0.0.1:18089/index.html"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            self.procs = [load, master]
            time.sleep(0.5)
        return self.pid

    def comm(self):
        return self.name

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def folded_completeness(path, comm):
    total = complete = 0
    for line in open(path, errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        frames = stack.split(";")
        if frames[0] != comm:
            continue
        user = [f for f in frames[1:] if not f.endswith("_[k]") and not f.startswith("[off-cpu")]
        if not user:
            continue
        n = int(count)
        total += n
        if any(f in ROOTS for f in user):
            complete += n
    return total, complete


def perf_completeness(script_text, comm):
    total = complete = 0
    for block in script_text.split("\n\n"):
        lines = [l for l in block.splitlines() if l.strip()]
        if not lines or not lines[0].split()[0] == comm:
            continue
        syms = []
        for l in lines[1:]:
            parts = l.split()
            if len(parts) >= 2 and not (len(parts[0]) == 16 and parts[0].startswith("ffff")):  # kernel frames out
                syms.append(parts[1].split("+")[0])
        if not syms:
            continue
        total += 1
        if any(s in ROOTS for s in syms):
            complete += 1
    return total, complete


def measure(tool, work, args, tmp, perfbpf, seconds):
    pid = work.start()
    try:
        if tool.startswith("perfbpf"):
            graph = tool.split(":")[1]
            report, folded = tmp / f"{work.name}-{graph}.json", tmp / f"{work.name}-{graph}.folded"
            rc, cpu = run_measured([perfbpf, "-q", "-p", str(pid), "-d", str(seconds), "--sample-freq",
                                    str(args.freq), "--call-graph", graph, "--collectors", "none", "-o", str(report),
                                    "--folded", str(folded)], stderr=subprocess.DEVNULL)
            total, complete = folded_completeness(folded, work.comm())
            size = report.stat().st_size + folded.stat().st_size
            return dict(complete_pct=100.0 * complete / total if total else 0, samples=total, cpu_s=cpu,
                        cpu_with_post_s=cpu, output_kib=size / 1024)
        data = tmp / f"{work.name}.perf.data"
        rc, cpu = run_measured(["perf", "record", "-q", "-F", str(args.freq), "--call-graph", "dwarf", "-p", str(pid),
                                "-o", str(data), "--", "sleep", str(seconds)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        script_out = tmp / "perf-script.txt"
        with open(script_out, "w") as out:
            _, script_cpu = run_measured(["perf", "script", "-i", str(data), "-F", "comm,ip,sym"], stdout=out,
                                         stderr=subprocess.DEVNULL)
        total, complete = perf_completeness(script_out.read_text(errors="replace"), work.comm())
        return dict(complete_pct=100.0 * complete / total if total else 0, samples=total, cpu_s=cpu,
                    cpu_with_post_s=cpu + script_cpu, output_kib=data.stat().st_size / 1024)
    finally:
        work.stop()


TOOLS = ("perfbpf:dwarf", "perf", "perfbpf:fp")
FIGURES = ("complete_pct", "samples", "cpu_s", "cpu_with_post_s", "output_kib", "sampling_cpu_ms_per_s",
           "cpu_ms_per_1000_samples")


def spread(values):
    return dict(median=statistics.median(values), min=min(values), max=max(values), values=values)


def fmt(d, digits=2):
    if d is None:
        return "-"
    if d["min"] == d["max"]:
        return f"{d['median']:.{digits}f}"
    return f"{d['median']:.{digits}f} [{d['min']:.{digits}f}-{d['max']:.{digits}f}]"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--short", type=float, default=0)
    p.add_argument("--freq", type=int, default=99)
    p.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results"))
    p.add_argument("--workloads", default="nginx,sqlite3,zstd")
    p.add_argument("--tools", default=",".join(TOOLS))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("stacks_bench: needs root (every tool loads BPF or opens perf events)")
    for tool in ("perf", "nginx", "ab", "sqlite3", "zstd"):
        if not shutil.which(tool):
            sys.exit(f"stacks_bench: {tool} is missing (scripts/bootstrap.sh installs it)")
    perfbpf = str(pathlib.Path(args.build) / "perfbpf")
    tools = args.tools.split(",")
    results, ratios = {}, {}
    with tempfile.TemporaryDirectory(prefix="perfbpf-stacks-") as d:
        tmp = pathlib.Path(d)
        os.chmod(tmp, 0o755)  # nginx's worker (www-data) reads the page
        for name in args.workloads.split(","):
            runs = {tool: [] for tool in tools}
            for rnd in range(args.rounds):
                order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
                for tool in order:
                    r = measure(tool, Workload(name, tmp, args.seconds), args, tmp, perfbpf, args.seconds)
                    if args.short > 0:
                        short = measure(tool, Workload(name, tmp, args.short), args, tmp, perfbpf, args.short)
                        r["sampling_cpu_ms_per_s"] = 1000 * (r["cpu_with_post_s"] - short["cpu_with_post_s"]) / (
                            args.seconds - args.short)
                        more = max(1, r["samples"] - short["samples"])
                        r["cpu_ms_per_1000_samples"] = 1e6 * (r["cpu_with_post_s"] - short["cpu_with_post_s"]) / more
                    runs[tool].append(r)
                    print(f"{name:8} round {rnd + 1} {tool:14} complete {r['complete_pct']:5.1f} % of {r['samples']:5} "
                          f"samples, CPU {r['cpu_s']:.3f} s (with post-processing {r['cpu_with_post_s']:.3f} s), "
                          f"output {r['output_kib']:.0f} KiB", flush=True)
            results[name] = {tool: {f: spread([r[f] for r in rs]) for f in FIGURES if f in rs[0]}
                             for tool, rs in runs.items()}
            results[name]["runs"] = runs
            if "perfbpf:dwarf" in runs and "perf" in runs:
                # Ratios of the same round: the two ran back to back under the same load.
                pairs = list(zip(runs["perfbpf:dwarf"], runs["perf"]))
                ratios[name] = {
                    "cpu_vs_perf_record": spread([a["cpu_s"] / b["cpu_s"] for a, b in pairs]),
                    "cpu_vs_perf_record_and_script": spread([a["cpu_s"] / b["cpu_with_post_s"] for a, b in pairs]),
                }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(), kernel=platform.release(),
                cpus=os.cpu_count(), seconds=args.seconds, freq_hz=args.freq, rounds=args.rounds,
                load_before=os.getloadavg())
    suffix = "" if args.freq == 99 else f"-{args.freq}hz"
    (out / f"stacks-latest{suffix}.json").write_text(json.dumps(dict(meta=meta, results=results, ratios=ratios),
                                                                indent=2) + "\n")
    md = [f"# Stacks: perfbpf --call-graph dwarf vs perf record --call-graph dwarf",
          "", f"{meta['date']}, kernel {meta['kernel']}, {meta['cpus']} CPUs, {args.rounds} rounds of "
          f"{args.seconds:g} s at {args.freq} Hz per tool, the order rotating each round; medians [ranges].",
          "", "| workload | tool | complete % | samples | profiler CPU s | with post-processing s | sampling CPU ms/s | "
          "ms/1000 samples | output KiB |",
          "|---|---|---|---|---|---|---|---|---|"]
    for name, tools_r in results.items():
        for tool, r in tools_r.items():
            if tool == "runs":
                continue
            md.append(f"| {name} | {tool} | {fmt(r['complete_pct'], 1)} | {fmt(r['samples'], 0)} | {fmt(r['cpu_s'], 3)} | "
                      f"{fmt(r['cpu_with_post_s'], 3)} | {fmt(r.get('sampling_cpu_ms_per_s'), 1)} | "
                      f"{fmt(r.get('cpu_ms_per_1000_samples'), 0)} | {fmt(r['output_kib'], 0)} |")
    if ratios:
        md += ["", "perfbpf dwarf's CPU over perf --call-graph dwarf's, per round (goal: under 0.5):", "",
               "| workload | vs perf record | vs perf record + perf script | goal |", "|---|---|---|---|"]
        for name, r in ratios.items():
            ok = r["cpu_vs_perf_record"]["median"] < 0.5
            md.append(f"| {name} | {fmt(r['cpu_vs_perf_record'])} | {fmt(r['cpu_vs_perf_record_and_script'])} | "
                      f"< 0.5: {'PASS' if ok else 'FAIL'} against perf record alone |")
    (out / f"stacks-latest{suffix}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()

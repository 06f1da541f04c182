#!/usr/bin/python3
"""The CI gate on this machine, loaded: false alarms and detection of perfbpf gate next to a naive
gate (any function's p99 up more than 10 %) and the Mann-Whitney U test on raw call timings,
all on the same runs. Writes bench/results/gate-latest.{json,md}. Needs root (BPF sessions).

    bench/gate_bench.py BUILD_DIR [--pool-rounds 200] [--trials 100] [--rounds 10] [--out DIR]

What runs: tests/workloads/gate_target (twenty functions of fixed CPU work, each call's work
varied +-10 % at random) in three builds: the baseline, stage_13 +10 % and stage_13 +5 %.
While `stress-ng --cpu 1` loads one CPU, POOL_ROUNDS rounds are recorded; each round runs four
perfbpf sessions one after the other, the order rotating from round to round: the baseline
(A), the baseline again (A'), +10 % (B10) and +5 % (B5). The first CALIBRATION_ROUNDS rounds
are for `perfbpf gate --calibrate` (A against A'), which says how many rounds +5 % needs.

Trials reuse rounds, and how: each trial draws its ROUNDS rounds at random (without
replacement) from the rounds after the calibration ones, with a fixed seed. The A/A trial
compares A with A' of those rounds, the +10 % trial A with B10 of the same rounds, the +5 % trial
A with B5 of its own draw of N rounds. Two trials share ROUNDS^2 / pool rounds on average (half
a round for 10 of 180), so the trials are nearly, not exactly, independent.
"""
import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PLANTED = "stage_13"
ROLES = [("a", "gate_target"), ("c", "gate_target"), ("b10", "gate_target_slow10"), ("b5", "gate_target_slow5")]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# ---- recording ----

def record_pool(args, perfbpf, workloads, pool):
    pool.mkdir(parents=True, exist_ok=True)
    session_s = []
    for r in range(args.pool_rounds):
        order = ROLES[r % 4:] + ROLES[:r % 4]
        for tag, binary in order:
            out = pool / f"{tag}-{r:04d}.json"
            if out.exists():
                continue
            t0 = time.monotonic()
            p = run([perfbpf, "-q", "-f", "stage_*", "--collectors", "sched", "--sample-freq", "0", "-o", str(out),
                     "--", str(workloads / binary), str(args.passes), str(args.units), str(args.spread)])
            session_s.append(time.monotonic() - t0)
            if p.returncode != 0:
                raise SystemExit(f"session {tag} round {r} failed ({p.returncode}): {p.stderr}")
        if r % 25 == 24:
            print(f"  {r + 1}/{args.pool_rounds} rounds, {sum(session_s) / max(len(session_s), 1):.2f} s a session",
                  flush=True)
    return session_s


# ---- the peers, from the same reports ----

def load(path):
    r = json.loads(path.read_text())
    return {f["name"]: f for f in r["functions"]}


def merged_histogram(runs, name):
    h = {}
    for run_ in runs:
        hist = run_[name]["histogram"]
        for bound, count in zip(hist["bounds_ns"], hist["counts"]):
            h[bound] = h.get(bound, 0) + count
    return sorted(h.items())


def quantile(hist, q):
    total = sum(c for _, c in hist)
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bound, count in hist:
        seen += count
        if seen >= rank:
            return bound
    return hist[-1][0]


def mann_whitney_greater_p(base, cand):
    """One-sided p that candidate timings are stochastically larger: U of the candidate with
    midranks over tied buckets (a bucket is 1/128 of its power of two wide), normal
    approximation with the tie correction (n is thousands per side)."""
    bounds = sorted(set(b for b, _ in base) | set(b for b, _ in cand))
    nb, nc = dict(base), dict(cand)
    n1, n2 = sum(nb.values()), sum(nc.values())
    rank, rank_sum_c, tie_term = 0.0, 0.0, 0.0
    for b in bounds:
        t = nb.get(b, 0) + nc.get(b, 0)
        mid = rank + (t + 1) / 2
        rank_sum_c += nc.get(b, 0) * mid
        tie_term += t ** 3 - t
        rank += t
    u = rank_sum_c - n2 * (n2 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    z = (u - n1 * n2 / 2) / math.sqrt(var) if var > 0 else 0
    return 0.5 * math.erfc(z / math.sqrt(2))


def as_histogram(values):
    h = {}
    for v in values:
        h[v] = h.get(v, 0) + 1
    return sorted(h.items())


def peers(base_runs, cand_runs, functions):
    naive = [f for f in functions
             if quantile(merged_histogram(cand_runs, f), 0.99) > 1.10 * quantile(merged_histogram(base_runs, f), 0.99)]
    p = {f: mann_whitney_greater_p(merged_histogram(base_runs, f), merged_histogram(cand_runs, f)) for f in functions}
    # Google Benchmark's compare.py: the U test over the repetitions' (runs') means.
    p_runs = {f: mann_whitney_greater_p(as_histogram(r[f]["latency_ns"]["mean"] for r in base_runs),
                                        as_histogram(r[f]["latency_ns"]["mean"] for r in cand_runs)) for f in functions}
    return {
        "naive": naive,
        "mw": [f for f, v in p.items() if v < 0.05],
        "mw_bonferroni": [f for f, v in p.items() if v < 0.05 / len(functions)],
        "mw_runs": [f for f, v in p_runs.items() if v < 0.05],
    }


# ---- perfbpf gate ----

CONFIGS = {
    "defaults": [],
    "margin2": ["--max-regression", "*.mean=2%", "--max-regression", "*.p50=2%", "--max-regression", "*.p90=2%",
                "--max-regression", "*.p99=10%"],
    "unpaired": ["--pairing", "unpaired"],
}


def gate(perfbpf, base, cand, config, scratch):
    out = scratch / "verdict.json"
    p = run([perfbpf, "gate", "--baseline", *map(str, base), "--candidate", *map(str, cand), *CONFIGS[config],
             "--json", str(out)])
    if p.returncode not in (0, 1, 3):
        raise SystemExit(f"perfbpf gate failed ({p.returncode}): {p.stderr}")
    v = json.loads(out.read_text())
    failing = [c for c in v["checks"] if c["fails"]]
    return {"verdict": v["verdict"], "exit": p.returncode,
            "functions": sorted({c["function"] for c in failing}),
            "statistics": sorted({c["statistic"] for c in failing if c["function"] == PLANTED})}


def calibrate(perfbpf, pool, rounds, config):
    base = [pool / f"a-{r:04d}.json" for r in rounds]
    same = [pool / f"c-{r:04d}.json" for r in rounds]
    out = pool.parent / "scratch" / f"calibration-{config}.json"
    p = run([perfbpf, "gate", "--calibrate", "--baseline", *map(str, base), "--candidate", *map(str, same),
             *CONFIGS[config], "--detect", "5%", "10%", "--json", str(out)])
    if p.returncode not in (0, 1, 3):
        raise SystemExit(f"perfbpf gate --calibrate failed ({p.returncode}): {p.stderr}")
    c = json.loads(out.read_text())
    return c, p.stdout


# ---- the trials ----

def tally(outcomes, key_detected):
    return sum(1 for o in outcomes if key_detected(o))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--pool-rounds", type=int, default=200)
    ap.add_argument("--calibration-rounds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--passes", type=int, default=200)
    ap.add_argument("--units", type=int, default=10000)
    ap.add_argument("--spread", type=int, default=20)
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent / "results"))
    ap.add_argument("--pool", help="reuse (or keep) the recorded rounds here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("gate_bench.py runs BPF sessions: run it as root (sudo scripts/bench.sh gate)")

    build = pathlib.Path(args.build_dir).resolve()
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The recorded rounds (~70 KB a session) stay out of the source tree; --pool keeps them
    # (and a second run with the same --pool records only what is missing).
    pool = pathlib.Path(args.pool) if args.pool else pathlib.Path(tempfile.mkdtemp(prefix="perfbpf-gate-bench-")) / "pool"
    scratch = pool.parent / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    # Private copies: a rebuild of the tree during the half hour must not pull binaries away.
    tools = pool.parent / "bin"
    tools.mkdir(exist_ok=True)
    for binary in [build / "perfbpf"] + [build / "tests" / "workloads" / b for b in {b for _, b in ROLES}]:
        shutil.copy2(binary, tools / binary.name)
    perfbpf, workloads = str(tools / "perfbpf"), tools

    # SIGTERM ends the bench through the finally below, so stress-ng does not outlive it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    load_before = os.getloadavg()
    stress = subprocess.Popen(["stress-ng", "--cpu", "1", "--timeout", "0"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        print(f"recording {args.pool_rounds} rounds x 4 sessions under stress-ng --cpu 1 ...", flush=True)
        session_s = record_pool(args, perfbpf, workloads, pool)
        load_during = os.getloadavg()
    finally:
        os.killpg(stress.pid, signal.SIGTERM)
        stress.wait()
    record_s = time.monotonic() - started

    cal_rounds = list(range(args.calibration_rounds))
    trial_pool = list(range(args.calibration_rounds, args.pool_rounds))
    calibrations = {}
    for config in ("defaults", "margin2"):
        calibrations[config] = calibrate(perfbpf, pool, cal_rounds, config)
    # Rounds for +5 % as the calibration says: a whole-function slowdown, caught by the best
    # statistic of every function, with the 2 % margins (with 5 % margins +5 % is allowed).
    n5 = calibrations["margin2"][0]["calibration"]["any_statistic_rounds"][0]
    if not n5:
        print("calibration: +5 % is out of reach within 1000 rounds; the +5 % trials use 40 rounds")
        n5 = 40
    n5 = min(n5, len(trial_pool))
    # And +10 % with the rounds the calibration asks for at the default margins.
    n10 = calibrations["defaults"][0]["calibration"]["any_statistic_rounds"][1] or 40
    n10 = min(n10, len(trial_pool))

    cache = {}

    def runs(tag, rounds):
        out = []
        for r in rounds:
            key = (tag, r)
            if key not in cache:
                cache[key] = load(pool / f"{tag}-{r:04d}.json")
            out.append(cache[key])
        return out

    functions = sorted(runs("a", [trial_pool[0]])[0].keys())
    rng = random.Random(13)
    results = {"aa": [], "b10": [], "b10n": [], "b5": []}
    print(f"{args.trials} trials: A/A and +10 % with {args.rounds} rounds, +10 % with {n10}, +5 % with {n5} ...",
          flush=True)
    for t in range(args.trials):
        draw = sorted(rng.sample(trial_pool, args.rounds))
        draw5 = sorted(rng.sample(trial_pool, n5))
        draw10 = sorted(rng.sample(trial_pool, n10))
        for kind, cand_tag, rounds in (("aa", "c", draw), ("b10", "b10", draw), ("b10n", "b10", draw10),
                                       ("b5", "b5", draw5)):
            base = [pool / f"a-{r:04d}.json" for r in rounds]
            cand = [pool / f"{cand_tag}-{r:04d}.json" for r in rounds]
            entry = {"rounds": rounds, "perfbpf": {c: gate(perfbpf, base, cand, c, scratch) for c in CONFIGS}}
            entry.update(peers(runs("a", rounds), runs(cand_tag, rounds), functions))
            results[kind].append(entry)
        if t % 10 == 9:
            print(f"  {t + 1}/{args.trials} trials", flush=True)

    # ---- the table ----
    def caught(entry, method):
        """Detection: the gate fails and names stage_13."""
        if method.startswith("perfbpf:"):
            g = entry["perfbpf"][method.split(":")[1]]
            return g["verdict"] == "regression" and PLANTED in g["functions"]
        return PLANTED in entry[method]

    def alarm(entry, method):
        """A false alarm: the gate fails (A/A), or names a function other than stage_13."""
        if method.startswith("perfbpf:"):
            g = entry["perfbpf"][method.split(":")[1]]
            return g["verdict"] == "regression" and any(f != PLANTED for f in g["functions"])
        return any(f != PLANTED for f in entry[method])

    def aa_alarm(entry, method):
        """A/A: any failure at all is a false alarm."""
        if method.startswith("perfbpf:"):
            return entry["perfbpf"][method.split(":")[1]]["verdict"] == "regression"
        return bool(entry[method])

    methods = [("perfbpf:defaults", "perfbpf gate, defaults (mean/p50/p90 +5 %, p99 +10 %; paired)"),
               ("perfbpf:margin2", "perfbpf gate, margins mean/p50/p90 +2 %, p99 +10 % (paired)"),
               ("perfbpf:unpaired", "perfbpf gate, defaults, --pairing unpaired (Welch)"),
               ("naive", "naive: any function's p99 up > 10 % (all rounds pooled)"),
               ("mw", "Mann-Whitney U on raw timings, p < 0.05 per function"),
               ("mw_bonferroni", "Mann-Whitney U on raw timings, p < 0.05 / 20"),
               ("mw_runs", "Mann-Whitney U over the runs' means (compare.py), p < 0.05")]
    table = []
    for key, label in methods:
        aa = tally(results["aa"], lambda e: aa_alarm(e, key))
        b10 = tally(results["b10"], lambda e: caught(e, key))
        b10_wrong = tally(results["b10"], lambda e: alarm(e, key))
        b10n = tally(results["b10n"], lambda e: caught(e, key))
        b5 = tally(results["b5"], lambda e: caught(e, key))
        table.append({"method": key, "label": label, "aa_false_alarms": aa, "b10_detected": b10,
                      "b10_wrong_function": b10_wrong, "b10_calibrated_detected": b10n, "b5_detected": b5})
    by_stat = {}
    for e in results["b10"]:
        for s in e["perfbpf"]["defaults"]["statistics"]:
            by_stat[s] = by_stat.get(s, 0) + 1
    inconclusive = {kind: tally(results[kind], lambda e: e["perfbpf"]["defaults"]["verdict"] == "inconclusive")
                    for kind in results}

    summary = {
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_during": load_during,
        "workload": {"passes": args.passes, "units": args.units, "spread_pct": args.spread,
                     "calls_per_function_per_round": args.passes},
        "pool_rounds": args.pool_rounds, "calibration_rounds": args.calibration_rounds, "trials": args.trials,
        "rounds": args.rounds, "rounds_5pct": n5, "rounds_10pct": n10,
        "sessions": len(session_s), "session_s_mean": sum(session_s) / len(session_s) if session_s else None,
        "record_s": record_s, "total_s": time.monotonic() - started,
        "calibration": {c: v[0]["calibration"] for c, v in calibrations.items()},
        "table": table, "b10_caught_by_statistic": by_stat, "inconclusive_defaults": inconclusive,
    }
    (out_dir / "gate-latest.json").write_text(json.dumps(summary, indent=1) + "\n")
    # Every trial's rounds and outcomes (~200 KB), next to the pool: kept with --pool.
    (pool.parent / "gate-trials.json").write_text(json.dumps(results, separators=(",", ":")) + "\n")

    md = [f"Measured {summary['measured']} on Linux {summary['kernel']}, {summary['cpus']} CPUs, "
          f"under `stress-ng --cpu 1` (load average before {load_before[0]:.1f}, during {load_during[0]:.1f}).",
          "",
          f"Workload: tests/workloads/gate_target, 20 functions, {args.passes} calls each per round, "
          f"each call's work +-{args.spread // 2} % at random; stage_13 planted +10 % / +5 %. "
          f"{args.pool_rounds} recorded rounds (A, A', B10, B5 each; {len(session_s)} sessions this run, "
          f"{summary['session_s_mean'] or 0:.2f} s each); {args.trials} trials drawn from rounds "
          f"{args.calibration_rounds}..{args.pool_rounds - 1} (two trials share "
          f"{args.rounds ** 2 / len(trial_pool):.2f} rounds on average; two {n5}-round trials "
          f"{n5 ** 2 / len(trial_pool):.1f}).",
          "",
          f"| gate | A/A false alarms ({args.rounds} rounds) | +10 % caught ({args.rounds} rounds) | "
          f"+10 %: another function blamed | +10 % caught ({n10} rounds) | +5 % caught ({n5} rounds) |",
          "|---|---|---|---|---|---|"]
    for row in table:
        md.append(f"| {row['label']} | {row['aa_false_alarms']}/{args.trials} | {row['b10_detected']}/{args.trials} | "
                  f"{row['b10_wrong_function']}/{args.trials} | {row['b10_calibrated_detected']}/{args.trials} | "
                  f"{row['b5_detected']}/{args.trials} |")
    md += ["",
           f"+10 % caught by statistic (defaults): {', '.join(f'{k} {v}' for k, v in sorted(by_stat.items())) or 'none'}. "
           f"perfbpf defaults inconclusive: A/A {inconclusive['aa']}, +10 % {inconclusive['b10']}, +5 % {inconclusive['b5']}. "
           f"Rounds for +10 % ({n10}) and +5 % ({n5}) are what the calibration asked for, at the default and the 2 % "
           "margins; with 5 % allowed, a +5 % change is never a regression.",
           "",
           f"Calibration (`perfbpf gate --calibrate`, A against A', rounds 0..{args.calibration_rounds - 1}), "
           "run-to-run noise of one run's value, median over functions, and rounds per side for a change:",
           "",
           "| statistic | noise (median) | noise (max) | rounds for +5 % (2 % margins) | rounds for +10 % (defaults) |",
           "|---|---|---|---|---|"]
    c2 = {s["statistic"]: s for s in calibrations["margin2"][0]["calibration"]["statistics"]}
    for s in calibrations["defaults"][0]["calibration"]["statistics"]:
        r5 = c2.get(s["statistic"], {}).get("rounds", [None])[0]
        md.append(f"| {s['statistic']} | {s['noise_median_pct']:.2f} % | {s['noise_max_pct']:.2f} % | "
                  f"{r5 or 'never'} | {s['rounds'][1] or 'never'} |")
    md += ["", f"Whole-function slowdown by the best statistic of each function: +5 % needs {n5} rounds (2 % "
           f"margins); +10 % needs {calibrations['defaults'][0]['calibration']['any_statistic_rounds'][1] or 'never'} "
           "(defaults).", "",
           f"Recording took {record_s / 60:.1f} min; all of it {summary['total_s'] / 60:.1f} min."]
    (out_dir / "gate-latest.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    if not args.pool:
        shutil.rmtree(pool.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Run dynattn-bench over the sweeps of docs/PERFORMANCE.md and report.

    bench/report.py [--bench build/bench/dynattn-bench] [--repeats 5]

runs, each --repeats times:
  * the n-sweep: n = 512 ... 16384 (d = 128, k = 64) for every --nsweep-config
    (NAME or NAME:MAX_N, e.g. streamed:131072), with the eager baseline up to
    --eager-max-n; points above 16384 (only a configuration that keeps no
    n x n matrix gets there) run --large-repeats times;
  * the k-sweep: the 'lazy' configuration with k = 1, 4, 16, 64, 256, 1024 at
    n = 4096, d = 128, against the eager baseline;
  * the mix sweep: the default configuration, the library's fixed lazy and
    eager strategies, and all three baselines at
    n = 4096, d = 128 on mixes from 100 updates per query to 100 queries per
    update (this run also gives the targets table);
  * the memory table: one --only run per contender at n = 4096 (memory does not
    vary between repetitions, so once).
The sweeps' repetitions run in rounds (the first of every point, then the
second, ...), so that a slow phase of a shared machine spoils a repetition or
two of many points instead of every repetition of one.

Every figure in a run is a ratio against a baseline measured in the same run;
the script takes medians over the repetitions (of the ratios, and of the
absolute times for orientation). It writes the raw JSON of every run and
summary.json into --out (docs/perf), PNG plots (python3-matplotlib), prints
markdown tables, and, unless --no-doc, replaces the generated sections of
docs/PERFORMANCE.md (between <!-- BEGIN name --> and <!-- END name -->).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = 128
K_DEFAULT = 64
N_SWEEP = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
DENSE_MAX_N = 16384
# The library's default configuration (dense storage up to this n) and the
# streamed store, which keeps no n x n matrix, up to n = 131072.
DEFAULT_NSWEEP = ["default:%d" % DENSE_MAX_N, "streamed:131072"]
K_SWEEP = [1, 4, 16, 64, 256, 1024]
# Library configurations of the mix sweep besides the default: the fixed strategies.
MIX_CONFIGS = ["default", "lazy", "lib-eager"]
MIXES = ["100:1", "30:1", "10:1", "3:1", "1:1", "1:3", "1:10", "1:30", "1:100"]
MIX_N = 4096


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "dynattn-bench"),
                   help="the benchmark binary (default: build/bench/dynattn-bench)")
    p.add_argument("--out", default=None,
                   help="directory for JSON results and PNG plots (default: docs/perf; "
                        "with --quick, build/bench-report-quick)")
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"),
                   help="markdown file whose generated sections are replaced")
    p.add_argument("--no-doc", action="store_true", help="only print the tables")
    p.add_argument("--repeats", type=int, default=5, help="runs per point (default 5)")
    p.add_argument("--seed", type=int, default=20261123, help="seed of the first repetition")
    p.add_argument("--nsweep-config", action="append", default=None, metavar="NAME[:MAX_N]",
                   help="library configuration for the n-sweep, with its largest n "
                        "(default: %s); repeat for several" % " ".join(DEFAULT_NSWEEP))
    p.add_argument("--large-repeats", type=int, default=1,
                   help="runs per n-sweep point above n = %d (default 1: an init there takes "
                        "minutes)" % DENSE_MAX_N)
    p.add_argument("--eager-max-n", type=int, default=8192,
                   help="largest n at which the n-sweep runs the eager baseline and the static "
                        "recomputation (default 8192; at 16384 they alone take a minute per run)")
    p.add_argument("--only", choices=["n", "k", "mix", "memory"], action="append",
                   help="run only these parts (repeatable; default all)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="set OPENBLAS_NUM_THREADS for the runs (default: inherited)")
    p.add_argument("--blas-thread-timeout", type=int, default=None, metavar="T",
                   help="set OPENBLAS_THREAD_TIMEOUT for the runs: OpenBLAS's idle threads "
                        "spin for about 2^T cycles before they sleep (default: inherited)")
    p.add_argument("--quick", action="store_true",
                   help="a fast check of the script itself: small sizes, one repetition")
    return p.parse_args()


def nsweep_configs(args):
    configs = []
    for item in args.nsweep_config or DEFAULT_NSWEEP:
        name, _, max_n = item.partition(":")
        configs.append((name, int(max_n) if max_n else DENSE_MAX_N))
    return configs


class Runner:
    def __init__(self, args):
        self.args = args
        self.raw = os.path.join(args.out, "raw")
        os.makedirs(self.raw, exist_ok=True)

    def run(self, tag, rep, options, repeats=None):
        path = os.path.join(self.raw, "%s-r%d.json" % (tag, rep))
        if rep == 0:
            # Files of further repetitions left by an earlier run with more
            # of them are not part of this run's figures.
            stale = re.compile(re.escape(tag) + r"-r(\d+)\.json$")
            for name in os.listdir(self.raw):
                found = stale.match(name)
                if found and int(found.group(1)) >= (repeats or self.args.repeats):
                    os.remove(os.path.join(self.raw, name))
        cmd = [self.args.bench, "--seed", str(self.args.seed + rep), "--json", path] + options
        print("  $ " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd),
              file=sys.stderr, flush=True)
        started = time.time()
        env = dict(os.environ)
        if self.args.blas_threads is not None:
            env["OPENBLAS_NUM_THREADS"] = str(self.args.blas_threads)
        if self.args.blas_thread_timeout is not None:
            env["OPENBLAS_THREAD_TIMEOUT"] = str(self.args.blas_thread_timeout)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            sys.exit("report.py: %s failed (exit %d)" % (" ".join(cmd), done.returncode))
        with open(path) as f:
            result = json.load(f)
        result["wall_s"] = time.time() - started
        return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def contender(run, name):
    for c in run["contenders"]:
        if c["name"] == name:
            return c
    return None


def med(runs, extract):
    """Median over repetitions of extract(run); None where a run lacks it."""
    values = []
    for r in runs:
        try:
            values.append(extract(r))
        except (KeyError, TypeError, AttributeError):
            pass
    return median(values)


def ops_for(n):
    # Update streams long enough for several folds, short enough that the
    # slower baselines stay within the time budget at large n. dynattn-bench
    # rounds them up to whole periods of the library's background sweep.
    return 2048 if n <= 4096 else 1024 if n <= 8192 else 512


# ---- the sweeps -----------------------------------------------------------------------------

def n_sweep(args):
    configs = nsweep_configs(args)
    sizes = [n for n in N_SWEEP if n <= max(m for _, m in configs)]
    if args.quick:
        sizes = [n for n in sizes if n <= 1024]
    plans = []
    for n in sizes:
        names = [name for name, max_n in configs if n <= max_n]
        options = ["--n", str(n), "--d", str(D), "--k", str(K_DEFAULT), "--mixes", "none",
                   "--ops", str(ops_for(n)), "--queries", "5000"]
        for name in names:
            options += ["--config", name]
        # The static recomputation and the eager baseline hold n x n doubles and
        # take longer than the library to set up; past --eager-max-n the run
        # reports the floor ratio only.
        options += ["--baseline", "eager" if n <= args.eager_max_n else "none"]
        options += ["--static-reps", "1" if n <= args.eager_max_n else "0"]
        repeats = args.repeats if n <= DENSE_MAX_N else args.large_repeats
        plans.append(Plan("n%d" % n, "n-sweep: n = %d" % n, options, repeats,
                          {"n": n, "configs": names}))
    return plans


def k_sweep(args):
    plans = []
    ks = K_SWEEP[:3] if args.quick else K_SWEEP
    n = 1024 if args.quick else 4096
    for k in ks:
        options = ["--n", str(n), "--d", str(D), "--k", str(k), "--config", "lazy",
                   "--baseline", "eager", "--mixes", "none", "--static-reps", "0",
                   "--ops", "1024", "--queries", "5000"]
        plans.append(Plan("k%d" % k, "k-sweep: k = %d" % k, options, args.repeats, {"k": k}))
    return plans


def mix_sweep(args):
    n = 1024 if args.quick else MIX_N
    options = ["--n", str(n), "--d", str(D), "--k", str(K_DEFAULT), "--mixes", ",".join(MIXES),
               "--mix-ops", "3000", "--recompute-limit", "2"] + \
        [a for c in MIX_CONFIGS for a in ("--config", c)]
    return [Plan("mix", "mix sweep and targets: n = %d" % n, options, args.repeats, {"n": n})]


class Plan:
    """One point of a sweep: its runs' options, how many, and the point's
    record, whose "runs" the repetitions fill."""

    def __init__(self, tag, title, options, repeats, point):
        self.tag, self.title, self.options, self.repeats = tag, title, options, repeats
        self.point = dict(point, runs=[])


def run_plans(runner, plans):
    """Runs every plan's repetitions round by round: repetition r of every
    point, then r + 1. The shared machine has slow phases of a minute or two;
    this way one spoils a repetition or two of many points, which the medians
    pass over, rather than every repetition of one point. Points with fewer
    repetitions than the rest (the n-sweep's largest, minutes each) run after
    the rounds."""
    full = max((p.repeats for p in plans), default=0)
    order = [(rep, i) for i, p in enumerate(plans) if p.repeats == full for rep in range(full)]
    order.sort()
    order += [(rep, i) for i, p in enumerate(plans) if p.repeats < full for rep in range(p.repeats)]
    for rep, i in order:
        p = plans[i]
        print("%s (repetition %d of %d)" % (p.title, rep + 1, p.repeats), file=sys.stderr)
        p.point["runs"].append(runner.run(p.tag, rep, p.options, p.repeats))


def memory_table(runner, args):
    n = 1024 if args.quick else MIX_N
    rows = []
    for name in ["default", "recompute", "eager", "direct"]:
        options = ["--n", str(n), "--d", str(D), "--only", name, "--quick", "--mixes", "none"]
        print("memory: %s" % name, file=sys.stderr)
        run = runner.run("mem-%s" % name, 0, options)
        c = contender(run, name)
        rows.append({"name": name, "n": n, "peak_rss_bytes": run["machine"]["peak_rss_bytes"],
                     "resident_growth_bytes": c["resident_growth_bytes"]})
    return rows


# ---- tables ----------------------------------------------------------------------------------

def fmt(v, digits=2):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def us(v):
    return None if v is None else v * 1e6


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def per_run(runs, lib):
    """Each run's update_k / floor, with its glibc scalar exp column (µs): a
    witness of how fast the machine ran single-threaded code during the run."""
    return ", ".join("%s (%s)" % (fmt(contender(x, lib)["ratios"]["update_k_over_floor"]),
                                  fmt(us(x["floor"]["exp_column_scalar_s"]), 1)) for x in runs)


def stream_note(runs, name, stream):
    """How long a contender's timed stream was and how many rows the library recomputed in it
    (the background sweep's share of the amortized time)."""
    first = contender(runs[0], name)[stream]
    rows = sorted(set(contender(x, name)[stream].get("rows_recomputed", -1) for x in runs))
    return "streams of %d, %s rows recomputed in each" % (
        first["ops"], " or ".join(str(r) for r in rows))


def targets_section(mix):
    runs = mix["runs"]
    lib = "default"
    rows = []

    def add(what, value, limit, ok, note=""):
        rows.append([what, value, limit, "yes" if ok else "**no**", note])

    r = med(runs, lambda x: contender(x, lib)["ratios"]["update_k_over_floor"])
    add("amortized update_k / BLAS-3 floor", fmt(r), "≤ 1.5", r is not None and r <= 1.5,
        "floor: %s µs; %s; per run (glibc scalar exp column, µs): %s" %
        (fmt(us(med(runs, lambda x: x["floor"]["per_update_s"]))), stream_note(runs, lib, "update_k"),
         per_run(runs, lib)))
    r = med(runs, lambda x: 1.0 / contender(x, lib)["ratios"]["update_k_over_eager"])
    add("eager update_k / amortized update_k", fmt(r), "≥ 3", r is not None and r >= 3)
    r = med(runs, lambda x: contender(x, lib)["ratios"]["update_v_over_update_k"])
    add("amortized update_v / amortized update_k", fmt(r, 3), "≤ 0.2", r is not None and r <= 0.2,
        stream_note(runs, lib, "update_v"))
    q = us(med(runs, lambda x: contender(x, lib)["query"]["latency"]["median_s"]))
    qb = us(med(runs, lambda x: contender(x, lib)["query_batched_s"]))
    add("query median (µs)", fmt(q, 3), "≤ 1", q is not None and q <= 1.0,
        "batched: %s µs; includes ~%s ns of timer" % (fmt(qb, 3),
                                                      fmt(med(runs, lambda x: x["machine"]["timer_overhead_s"] * 1e9), 0)))
    r = med(runs, lambda x: contender(x, lib)["ratios"]["init_over_static"])
    rw = med(runs, lambda x: contender(x, lib)["ratios"]["init_over_static_warm"])
    add("init / static recomputation", fmt(r), "≤ 1.25", r is not None and r <= 1.25,
        "%s × without the static side's allocation" % fmt(rw))
    e = us(med(runs, lambda x: x["floor"]["exp_column_s"]))
    add("column of %d exponentials, the library's kernel (µs)" % mix["n"], fmt(e), "≤ 4",
        e is not None and e <= 4.0,
        "worst error over the column %s ulp; SLEEF: %s µs, %s ulp; glibc's libmvec: %s µs, "
        "%s ulp; glibc scalar: %s µs" %
        (fmt(med(runs, lambda x: x["floor"].get("exp_ulp"))),
         fmt(us(med(runs, lambda x: x["floor"].get("exp_column_sleef_s")))),
         fmt(med(runs, lambda x: x["floor"].get("exp_ulp_sleef"))),
         fmt(us(med(runs, lambda x: x["floor"].get("exp_column_libmvec_s")))),
         fmt(med(runs, lambda x: x["floor"].get("exp_ulp_libmvec"))),
         fmt(us(med(runs, lambda x: x["floor"]["exp_column_scalar_s"])))))
    worst = None
    for m in range(len(runs[0]["contenders"][0]["mixes"])):
        v = med(runs, lambda x: over_best_fixed(x, m)[0])
        worst = v if worst is None or (v is not None and v > worst) else worst
    add("worst mix: default / best fixed strategy", fmt(worst), "≤ 1.25",
        worst is not None and worst <= 1.25,
        "best of the library's lazy and eager strategies and the eager and direct baselines")
    head = ("Medians of %d runs at n = %d, d = %d, k = %d (`%s`).\n\n" %
            (len(runs), mix["n"], D, K_DEFAULT, "dynattn-bench --n %d --d %d --mixes %s --mix-ops 3000 "
             "--recompute-limit 2" % (mix["n"], D, ",".join(MIXES))))
    return head + table(["figure", "measured", "target", "met", "note"], rows)


def absolute_section(mix):
    runs = mix["runs"]
    names = [c["name"] for c in runs[0]["contenders"]]
    rows = []
    for name in names:
        def get(path):
            def f(x):
                v = contender(x, name)
                for p in path:
                    v = v[p]
                return v
            return med(runs, f)
        timed = contender(runs[0], name)["streams_timed"]
        rows.append([name, fmt(get(["init_s"]) * 1e3 if get(["init_s"]) is not None else None),
                     fmt(us(get(["update_k", "amortized_s"]))) if timed else "–",
                     fmt(us(get(["update_k", "latency", "median_s"]))) if timed else "–",
                     fmt(us(get(["update_k", "latency", "p99_s"]))) if timed else "–",
                     fmt(us(get(["update_v", "amortized_s"])), 3) if timed else "–",
                     fmt(us(get(["update_v", "latency", "median_s"])), 3) if timed else "–",
                     fmt(us(get(["query", "latency", "median_s"])), 3) if timed else "–",
                     fmt(us(get(["query_batched_s"])), 3) if timed else "–"])
    static = med(runs, lambda x: x["static"]["fresh_s"])
    note = ("\n\nStatic recomputation of B: %s ms (%s ms reusing its buffers). BLAS-3 floor per key "
            "update: %s µs (dgemm %s µs / k + exp column %s µs). Absolute times are medians for "
            "orientation only; the ratios above are the figures to compare." %
            (fmt(static * 1e3 if static else None), fmt(med(runs, lambda x: x["static"]["warm_s"] * 1e3)),
             fmt(us(med(runs, lambda x: x["floor"]["per_update_s"]))),
             fmt(us(med(runs, lambda x: x["floor"]["gemm_s"]))),
             fmt(us(med(runs, lambda x: x["floor"]["exp_column_s"])))))
    return table(["contender", "init ms", "update_k am µs", "update_k med µs", "update_k p99 µs",
                  "update_v am µs", "update_v med µs", "query med µs", "query batched µs"], rows) + note


def over_best_fixed(run, m):
    """default's time per operation on mix m over the best fixed strategy's in the same run,
    and the name of that strategy."""
    best = None
    for c in run["contenders"]:
        if c["name"] == "default" or c["name"] == "recompute":
            continue
        t = c["mixes"][m]["per_op_s"]
        if t is not None and (best is None or t < best[0]):
            best = (t, c["name"])
    return contender(run, "default")["mixes"][m]["per_op_s"] / best[0], best[1]


def mix_table(mix):
    runs = mix["runs"]
    names = [c["name"] for c in runs[0]["contenders"]]
    rows = []
    for m, label in enumerate(MIXES):
        row = [label]
        for name in names:
            row.append(fmt(us(med(runs, lambda x: contender(x, name)["mixes"][m]["per_op_s"])), 3))
        row.append(fmt(med(runs, lambda x: over_best_fixed(x, m)[0])))
        bests = [over_best_fixed(x, m)[1] for x in runs]
        row.append(max(set(bests), key=bests.count))
        rows.append(row)
    rc = contender(runs[0], "recompute")
    note = ""
    if rc:
        note = ("\n\nThe recompute baseline is timed on the first %s operations of each mix (at most "
                "two full recomputations); the remaining updates are applied untimed." %
                ", ".join(str(m["ops_timed"]) for m in rc["mixes"]))
    return table(["updates:queries"] + ["%s µs/op" % n for n in names] +
                 ["default / best fixed", "best fixed"], rows) + note


def n_table(points):
    configs = []
    for p in points:
        for c in p["configs"]:
            if c not in configs:
                configs.append(c)
    rows = []
    for p in points:
        runs = p["runs"]
        for c in p["configs"]:
            uk = contender(runs[0], c)["update_k"]
            rows.append([str(p["n"]), c, str(len(runs)),
                         "%d / %d" % (uk.get("rows_recomputed", -1), uk["ops"]),
                         fmt(us(med(runs, lambda x: contender(x, c)["update_k"]["amortized_s"]))),
                         fmt(med(runs, lambda x: contender(x, c)["ratios"]["update_k_over_floor"])),
                         fmt(med(runs, lambda x: 1.0 / contender(x, c)["ratios"]["update_k_over_eager"])),
                         fmt(us(med(runs, lambda x: contender(x, c)["update_v"]["amortized_s"])), 3),
                         fmt(us(med(runs, lambda x: contender(x, c)["query"]["latency"]["median_s"])), 3),
                         fmt(us(med(runs, lambda x: contender(x, c)["query_batched_s"])), 3),
                         fmt(med(runs, lambda x: contender(x, c)["ratios"]["init_over_static"])),
                         fmt(med(runs, lambda x: contender(x, c)["resident_growth_bytes"] / 2**20), 1)])
    return table(["n", "config", "runs", "rows recomputed / key updates", "update_k am µs", "/ floor",
                  "eager / this", "update_v am µs",
                  "query med µs", "query batched µs", "init / static", "RSS growth MiB"], rows)


def k_table(points):
    rows = []
    for p in points:
        runs, name = p["runs"], "lazy k=%d" % p["k"]
        uk = contender(runs[0], name)["update_k"]
        rows.append([str(p["k"]), "%d / %d" % (uk.get("rows_recomputed", -1), uk["ops"]),
                     fmt(us(med(runs, lambda x: contender(x, name)["update_k"]["amortized_s"]))),
                     fmt(us(med(runs, lambda x: x["floor"]["per_update_s"]))),
                     fmt(med(runs, lambda x: contender(x, name)["ratios"]["update_k_over_floor"])),
                     fmt(med(runs, lambda x: 1.0 / contender(x, name)["ratios"]["update_k_over_eager"])),
                     fmt(us(med(runs, lambda x: contender(x, name)["update_v"]["amortized_s"])), 3),
                     fmt(us(med(runs, lambda x: contender(x, name)["query"]["latency"]["median_s"])), 3),
                     fmt(us(med(runs, lambda x: contender(x, name)["query_batched_s"])), 3)])
    return table(["k", "rows recomputed / key updates", "update_k am µs", "floor µs", "/ floor", "eager / this", "update_v am µs",
                  "query med µs", "query batched µs"], rows)


def memory_section(rows):
    body = table(["contender", "n", "peak RSS of the process MiB", "resident growth at init MiB"],
                 [[r["name"], str(r["n"]), fmt(r["peak_rss_bytes"] / 2**20, 1),
                   fmt(r["resident_growth_bytes"] / 2**20, 1)] for r in rows])
    return body + ("\n\nOne `dynattn-bench --only NAME --quick --n %d --d %d --mixes none` run each; "
                   "the peak includes the benchmark's own copies of Q, K and V." % (rows[0]["n"], D))


def cpu_detail(m):
    """Family and model numbers and cache sizes, where the run recorded them."""
    parts = []
    if m.get("cpu_family", -1) >= 0:
        parts.append("family %d, model %d" % (m["cpu_family"], m["cpu_model"]))
    caches = ["%s %d KiB" % (level, m[key] // 1024)
              for level, key in (("L2", "l2_cache_bytes"), ("L3", "l3_cache_bytes"))
              if m.get(key, -1) > 0]
    if caches:
        parts.append(", ".join(caches))
    return " (%s)" % "; ".join(parts) if parts else ""


def machine_section(run):
    m = run["machine"]
    blas_env = m.get("blas_env", "")
    return ("- CPU: %s%s, %d CPUs online (shared with other work while measuring)\n"
            "- BLAS: %s, %d threads%s\n"
            "- compiler: GCC %s; dynattn %s; exponentials of the floor and the baselines: %s\n"
            "- date of the run: %s" %
            (m["cpu"], cpu_detail(m), m["cpus"], m["blas_config"], m["blas_threads"],
             "; environment: " + blas_env if blas_env else "", m["compiler"],
             run["library"]["version"], run["floor"]["exp_kind"], run["date"]))


# ---- plots -----------------------------------------------------------------------------------

def plots(out, n_points, k_points, mix):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if n_points:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        configs = []
        for p in n_points:
            configs += [c for c in p["configs"] if c not in configs]
        for c in configs:
            pts = [p for p in n_points if c in p["configs"]]
            ns = [p["n"] for p in pts]
            left.plot(ns, [us(med(p["runs"], lambda x: contender(x, c)["update_k"]["amortized_s"])) for p in pts],
                      "o-", label="%s update_k" % c)
            left.plot(ns, [us(med(p["runs"], lambda x: contender(x, c)["update_v"]["amortized_s"])) for p in pts],
                      "s--", label="%s update_v" % c)
            right.plot(ns, [us(med(p["runs"], lambda x: contender(x, c)["query"]["latency"]["median_s"])) for p in pts],
                       "o-", label="%s query, median single call" % c)
            right.plot(ns, [us(med(p["runs"], lambda x: contender(x, c)["query_batched_s"])) for p in pts],
                       "s--", label="%s query, batched" % c)
        eager_pts = [p for p in n_points if contender(p["runs"][0], "eager")]
        if eager_pts:
            left.plot([p["n"] for p in eager_pts],
                      [us(med(p["runs"], lambda x: contender(x, "eager")["update_k"]["amortized_s"])) for p in eager_pts],
                      "^:", color="gray", label="eager baseline update_k")
        left.plot([p["n"] for p in n_points], [us(med(p["runs"], lambda x: x["floor"]["per_update_s"])) for p in n_points],
                  "k-", lw=1, label="BLAS-3 floor (k = %d)" % K_DEFAULT)
        for ax, title in ((left, "amortized update time"), (right, "query time")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("n (d = %d)" % D)
            ax.set_ylabel("µs")
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out, "n_sweep.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if k_points:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        ks = [p["k"] for p in k_points]

        def series(name_of, extract):
            return [med(p["runs"], lambda x: extract(x, contender(x, name_of(p)))) for p in k_points]

        name_of = lambda p: "lazy k=%d" % p["k"]
        left.plot(ks, [us(v) for v in series(name_of, lambda x, c: c["update_k"]["amortized_s"])], "o-", label="update_k, amortized")
        left.plot(ks, [us(v) for v in series(name_of, lambda x, c: c["update_v"]["amortized_s"])], "s--", label="update_v, amortized")
        left.plot(ks, [us(v) for v in series(name_of, lambda x, c: c["query"]["latency"]["median_s"])], "d-.", label="query, median")
        left.plot(ks, [us(v) for v in series(name_of, lambda x, c: x["floor"]["per_update_s"])], "k-", lw=1, label="BLAS-3 floor (dgemm/k + exp)")
        left.plot(ks, [us(v) for v in series(lambda p: "eager", lambda x, c: c["update_k"]["amortized_s"])], "^:", color="gray", label="eager baseline update_k")
        left.set_yscale("log")
        left.set_ylabel("µs")
        left.set_title("time against the lazy limit k (n = %d, d = %d)" % (k_points[0]["runs"][0]["params"]["n"], D))
        right.plot(ks, series(name_of, lambda x, c: c["ratios"]["update_k_over_floor"]), "o-", label="update_k / floor")
        right.plot(ks, [1.0 / v if v else None for v in series(name_of, lambda x, c: c["ratios"]["update_k_over_eager"])], "^-", label="eager / update_k")
        right.axhline(1.5, color="red", lw=0.8, ls="--", label="target update_k / floor = 1.5")
        right.axhline(3.0, color="green", lw=0.8, ls="--", label="target eager / update_k = 3")
        right.set_ylabel("ratio (same run)")
        right.set_title("ratios")
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("lazy limit k")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out, "k_sweep.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if mix:
        runs = mix["runs"]
        names = [c["name"] for c in runs[0]["contenders"]]
        xs = []
        for label in MIXES:
            u, q = (int(t) for t in label.split(":"))
            xs.append(u / q)
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name in names:
            left.plot(xs, [us(med(runs, lambda x: contender(x, name)["mixes"][m]["per_op_s"])) for m in range(len(MIXES))],
                      "o-", label=name)
        right.plot(xs, [med(runs, lambda x: over_best_fixed(x, m)[0]) for m in range(len(MIXES))],
                   "o-", label="default / best fixed strategy")
        right.axhline(1.25, color="red", lw=0.8, ls="--", label="target 1.25")
        right.axhline(1.0, color="gray", lw=0.8)
        left.set_yscale("log")
        left.set_ylabel("µs per operation")
        left.set_title("mixed workloads (n = %d, d = %d)" % (mix["n"], D))
        right.set_ylabel("ratio (same run)")
        right.set_title("adaptive default against the best fixed strategy")
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xticks(xs)
            ax.set_xticklabels(MIXES, rotation=45, fontsize=7)
            ax.set_xlabel("updates : queries")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out, "mix_sweep.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# ---- the document ----------------------------------------------------------------------------

def replace_sections(doc, sections):
    with open(doc) as f:
        text = f.read()
    for name, body in sections.items():
        begin, end = "<!-- BEGIN %s -->" % name, "<!-- END %s -->" % name
        a, b = text.find(begin), text.find(end)
        if a < 0 or b < a:
            print("report.py: %s has no %s ... %s section; skipped" % (doc, begin, end), file=sys.stderr)
            continue
        text = text[:a + len(begin)] + "\n" + body.strip() + "\n" + text[b:]
    with open(doc, "w") as f:
        f.write(text)


def strip_runs(obj):
    """The summary keeps medians and the list of raw files, not every run again."""
    if isinstance(obj, dict):
        return {k: (["%d runs in raw/" % len(v)] if k == "runs" else strip_runs(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [strip_runs(v) for v in obj]
    return obj


def main():
    args = parse_args()
    if args.quick:
        args.repeats = 1
    if args.out is None:
        args.out = os.path.join(ROOT, "build", "bench-report-quick") if args.quick else \
            os.path.join(ROOT, "docs", "perf")
    if not os.access(args.bench, os.X_OK):
        sys.exit("report.py: %s is not an executable; build it with meson (option bench=true)" % args.bench)
    parts = args.only or ["n", "k", "mix", "memory"]
    os.makedirs(args.out, exist_ok=True)
    runner = Runner(args)
    started = time.time()

    n_plans = n_sweep(args) if "n" in parts else []
    k_plans = k_sweep(args) if "k" in parts else []
    mix_plans = mix_sweep(args) if "mix" in parts else []
    run_plans(runner, n_plans + k_plans + mix_plans)
    n_points = [p.point for p in n_plans]
    k_points = [p.point for p in k_plans]
    mix = mix_plans[0].point if mix_plans else None
    memory = memory_table(runner, args) if "memory" in parts else []
    elapsed = time.time() - started

    sections = {}
    if mix:
        sections["machine"] = machine_section(mix["runs"][0])
        sections["targets"] = targets_section(mix)
        sections["absolute"] = absolute_section(mix)
        sections["mixes"] = mix_table(mix)
    if n_points:
        sections["n-sweep"] = n_table(n_points)
    if k_points:
        sections["k-sweep"] = k_table(k_points)
    if memory:
        sections["memory"] = memory_section(memory)
    sections["run"] = ("`%s` took %.0f s (%s)." %
                       (" ".join(["bench/report.py"] + sys.argv[1:]), elapsed, ", ".join(parts)))

    written = plots(args.out, n_points, k_points, mix)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(strip_runs({"repeats": args.repeats, "elapsed_s": elapsed, "sections": sections}),
                  f, indent=1, ensure_ascii=False)
    for name, body in sections.items():
        print("\n<!-- %s -->\n%s" % (name, body))
    for path in written:
        print("wrote %s" % os.path.relpath(path, ROOT), file=sys.stderr)
    if not args.no_doc and not args.quick:
        replace_sections(args.doc, sections)
        print("updated %s" % os.path.relpath(args.doc, ROOT), file=sys.stderr)
    print("report.py: finished in %.0f s" % elapsed, file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Tables and plots of docs/ALGORITHMS.md from the measurement program's output.

Usage: docs/plots/algorithms.py docs/data/algorithms.jsonl docs/

Reads the JSON lines written by bench/algorithms/algorithms.c, prints the
Markdown tables of docs/ALGORITHMS.md to stdout and writes the PNG plots into
the given directory. Needs python3-matplotlib (Debian).
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt(x):
    return "%.1e" % x if x >= 0 else "—"


def table_exact(rows):
    print("| n | d | dense (s) | of which exp (s) | blocked `att_attention` (s) | ratio | causal (s) | max diff | dense matrix | blocked tile per thread |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %d | %.3f | %.3f | %.3f | **%.2f** | %.3f | %.1e | %d MiB | %d KiB |" % (
            r["n"], r["d"], r["dense_s"], r["dense_exp_s"], r["blocked_s"], r["ratio"],
            r["causal_s"], r["max_diff"], r["dense_bytes"] >> 20, r["blocked_tile_bytes"] >> 10))


def table_basis(rows, data_rows):
    radii = sorted({r["R"] for r in rows})
    degrees = [2, 4, 6, 8, 10, 12, 16, 20]
    print("Guaranteed bound 2η/(1−η) on [−R, R] (— : polynomial refused as not safely positive):\n")
    print("| R | basis | " + " | ".join("g=%d" % g for g in degrees) + " |")
    print("|---|---|" + "---|" * len(degrees))
    for R in radii:
        for basis in ("chebyshev", "taylor"):
            vals = {r["degree"]: r["bound"] for r in rows if r["R"] == R and r["basis"] == basis}
            print("| %g | %s | " % (R, basis) + " | ".join(fmt(vals.get(g, -1)) for g in degrees) + " |")
    print("\nMeasured max-entry error on data (n = 4096, d = 4, B = 1.5, s = 1/d), bound in brackets:\n")
    degrees = sorted({r["degree"] for r in data_rows})
    print("| basis | " + " | ".join("g=%d" % g for g in degrees) + " |")
    print("|---|" + "---|" * len(degrees))
    for basis in ("chebyshev", "taylor"):
        vals = {r["degree"]: r for r in data_rows if r["basis"] == basis}
        cells = []
        for g in degrees:
            r = vals[g]
            cells.append("refused" if r["status"] != 0 else "%.1e (%.0e)" % (r["error"], r["bound"]))
        print("| %s | " % basis + " | ".join(cells) + " |")


def plot_basis(rows, out):
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, R in enumerate(sorted({r["R"] for r in rows})):
        for basis, style in (("chebyshev", "-"), ("taylor", "--")):
            pts = [(r["degree"], r["bound"]) for r in rows
                   if r["R"] == R and r["basis"] == basis and r["bound"] > 0]
            if pts:
                ax.semilogy(*zip(*pts), style, color="C%d" % i,
                            label="R=%g %s" % (R, basis))
    ax.set_xlabel("degree g")
    ax.set_ylabel("bound 2η/(1−η) on [−R, R]")
    ax.set_title("Chebyshev interpolation (solid) vs Taylor (dashed)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out + "/algorithms_basis.png", dpi=110)


def table_poly_need(need, auto):
    ns = sorted({r["n"] for r in need})
    ds = sorted({r["d"] for r in need})
    bs = sorted({r["B"] for r in need})
    autos = {(r["n"], r["d"], r["B"]): r for r in auto}
    for n in ns:
        print("\n**n = %d** (tolerance 1/n = %.1e; √ln n = %.2f). Each cell: degree g, rank r; "
              "then the measured error and time / exact time when the library accepts the plan, "
              "or *unusable* when r exceeds the break-even rank.\n" % (n, 1.0 / n, math.sqrt(math.log(n))))
        print("| B | " + " | ".join("d = %d" % d for d in ds) + " |")
        print("|---|" + "---|" * len(ds))
        for B in bs:
            cells = []
            for d in ds:
                r = next(x for x in need if x["n"] == n and x["d"] == d and x["B"] == B)
                cell = "g=%d, r=%s" % (r["degree"], "{:,}".format(r["rank"]))
                a = autos.get((n, d, B))
                if r["usable"] and a is not None and a["status"] == 0:
                    cell += "; err %.0e; **%.2g×**" % (a["error"], a["time_s"] / a["exact_s"])
                elif r["usable"] and a is not None:
                    cell += "; refused at run time (status %d)" % a["status"]
                else:
                    cell += "; *unusable*"
                cells.append(cell)
            print("| %g (R=%.2f) | " % (B, r["R"]) + " | ".join(cells) + " |")


def plot_poly_need(need, out):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    for ax, d in zip(axes, sorted({r["d"] for r in need})):
        for i, n in enumerate(sorted({r["n"] for r in need})):
            pts = sorted((r["B"], r["rank"]) for r in need if r["n"] == n and r["d"] == d)
            ax.semilogy(*zip(*pts), "o-", color="C%d" % i, label="n=%d" % n)
            ok = [(r["B"], r["rank"]) for r in need if r["n"] == n and r["d"] == d and r["usable"]]
            if ok:
                ax.semilogy(*zip(*ok), "o", color="C%d" % i, markersize=9, markerfacecolor="none")
            ax.axvline(math.sqrt(math.log(n)), color="C%d" % i, linestyle=":", alpha=0.6)
        ax.set_title("d = %d" % d)
        ax.set_xlabel("entry bound B (dotted: √ln n)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("rank r = C(d+g, g) for error 1/n")
    axes[0].legend(fontsize=8)
    fig.suptitle("Rank needed for 1/n error (circled: accepted by the break-even rank limit)")
    fig.tight_layout()
    fig.savefig(out + "/algorithms_transition.png", dpi=110)


def plot_poly_error(poly, out):
    ns = sorted({r["n"] for r in poly})
    ds = sorted({r["d"] for r in poly})
    fig, axes = plt.subplots(len(ns), len(ds), figsize=(12, 9), sharex=True, sharey=True)
    for a, n in enumerate(ns):
        for b, d in enumerate(ds):
            ax = axes[a][b]
            for i, B in enumerate(sorted({r["B"] for r in poly})):
                pts = [(r["degree"], r["error"]) for r in poly
                       if r["n"] == n and r["d"] == d and r["B"] == B and r["error"] > 0]
                if pts:
                    ax.semilogy(*zip(*pts), "o-", color="C%d" % i, markersize=3, label="B=%g" % B)
            ax.set_title("n=%d, d=%d" % (n, d), fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if a == len(ns) - 1:
                ax.set_xlabel("degree g")
            if b == 0:
                ax.set_ylabel("max |err| / max|V|")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Polynomial method: measured error vs degree (runs capped at r·n ≤ 4e7)")
    fig.tight_layout()
    fig.savefig(out + "/algorithms_error.png", dpi=110)


def table_poly_error(poly):
    ns = sorted({r["n"] for r in poly})
    print("| n | d | B | R | " + " | ".join("g=%d" % g for g in range(1, 9)) + " |")
    print("|---|---|---|---|" + "---|" * 8)
    for n in ns:
        for d in sorted({r["d"] for r in poly}):
            for B in (0.5, 1.0, 2.0, 3.0):
                rows = {r["degree"]: r for r in poly if r["n"] == n and r["d"] == d and r["B"] == B}
                if not rows:
                    continue
                R = next(iter(rows.values()))["R"]
                cells = []
                for g in range(1, 9):
                    r = rows.get(g)
                    if r is None or r["status"] != 0:
                        cells.append("refused" if r is not None and r["rank"] <= 4e7 / n else "—")
                    else:
                        cells.append("%.0e" % r["error"])
                print("| %d | %d | %g | %.2f | " % (n, d, B, R) + " | ".join(cells) + " |")


def table_sparsify(rows):
    for n in sorted({r["n"] for r in rows}):
        sub = [r for r in rows if r["n"] == n]
        d = sub[0]["d"]
        print("\n**n = %d, d = %d.** ‖·‖∞ = max-entry error of D⁻¹exp(·) (Gaussian: worst and mean "
              "over 5 seeds); row = max row sum of the error; time of the reduction.\n" % (n, d))
        print("| r | method | m | max-entry error | mean | row-sum error | time (s) |")
        print("|---|---|---|---|---|---|---|")
        for R in sorted({r["r"] for r in sub}):
            for r in sorted((x for x in sub if x["r"] == R),
                            key=lambda x: ({"zero": 0, "gaussian": 1, "lq": 2}[x["method"]], x["m"])):
                name = {"zero": "Y = 0 (no information)", "lq": "LQ (`att_sparsify_lq`)",
                        "gaussian": "Gaussian" + (" (default m)" if r.get("default") else "")}[r["method"]]
                print("| %g | %s | %d | %.1e | %s | %.1e | %s |" % (
                    R, name, r["m"], r["entry"],
                    "%.1e" % r["entry_mean"] if "entry_mean" in r else "",
                    r["row"], "%.4f" % r["time_s"] if r["method"] != "zero" else ""))


def plot_sparsify(rows, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, n in zip(axes, sorted({r["n"] for r in rows})):
        for i, R in enumerate(sorted({r["r"] for r in rows})):
            pts = sorted((r["m"], r["entry"]) for r in rows
                         if r["n"] == n and r["r"] == R and r["method"] == "gaussian")
            ax.loglog(*zip(*pts), "o-", color="C%d" % i, label="Gaussian, r=%g" % R)
            lq = [r["entry"] for r in rows if r["n"] == n and r["r"] == R and r["method"] == "lq"]
            zero = [r["entry"] for r in rows if r["n"] == n and r["r"] == R and r["method"] == "zero"]
            ax.axhline(max(lq[0], 1e-18), color="C%d" % i, linestyle="--", alpha=0.7)
            ax.axhline(zero[0], color="C%d" % i, linestyle=":", alpha=0.7)
        ax.set_title("n = %d (dashed: LQ, dotted: Y = 0)" % n)
        ax.set_xlabel("sketch width m")
        ax.set_ylabel("max-entry error of D⁻¹exp(YYᵀ)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out + "/algorithms_sparsify.png", dpi=110)


def main():
    rows = load(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else "."
    kind = lambda k: [r for r in rows if r["kind"] == k]  # noqa: E731
    print("### Exact static attention\n")
    table_exact(kind("exact"))
    print("\n### Chebyshev or Taylor\n")
    table_basis(kind("basis"), kind("basis_data"))
    plot_basis(kind("basis"), out)
    print("\n### Error against degree\n")
    table_poly_error(kind("poly"))
    plot_poly_error(kind("poly"), out)
    print("\n### The transition\n")
    table_poly_need(kind("poly_need"), kind("poly_auto"))
    plot_poly_need(kind("poly_need"), out)
    print("\n### Sparsification\n")
    table_sparsify(kind("sparsify"))
    plot_sparsify(kind("sparsify"), out)


if __name__ == "__main__":
    main()

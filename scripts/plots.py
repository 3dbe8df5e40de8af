#!/usr/bin/env python3
"""Plots for docs/benchmarks.md from the raw results the bench scripts leave in bench-results/.

    scripts/plots.sh        (creates a virtual environment with matplotlib on first use)

Reads bench-results/scaling.tsv (scripts/scaling.sh) and bench-results/<mode>-<profile>/
<profile>.json (scripts/bench.sh), writes SVGs to docs/img/. A plot whose data is missing is
skipped with a message, so it can run after any subset of the benchmarks.
"""
import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
OUT = ROOT / "docs" / "img"
MODES = ["sqlite", "postgres", "postgres-redis"]


def save(fig, name):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    # No timestamps in the SVG: re-running on the same data gives the same file.
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)}")


def summary(mode, profile):
    path = RESULTS / f"{mode}-{profile}" / f"{profile}.json"
    return json.loads(path.read_text()) if path.exists() else None


def scaling():
    path = RESULTS / "scaling.tsv"
    if not path.exists():
        print("skipped scaling: no bench-results/scaling.tsv (scripts/scaling.sh)")
        return
    rows = list(csv.DictReader(path.open(), delimiter="\t"))
    series = {}
    for r in rows:
        # "deep page by cursor (page 20)" and "(page 2000)" are one series.
        label = r["request"].split(" (page ")[0]
        series.setdefault(label, []).append((int(r["metrics"]), float(r["p95_ms"]), float(r["p50_ms"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("metrics in the catalog")
    ax.set_ylabel("p95 latency, ms (10 connections, cache off)")
    ax.set_title("PostgreSQL, uncached reads as the catalog grows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "scaling.svg")


def modes(profile):
    data = {m: summary(m, profile) for m in MODES}
    data = {m: s for m, s in data.items() if s and s.get("result")}
    if not data:
        print(f"skipped modes-{profile}: no bench-results/<mode>-{profile}/{profile}.json")
        return
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(10, 4))
    names = list(data)
    width = 0.25
    for i, key in enumerate(["p50_ms", "p95_ms", "p99_ms"]):
        xs = [j + (i - 1) * width for j in range(len(names))]
        lat.bar(xs, [data[m]["result"][key] for m in names], width, label=key.replace("_ms", ""))
    lat.set_xticks(range(len(names)), names)
    lat.set_ylabel("latency, ms")
    lat.set_title(f"{profile}: latency percentiles")
    lat.legend()
    thr.bar(names, [data[m]["result"]["requests_per_s"] for m in names], color="tab:green")
    for j, m in enumerate(names):
        hit = data[m].get("cache_hit_rate")
        if hit is not None:
            thr.annotate(f"hit {hit:.2f}", (j, data[m]["result"]["requests_per_s"]), ha="center", va="bottom", fontsize=8)
    thr.set_ylabel("requests/s")
    thr.set_title(f"{profile}: throughput (server cache hit rate above)")
    save(fig, f"modes-{profile}.svg")


def soak():
    found = [(m, summary(m, "soak")) for m in MODES]
    found = [(m, s) for m, s in found if s and s.get("tenths")]
    if not found:
        print("skipped soak: no soak summaries")
        return
    fig, ax = plt.subplots(figsize=(8, 4))
    for mode, s in found:
        tenths = s["tenths"]
        ax.plot(range(1, len(tenths) + 1), [t["p99_ms"] for t in tenths], marker="o", label=f"{mode} p99")
        ax.plot(range(1, len(tenths) + 1), [t["p95_ms"] for t in tenths], linestyle="--", label=f"{mode} p95")
    ax.set_xlabel(f"tenth of the measured run (after a {found[0][1].get('warmup_s', 0)} s warm-up)")
    ax.set_ylabel("latency, ms")
    ax.set_title("soak: latency drift")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "soak.svg")


def stress():
    found = [(m, summary(m, "stress")) for m in MODES]
    found = [(m, s) for m, s in found if s and s.get("steps")]
    if not found:
        print("skipped stress: no stress summaries")
        return
    fig, (thr, lat) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, s in found:
        users = [st["users"] for st in s["steps"]]
        thr.plot(users, [st["requests_per_s"] for st in s["steps"]], marker="o", label=mode)
        lat.plot(users, [st["p95_ms"] for st in s["steps"]], marker="o", label=f"{mode} p95")
    for ax in (thr, lat):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("goose users")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    thr.set_ylabel("requests/s")
    thr.set_title("stress: throughput per step")
    lat.set_ylabel("p95 latency, ms")
    lat.set_title("stress: p95 per step")
    save(fig, "stress.svg")


def main():
    if not RESULTS.exists():
        sys.exit("no bench-results/: run scripts/bench.sh or scripts/scaling.sh first")
    scaling()
    for profile in ["smoke", "steady", "spike"]:
        modes(profile)
    soak()
    stress()


if __name__ == "__main__":
    main()

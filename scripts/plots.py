#!/usr/bin/env python3
"""Plots for docs/benchmarks.md from the raw results the bench scripts leave in bench-results/.

    scripts/plots.sh        (creates a virtual environment with matplotlib on first use)

Reads bench-results/scaling.tsv (scripts/scaling.sh), bench-results/<mode>-<profile>/
<profile>.json (scripts/bench.sh) and .cluster/users/ (scripts/users.sh, for docs/scaling.md),
writes SVGs to docs/img/. A plot whose data is missing is skipped with a message, so it can run
after any subset of the benchmarks.
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
USERS = ROOT / ".cluster" / "users"
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
    backends = [("PostgreSQL", "scaling.tsv"), ("SQLite", "scaling-sqlite.tsv")]
    backends = [(title, RESULTS / name) for title, name in backends if (RESULTS / name).exists()]
    if not backends:
        print("skipped scaling: no bench-results/scaling[-sqlite].tsv (scripts/scaling.sh)")
        return
    fig, axes = plt.subplots(1, len(backends), figsize=(8 * len(backends), 5.5), squeeze=False, sharey=True)
    for ax, (title, path) in zip(axes[0], backends):
        series = {}
        for r in csv.DictReader(path.open(), delimiter="\t"):
            # "deep page by cursor (page 20)" and "(page 2000)" are one series.
            label = r["request"].split(" (page ")[0]
            series.setdefault(label, []).append((int(r["metrics"]), float(r["p95_ms"])))
        # Thirteen series: the default ten-colour cycle would give two of them one colour.
        colours = plt.get_cmap("tab20").colors
        for i, (label, points) in enumerate(series.items()):
            points.sort()
            style = "--" if label.startswith("full-text") else "-"
            ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", label=label,
                    color=colours[i % len(colours)])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("metrics in the catalog")
        ax.set_title(f"{title}: uncached reads as the catalog grows")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("p95 latency, ms (10 connections, cache off)")
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


def users():
    path = USERS / "users.json"
    if not path.exists():
        print("skipped users: no .cluster/users/users.json (scripts/users.sh)")
        return
    s = json.loads(path.read_text())
    t0 = s["measured_from_epoch_ms"] / 1000
    bucket = 5.0
    buckets = {}
    with open(s["samples_file"]) as f:
        for r in csv.DictReader(f):
            buckets.setdefault(int(int(r["t_ms"]) / 1000 // bucket), []).append(int(r["latency_us"]) / 1000)
    # The last slice is cut short by the end of the run: left out.
    xs = [x for x in sorted(buckets) if (x + 1) * bucket <= s["result"]["seconds"]]

    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * q))]

    fig, (lat, thr) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    mids = [(x + 0.5) * bucket for x in xs]
    for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        lat.plot(mids, [pct(buckets[x], q) for x in xs], label=label)
    lat.axhline(200, color="tab:orange", linestyle=":", label="p95 floor 200 ms")
    lat.axhline(500, color="tab:red", linestyle=":", label="p99 floor 500 ms")
    lat.set_yscale("log")
    lat.set_ylabel("latency, ms (5 s slices)")
    lat.set_title(f"users: {s['users']} people through HAProxy, 3 instances, 2 shared cores")
    thr.plot(mids, [len(buckets[x]) / bucket for x in xs], color="tab:green")
    thr.set_ylabel("requests/s")
    thr.set_xlabel("seconds since every user had started")
    idle = USERS / "idle.json"
    if idle.exists():
        d = json.loads(idle.read_text())
        for ax in (lat, thr):
            ax.axvspan(d["started_epoch"] - t0, (d["all_open_epoch"] or d["started_epoch"]) - t0, color="grey", alpha=0.2)
            ax.axvline((d["all_open_epoch"] or d["started_epoch"]) - t0, color="grey", linestyle="--")
        lat.annotate(f"{d['answered']} idle keep-alive\nconnections opened", ((d["all_open_epoch"] or d["started_epoch"]) - t0, 1),
                     xycoords=("data", "axes fraction"), va="top", fontsize=8)
    for ax in (lat, thr):
        ax.grid(True, alpha=0.3)
    lat.legend(fontsize=8, loc="upper left")
    save(fig, "users.svg")


def main():
    users()
    if not RESULTS.exists():
        sys.exit("no bench-results/: run scripts/bench.sh or scripts/scaling.sh first")
    scaling()
    for profile in ["smoke", "steady", "spike"]:
        modes(profile)
    soak()
    stress()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A small HTTP load generator for machines without oha: N threads, one keep-alive connection
each, for SECONDS; prints one JSON line with the rate and latency percentiles (ms) of the
successful answers. Python's own overhead adds a few tenths of a millisecond per request.

    http_bench.py read URL TOKEN CONCURRENCY SECONDS
        GETs one URL; success is 200.
    http_bench.py write BASE_URL TOKEN PREFIX WRITERS SECONDS [RATE]
        Creates metrics as fast as the server answers; success is 201. Each thread writes one
        id after another (never retried), so WRITERS is the number of concurrent write
        transactions the server sees. With RATE, each thread starts at most RATE writes a
        second, as a client with its own pace does. Each body is a full definition: the first
        metric of examples/sample-metrics.json (3.6 KB of JSON, every section filled),
        under a new id and name; WRITE_DOC=path names another file of the same shape.
    http_bench.py set BASE_URL TOKEN TAG OWNER COUNT
        Creates COUNT full definitions (ids TAG-00000...) that share the tag TAG and the owner
        team OWNER, named "zz TAG 00000"...: a team's metrics whose names sit together at the
        end of the name order. Ids already there are skipped (409). Prints how many were made.
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "sample-metrics.json")


def full_definition():
    """The first metric of a catalog file: what a team posts when it defines a metric whole."""
    with open(os.environ.get("WRITE_DOC", EXAMPLES)) as f:
        catalog = json.load(f)
    return (catalog["metrics"] if isinstance(catalog, dict) else catalog)[0]


# (latency ms, seconds into the run) of every successful write, for the summary's slowest.
SLOWEST = []


def reader(url, token, deadline, latencies, errors):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    path = url.path + (f"?{url.query}" if url.query else "")
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            latencies.append((time.monotonic() - t0) * 1000)
        else:
            errors.append(resp.status)


def writer(url, token, prefix, rate, deadline, latencies, errors):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    template = full_definition()
    seq = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        if rate:
            time.sleep(max(0.0, started + seq / rate - time.monotonic()))
        seq += 1
        metric_id = f"{prefix}-{seq:07d}"
        doc = dict(template)
        doc["metric_id"] = metric_id
        doc["name"] = f"{template['name']} {metric_id}"
        doc["tier"] = ["Tier-1", "Tier-2", "Tier-3"][seq % 3]
        body = json.dumps(doc)
        t0 = time.monotonic()
        conn.request("POST", "/api/v1/metrics", body=body,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 201:
            ms = (time.monotonic() - t0) * 1000
            latencies.append(ms)
            SLOWEST.append((round(ms, 1), round(t0 - started, 1)))
        else:
            errors.append(resp.status)


def run(workers, seconds):
    """Runs each worker(deadline, latencies, errors) in a thread; returns the summary."""
    latencies, errors = [], []
    started = time.monotonic()
    deadline = started + float(seconds)
    threads = [threading.Thread(target=w, args=(deadline, latencies, errors)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else None
    return {
        "ok": len(latencies), "errors": len(errors), "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "error_statuses": sorted(set(errors)),
        **({"slowest": sorted(SLOWEST, reverse=True)[:5]} if SLOWEST else {}),
    }


def make_set(url, token, tag, owner, count):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    doc = full_definition()
    made = 0
    for i in range(count):
        doc = dict(doc, metric_id=f"{tag}-{i:05}", name=f"zz {tag} {i:05}", tags=[tag])
        doc["governance"] = dict(doc.get("governance") or {}, owner_team=owner)
        conn.request(
            "POST",
            "/api/v1/metrics",
            body=json.dumps(doc),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        resp.read()
        if resp.status not in (201, 409):
            sys.exit(f"create {doc['metric_id']}: {resp.status}")
        made += resp.status == 201
    return made


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "read" and len(sys.argv) == 6:
        target, token, concurrency, seconds = sys.argv[2:6]
        url = urllib.parse.urlsplit(target)
        workers = [lambda *a: reader(url, token, *a) for _ in range(int(concurrency))]
        print(json.dumps({"concurrency": int(concurrency), **run(workers, seconds)}))
    elif mode == "write" and len(sys.argv) in (7, 8):
        base, token, prefix, writers, seconds = sys.argv[2:7]
        rate = float(sys.argv[7]) if len(sys.argv) == 8 else 0.0
        url = urllib.parse.urlsplit(base)
        workers = [lambda *a, w=w: writer(url, token, f"{prefix}{w}", rate, *a) for w in range(int(writers))]
        print(json.dumps({"writers": int(writers), **({"rate": rate} if rate else {}), **run(workers, seconds)}))
    elif mode == "set" and len(sys.argv) == 7:
        base, token, tag, owner, count = sys.argv[2:7]
        made = make_set(urllib.parse.urlsplit(base), token, tag, owner, int(count))
        print(json.dumps({"tag": tag, "owner": owner, "made": made}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

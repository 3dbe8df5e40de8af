#!/usr/bin/env python3
"""Creates metrics from WRITERS threads as fast as the server answers, for SECONDS, and prints
one JSON line: creates per second and latency percentiles (ms) of the 201s.

    write_bench.py BASE_URL TOKEN PREFIX WRITERS SECONDS

Each thread keeps one keep-alive connection and writes one id after another (never retried),
so WRITERS is the number of concurrent write transactions the server sees.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse


def writer(url, token, prefix, deadline, latencies, errors):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        metric_id = f"{prefix}-{seq:07d}"
        body = json.dumps({
            "metric_id": metric_id,
            "name": f"Write bench {metric_id}",
            "description": "Written by the write benchmark.",
            "category": ["Operations", "Finance", "Growth"][seq % 3],
            "tier": ["Tier-1", "Tier-2", "Tier-3"][seq % 3],
            "business_domain": "Platform",
            "metric_type": "operational",
            "governance": {"owner_team": "SRE", "status": "active"},
        })
        t0 = time.monotonic()
        conn.request("POST", "/api/v1/metrics", body=body,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 201:
            latencies.append((time.monotonic() - t0) * 1000)
        else:
            errors.append(resp.status)


def main() -> None:
    base, token, prefix, writers, seconds = sys.argv[1:6]
    url = urllib.parse.urlsplit(base)
    latencies, errors = [], []
    started = time.monotonic()
    deadline = started + float(seconds)
    threads = [
        threading.Thread(target=writer, args=(url, token, f"{prefix}{w}", deadline, latencies, errors))
        for w in range(int(writers))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else None
    print(json.dumps({
        "writers": int(writers), "created": len(latencies), "errors": len(errors),
        "creates_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""GETs one URL from CONCURRENCY threads (one keep-alive connection each) for SECONDS and prints
one JSON line: requests per second and latency percentiles (ms) of the 200s. For machines
without oha; Python's own overhead adds a few tenths of a millisecond per request.

    read_bench.py URL TOKEN CONCURRENCY SECONDS
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse


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


def main() -> None:
    target, token, concurrency, seconds = sys.argv[1:5]
    url = urllib.parse.urlsplit(target)
    latencies, errors = [], []
    started = time.monotonic()
    deadline = started + float(seconds)
    threads = [
        threading.Thread(target=reader, args=(url, token, deadline, latencies, errors))
        for _ in range(int(concurrency))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else None
    print(json.dumps({
        "concurrency": int(concurrency), "ok": len(latencies), "errors": len(errors),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rate-limited GET load for the drills when `oha` is not installed; writes the part of oha's
JSON summary that drill.sh reads, and one line per request for time-sliced figures.

    drill_reader.py URL_TEMPLATE SECONDS CONCURRENCY RATE TOKEN JSON_OUT LOG_OUT [--pick N]

URL_TEMPLATE may hold `{i}` (with a format spec, e.g. `{i:02d}`): each request fills it with a
random number below N. Requests start on a fixed schedule (RATE per second, shared by
CONCURRENCY keep-alive connections); a request that cannot start on time because every
connection is busy starts as soon as one is free, so a slow server shows as latency, not as a
lower rate hidden from the figures. LOG_OUT lines: `epoch_s status latency_ms` (status `ERR` for
a connection error or a timeout).
"""

import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("url", "seconds", "concurrency", "rate", "token", "json_out", "log_out"):
        ap.add_argument(name)
    ap.add_argument("--pick", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    rate, seconds = float(args.rate), float(args.seconds)
    started = time.monotonic()
    lock = threading.Lock()
    next_slot = [0]
    results: list[tuple[float, str, float]] = []
    headers = {"Authorization": f"Bearer {args.token}", "Accept-Encoding": "gzip"}

    def worker() -> None:
        conn = None
        while True:
            with lock:
                slot = next_slot[0]
                next_slot[0] += 1
            at = started + slot / rate
            if at - started >= seconds:
                break
            wait = at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            url = urllib.parse.urlsplit(args.url.format(i=random.randrange(args.pick)))
            path = url.path + (f"?{url.query}" if url.query else "")
            t0 = time.monotonic()
            wall = time.time()
            status = "ERR"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=args.timeout)
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = str(resp.status)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            latency_ms = (time.monotonic() - t0) * 1000
            with lock:
                results.append((wall, status, latency_ms))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(int(args.concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    results.sort()
    with open(args.log_out, "w") as log:
        for wall, status, ms in results:
            log.write(f"{wall:.3f} {status} {ms:.1f}\n")
    codes: dict[str, int] = {}
    errors: dict[str, int] = {}
    for _, status, _ in results:
        target = errors if status == "ERR" else codes
        key = "connection error or timeout" if status == "ERR" else status
        target[key] = target.get(key, 0) + 1
    lat = sorted(ms for _, _, ms in results)

    def pct(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000 if lat else None

    summary = {
        "statusCodeDistribution": codes,
        "errorDistribution": errors,
        "latencyPercentiles": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
        "generator": "drill_reader.py",
    }
    with open(args.json_out, "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main()

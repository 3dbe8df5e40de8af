#!/usr/bin/env python3
"""Creates metrics through the balancer at a fixed rate for a fixed time and logs every answer.

    drill_writer.py BASE_URL TOKEN PREFIX RATE SECONDS LOG

One line per attempt in LOG: `epoch_s status metric_id latency_ms retry_after` (status `ERR` for a
connection error or timeout). A 201 is an acknowledged write: the drill's checker then expects
that metric in PostgreSQL exactly once. Sequential on purpose: a slow answer delays the next
write instead of piling up, and every id is used once whatever the answer (never retried).
"""

import http.client
import sys
import time
import urllib.parse


def main() -> None:
    base, token, prefix, rate, seconds, log_path = sys.argv[1:7]
    url = urllib.parse.urlsplit(base)
    interval = 1.0 / float(rate)
    started = time.monotonic()
    deadline = started + float(seconds)
    conn = None
    seq = 0
    with open(log_path, "w", buffering=1) as log:
        next_at = started
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            seq += 1
            metric_id = f"{prefix}-{seq:06d}"
            body = (
                '{"metric_id":"%s","name":"Drill write %d","description":"Written by a fault drill.",'
                '"category":"Operations","tier":"Tier-3","business_domain":"Platform","metric_type":"operational"}'
                % (metric_id, seq)
            )
            t0 = time.monotonic()
            wall = time.time()
            status, retry_after = "ERR", "-"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                conn.request(
                    "POST",
                    "/api/v1/metrics",
                    body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                resp.read()
                status = str(resp.status)
                retry_after = resp.getheader("Retry-After") or "-"
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            latency_ms = (time.monotonic() - t0) * 1000
            log.write(f"{wall:.3f} {status} {metric_id} {latency_ms:.1f} {retry_after}\n")


if __name__ == "__main__":
    main()

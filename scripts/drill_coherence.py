#!/usr/bin/env python3
"""Cross-instance coherence under a fault: writes marks on one instance, reads them back from the
others, straight (not through the balancer), and measures how stale each read was.

    drill_coherence.py WRITER_URL TOKEN SECONDS LOG NAME=URL [NAME=URL ...] [--ids A,B,...]

A writer PATCHes the description of one of the ids every WRITE_EVERY seconds (in turn) with an
increasing mark `coh-<n>`; a reader per instance reads every id every READ_EVERY seconds (which
also keeps the entries hot in that instance's in-process cache, as real traffic would). LOG
lines: `W epoch_s id n status` for a write (epoch is when it was acknowledged) and
`R epoch_s instance id n` for a read (n is -1 for an error, 0 for a description without a mark).

`analyse(log, phases)` (imported by the drill's report) turns that into, per instance and
phase, the reads, the stale ones and the worst staleness: a read is stale when it shows an older
mark than the newest write acknowledged before it began, and its staleness is how long ago the
first write it missed was acknowledged.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse

WRITE_EVERY = 1.0
READ_EVERY = 0.25
DEFAULT_IDS = [f"SYN-00000{n}" for n in range(40, 45)]


class Client:
    def __init__(self, base: str, token: str):
        self.url = urllib.parse.urlsplit(base)
        self.token = token
        self.conn = None

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/merge-patch+json"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=5)
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, b""


def mark_of(body: bytes) -> int:
    try:
        desc = json.loads(body)["data"]["description"]
    except (ValueError, KeyError, TypeError):
        return -1
    return int(desc[4:]) if desc.startswith("coh-") and desc[4:].isdigit() else 0


def run(writer_url: str, token: str, seconds: float, log_path: str, readers: dict[str, str], ids: list[str]):
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    log = open(log_path, "w", buffering=1)

    def emit(line: str) -> None:
        with lock:
            log.write(line + "\n")

    def write_loop() -> None:
        c = Client(writer_url, token)
        n = int(time.time() * 10)  # increasing across runs too
        k = 0
        while time.monotonic() < deadline:
            n += 1
            mid = ids[k % len(ids)]
            k += 1
            status, _ = c.call("PATCH", f"/api/v1/metrics/{mid}", json.dumps({"description": f"coh-{n}"}))
            emit(f"W {time.time():.3f} {mid} {n} {status}")
            time.sleep(WRITE_EVERY)

    def read_loop(name: str, url: str) -> None:
        c = Client(url, token)
        while time.monotonic() < deadline:
            for mid in ids:
                began = time.time()
                status, body = c.call("GET", f"/api/v1/metrics/{mid}")
                emit(f"R {began:.3f} {name} {mid} {mark_of(body) if status == 200 else -1}")
            time.sleep(READ_EVERY)

    threads = [threading.Thread(target=write_loop)]
    threads += [threading.Thread(target=read_loop, args=(n, u)) for n, u in readers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()


def analyse(log_path: str, phases: list[tuple[str, float, float]]) -> dict:
    """{instance: {phase: {reads, errors, stale, worst_s, last_stale}}} over the given phases."""
    writes: dict[str, list[tuple[float, int]]] = {}
    reads = []
    for line in open(log_path):
        p = line.split()
        if p[0] == "W" and p[4].startswith("2"):
            writes.setdefault(p[2], []).append((float(p[1]), int(p[3])))
        elif p[0] == "R":
            reads.append((float(p[1]), p[2], p[3], int(p[4])))
    out: dict = {}
    for t, inst, mid, seen in reads:
        phase = next((name for name, a, b in phases if a <= t < b), None)
        if phase is None:
            continue
        s = out.setdefault(inst, {}).setdefault(phase, {"reads": 0, "errors": 0, "stale": 0, "worst_s": 0.0, "last_stale": None})
        s["reads"] += 1
        if seen < 0:
            s["errors"] += 1
            continue
        missed = [at for at, n in writes.get(mid, []) if at < t and n > seen]
        if missed:
            s["stale"] += 1
            s["worst_s"] = max(s["worst_s"], t - min(missed))
            s["last_stale"] = t
    return out


def main() -> None:
    args = sys.argv[1:]
    ids = DEFAULT_IDS
    if "--ids" in args:
        i = args.index("--ids")
        ids = args[i + 1].split(",")
        del args[i : i + 2]
    writer_url, token, seconds, log_path = args[:4]
    readers = dict(a.split("=", 1) for a in args[4:])
    run(writer_url, token, float(seconds), log_path, readers, ids)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hostile-input memory and latency benchmark against one running `mdl serve`.

Measures, side by side in one run:
  1. the idle server's RSS, and a probe client's latency with no attack (baseline window);
  2. the same while a mix of the attacks of issue 12 runs for DURATION seconds;
and prints one JSON summary: peak RSS, probe latency p50/p99/max in both windows, and every
status code the attackers and the probe received (a 5xx anywhere is a failure).

Only the Python standard library; loopback targets only; every loop is bounded by time.

    scripts/hostile_mix.py --base http://127.0.0.1:3300 --pid PID --password ADMIN_PW \
        [--duration 60] [--baseline 20]
"""

import argparse
import http.client
import json
import random
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--password", required=True)
ap.add_argument("--duration", type=float, default=60)
ap.add_argument("--baseline", type=float, default=20)
ap.add_argument("--slow-connections", type=int, default=200)
args = ap.parse_args()

url = urllib.parse.urlparse(args.base)
HOST, PORT = url.hostname, url.port
assert HOST in ("127.0.0.1", "localhost", "::1"), "loopback targets only"

statuses = Counter()
lock = threading.Lock()


def note(kind, status):
    with lock:
        statuses[f"{kind} {status}"] += 1


def request(method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, data
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        conn.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def login(user, password):
    status, data = request(
        "POST", "/api/v1/auth/login", json.dumps({"username": user, "password": password}),
        {"Content-Type": "application/json"},
    )
    if status != 200:
        sys.exit(f"login of {user} failed: {status} {data[:200]!r}")
    return json.loads(data)["data"]["tokens"]["access_token"]


admin = login("admin", args.password)
auth = {"Authorization": f"Bearer {admin}"}
status, data = request("GET", "/api/v1/metrics?limit=20&fields=metric_id", headers=auth)
ids = [m["metric_id"] for m in json.loads(data)["data"]]
assert ids, "the server has no metrics: seed it first"


def create_user(name, role):
    body = json.dumps({"username": name, "email": f"{name}@example.com", "password": f"{name}-password-1",
                       "role": role})
    request("POST", "/api/v1/users", body, {**auth, "Content-Type": "application/json"})
    return login(name, f"{name}-password-1")


suffix = random.randrange(1 << 30)
editor = create_user(f"editor{suffix}", "editor")
viewer = create_user(f"viewer{suffix}", "viewer")
status, data = request("POST", "/api/v1/api-keys", json.dumps({"name": "dash", "scopes": ["read"]}),
                       {"Authorization": f"Bearer {viewer}", "Content-Type": "application/json"})
read_key = json.loads(data)["data"]["key"]

# --- the probe: an ordinary reader, measured before and during the attack ---------------------

def probe(seconds, latencies):
    end = time.monotonic() + seconds
    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    i = 0
    while time.monotonic() < end:
        path = (f"/api/v1/metrics/{ids[i % len(ids)]}" if i % 2 == 0
                else f"/api/v1/metrics?limit=20&page={1 + i % 3}")
        t = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {viewer}"})
            r = conn.getresponse()
            r.read()
            status = r.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
        latencies.append((time.perf_counter() - t) * 1000)
        note("probe", status)
        i += 1
        time.sleep(0.02)
    conn.close()


def summary(latencies):
    if not latencies:
        return {}
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
    }


# --- the attacks -------------------------------------------------------------------------------

stop = threading.Event()

YAML_BOMB = "a: &a [" + ",".join(["x"] * 300) + "]\n"
for level in "bcde":
    prev = chr(ord(level) - 1)
    YAML_BOMB += f"{level}: &{level} [" + ",".join([f"*{prev}"] * 10) + "]\n"
YAML_BOMB += "metrics: [*e]\n"


def yaml_bombs():
    while not stop.is_set():
        s, _ = request("POST", "/api/v1/import?dry_run=true", YAML_BOMB,
                       {"Authorization": f"Bearer {editor}", "Content-Type": "application/yaml"}, timeout=30)
        note("yaml-bomb", s)


def huge_logins():
    n = 0
    while not stop.is_set():
        n += 1
        name = "u" * (1 << 20) if n % 4 == 0 else f"user{random.randrange(1 << 60):x}"
        s, _ = request("POST", "/api/v1/auth/login", json.dumps({"username": name, "password": "guess-guess"}),
                       {"Content-Type": "application/json"})
        note("login", s)


def junk_queries():
    junk = "j" * 60_000
    while not stop.is_set():
        i = random.randrange(1 << 40)
        path = random.choice([f"/api/v1/metrics/{ids[0]}", f"/api/v1/metrics/{ids[0]}/policy", "/api/v1/stats"])
        s, _ = request("GET", f"{path}?x{i}={junk}", headers={"Authorization": f"Bearer {viewer}"})
        note("junk-query", s)


def password_guesses():
    body = json.dumps({"current_password": "not-it-at-all", "new_password": "another-password-1"})
    while not stop.is_set():
        token = random.choice([viewer, read_key])
        s, _ = request("POST", "/api/v1/auth/change-password", body,
                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        note("change-password", s)


def odd_ids():
    while not stop.is_set():
        i = random.randrange(1 << 40)
        path = random.choice([
            f"/api/v1/metrics/{urllib.parse.quote(ids[1], safe='').replace('-', '%2D')}",
            f"/api/v1/metrics/NOPE-{i}-{'z' * 4000}",
            "/api/v1/metrics/%00", "/api/v1/metrics/%ff",
            "/api/v1/metrics?tier=Tier-9", "/api/v1/metrics?limit=100000000000000000000000",
        ])
        s, _ = request("GET", path, headers={"Authorization": f"Bearer {viewer}"})
        note("odd-id", s)


def slow_clients():
    socks = []
    while not stop.is_set():
        while len(socks) < args.slow_connections and not stop.is_set():
            try:
                s = socket.create_connection((HOST, PORT), timeout=2)
                s.sendall(b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                note("slowloris", "connect-refused")
                break
        alive = []
        for s in socks:
            try:
                s.sendall(b"X-a: b\r\n")
                alive.append(s)
            except OSError:
                note("slowloris", "closed-by-server")
                s.close()
        socks = alive
        time.sleep(1)
    for s in socks:
        s.close()


attackers = [yaml_bombs, huge_logins, huge_logins, junk_queries, junk_queries, password_guesses, odd_ids,
             slow_clients]

# --- the run -----------------------------------------------------------------------------------

time.sleep(2)
idle_rss = rss_kib(args.pid)
base_lat = []
probe(args.baseline, base_lat)
base_rss = rss_kib(args.pid)

threads = [threading.Thread(target=f, daemon=True) for f in attackers]
for t in threads:
    t.start()
attack_lat = []
peak = 0
sampler_stop = threading.Event()


def sample():
    global peak
    while not sampler_stop.is_set():
        peak = max(peak, rss_kib(args.pid))
        time.sleep(0.25)


sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
probe(args.duration, attack_lat)
stop.set()
for t in threads:
    t.join(timeout=35)
sampler_stop.set()
sampler.join()
time.sleep(2)
after_rss = rss_kib(args.pid)

five_xx = {k: v for k, v in statuses.items() if k.split()[-1].startswith("5")}
result = {
    "duration_s": args.duration,
    "rss_mib": {"idle": round(idle_rss / 1024, 1), "after_baseline": round(base_rss / 1024, 1),
                "peak_under_attack": round(peak / 1024, 1), "after_attack": round(after_rss / 1024, 1)},
    "probe_without_attack": summary(base_lat),
    "probe_under_attack": summary(attack_lat),
    "statuses": dict(sorted(statuses.items())),
    "five_xx": five_xx,
}
print(json.dumps(result, indent=2))
sys.exit(1 if five_xx else 0)

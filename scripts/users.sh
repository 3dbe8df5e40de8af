#!/usr/bin/env bash
# 1,000 people through the balancer, then 10,000 idle keep-alive connections held open beside
# them: the "1,000 users" floor of the scale-out plan.
#
#   scripts/users.sh
#
# Starts a 3-instance cluster of its own (HAProxy with maxconn raised above the idle connections
# and a keep-alive timeout longer than the run), runs the goose `users` profile against the
# balancer (1,000 users, 1-5 s of think time between pages, writes as a share of reads), and
# halfway through the plateau opens the idle connections (scripts/idle_conns.py: one request
# each, then silent). Prints markdown rows: the users run against the floor (p95 < 200 ms,
# p99 < 500 ms, errors < 0.1 %, hit rate > 0.8), the plateau before and after the idle
# connections opened, how many of them stayed open, and the CPU each process took. Raw results
# in .cluster/users/. Bounded by `timeout`; stops everything it started on any exit.
#
# Settings: USERS_USERS (1000), USERS_SECONDS (180), USERS_IDLE (10000), USERS_WRITE_SHARE
# (0.001, the harness's default: one create or update per 1,000 reads).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${USERS_BOUNDED:-}" ]; then
  USERS_BOUNDED=1 exec timeout -k 15 900 "$0" "$@"
fi

USERS=${USERS_USERS:-1000}
SECS=${USERS_SECONDS:-180}
IDLE=${USERS_IDLE:-10000}
WRITE_SHARE=${USERS_WRITE_SHARE:-0.001}
CLUSTER=scripts/cluster.sh
STATE=${MDL_CLUSTER_DIR:-$PWD/.cluster}
LB_PORT=${MDL_CLUSTER_PORT:-8088}
BASE_PORT=${MDL_CLUSTER_BASE_PORT:-3100}
OUT=$STATE/users

say() { printf '[users %s] %s\n' "$(date +%T)" "$*" >&2; }
wait_for() { # seconds, command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
# Cumulative CPU seconds (user + system) of a process and its reaped children.
cpu_of() { awk '{ printf "%.2f\n", ($14 + $15 + $16 + $17) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The idle connections need one descriptor each here and in HAProxy; the hard limit cannot be
# raised from inside this container, only reached.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((IDLE + 1000)) ]; then
  echo "descriptor limit $(ulimit -n) is below $IDLE idle connections + 1000" >&2
  exit 1
fi
if "$CLUSTER" status >/dev/null 2>&1; then
  echo "users.sh starts a cluster of its own: run '$CLUSTER down' first" >&2
  exit 1
fi
if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (Debian package), for the load generator's own CPU"
  apt-get install -y time >/dev/null || { echo "/usr/bin/time is missing and could not be installed" >&2; exit 1; }
fi
if [ ! -x target/release/mdl ] || [ ! -x target/release/mdl-loadtest ]; then
  say "building target/release/mdl and mdl-loadtest"
  cargo build --release -p mdl -p mdl-loadtest >&2
fi

PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  timeout 90 "$CLUSTER" down || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT"
mkdir -p "$OUT"
say "starting 3 instances (HAProxy maxconn $((IDLE + USERS + 2000)), keep-alive $((SECS + 120)) s)"
MDL_CLUSTER_MAXCONN=$((IDLE + USERS + 2000)) MDL_CLUSTER_KEEPALIVE_S=$((SECS + 120)) \
  timeout 300 "$CLUSTER" up 3 >/dev/null
PASSWORD=$(cat "$STATE/admin-password")
HAPROXY_PID=$(cat "$STATE/haproxy.pid")
INSTANCE_PIDS=$(cat "$STATE"/mdl[0-9]*.pid | tr '\n' ' ')
read -r -a CPU0 < <(head -1 /proc/stat)
haproxy_cpu0=$(cpu_of "$HAPROXY_PID")
instances_cpu0=0
for p in $INSTANCE_PIDS; do instances_cpu0=$(awk -v a="$instances_cpu0" -v b="$(cpu_of "$p")" 'BEGIN { print a + b }'); done

say "users profile: $USERS users for $SECS s, write share $WRITE_SHARE"
started=$SECONDS
date +%s.%N >"$OUT/run_started"
# /usr/bin/time: the load generator's own CPU (user + system) and peak RSS.
/usr/bin/time -f '%U %S %e %M' -o "$OUT/loadtest.time" target/release/mdl-loadtest \
  --host "http://127.0.0.1:$LB_PORT" --profile users --users "$USERS" --duration "$SECS" \
  --write-share "$WRITE_SHARE" --password "$PASSWORD" --out "$OUT" \
  --stats-hosts "$(seq -s, -f "http://127.0.0.1:%g" $((BASE_PORT + 1)) $((BASE_PORT + 3)))" \
  >"$OUT/loadtest.out" 2>"$OUT/loadtest.err" &
LOADTEST=$!
PIDS+=("$LOADTEST")

# Halfway through the plateau (the ramp is a quarter of the run, at most 60 s).
ramp=$((SECS / 4 > 60 ? 60 : SECS / 4))
open_at=$((ramp + (SECS - ramp) / 2 - 20))
while ((SECONDS - started < open_at)); do
  kill -0 "$LOADTEST" 2>/dev/null || break
  sleep 1
done
open_started=$SECONDS
say "opening $IDLE idle keep-alive connections"
python3 scripts/idle_conns.py 127.0.0.1 "$LB_PORT" "$IDLE" $((SECS - open_at + 30)) "$OUT/idle.json" 2>"$OUT/idle.err" &
IDLE_PID=$!
PIDS+=("$IDLE_PID")
wait_for 120 grep -q '"all_open_epoch": [0-9]' "$OUT/idle.json" || say "the idle connections did not finish opening"
say "idle connections: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["open_now"], "open,", d["failed"], "failed")' "$OUT/idle.json" 2>/dev/null || echo '?')"

rc=0
wait "$LOADTEST" || rc=$?
say "users profile finished (exit $rc)"
# Measured over the run, before the idle holder is told to stop.
idle_cpu=$(cpu_of "$IDLE_PID")
open_span=$((SECONDS - open_started))
haproxy_cpu=$(awk -v a="$(cpu_of "$HAPROXY_PID")" -v b="$haproxy_cpu0" 'BEGIN { print a - b }')
instances_cpu=$(awk -v a="0" -v b="$instances_cpu0" 'BEGIN { print a - b }')
for p in $INSTANCE_PIDS; do instances_cpu=$(awk -v a="$instances_cpu" -v b="$(cpu_of "$p")" 'BEGIN { print a + b }'); done
read -r -a CPU1 < <(head -1 /proc/stat)
# Still open at the end of the run: the holder's last status before it closes them.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["open_now"])' "$OUT/idle.json" >"$OUT/idle_open_at_end"
kill "$IDLE_PID" 2>/dev/null || true
wait "$IDLE_PID" 2>/dev/null || true

machine_busy=$(awk -v u0="${CPU0[1]}" -v n0="${CPU0[2]}" -v s0="${CPU0[3]}" -v u1="${CPU1[1]}" -v n1="${CPU1[2]}" -v s1="${CPU1[3]}" \
  'BEGIN { printf "%.1f", (u1 + n1 + s1 - u0 - n0 - s0) / 100 }')
python3 - "$OUT" "$USERS" "$IDLE" "$WRITE_SHARE" "$idle_cpu" "$haproxy_cpu" "$instances_cpu" "$open_span" "$machine_busy" <<'PY'
import csv, json, sys
out, users, idle_n, share = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
idle_cpu, haproxy_cpu, inst_cpu, open_span, machine = (float(x) for x in sys.argv[5:10])
s = json.load(open(f"{out}/users.json"))
r = s["result"]
# The last line: GNU time puts "Command exited with non-zero status N" before it on failure.
user_s, sys_s, wall_s, rss_kb = open(f"{out}/loadtest.time").read().splitlines()[-1].split()[:4]
gen_cpu = float(user_s) + float(sys_s)
wall = float(wall_s)
idle = json.load(open(f"{out}/idle.json"))
open_at_end = int(open(f"{out}/idle_open_at_end").read())

# The plateau before the idle connections began opening and after they were all open.
t0 = s["measured_from_epoch_ms"] / 1000
rows = [(t0 + int(t) / 1000, int(l) / 1000, ok == "1") for t, l, ok in csv.reader(open(s["samples_file"])) if t != "t_ms"]
def fig(xs):
    lat = sorted(l for _, l, _ in xs)
    p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] if lat else 0
    span = (xs[-1][0] - xs[0][0]) if len(xs) > 1 else 1
    return f"{len(xs)} req, {len(xs) / span:.0f} req/s, p50 {p(.5):.0f} / p95 {p(.95):.0f} / p99 {p(.99):.0f} ms, {sum(1 for x in xs if not x[2])} errors"
before = [x for x in rows if x[0] < idle["started_epoch"]]
after = [x for x in rows if idle["all_open_epoch"] and x[0] >= idle["all_open_epoch"]]

verdict = "passed" if s["passed"] else "failed: " + "; ".join(s["broken"])
print("| run | users | requests | req/s | p50 ms | p95 ms | p99 ms | errors | hit rate | writes ok / failed | verdict |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|")
print(f"| `users` plateau, write share {share} | {users} | {r['requests']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
      f"{r['p99_ms']:.0f} | {r['errors']} ({100 * r['error_rate']:.3f} %) | {s['cache_hit_rate']} | "
      f"{s['writes']['acknowledged']} / {s['writes']['failed']} | {verdict} |")
print()
print("| idle keep-alive connections | target | opened and answered | still open at the end | closed by the balancer | failed | users' plateau before they opened | users' plateau with them open |")
print("|---|---:|---:|---:|---:|---|---|---|")
errs = ", ".join(f"{k}: {v}" for k, v in idle["errors"].items()) or "-"
print(f"| through HAProxy `:8088` | {idle_n} | {idle['answered']} | {open_at_end} | {idle['closed_by_server']} | {idle['failed']} ({errs}) | "
      f"{fig(before) if before else '-'} | {fig(after) if after else '-'} |")
print()
print("| CPU over the run | seconds | share of the 2 cores |")
print("|---|---:|---:|")
cores = 2
for name, secs, span in (
    (f"load generator (goose, {users} users; peak RSS {int(rss_kb) // 1024} MB)", gen_cpu, wall),
    (f"idle-connection holder (its {open_span:.0f} s)", idle_cpu, open_span),
    ("HAProxy", haproxy_cpu, wall),
    ("3 instances", inst_cpu, wall),
    ("whole machine", machine, wall),
):
    print(f"| {name} | {secs:.1f} | {100 * secs / span / cores:.0f} % |")
print()
print(f"(shares over the load generator's {wall:.0f} s of wall time unless said)")
PY
exit "$rc"

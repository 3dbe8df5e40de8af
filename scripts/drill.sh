#!/usr/bin/env bash
# Fault drills under load against the local cluster (scripts/cluster.sh).
#
#   scripts/drill.sh rolling-restart    SIGTERM, drain and start every instance in turn
#   scripts/drill.sh kill-one           kill -9 instance 2, restart it 10 s later
#   scripts/drill.sh redis-outage       kill the cluster's Redis for 30 s, start it again
#   scripts/drill.sh postgres-restart   stop the machine's PostgreSQL for 5 s, start it again
#
# Each drill: reads (oha, rate-limited) and a writer creating metrics at a fixed rate, both
# through the balancer for a bounded time; the fault a few seconds in; then a checker that
# every acknowledged (201) write is in PostgreSQL exactly once. Prints one markdown row for
# docs/scaling.md; raw results stay in .cluster/drills/NAME/. Starts the cluster (3 instances)
# if it is not up, and then stops it again at the end. Every fault is undone on exit, even on
# failure or Ctrl-C, and the whole drill is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${1:-}
case $NAME in
rolling-restart | kill-one | redis-outage | postgres-restart) ;;
*)
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
# The whole drill runs under a hard bound; the trap below still cleans up when it strikes.
if [ -z "${DRILL_BOUNDED:-}" ]; then
  DRILL_BOUNDED=1 exec timeout -k 15 240 "$0" "$@"
fi

CLUSTER=scripts/cluster.sh
STATE=${MDL_CLUSTER_DIR:-$PWD/.cluster}
PG=${MDL_CLUSTER_PG:-postgres://postgres@127.0.0.1:5432}
DB=${MDL_CLUSTER_DB:-mdl_cluster}
LB_PORT=${MDL_CLUSTER_PORT:-8088}
BASE_PORT=${MDL_CLUSTER_BASE_PORT:-3100}
LB=http://127.0.0.1:$LB_PORT
READ_RATE=${DRILL_READ_RATE:-200}  # reads/s of single metrics (mostly cached)
LIST_RATE=${DRILL_LIST_RATE:-20}   # reads/s of a filtered list (invalidated by every write)
WRITE_RATE=${DRILL_WRITE_RATE:-10} # creates/s
OUT=$STATE/drills/$NAME
PG_VERSION=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort | head -1 || true)

say() { printf '[drill %s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }
event() { printf '%s %s\n' "$1" "$(now)" >>"$OUT/events"; }
# Polls every 100 ms until the command succeeds or SECONDS pass.
wait_for() { # seconds, command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

STARTED_CLUSTER=""
LOAD_PIDS=()
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # Undo whatever fault may still be in place.
  if [ "$NAME" = postgres-restart ] && ! pg_isready -q -h 127.0.0.1; then
    say "starting PostgreSQL again"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || true
  fi
  if [ "$NAME" = redis-outage ]; then timeout 20 "$CLUSTER" redis-start || true; fi
  if [ -f "$STATE/n" ]; then
    for i in $(seq 1 "$(cat "$STATE/n")"); do
      [ -f "$STATE/mdl$i.pid" ] && kill -0 "$(cat "$STATE/mdl$i.pid")" 2>/dev/null && continue
      say "starting instance $i again"
      timeout 60 "$CLUSTER" start "$i" || true
    done
  fi
  if [ -n "$STARTED_CLUSTER" ]; then timeout 90 "$CLUSTER" down || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v oha >/dev/null || PATH=$HOME/.cargo/bin:$PATH
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
if ! "$CLUSTER" status >/dev/null 2>&1; then
  say "cluster not up: starting 3 instances"
  STARTED_CLUSTER=1
  timeout 300 "$CLUSTER" up 3 >/dev/null
fi
N=$(cat "$STATE/n")
rm -rf "$OUT"
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true

PASSWORD=$(cat "$STATE/admin-password")
TOKEN=$(curl -sf -X POST "$LB/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')

# Load for SECONDS, in the background: single metrics (a hundred ids, so mostly cache hits), a
# filtered list (every write invalidates it, so it reaches the database), and the writer.
start_load() { # seconds
  local secs=$1
  event load_start
  "$CLUSTER" lb-retries >"$OUT/retries-before"
  python3 scripts/drill_writer.py "$LB" "$TOKEN" "DRILL-$NAME-$(date +%s)" "$WRITE_RATE" "$secs" "$OUT/writes.log" &
  LOAD_PIDS+=($!)
  oha --no-tui -w --output-format json -z "${secs}s" -c 16 -q "$READ_RATE" -H "Authorization: Bearer $TOKEN" \
    --rand-regex-url "http://127.0.0.1:$LB_PORT/api/v1/metrics/SYN-00000[0-9][0-9]" >"$OUT/reads-one.json" 2>"$OUT/oha-one.err" &
  LOAD_PIDS+=($!)
  oha --no-tui -w --output-format json -z "${secs}s" -c 4 -q "$LIST_RATE" -H "Authorization: Bearer $TOKEN" \
    "$LB/api/v1/metrics?tier=Tier-2&limit=20" >"$OUT/reads-list.json" 2>"$OUT/oha-list.err" &
  LOAD_PIDS+=($!)
}
wait_load() {
  local p
  for p in "${LOAD_PIDS[@]}"; do wait "$p" || true; done
  LOAD_PIDS=()
  event load_end
}

# Sum of cache hits and misses over every instance (admin route, straight to each instance).
cache_sample() { # label
  local i
  for i in $(seq 1 "$N"); do
    curl -s -m 2 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$((BASE_PORT + i))/api/v1/stats/cache" || echo '{}'
    echo
  done | python3 -c '
import json, sys
sums = [0, 0, 0, 0]
for line in sys.stdin:
    try:
        d = json.loads(line).get("data", {})
    except ValueError:
        continue
    l2 = d.get("l2") or {}
    for k, v in enumerate((d.get("hits"), d.get("misses"), l2.get("hits"), l2.get("misses"))):
        sums[k] += v or 0
print(*sums)' | { read -r h m h2 m2; printf 'cache_%s %s %s %s %s %s\n' "$1" "$(now)" "$h" "$m" "$h2" "$m2" >>"$OUT/events"; }
}

redis_ok_everywhere() {
  local i
  for i in $(seq 1 "$N"); do
    curl -sf -m 1 "http://127.0.0.1:$((BASE_PORT + i))/health" | grep -q '"redis":{[^}]*"status":"ok"' || return 1
  done
}

# A write on instance 1, then reads on every instance straight (not through the balancer)
# until each shows it: the cross-instance coherence after a fault.
coherence() {
  local mark i
  mark="coherence-$(date +%s%N)"
  curl -sf -o /dev/null -X PATCH "http://127.0.0.1:$((BASE_PORT + 1))/api/v1/metrics/SYN-0000007" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/merge-patch+json' \
    -d "{\"description\":\"$mark\"}" || { echo "write-failed"; return; }
  local t0 deadline=$((SECONDS + 10))
  t0=$(now)
  for i in $(seq 1 "$N"); do
    until curl -sf -m 1 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$((BASE_PORT + i))/api/v1/metrics/SYN-0000007" | grep -q "$mark"; do
      ((SECONDS < deadline)) || { echo "stale-on-$i"; return; }
      sleep 0.05
    done
  done
  awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "all %d instances in %.2f s\n", '"$N"', b - a }'
}

say "$NAME: $N instances behind $LB"
case $NAME in
rolling-restart)
  start_load 60
  sleep 8 # steady load before the fault
  event fault_start
  for i in $(seq 1 "$N"); do
    say "restarting instance $i (SIGTERM, drain, start, wait until routed)"
    timeout 90 "$CLUSTER" restart "$i"
  done
  event fault_end
  wait_load
  ;;
kill-one)
  start_load 40
  sleep 8
  event fault_start
  say "kill -9 instance 2"
  "$CLUSTER" kill 2
  wait_for 15 "$CLUSTER" lb-down 2 && event lb_marked_down
  sleep 8 # the cluster runs on N-1 for a while before the instance comes back
  say "starting instance 2 again"
  timeout 60 "$CLUSTER" start 2
  event fault_end
  wait_load
  ;;
redis-outage)
  start_load 60
  sleep 8
  cache_sample before
  event fault_start
  say "kill -9 Redis for 30 s"
  "$CLUSTER" redis-stop
  sleep 30 # the outage itself
  cache_sample outage
  say "starting Redis again"
  timeout 20 "$CLUSTER" redis-start
  event fault_end
  wait_for 30 redis_ok_everywhere && event redis_ok_everywhere
  wait_load
  cache_sample after
  printf 'coherence %s %s\n' "$(now)" "$(coherence | tr ' ' _)" >>"$OUT/events"
  ;;
postgres-restart)
  [ -n "$PG_VERSION" ] || { echo "no /etc/postgresql/<version>: cannot restart PostgreSQL here" >&2; exit 1; }
  start_load 45
  sleep 8
  event fault_start
  say "stopping PostgreSQL $PG_VERSION for 5 s (the machine's shared cluster)"
  timeout 60 pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main stop
  event pg_stopped
  sleep 5 # the outage itself
  say "starting PostgreSQL again"
  event pg_start
  timeout 60 pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
  event fault_end
  wait_for 30 curl -sf "$LB/health/ready" && event ready_again
  wait_load
  ;;
esac

# What HAProxy retried and redispatched during the drill (its counters, before and after).
read -r r0 d0 <"$OUT/retries-before"
read -r r1 d1 < <("$CLUSTER" lb-retries)
echo "$((r1 - r0)) $((d1 - d0))" >"$OUT/retried"

# The checker: every acknowledged write is in PostgreSQL exactly once, with one creation in
# its history. Writes that failed (no 201) may or may not have committed; they are counted.
awk '$2 == 201 { print $3 }' "$OUT/writes.log" >"$OUT/acked"
awk '$2 != 201 { print $3 }' "$OUT/writes.log" >"$OUT/unacked"
psql "$PG/$DB" -qAtX -F ' ' >"$OUT/check" <<SQL
CREATE TEMP TABLE acked (id text);
CREATE TEMP TABLE unacked (id text);
\copy acked FROM '$OUT/acked'
\copy unacked FROM '$OUT/unacked'
SELECT
  (SELECT count(*) FROM acked),
  (SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM metrics m WHERE m.metric_id = a.id)),
  (SELECT count(*) FROM acked a WHERE (SELECT count(*) FROM metrics m WHERE m.metric_id = a.id) > 1
       OR (SELECT count(*) FROM metric_history h WHERE h.metric_id = a.id AND h.version = 1) <> 1),
  (SELECT count(*) FROM unacked u WHERE EXISTS (SELECT 1 FROM metrics m WHERE m.metric_id = u.id));
SQL

python3 - "$NAME" "$OUT" <<'PY'
import json, sys
name, out = sys.argv[1], sys.argv[2]

def reads(path):
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return 0, 0, None, {}
    codes = {k: v for k, v in d.get("statusCodeDistribution", {}).items()}
    errs = d.get("errorDistribution", {})
    total = sum(codes.values()) + sum(errs.values())
    bad = sum(v for k, v in codes.items() if not ("200" <= k < "400")) + sum(errs.values())
    p99 = (d.get("latencyPercentiles") or {}).get("p99")
    detail = {**{k: v for k, v in codes.items() if not ("200" <= k < "400")}, **errs}
    return total, bad, p99 and p99 * 1000, detail

events, samples, extra = {}, {}, {}
for line in open(f"{out}/events"):
    parts = line.split()
    if parts[0].startswith("cache_"):
        samples[parts[0][6:]] = tuple(float(x) for x in parts[2:6])
    elif parts[0] == "coherence":
        extra["coherence"] = parts[2].replace("_", " ")
    else:
        events[parts[0]] = float(parts[1])

writes = [l.split() for l in open(f"{out}/writes.log")]
acked = [w for w in writes if w[1] == "201"]
failed = [w for w in writes if w[1] != "201"]
w_lat = sorted(float(w[3]) for w in writes)
w_p99 = w_lat[min(len(w_lat) - 1, int(len(w_lat) * 0.99))] if w_lat else None
by_status = {}
for w in failed:
    by_status[w[1]] = by_status.get(w[1], 0) + 1
with_retry_after = sum(1 for w in failed if w[1] == "503" and w[4] != "-")

r1 = reads(f"{out}/reads-one.json")
r2 = reads(f"{out}/reads-list.json")
requests = r1[0] + r2[0] + len(writes)
errors = r1[1] + r2[1] + len(failed)
p99 = max(x for x in (r1[2], r2[2], w_p99) if x is not None)

fs, fe = events.get("fault_start"), events.get("fault_end")
notes = []
if name == "rolling-restart":
    recover = f"{fe - fs:.1f} s for the whole rolling restart"
elif name == "kill-one":
    down = events.get("lb_marked_down")
    recover = f"out of rotation {down - fs:.1f} s after the kill" if down else "never marked down"
elif name == "redis-outage":
    ok = events.get("redis_ok_everywhere")
    recover = f"Redis ok on every instance {ok - fe:.1f} s after its restart" if ok else "Redis never ok again"
    if {"before", "outage", "after"} <= samples.keys():
        # Counters are cumulative: the rates are over load start..fault, the outage, after it.
        b, o, a = samples["before"], samples["outage"], samples["after"]
        rate = lambda h, m: f"{100 * h / (h + m):.0f} %" if h + m else "-"
        for label, i in (("hit rate", 0), ("Redis hit rate", 2)):
            notes.append(f"{label} {rate(b[i], b[i + 1])} before, {rate(o[i] - b[i], o[i + 1] - b[i + 1])} during, "
                         f"{rate(a[i] - o[i], a[i + 1] - o[i + 1])} after")
    notes.append(f"coherence after: {extra.get('coherence', '?')}")
else:
    # From the moment `pg_ctlcluster start` began (PostgreSQL accepts connections before it
    # returns): when writes were refused, and when they were acknowledged again.
    start = events["pg_start"]
    fails = [float(w[0]) for w in failed]
    if fails:
        last_fail = max(fails)
        resumed = min((float(w[0]) for w in acked if float(w[0]) > last_fail), default=None)
        recover = f"writes refused for {last_fail - min(fails):.1f} s (stop began to start took {start - fs:.1f} s)"
        recover += f"; acknowledged again {resumed - start:.1f} s after the start began" if resumed else "; never again"
    else:
        recover = "no write refused"
    notes.append(f"{with_retry_after} of {len(failed)} failed writes were 503 with Retry-After")

total, lost, dup, unacked_present = (int(x) for x in open(f"{out}/check").read().split())
detail = {}
for d in (r1[3], r2[3], by_status):
    for k, v in d.items():
        detail[k] = detail.get(k, 0) + v
err_text = f"{errors}" + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(detail.items()))})" if detail else "")
notes.append(f"single-metric reads {r1[0]} / {r1[1]} errors, list reads {r2[0]} / {r2[1]} errors, "
             f"writes {len(writes)} / {len(failed)} failed")
retries, redispatches = open(f"{out}/retried").read().split()
notes.append(f"HAProxy retried {retries} times, redispatched {redispatches}")
if unacked_present:
    notes.append(f"{unacked_present} failed writes committed anyway")
print("| drill | requests | errors | p99 ms | recovery | acked writes lost / duplicated | notes |")
print("|---|---:|---|---:|---|---|---|")
print(f"| `{name}` | {requests} | {err_text} | {p99:.0f} | {recover} | {lost} / {dup} of {total} | {'; '.join(notes)} |")
if lost or dup:
    sys.exit(1)
PY

#!/usr/bin/env bash
# Fault drills under load against the local cluster (scripts/cluster.sh).
#
#   scripts/drill.sh rolling-restart    SIGTERM, drain and start every instance in turn
#   scripts/drill.sh kill-one           kill -9 instance 2, restart it 10 s later
#   scripts/drill.sh redis-outage       kill the cluster's Redis for 30 s, start it again
#   scripts/drill.sh postgres-restart   stop the machine's PostgreSQL for 5 s, start it again
#   scripts/drill.sh redis-cut          cut instance 2 (in a netns) off Redis for 30 s, heal it
#   scripts/drill.sh pg-latency         add 50 ms to every PostgreSQL round trip for 20 s
#
# Each drill: reads (oha, rate-limited; scripts/drill_reader.py when oha is not installed) and a
# writer creating metrics at a fixed rate, both through the balancer for a bounded time; the
# fault a few seconds in; then a checker that every acknowledged (201) write is in PostgreSQL
# exactly once. Prints one markdown row for docs/scaling.md; raw results stay in
# .cluster/drills/NAME/. Starts the cluster (3 instances) if it is not up, and then stops it
# again at the end; redis-cut and pg-latency need a cluster of their own shape (instance 2 in a
# network namespace; PostgreSQL behind scripts/latency_proxy.py) and start it themselves. Every
# fault is undone on exit, even on failure or Ctrl-C, and the whole drill is bounded by `timeout`.
#
# Settings: DRILL_READ_RATE (200/s), DRILL_LIST_RATE (20/s), DRILL_WRITE_RATE (10/s),
# DRILL_SEARCH_RATE (0: searches no two alike, each reaching the database),
# DRILL_SEARCH_CONCURRENCY (64), DRILL_WRITER_URL (the balancer), DRILL_L1_TTL (20 s, redis-cut),
# DRILL_PG_DELAY_MS (25 ms each way, pg-latency), DRILL_PG_PROXY_PORT (5442).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${1:-}
case $NAME in
rolling-restart | kill-one | redis-outage | postgres-restart | redis-cut | pg-latency) ;;
*)
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
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
# Searches/s for words no two alike, so each reaches the database (0: none; the reader only).
SEARCH_RATE=${DRILL_SEARCH_RATE:-0}
SEARCH_CONCURRENCY=${DRILL_SEARCH_CONCURRENCY:-64}
# Where the writer sends its creates: the balancer, or one instance (redis-cut: instance 1, so
# the instance cut off Redis writes nothing itself and has to learn every change from others).
WRITER_URL=${DRILL_WRITER_URL:-$LB}
L1_TTL=${DRILL_L1_TTL:-20}         # redis-cut: the instances' MDL_L1_TTL, the staleness bound
PG_DELAY_MS=${DRILL_PG_DELAY_MS:-25} # pg-latency: one-way delay, so a round trip gets 2 x this
PROXY_PORT=${DRILL_PG_PROXY_PORT:-5442}
PG_HOSTPORT=${PG#*://}
PG_HOSTPORT=${PG_HOSTPORT#*@}
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
PROXY_PID=""
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$NAME" = redis-cut ] && [ -f "$STATE/n" ]; then "$CLUSTER" redis-heal 2 || true; fi
  if [ -n "$PROXY_PID" ]; then kill -USR2 "$PROXY_PID" 2>/dev/null || true; fi
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
  if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v oha >/dev/null || PATH=$HOME/.cargo/bin:$PATH
READER=oha
command -v oha >/dev/null || READER=drill_reader.py
rm -rf "$OUT"
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The two drills whose fault needs the cluster built for it start their own.
CLUSTER_ENV=()
case $NAME in
redis-cut) CLUSTER_ENV=(MDL_CLUSTER_NETNS=2 "MDL_CLUSTER_L1_TTL=$L1_TTL") ;;
pg-latency) CLUSTER_ENV=("MDL_CLUSTER_PG_VIA=127.0.0.1:$PROXY_PORT") ;;
esac
if [ ${#CLUSTER_ENV[@]} -gt 0 ] && "$CLUSTER" status >/dev/null 2>&1; then
  echo "$NAME starts a cluster of its own shape: run '$CLUSTER down' first" >&2
  exit 1
fi
if [ "$NAME" = pg-latency ]; then
  python3 scripts/latency_proxy.py "127.0.0.1:$PROXY_PORT" "$PG_HOSTPORT" --delay-ms "$PG_DELAY_MS" \
    --pid-file "$OUT/proxy.pid" --state-file "$OUT/proxy.state" 2>"$OUT/proxy.err" &
  PROXY_PID=$!
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT" || { echo "latency proxy did not start" >&2; exit 1; }
fi
if ! "$CLUSTER" status >/dev/null 2>&1; then
  say "cluster not up: starting 3 instances ${CLUSTER_ENV[*]}"
  STARTED_CLUSTER=1
  env "${CLUSTER_ENV[@]}" timeout 300 "$CLUSTER" up 3 >/dev/null
fi
N=$(cat "$STATE/n")
ADDR=("")
for i in $(seq 1 "$N"); do ADDR+=("$("$CLUSTER" addr "$i")"); done

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
  python3 scripts/drill_writer.py "$WRITER_URL" "$TOKEN" "DRILL-$NAME-$(date +%s)" "$WRITE_RATE" "$secs" "$OUT/writes.log" &
  LOAD_PIDS+=($!)
  if [ "$READER" = oha ]; then
    oha --no-tui -w --output-format json -z "${secs}s" -c 16 -q "$READ_RATE" -H "Authorization: Bearer $TOKEN" \
      --rand-regex-url "http://127.0.0.1:$LB_PORT/api/v1/metrics/SYN-00000[0-9][0-9]" >"$OUT/reads-one.json" 2>"$OUT/oha-one.err" &
    LOAD_PIDS+=($!)
    oha --no-tui -w --output-format json -z "${secs}s" -c 4 -q "$LIST_RATE" -H "Authorization: Bearer $TOKEN" \
      "$LB/api/v1/metrics?tier=Tier-2&limit=20" >"$OUT/reads-list.json" 2>"$OUT/oha-list.err" &
    LOAD_PIDS+=($!)
  else
    python3 scripts/drill_reader.py "$LB/api/v1/metrics/SYN-00000{i:02d}" "$secs" 16 "$READ_RATE" "$TOKEN" \
      "$OUT/reads-one.json" "$OUT/reads-one.log" --pick 100 2>"$OUT/reader-one.err" &
    LOAD_PIDS+=($!)
    python3 scripts/drill_reader.py "$LB/api/v1/metrics?tier=Tier-2&limit=20" "$secs" 4 "$LIST_RATE" "$TOKEN" \
      "$OUT/reads-list.json" "$OUT/reads-list.log" 2>"$OUT/reader-list.err" &
    LOAD_PIDS+=($!)
  fi
  if [ "$SEARCH_RATE" != 0 ]; then
    # Up to 64 at once by default: more than the pools have when each search waits on a slow
    # database.
    python3 scripts/drill_reader.py "$LB/api/v1/metrics?q=zq{i}&limit=20" "$secs" "$SEARCH_CONCURRENCY" "$SEARCH_RATE" "$TOKEN" \
      "$OUT/reads-search.json" "$OUT/reads-search.log" --pick 1000000000 2>"$OUT/reader-search.err" &
    LOAD_PIDS+=($!)
  fi
}

# The pool of every instance (from /health) every half second, while the drill runs.
pool_sampler() { # seconds
  local deadline=$((SECONDS + $1)) i
  while ((SECONDS < deadline)); do
    for i in $(seq 1 "$N"); do
      printf '%s %s ' "$(now)" "$i"
      curl -s -m 2 "http://${ADDR[$i]}/health" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)["components"]["database"]
    p = d.get("pool") or {}
    print(p.get("size"), p.get("in_use"), p.get("max"), d.get("circuit"), d.get("latency_ms"))
except Exception:
    print("- - - - -")'
    done >>"$OUT/pool"
    sleep 0.5
  done
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
    curl -s -m 2 -H "Authorization: Bearer $TOKEN" "http://${ADDR[$i]}/api/v1/stats/cache" || echo '{}'
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
    redis_ok "$i" || return 1
  done
}
redis_ok() { curl -sf -m 1 "http://${ADDR[$1]}/health" | grep -q '"redis":{[^}]*"status":"ok"'; }
redis_not_ok() { ! redis_ok "$1"; }

# A write on instance 1, then reads on every instance straight (not through the balancer)
# until each shows it: the cross-instance coherence after a fault.
coherence() {
  local mark i
  mark="coherence-$(date +%s%N)"
  curl -sf -o /dev/null -X PATCH "http://${ADDR[1]}/api/v1/metrics/SYN-0000007" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/merge-patch+json' \
    -d "{\"description\":\"$mark\"}" || { echo "write-failed"; return; }
  local t0 deadline=$((SECONDS + 10))
  t0=$(now)
  for i in $(seq 1 "$N"); do
    until curl -sf -m 1 -H "Authorization: Bearer $TOKEN" "http://${ADDR[$i]}/api/v1/metrics/SYN-0000007" | grep -q "$mark"; do
      ((SECONDS < deadline)) || { echo "stale-on-$i"; return; }
      sleep 0.05
    done
  done
  awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "all %d instances in %.2f s\n", '"$N"', b - a }'
}

say "$NAME: $N instances behind $LB, reads by $READER"
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
redis-cut)
  # Coherence probes straight to every instance beside the load: marks written on instance 1,
  # read back from 2 (the one cut) and 3 (a witness) four times a second.
  start_load 75
  python3 scripts/drill_coherence.py "http://${ADDR[1]}" "$TOKEN" 75 "$OUT/coherence.log" \
    "mdl2=http://${ADDR[2]}" "mdl3=http://${ADDR[3]}" &
  LOAD_PIDS+=($!)
  sleep 10
  cache_sample before
  event fault_start
  say "cutting instance 2 (${ADDR[2]}) off Redis for 30 s"
  "$CLUSTER" redis-cut 2
  wait_for 20 redis_not_ok 2 && event degraded
  sleep 30 # the cut itself, longer than MDL_L1_TTL ($L1_TTL s)
  cache_sample outage
  say "healing the cut"
  "$CLUSTER" redis-heal 2
  event fault_end
  wait_for 40 redis_ok 2 && event redis_ok_again
  wait_load
  cache_sample after
  ;;
pg-latency)
  start_load 50
  pool_sampler 50 &
  LOAD_PIDS+=($!)
  sleep 10
  event fault_start
  say "adding ${PG_DELAY_MS} ms each way to PostgreSQL for 20 s"
  kill -USR1 "$PROXY_PID"
  wait_for 5 grep -q '^on' "$OUT/proxy.state"
  sleep 20 # the slow link
  kill -USR2 "$PROXY_PID"
  wait_for 5 grep -q '^off' "$OUT/proxy.state"
  event fault_end
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

python3 - "$NAME" "$OUT" "$READER" "$L1_TTL" "$PG_DELAY_MS" <<'PY'
import json, os, sys
name, out, reader, l1_ttl, delay_ms = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
sys.path.insert(0, "scripts")

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
r3 = reads(f"{out}/reads-search.json")
requests = r1[0] + r2[0] + r3[0] + len(writes)
errors = r1[1] + r2[1] + r3[1] + len(failed)
p99 = max(x for x in (r1[2], r2[2], r3[2], w_p99) if x is not None)

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
elif name == "redis-cut":
    from drill_coherence import analyse
    deg, ok = events.get("degraded"), events.get("redis_ok_again")
    recover = (f"degraded {deg - fs:.1f} s after the cut" if deg else "never reported degraded") + "; " + (
        f"Redis ok again {ok - fe:.1f} s after the heal" if ok else "Redis never ok again")
    phases = [("before", events["load_start"], fs), ("cut", fs, fe), ("after", fe, events["load_end"])]
    co = analyse(f"{out}/coherence.log", phases)
    for inst in ("mdl3", "mdl2"):
        parts = []
        for ph, *_ in phases:
            c = co.get(inst, {}).get(ph)
            if not c:
                continue
            t = f"{ph}: {c['stale']} stale of {c['reads']} (worst {c['worst_s']:.1f} s)"
            if c["errors"]:
                t += f", {c['errors']} errors"
            if ph == "after" and c["last_stale"]:
                t += f", last stale read {c['last_stale'] - fe:.1f} s after the heal"
            parts.append(t)
        notes.append(f"{inst} {'(cut)' if inst == 'mdl2' else '(witness)'} reads straight: " + ", ".join(parts))
    notes.append(f"bound MDL_L1_TTL = {l1_ttl:.0f} s")
    if {"before", "outage", "after"} <= samples.keys():
        b, o, a = samples["before"], samples["outage"], samples["after"]
        rate = lambda h, m: f"{100 * h / (h + m):.0f} %" if h + m else "-"
        notes.append(f"hit rate (all instances) {rate(b[0], b[1])} before, {rate(o[0] - b[0], o[1] - b[1])} during, "
                     f"{rate(a[0] - o[0], a[1] - o[1])} after")
elif name == "pg-latency":
    # Latency by phase from the per-request logs: the writer's always, the readers' when they
    # are drill_reader.py's (oha gives no per-request log).
    def pctl(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None
    phase = lambda t: "before" if t < fs else ("during" if t < fe else "after")
    streams = {"writes": [(float(w[0]), float(w[3]), w[1]) for w in writes]}
    for label, f in (("single reads", "reads-one.log"), ("list reads", "reads-list.log"), ("searches", "reads-search.log")):
        if os.path.exists(f"{out}/{f}"):
            streams[label] = [(float(a), float(c), b) for a, b, c in (l.split() for l in open(f"{out}/{f}"))]
    parts = []
    by = {}
    for ph in ("before", "during", "after"):
        texts = []
        for label, rows in streams.items():
            xs = [(ms, st) for t, ms, st in rows if phase(t) == ph]
            by.setdefault(ph, []).extend(xs)
            if xs:
                bad = sum(1 for _, st in xs if not st.startswith(("2", "3")))
                span = {"before": fs - events["load_start"], "during": fe - fs, "after": events["load_end"] - fe}[ph]
                texts.append(f"{label} {len(xs) / max(span, 0.001):.0f}/s p50 {pctl([m for m, _ in xs], 0.5):.0f} / "
                             f"p99 {pctl([m for m, _ in xs], 0.99):.0f} ms" + (f" {bad} errors" if bad else ""))
        parts.append(f"**{ph}**: " + ", ".join(texts))
    notes.append("+" + str(2 * int(delay_ms)) + " ms per round trip (" + delay_ms + " ms each way) for "
                 f"{fe - fs:.0f} s; " + "; ".join(parts))
    pool = {}
    for line in open(f"{out}/pool") if os.path.exists(f"{out}/pool") else []:
        p = line.split()
        if len(p) < 7 or p[2] == "-" or p[2] == "None":
            continue
        t, inst, size, in_use, mx, circuit = float(p[0]), p[1], int(p[2]), int(p[3]), int(p[4]), p[5]
        d = pool.setdefault(phase(t), {"size": 0, "in_use": 0, "max": mx, "circuits": set()})
        d["size"], d["in_use"] = max(d["size"], size), max(d["in_use"], in_use)
        d["circuits"].add(circuit)
    if pool:
        notes.append("pool (largest of any instance, sampled every 0.5 s): " + "; ".join(
            f"{ph} size {d['size']}/{d['max']}, in use {d['in_use']}, circuit {'/'.join(sorted(d['circuits']))}"
            for ph, d in ((ph, pool[ph]) for ph in ("before", "during", "after") if ph in pool)))
    after = [m for m, _ in by.get("after", [])]
    recover = f"p99 after the fault {pctl(after, 0.99):.0f} ms" if after else "-"
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
for d in (r1[3], r2[3], r3[3], by_status):
    for k, v in d.items():
        detail[k] = detail.get(k, 0) + v
err_text = f"{errors}" + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(detail.items()))})" if detail else "")
notes.append(f"single-metric reads {r1[0]} / {r1[1]} errors, list reads {r2[0]} / {r2[1]} errors, "
             + (f"uncached searches {r3[0]} / {r3[1]} errors, " if r3[0] else "")
             + f"writes {len(writes)} / {len(failed)} failed")
retries, redispatches = open(f"{out}/retried").read().split()
notes.append(f"HAProxy retried {retries} times, redispatched {redispatches}")
if reader != "oha":
    notes.append(f"reads by {reader}")
if unacked_present:
    notes.append(f"{unacked_present} failed writes committed anyway")
print("| drill | requests | errors | p99 ms | recovery | acked writes lost / duplicated | notes |")
print("|---|---:|---|---:|---|---|---|")
print(f"| `{name}` | {requests} | {err_text} | {p99:.0f} | {recover} | {lost} / {dup} of {total} | {'; '.join(notes)} |")
if lost or dup:
    sys.exit(1)
PY

#!/usr/bin/env bash
# Lists filtered by an owner or tags, two builds side by side, cache off, 10 connections: a
# catalog of SEED synthetic metrics plus two teams' sets whose names sit together at the end of
# the name order (`http_bench.py set`): 10,000 metrics tagged `rarewave` (owner "Rare Owners")
# and 200 tagged `raretiny` (owner "Tiny Owners"). Each query runs for SECS seconds with oha
# against a freshly started OLD, then NEW (a fresh server per query, so a circuit breaker that
# one query trips does not answer the next), ROUNDS times, in two states of the database:
# `written`, as the API left it (the planner's statistics predate the sets, and on PostgreSQL
# the tags' GIN index holds them in its pending list, as until autovacuum comes by), and
# `vacuumed`, after VACUUM ANALYZE. Each run first times one request alone (curl), then the
# load. One JSON line per run, then medians per state, query and build.
#
#   scripts/filter-bench.sh OLD_BIN NEW_BIN [SEED] [ROUNDS] [SECS]    e.g. ... 1000000 2 4
#
# FILTER_BACKEND=sqlite measures the embedded default (a file in a temporary directory; there
# `vacuumed` is after ANALYZE).
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=$1
NEW=$2
SEED=${3:-1000000}
ROUNDS=${4:-2}
SECS=${5:-4}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PORT=${BENCH_PORT:-3312}
WORK=$(mktemp -d)
DB=""
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
  [ -n "$DB" ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }

if [ "${FILTER_BACKEND:-postgres}" = sqlite ]; then
  export DATABASE_URL="sqlite://$WORK/bench.db"
  vacuum() { python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("ANALYZE")' "$WORK/bench.db"; }
else
  DB=mdl_filter_bench_$$
  psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
  export DATABASE_URL="$PG/$DB"
  vacuum() { psql "$DATABASE_URL" -qc 'VACUUM ANALYZE metrics' >/dev/null; }
fi
"$NEW" migrate >/dev/null 2>&1 || true
"$NEW" seed --synthetic "$SEED" >/dev/null

PASSWORD=filter-bench-$RANDOM-password
start() {
  ENABLE_CACHE=false MDL_PUBLIC_READ=true RUST_LOG=warn "$1" serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && return; sleep 0.2; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

# The sets, written through the API by the new build (an admin named once for this run).
echo "$PASSWORD" | "$NEW" user create filter-bench --email filter-bench@example.invalid --role admin --password-stdin >/dev/null 2>&1 ||
  echo "$PASSWORD" | "$NEW" user set-password filter-bench --password-stdin >/dev/null
start "$NEW"
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"filter-bench\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
python3 scripts/http_bench.py set "http://127.0.0.1:$PORT" "$TOKEN" rarewave "Rare Owners" 10000 >&2
python3 scripts/http_bench.py set "http://127.0.0.1:$PORT" "$TOKEN" raretiny "Tiny Owners" 200 >&2
stop

QUERIES=(
  "tag=raretiny"
  "tag=rarewave"
  "tag=rarewave&count=false"
  "owner=Tiny%20Owners"
  "owner=Rare%20Owners&tier=Tier-1"
  "tag=no-such-tag"
  "owner=nobody"
  "tag=web"
  "tier=Tier-2"
)
measure() {
  for round in $(seq 1 "$ROUNDS"); do
    for q in "${QUERIES[@]}"; do
      for build in old new; do
        bin=$OLD; [ $build = new ] && bin=$NEW
        start "$bin"
        one=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/api/v1/metrics?$q&fields=metric_id")
        oha --no-tui --output-format json -z "${SECS}s" -c 10 "http://127.0.0.1:$PORT/api/v1/metrics?$q&fields=metric_id" >"$WORK/r.json" 2>/dev/null
        stop
        python3 - "$1" "$round" "$build" "$q" "$WORK/r.json" "$one" <<'PY'
import json, sys
r = json.load(open(sys.argv[5]))
p = r["latencyPercentiles"]
# No percentiles: no request answered within the run.
ms = lambda v: None if v is None else round(v * 1000, 1)
print(json.dumps({"state": sys.argv[1], "round": int(sys.argv[2]), "build": sys.argv[3], "query": sys.argv[4],
                  "alone_ms": ms(float(sys.argv[6])), "p50_ms": ms(p["p50"]), "p95_ms": ms(p["p95"]),
                  "rps": round(r["summary"]["requestsPerSec"], 1), "status": r.get("statusCodeDistribution", {})}))
PY
      done
    done
  done
}
{
  measure written
  vacuum
  measure vacuumed
} | tee "$WORK/rows.jsonl"
python3 - "$WORK/rows.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| state | query | old alone | old p50 | old p95 | new alone | new p50 | new p95 | old non-200 | new non-200 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for state in dict.fromkeys(r["state"] for r in rows):
    for q in dict.fromkeys(r["query"] for r in rows):
        runs = lambda b: [r for r in rows if (r["state"], r["query"], r["build"]) == (state, q, b)]
        def m(b, k):
            got = [r[k] for r in runs(b) if r[k] is not None]
            return round(statistics.median(got), 1) if got else "none answered"
        bad = lambda b: sum(n for r in runs(b) for s, n in r["status"].items() if s != "200")
        cells = [m(b, k) for b in ("old", "new") for k in ("alone_ms", "p50_ms", "p95_ms")]
        print(f"| {state} | `{q}` | " + " | ".join(map(str, cells)) + f" | {bad('old')} | {bad('new')} |")
PY

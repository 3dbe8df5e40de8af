#!/usr/bin/env bash
# Create throughput at WRITERS concurrent writers against PostgreSQL (or SQLite), cache off: a fresh
# database seeded with SEED synthetic metrics, then RUNS runs of SECONDS each, every request a
# full definition (the first metric of examples/sample-metrics.json, 3.6 KB) under a new id.
# Each run is `scripts/http_bench.py write` (Python threads) and, where wrk is installed, wrk
# with `scripts/creates.lua` (lighter on the shared cores); each prints one JSON line. The
# database's count of metrics is checked against the creates acknowledged.
#
#   scripts/write-bench.sh [SEED] [WRITERS] [SECONDS] [RUNS]     e.g. scripts/write-bench.sh 10000 10 20 3
#
# MDL=path/to/mdl measures another build (default: target/release/mdl, built first).
# WRITE_BACKEND=sqlite measures the embedded default instead (a file in a temporary directory).
# WRITE_CLIENTS="python wrk" picks the clients (default: both, wrk only if installed).
set -euo pipefail
cd "$(dirname "$0")/.."

SEED=${1:-10000}
WRITERS=${2:-10}
SECS=${3:-20}
RUNS=${4:-3}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=mdl_write_bench_$$
PORT=${BENCH_PORT:-3310}
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
if [ -z "${MDL:-}" ]; then
  cargo build --release --quiet
  MDL=target/release/mdl
fi
if [ "${WRITE_BACKEND:-postgres}" = sqlite ]; then
  export DATABASE_URL="sqlite://$WORK/bench.db"
  count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM metrics").fetchone()[0])' "$WORK/bench.db"; }
else
  psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
  export DATABASE_URL="$PG/$DB"
  count() { psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM metrics'; }
fi
PASSWORD=write-bench-$RANDOM-password
$MDL migrate >/dev/null 2>&1 || true
$MDL seed --synthetic "$SEED" >/dev/null
[ "${WRITE_BACKEND:-postgres}" = sqlite ] || psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
ENABLE_CACHE=false MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn $MDL serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
CLIENTS=${WRITE_CLIENTS:-python$(command -v wrk >/dev/null && echo ' wrk')}
python3 -c '
import json, sys
sys.path.insert(0, "scripts")
from http_bench import full_definition
doc = full_definition()
doc["metric_id"] = "@ID@"
doc["name"] = doc["name"] + " @ID@"
print(json.dumps(doc))' >"$WORK/template.json"
for run in $(seq 1 "$RUNS"); do
  for client in $CLIENTS; do
    before=$(count)
    if [ "$client" = wrk ]; then
      out=$(WRITE_TEMPLATE="$WORK/template.json" TOKEN=$TOKEN PREFIX="WK$run-" \
        wrk -t2 -c"$WRITERS" -d"${SECS}s" -s scripts/creates.lua "http://127.0.0.1:$PORT" | grep '^{')
    else
      out=$(python3 scripts/http_bench.py write "http://127.0.0.1:$PORT" "$TOKEN" "WB$run-" "$WRITERS" "$SECS")
    fi
    stored=$(( $(count) - before ))
    echo "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
r["client"] = r.get("client", "python")
r["stored"] = int(sys.argv[1])
print(json.dumps(r))' "$stored"
  done
done

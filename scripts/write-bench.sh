#!/usr/bin/env bash
# Create throughput at WRITERS concurrent writers against PostgreSQL, cache off: a fresh
# database seeded with SEED synthetic metrics, then `scripts/http_bench.py write` for SECONDS, RUNS
# times. Prints one JSON line per run.
#
#   scripts/write-bench.sh [SEED] [WRITERS] [SECONDS] [RUNS]     e.g. scripts/write-bench.sh 10000 10 20 3
#
# MDL=path/to/mdl measures another build (default: target/release/mdl, built first).
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
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB"
PASSWORD=write-bench-$RANDOM-password
$MDL migrate >/dev/null 2>&1 || true
$MDL seed --synthetic "$SEED" >/dev/null
psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
ENABLE_CACHE=false MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn $MDL serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
for run in $(seq 1 "$RUNS"); do
  python3 scripts/http_bench.py write "http://127.0.0.1:$PORT" "$TOKEN" "WB$run-" "$WRITERS" "$SECS"
done

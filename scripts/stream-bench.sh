#!/usr/bin/env bash
# Peak memory and throughput of the whole-catalog outputs on PostgreSQL: `mdl export` (JSON),
# `mdl policies --bundle`, and from a running server (response cache on, as deployed)
# GET /api/v1/export (JSON and YAML) and GET /api/v1/policies/bundle.tar.gz.
#
#   scripts/stream-bench.sh [METRICS] [LABEL]          e.g. scripts/stream-bench.sh 100000
#   MDL=/path/to/older/mdl scripts/stream-bench.sh 100000 before
#
# Each LABEL has its own database (mdl_stream_bench_LABEL, so binaries with other migrations do
# not meet), seeded with METRICS synthetic metrics once and reused while the count matches.
# CLI peaks are /usr/bin/time's "Maximum resident set size"; server peaks are VmHWM of a server
# started for that one request (after login, then after the response). MB/s is output bytes
# over wall time (the bundle is gzip, so metrics/s says more). Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-100000}
LABEL=${2:-after}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=mdl_stream_bench_$LABEL
PORT=${BENCH_PORT:-3310}
if [ -z "${MDL:-}" ]; then
  cargo build --release --quiet
  MDL=target/release/mdl
fi
WORK=$(mktemp -d)
SERVER=""
stop_server() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

export DATABASE_URL="$PG/$DB"
have=$(psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM metrics' 2>/dev/null || echo none)
if [ "$have" != "$N" ]; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
  $MDL seed --synthetic "$N" >&2
  psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
fi
# Fixed: the admin is created with it on the first start only, and the database is reused.
PASSWORD=stream-bench-password

now() { date +%s.%N; }
# what, bytes, seconds, peak KiB, [server idle peak KiB]
row() {
  awk -v w="$1" -v b="$2" -v s="$3" -v k="$4" -v i="${5:-}" -v n="$N" -v l="$LABEL" 'BEGIN {
    idle = (i == "") ? "-" : sprintf("%.0f", i / 1024)
    printf "| %s | %s | %d | %.1f | %.2f | %.1f | %.0f | %.0f | %s |\n", l, w, n, b / 1e6, s, b / 1e6 / s, n / s, k / 1024, idle
  }'
}

echo "| build | output | metrics | MB | s | MB/s | metrics/s | peak RSS MB | server after login MB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"

cli() { # what, output file, mdl arguments...
  local what=$1 file=$2
  shift 2
  local t0 t1 kb
  t0=$(now)
  /usr/bin/time -v -o "$WORK/time" "$MDL" "$@" >/dev/null
  t1=$(now)
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time")
  row "$what" "$(stat -c %s "$file")" "$(echo "$t1 - $t0" | bc -l)" "$kb"
  rm -f "$file"
}

cli "mdl export (JSON)" "$WORK/catalog.json" export "$WORK/catalog.json"
cli "mdl policies --bundle" "$WORK/bundle.tar.gz" policies --bundle "$WORK/bundle.tar.gz"

http() { # what, path
  ENABLE_CACHE_WARMING=false MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn \
    $MDL serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  local token idle out code bytes secs hwm
  token=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
  idle=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
  out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT$2")
  read -r code bytes secs <<<"$out"
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
  stop_server
  if [ "$code" != 200 ]; then
    echo "| $LABEL | $1 | $N | HTTP $code after ${secs}s | | | | | |"
    return
  fi
  row "$1" "$bytes" "$secs" "$hwm" "$idle"
}

http "GET /api/v1/export" /api/v1/export
http "GET /api/v1/export?format=yaml" "/api/v1/export?format=yaml"
http "GET /api/v1/policies/bundle.tar.gz" /api/v1/policies/bundle.tar.gz

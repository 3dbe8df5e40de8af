#!/usr/bin/env bash
# RSS and latency of one release server under the hostile-input mix, against the same server
# idle, in one run (SQLite, seeded).
#
#   scripts/hostile-mix.sh [DURATION_S] [METRICS]
#
# MDL_BIN=path/to/mdl measures another build (e.g. an older commit's) with the same mix.
# Prints the JSON summary of scripts/hostile_mix.py and keeps it in bench-results/hostile/.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-60}
N=${2:-10000}
PORT=${BENCH_PORT:-3300}
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [ -z "${MDL_BIN:-}" ]; then cargo build --release --quiet -p mdl; fi
MDL=${MDL_BIN:-target/release/mdl}
export DATABASE_URL="sqlite://$WORK/bench.db"
unset REDIS_URL || true
$MDL seed --synthetic "$N" >/dev/null
$MDL import examples/sample-metrics.json >/dev/null 2>&1 || true
PASSWORD=hostile-$RANDOM-password
MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn $MDL serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done

mkdir -p bench-results/hostile
status=0
python3 scripts/hostile_mix.py --base "http://127.0.0.1:$PORT" --pid "$SERVER" --password "$PASSWORD" --baseline "${BASELINE:-20}" \
  --duration "$DURATION" | tee bench-results/hostile/summary.json || status=$?
echo "L1 cache bound: ${MDL_L1_CAPACITY_MB:-64} MiB"
exit $status

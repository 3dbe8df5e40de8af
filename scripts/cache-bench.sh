#!/usr/bin/env bash
# The response-cache benchmark of docs/benchmarks.md, side by side in one run:
# a do-nothing axum server serving the same gzip bytes (the ceiling), MDL with the cache
# (PostgreSQL + Redis), and MDL with the cache off, all on loopback.
#
#   scripts/cache-bench.sh [METRICS] [SECONDS]      (defaults: 10000 metrics, 10 s per run)
#
# Needs: oha (`cargo install oha`), PostgreSQL and Redis as in .ci/run, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
SECS=${2:-10}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
DB=mdl_cache_bench
OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --quiet --bench ceiling
MDL=target/release/mdl
CEILING=$(ls -t target/release/deps/ceiling-* | grep -v '\.d$' | head -n1)

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB"
$MDL seed --synthetic "$N" >/dev/null
PASSWORD=bench-password-$RANDOM
PREFIX=mdlbench-$RANDOM

MDL_ADMIN_PASSWORD=$PASSWORD $MDL user list >/dev/null # migrations only
MDL_ADMIN_PASSWORD=$PASSWORD REDIS_URL=$REDIS MDL_REDIS_PREFIX=$PREFIX RUST_LOG=warn \
  $MDL serve --bind 127.0.0.1:3100 >"$OUT/on.log" 2>&1 &
PIDS+=($!)
ready() { for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0; sleep 0.2; done; return 1; }
ready 3100
ENABLE_CACHE=false RUST_LOG=warn $MDL serve --bind 127.0.0.1:3101 >"$OUT/off.log" 2>&1 &
PIDS+=($!)
ready 3101

TOKEN=$(curl -s -X POST http://127.0.0.1:3100/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
AUTH="Authorization: Bearer $TOKEN"
PAGE='/api/v1/metrics?page=1&limit=50'
curl -s -H "$AUTH" -H 'Accept-Encoding: gzip' "http://127.0.0.1:3100$PAGE" -o "$OUT/page.gz"
ONE=$(curl -s -H "$AUTH" 'http://127.0.0.1:3100/api/v1/metrics?limit=1&fields=metric_id' |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"][0]["metric_id"])')
$CEILING "$OUT/page.gz" 127.0.0.1:3199 >"$OUT/ceiling.log" 2>&1 &
PIDS+=($!)
sleep 1

MIX='http://127.0.0.1:3100/api/v1/metrics\?(tier=Tier-[1-3]|metric_type=(leading|lagging|operational)|status=(active|draft|deprecated))&page=([1-9]|[1-4][0-9])&limit=(20|50)'
SERVER_PID=$(pgrep -f "serve --bind 127.0.0.1:3100" | head -n1)

# name, then oha arguments; prints one markdown row and samples the cached server's RSS.
row() {
  local name=$1; shift
  (for _ in $(seq 1 "$SECS"); do sleep 1; ps -o rss= -p "$SERVER_PID"; done >"$OUT/rss") &
  local sampler=$!
  oha --no-tui --output-format json -z "${SECS}s" "$@" >"$OUT/r.json" 2>/dev/null
  wait "$sampler"
  python3 - "$name" "$OUT/r.json" "$OUT/rss" <<'PY'
import json, sys
name, path, rss = sys.argv[1:4]
d = json.load(open(path)); s = d["summary"]; p = d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {}); total = sum(codes.values()); ok = codes.get("200", 0)
peak = max(int(x) for x in open(rss).read().split()) / 1024
print(f"| {name} | {s['requestsPerSec']:,.0f} | {p['p50']*1000:.2f} | {p['p99']*1000:.2f} | {total-ok} | {peak:.0f} |")
PY
}
hits() { curl -s -H "$AUTH" http://127.0.0.1:3100/api/v1/stats/cache |
  python3 -c 'import json,sys;d=json.load(sys.stdin)["data"];print(d["hits"], d["misses"])'; }

echo "| run | requests/s | p50 ms | p99 ms | errors | MDL RSS peak MiB |"
echo "|---|---:|---:|---:|---:|---:|"
for c in 50 256; do
  row "ceiling, page 1 gzip (4.7 KB), c=$c" -c $c -H 'Accept-Encoding: gzip' "http://127.0.0.1:3199$PAGE"
  row "MDL cached page 1 gzip, c=$c" -c $c -H "$AUTH" -H 'Accept-Encoding: gzip' "http://127.0.0.1:3100$PAGE"
done
row "MDL cached single metric, c=50" -c 50 -H "$AUTH" -H 'Accept-Encoding: gzip' "http://127.0.0.1:3100/api/v1/metrics/$ONE"
row "MDL cache off, single metric, c=50" -c 50 -H "$AUTH" "http://127.0.0.1:3101/api/v1/metrics/$ONE"
row "MDL cache off, page 1, c=50" -c 50 -H "$AUTH" "http://127.0.0.1:3101$PAGE"
row "MDL mix of 882 list URLs, warm-up pass, c=50" -c 50 --rand-regex-url -H "$AUTH" -H 'Accept-Encoding: gzip' "$MIX"
before=$(hits)
row "MDL mix of 882 list URLs, warm, c=50" -c 50 --rand-regex-url -H "$AUTH" -H 'Accept-Encoding: gzip' "$MIX"
after=$(hits)
python3 - "$before" "$after" <<'PY'
import sys
b = list(map(int, sys.argv[1].split())); a = list(map(int, sys.argv[2].split()))
h, m = a[0] - b[0], a[1] - b[1]
print(f"\nhit rate during the warm mix run (server's /api/v1/stats/cache): {h / max(h + m, 1):.4f} ({h} hits, {m} misses)")
PY

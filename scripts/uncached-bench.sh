#!/usr/bin/env bash
# The uncached list, side by side in one run: MDL with the response cache off (PostgreSQL,
# 10k metrics) answering list page 1 (50 full definitions, gzip) and a filter/page mix, with
# oha and wrk in alternating rounds; medians as a markdown table.
#
#   scripts/uncached-bench.sh [METRICS] [SECONDS] [ROUNDS]     (defaults: 10000, 8, 3)
#
# MDL_BEFORE=path/to/older/mdl adds that build as a second column on the same database.
# Needs: oha, wrk, PostgreSQL as in .ci/run, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
SECS=${2:-8}
ROUNDS=${3:-3}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=mdl_uncached_bench
OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin mdl
MDL=target/release/mdl

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB" ENABLE_CACHE=false
$MDL seed --synthetic "$N" >/dev/null
psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
export MDL_ADMIN_PASSWORD=bench-password-$RANDOM
ready() { for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0; sleep 0.2; done; return 1; }
start() { RUST_LOG=warn "$1" serve --bind "127.0.0.1:$2" >"$OUT/$2.log" 2>&1 & PIDS+=($!); ready "$2"; }
start "$MDL" 3110
SERVERS=("MDL:3110")
if [ -n "${MDL_BEFORE:-}" ]; then start "$MDL_BEFORE" 3111; SERVERS+=("before:3111"); fi
TOKEN=$(curl -s -X POST http://127.0.0.1:3110/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$MDL_ADMIN_PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
AUTH="Authorization: Bearer $TOKEN"

measure() { # tool url
  if [ "$1" = oha ]; then
    oha --no-tui --output-format json -z "${SECS}s" -c 50 -H "$AUTH" -H 'Accept-Encoding: gzip' "$2" 2>/dev/null |
      python3 -c 'import json,sys;print(json.load(sys.stdin)["summary"]["requestsPerSec"])'
  else
    wrk -t2 -c 50 -d "${SECS}s" -H "$AUTH" -H 'Accept-Encoding: gzip' "$2" | awk '/Requests\/sec/ {print $2}'
  fi
}
: >"$OUT/samples"
for round in $(seq 1 "$ROUNDS"); do
  for tool in oha wrk; do
    for s in "${SERVERS[@]}"; do
      echo "list page 1 (50 definitions, gzip), c=50|$tool|${s%%:*}|$(measure $tool "http://127.0.0.1:${s##*:}/api/v1/metrics?page=1&limit=50")" >>"$OUT/samples"
      echo "list Tier-2 page 3 (50 definitions, gzip), c=50|$tool|${s%%:*}|$(measure $tool "http://127.0.0.1:${s##*:}/api/v1/metrics?tier=Tier-2&page=3&limit=50")" >>"$OUT/samples"
    done
  done
  echo "round $round of $ROUNDS done" >&2
done
python3 - "$OUT/samples" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    name, tool, server, value = line.rstrip("\n").split("|")
    samples.setdefault((name, tool), {}).setdefault(server, []).append(float(value or 0))
servers = sorted({s for v in samples.values() for s in v}, key=lambda s: s != "MDL")
print("| request (cache off) | tool | " + " | ".join(f"{s} req/s" for s in servers) + " |")
print("|---|---|" + "---:|" * len(servers))
for (name, tool), by in samples.items():
    print(f"| {name} | {tool} | " + " | ".join(f"{statistics.median(by[s]):,.0f}" for s in servers) + " |")
PY

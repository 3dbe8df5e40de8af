#!/usr/bin/env bash
# The web catalog against the API, side by side in one run (issue 15's "fast" goal): a cached
# catalog page (50 results, signed in with a session cookie) against a cached API list page of
# 50 full definitions (bearer token), both gzip, with oha and wrk in alternating rounds; prints
# medians, the page's share of the API's rate (goal: within 2x, i.e. >= 0.5) and the bytes a
# browser fetches for one catalog page with its assets.
#
#   scripts/page-bench.sh [METRICS] [SECONDS] [ROUNDS]      (defaults: 10000, 8, 3)
#
# Needs: oha (`cargo install oha`), wrk (Debian), PostgreSQL and Redis as in .ci/run, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
SECS=${2:-8}
ROUNDS=${3:-3}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
DB=mdl_page_bench
PORT=3120
OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin mdl
MDL=target/release/mdl

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB"
$MDL seed --synthetic "$N" >/dev/null
psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
PASSWORD=bench-password-$RANDOM
BASE=http://127.0.0.1:$PORT
MDL_ADMIN_PASSWORD=$PASSWORD REDIS_URL=$REDIS MDL_REDIS_PREFIX=mdlpage-$RANDOM RUST_LOG=warn \
  $MDL serve --bind "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 150); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.2; done

TOKEN=$(curl -s -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
# A browser's sign-in: the form's CSRF token and nonce cookie, then the session cookie.
curl -s -c "$OUT/jar" "$BASE/login" -o "$OUT/login.html"
CSRF=$(grep -o 'name="csrf" value="[^"]*"' "$OUT/login.html" | sed 's/.*value="//; s/"$//')
curl -s -b "$OUT/jar" -c "$OUT/jar" -o /dev/null -X POST -H "Origin: $BASE" \
  --data-urlencode username=admin --data-urlencode "password=$PASSWORD" \
  --data-urlencode "csrf=$CSRF" --data-urlencode next=/ "$BASE/login"
SESSION=$(awk '$6 == "mdl_session" {print $7}' "$OUT/jar")
[ -n "$SESSION" ] || { echo "sign-in failed" >&2; exit 1; }

API="$BASE/api/v1/metrics?limit=50"
PAGE="$BASE/"
# The catalog page shows 50 results (checked), and both answers are warm in the cache.
curl -s -H "Cookie: mdl_session=$SESSION" "$PAGE" -o "$OUT/page.html"
ROWS_SHOWN=$(grep -c 'href="/metrics/[^"/]*"' "$OUT/page.html" || true)
curl -s -H "Authorization: Bearer $TOKEN" "$API" -o /dev/null

measure() { # tool connections url header
  local tool=$1 c=$2 url=$3 h=$4
  if [ "$tool" = oha ]; then
    oha --no-tui --output-format json -z "${SECS}s" -c "$c" -H "$h" -H 'Accept-Encoding: gzip' "$url" 2>/dev/null |
      python3 -c 'import json,sys;print(json.load(sys.stdin)["summary"]["requestsPerSec"])'
  else
    wrk -t2 -c "$c" -d "${SECS}s" -H "$h" -H 'Accept-Encoding: gzip' "$url" | awk '/Requests\/sec/ {print $2}'
  fi
}

: >"$OUT/samples"
for round in $(seq 1 "$ROUNDS"); do
  for tool in oha wrk; do
    echo "$tool|api|$(measure "$tool" 50 "$API" "Authorization: Bearer $TOKEN")" >>"$OUT/samples"
    echo "$tool|page|$(measure "$tool" 50 "$PAGE" "Cookie: mdl_session=$SESSION")" >>"$OUT/samples"
  done
  echo "round $round of $ROUNDS done" >&2
done
curl -s -o /dev/null -D - -H "Cookie: mdl_session=$SESSION" "$PAGE" | tr 'A-Z' 'a-z' | grep -q '^x-cache: hit' ||
  echo "warning: the catalog page was not a cache hit" >&2

# Bytes for one catalog page view: the page and every asset it links, gzip as sent.
bytes() { curl -s -H 'Accept-Encoding: gzip' -H "Cookie: mdl_session=$SESSION" "$1" | wc -c; }
TOTAL=$(bytes "$PAGE")
for asset in $(grep -o '/assets/[^"]*' "$OUT/page.html" | sort -u); do TOTAL=$((TOTAL + $(bytes "$BASE$asset"))); done

python3 - "$OUT/samples" "$ROWS_SHOWN" "$TOTAL" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    tool, what, value = line.rstrip("\n").split("|")
    samples.setdefault((tool, what), []).append(float(value or 0))
print("| tool | API list page req/s | catalog page req/s | page / API | goal |")
print("|---|---:|---:|---:|---:|")
for tool in ("oha", "wrk"):
    api = statistics.median(samples[(tool, "api")])
    page = statistics.median(samples[(tool, "page")])
    print(f"| {tool} | {api:,.0f} | {page:,.0f} | {page / api:.2f} | >= 0.5 |")
print(f"\ncatalog page: {sys.argv[2]} metric links; page + assets, gzip: {int(sys.argv[3]):,} bytes (goal <= 60 KB)")
PY

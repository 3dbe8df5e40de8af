#!/usr/bin/env bash
# Instructions per request (valgrind's callgrind: counts, not seconds, so a busy machine does
# not move them) for a cached list page, a cached single metric and /health/live, against the
# do-nothing axum server sending the same bytes. SQLite, L1 cache only: the cached path does
# not touch the database or Redis.
#
#   scripts/request-cost.sh [REQUESTS]             (default 2000 per row, after 200 warm-up)
#
# MDL_BIN=path/to/mdl measures another build (e.g. the parent commit's) the same way.
# MDL_COST_KEEP=DIR keeps the callgrind files there (one dump per row, for callgrind_annotate
# --inclusive=yes: where each row's instructions go).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${1:-2000}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${MDL_COST_KEEP:-}" ]; then mkdir -p "$MDL_COST_KEEP" && cp "$WORK"/callgrind.out.* "$MDL_COST_KEEP"/ 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }

if [ -z "${MDL_BIN:-}" ]; then cargo build --release --quiet --bin mdl; fi
cargo build --release --quiet --bench ceiling
MDL=${MDL_BIN:-target/release/mdl}
CEILING=$(ls -t target/release/deps/ceiling-* | grep -v '\.d$' | head -n1)
export DATABASE_URL="sqlite://$WORK/cost.db"
unset REDIS_URL || true
# Under valgrind a run takes minutes: entries must not expire (a recomputed page is a miss, not
# the hit being measured), and no warming may run in the measured window.
export MDL_L1_TTL=3600 CACHE_TTL=3600 ENABLE_CACHE_WARMING=false
$MDL seed --synthetic 1000 >/dev/null
PASSWORD=cost-$RANDOM-password
ready() { for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$1/health/live" >/dev/null && return 0; sleep 0.2; done; return 1; }

# A token from a native run (the JWT secret is stored with the data): argon2 under valgrind is slow.
MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn $MDL serve --bind 127.0.0.1:3400 >/dev/null 2>&1 &
native=$!
ready 3400
TOKEN=$(curl -s -X POST http://127.0.0.1:3400/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
ONE=/api/v1/metrics/$(curl -s -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:3400/api/v1/metrics?limit=1&fields=metric_id' |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"][0]["metric_id"])')
PAGE='/api/v1/metrics?page=1&limit=50'
curl -s -H "Authorization: Bearer $TOKEN" -H 'Accept-Encoding: gzip' "http://127.0.0.1:3400$PAGE" -o "$WORK/page.body"
curl -s "http://127.0.0.1:3400/health/live" -o "$WORK/live.body"
kill $native; wait $native 2>/dev/null || true

# Sequential keep-alive requests from one connection.
drive() { # port path count
  python3 - "$@" "$TOKEN" <<'PY'
import http.client, sys
port, path, count, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
for _ in range(count):
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"})
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
PY
}

# label port path -> instructions per request
cost() {
  local label=$1 port=$2 path=$3 pid=$4
  drive "$port" "$path" 200
  callgrind_control -z "$pid" >/dev/null
  drive "$port" "$path" "$REQUESTS"
  callgrind_control -d "$pid" >/dev/null
  local file total
  file=$(ls -t "$WORK/callgrind.out.$pid".* | head -n1)
  # Instructions of every thread since the zeroing: the `summary:` (or `totals:`) line.
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
  echo "$label|$((total / REQUESTS))"
}

vg() { exec valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out.%p" "$@"; }
MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn vg "$MDL" serve --bind 127.0.0.1:3401 >"$WORK/mdl.log" 2>&1 &
mdl=$!; PIDS+=($mdl)
vg "$CEILING" "$WORK/page.body" 127.0.0.1:3402 >/dev/null 2>&1 &
ceil_page=$!; PIDS+=($ceil_page)
vg "$CEILING" "$WORK/live.body" 127.0.0.1:3403 >/dev/null 2>&1 &
ceil_live=$!; PIDS+=($ceil_live)
ready 3401; ready 3402; ready 3403

{
  cost "MDL cached page 1 (gzip)" 3401 "$PAGE" $mdl
  cost "MDL cached single metric" 3401 "$ONE" $mdl
  cost "MDL /health/live" 3401 /health/live $mdl
  cost "ceiling, page 1 bytes" 3402 "$PAGE" $ceil_page
  cost "ceiling, /health/live bytes" 3403 /hello $ceil_live
} >"$WORK/rows"
echo "| request | instructions per request (callgrind, $REQUESTS sequential keep-alive requests) |"
echo "|---|---:|"
while IFS='|' read -r label n; do printf '| %s | %s |\n' "$label" "$n"; done <"$WORK/rows"

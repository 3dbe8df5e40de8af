#!/usr/bin/env bash
# Writes while a server builds the search blocks of a SQLite catalog. Marks the blocks stale,
# serves DB_FILE with MDL_BIN (cache off, blocks checked every second, so a build starts at
# once), runs WRITERS writers at RATE creates a second each for SECONDS, then prints their
# summary (latencies in ms, failed writes and their statuses) and the server's build line.
#
#   scripts/sqlite-build-bench.sh MDL_BIN DB_FILE [SECONDS] [WRITERS] [RATE]
#   e.g. scripts/sqlite-build-bench.sh target/release/mdl /tmp/1m.db 150 2 20
#   NO_BUILD=1 scripts/sqlite-build-bench.sh ...   the same writes with no build due
#
# The writers add metrics to DB_FILE: measure on a copy.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$1
FILE=$2
SECS=${3:-120}
WRITERS=${4:-2}
RATE=${5:-20}
PORT=${BENCH_PORT:-3311}
PASSWORD=build-bench-password
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$FILE" ENABLE_CACHE=false MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=info
export MDL_JWT_SECRET=build-bench-jwt-secret-$RANDOM$RANDOM-0123456789abcdef
serve() {
  MDL_SEARCH_BLOCKS_CHECK_S=$1 "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
}
# A login writes (a refresh token): take the token, and apply any migration, before a build runs.
serve 0
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
kill "$SERVER"
wait "$SERVER" || true
# NO_BUILD=1 leaves the blocks as they are: the same writes with no build due, for comparison.
if [ -z "${NO_BUILD:-}" ]; then
  python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE search_blocks_state SET stale = 1"); c.commit()' "$FILE"
fi
# The check's first tick is at start: the build begins as the writers do.
serve 1
python3 scripts/http_bench.py write "http://127.0.0.1:$PORT" "$TOKEN" "BB$$-" "$WRITERS" "$SECS" "$RATE"
# The build may outlast the writers.
for _ in $(seq 1 600); do [ -n "${NO_BUILD:-}" ] || grep -q "search blocks built" "$WORK/server.log" && break; sleep 1; done
grep -E "search blocks (built|not built)" "$WORK/server.log" | sed 's/\x1b\[[0-9;]*m//g' || echo "no build finished"
# The store calls the server found slow, slowest first (the build's start is its end less millis).
grep -E "slow store call|held the write lock" "$WORK/server.log" | sed 's/\x1b\[[0-9;]*m//g' | sort -t= -k3 -n -r | head -5 || true

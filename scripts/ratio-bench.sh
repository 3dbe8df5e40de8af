#!/usr/bin/env bash
# The per-request tax, side by side in one run: MDL (PostgreSQL + Redis, cache on) against a
# do-nothing axum server sending the same bytes (benches/ceiling.rs), with both oha and wrk,
# in alternating rounds; prints medians and ratios as a markdown table.
#
#   scripts/ratio-bench.sh [METRICS] [SECONDS] [ROUNDS]     (defaults: 10000, 8, 3)
#
# MDL_BEFORE=path/to/older/mdl adds that build as a third column, served from the same
# database and Redis, so a change is measured against its parent in the same run.
# Needs: oha (`cargo install oha`), wrk (Debian), PostgreSQL and Redis as in .ci/run, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
SECS=${2:-8}
ROUNDS=${3:-3}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
DB=mdl_ratio_bench
OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin mdl
cargo build --release --quiet --bench ceiling
MDL=target/release/mdl
CEILING=$(ls -t target/release/deps/ceiling-* | grep -v '\.d$' | head -n1)

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB"
$MDL seed --synthetic "$N" >/dev/null
psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
PASSWORD=bench-password-$RANDOM
# The first server to start creates the admin with this password.
export MDL_ADMIN_PASSWORD=$PASSWORD

ready() { for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0; sleep 0.2; done; return 1; }
start() { # binary port
  REDIS_URL=$REDIS MDL_REDIS_PREFIX=mdlratio-$2-$RANDOM RUST_LOG=warn "$1" serve --bind "127.0.0.1:$2" >"$OUT/$2.log" 2>&1 &
  PIDS+=($!)
  ready "$2"
}
start "$MDL" 3100
SERVERS=("MDL:3100")
if [ -n "${MDL_BEFORE:-}" ]; then start "$MDL_BEFORE" 3101; SERVERS+=("before:3101"); fi

TOKEN=$(curl -s -X POST http://127.0.0.1:3100/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
AUTH="Authorization: Bearer $TOKEN"
PAGE='/api/v1/metrics?page=1&limit=50'
ONE=/api/v1/metrics/$(curl -s -H "$AUTH" 'http://127.0.0.1:3100/api/v1/metrics?limit=1&fields=metric_id' |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"][0]["metric_id"])')
# The ceiling sends exactly the bytes MDL sends for each request (so the same socket work).
curl -s -H "$AUTH" -H 'Accept-Encoding: gzip' "http://127.0.0.1:3100$PAGE" -o "$OUT/page.body"
curl -s -H "$AUTH" -H 'Accept-Encoding: gzip' "http://127.0.0.1:3100$ONE" -o "$OUT/one.body"
curl -s "http://127.0.0.1:3100/health/live" -o "$OUT/live.body"
port=3190
for body in page one live; do
  "$CEILING" "$OUT/$body.body" "127.0.0.1:$port" >/dev/null 2>&1 &
  PIDS+=($!)
  eval "CEIL_$body=$port"
  port=$((port + 1))
done
sleep 1

# tool connections url -> requests/s
measure() {
  local tool=$1 c=$2 url=$3
  if [ "$tool" = oha ]; then
    oha --no-tui --output-format json -z "${SECS}s" -c "$c" -H "$AUTH" -H 'Accept-Encoding: gzip' "$url" 2>/dev/null |
      python3 -c 'import json,sys;print(json.load(sys.stdin)["summary"]["requestsPerSec"])'
  else
    wrk -t2 -c "$c" -d "${SECS}s" -H "$AUTH" -H 'Accept-Encoding: gzip' "$url" | awk '/Requests\/sec/ {print $2}'
  fi
}

# name path ceiling-port connections goal
ROWS=(
  "cached list page 1, gzip, c=50|$PAGE|$CEIL_page|50|0.6"
  "cached list page 1, gzip, c=256|$PAGE|$CEIL_page|256|0.6"
  "cached single metric, c=50|$ONE|$CEIL_one|50|0.6"
  "/health/live vs the same bytes, c=50|/health/live|$CEIL_live|50|0.7"
)
: >"$OUT/samples"
for round in $(seq 1 "$ROUNDS"); do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name path ceil c goal <<<"$row"
    for tool in oha wrk; do
      echo "$name|$tool|ceiling|$(measure $tool "$c" "http://127.0.0.1:$ceil$path")" >>"$OUT/samples"
      for s in "${SERVERS[@]}"; do
        echo "$name|$tool|${s%%:*}|$(measure $tool "$c" "http://127.0.0.1:${s##*:}$path")" >>"$OUT/samples"
      done
    done
  done
  echo "round $round of $ROUNDS done" >&2
done

python3 - "$OUT/samples" "${ROWS[@]}" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    name, tool, server, value = line.rstrip("\n").split("|")
    samples.setdefault((name, tool, server), []).append(float(value or 0))
servers = sorted({k[2] for k in samples} - {"ceiling"}, key=lambda s: s != "MDL")
head = "| request | tool | " + " | ".join(f"{s} req/s" for s in servers) + " | ceiling req/s | " + \
    " | ".join(f"{s} ratio" for s in servers) + " | goal |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
for row in sys.argv[2:]:
    name, _, _, _, goal = row.split("|")
    for tool in ("oha", "wrk"):
        med = {s: statistics.median(samples[(name, tool, s)]) for s in servers + ["ceiling"]}
        ratios = [med[s] / med["ceiling"] if med["ceiling"] else 0 for s in servers]
        print(f"| {name} | {tool} | " + " | ".join(f"{med[s]:,.0f}" for s in servers) +
              f" | {med['ceiling']:,.0f} | " + " | ".join(f"{r:.2f}" for r in ratios) + f" | >= {goal} |")
PY

#!/usr/bin/env bash
# The six search rows of scripts/scaling.sh against one build serving one database, so two
# builds can be measured side by side on the same file (cache off, oha, 10 connections).
#
#   scripts/search-bench.sh MDL_BINARY DATABASE_URL LABEL [SECONDS]
#   e.g. scripts/search-bench.sh /tmp/mdl-before sqlite:///tmp/s1m/scaling.db before
#
# The database needs an admin whose credentials are in BENCH_USER / BENCH_PASSWORD
# (`mdl user create NAME --email E --role admin --password-stdin`). Prints markdown rows:
# label, query, p50 ms, p95 ms, requests/s, status codes.
set -euo pipefail
BIN=$1; URL=$2; LABEL=$3; SECS=${4:-5}
PORT=${BENCH_PORT:-3399}
USER_NAME=${BENCH_USER:-bench}; PASSWORD=${BENCH_PASSWORD:?set BENCH_PASSWORD}
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
WORK=$(mktemp -d)
ENABLE_CACHE=false RUST_LOG=warn "$BIN" --database-url "$URL" serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"$USER_NAME\",\"password\":\"$PASSWORD\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
B="http://127.0.0.1:$PORT/api/v1/metrics"
for q in "q=conversion" "q=events" "q=4242" "q=conversion&tier=Tier-2" "q=checkout" "q=excellence"; do
  oha --no-tui --output-format json -z "${SECS}s" -c 10 -H "Authorization: Bearer $TOKEN" "$B?$q&limit=20" >"$WORK/r.json" 2>/dev/null
  python3 - "$LABEL" "$q" "$WORK/r.json" <<'PY'
import json, sys
label, q, path = sys.argv[1:4]
d = json.load(open(path)); p = d["latencyPercentiles"]; s = d["summary"]
f = lambda v: "-" if v is None else f"{v * 1000:.1f}"
codes = ", ".join(f"{k}: {v}" for k, v in sorted(d.get("statusCodeDistribution", {}).items()))
print(f"| {label} | `{q}` | {f(p.get('p50'))} | {f(p.get('p95'))} | {s['requestsPerSec']:.0f} | {codes} |")
PY
done

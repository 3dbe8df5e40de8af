#!/usr/bin/env bash
# How read latency grows with catalog size, cache off: one database grown in steps (default
# 1k, 10k, 100k, 1M metrics), and at each size oha runs (10 connections) of a filtered list in
# cursor mode, a filtered list in page mode (one filter and two), the first page, a deep page
# by cursor and the same depth by page number (page 2000, or the last page of smaller catalogs), the stats, and
# full-text searches: a word in an eighth of the names, a word in every description, a word in
# a quarter of the strategic pillars only, a word at the start of a twentieth of the names, a
# word in one name, and a search with a filter. Each growth step's seed is timed too.
#
#   scripts/scaling.sh [SIZES] [SECONDS]        e.g. scripts/scaling.sh "1000 10000 100000" 5
#   SCALING_BACKEND=sqlite scripts/scaling.sh "10000 1000000"
#
# SCALING_BACKEND is postgres (default; database mdl_scaling) or sqlite (a file under
# SCALING_DIR, default a temporary directory). SCALING_SEEDED=N measures a database an earlier
# run left with N metrics instead of starting from an empty one. Prints a markdown table (p50/p95 in ms,
# requests/s) and writes the same rows to bench-results/scaling[-sqlite].tsv, the seed times to
# bench-results/scaling[-sqlite]-seed.tsv, for scripts/plots.py.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${1:-"1000 10000 100000 1000000"}
SECS=${2:-5}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
BACKEND=${SCALING_BACKEND:-postgres}
DB=mdl_scaling
PORT=3300
WORK=$(mktemp -d)
DIR=${SCALING_DIR:-$WORK}
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
cargo build --release --quiet
MDL=target/release/mdl
SEEDED=${SCALING_SEEDED:-0}
case $BACKEND in
  postgres)
    [ "$SEEDED" -gt 0 ] || psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
    export DATABASE_URL="$PG/$DB"
    analyze() { psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null; }
    SUFFIX="" ;;
  sqlite)
    mkdir -p "$DIR"; [ "$SEEDED" -gt 0 ] || rm -f "$DIR/scaling.db"*
    export DATABASE_URL="sqlite://$DIR/scaling.db"
    analyze() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("ANALYZE"); c.close()' "$DIR/scaling.db"; }
    SUFFIX="-sqlite" ;;
  *) echo "SCALING_BACKEND must be postgres or sqlite" >&2; exit 2 ;;
esac
PASSWORD=scaling-$RANDOM-password
# A seeded database already has its admin, with an earlier run's password.
[ "$SEEDED" -eq 0 ] || echo "$PASSWORD" | $MDL user set-password admin --password-stdin >/dev/null

mkdir -p bench-results
TSV=bench-results/scaling$SUFFIX.tsv
SEED_TSV=bench-results/scaling$SUFFIX-seed.tsv
# A run on a seeded database adds its rows to the earlier run's.
if [ "$SEEDED" -eq 0 ] || [ ! -f "$TSV" ]; then
  printf 'metrics\trequest\tp50_ms\tp95_ms\tp99_ms\trps\tnon_200\n' >"$TSV"
  printf 'metrics\tadded\tseconds\n' >"$SEED_TSV"
fi
echo "| metrics | request | p50 ms | p95 ms | requests/s (c=10) |"
echo "|---:|---|---:|---:|---:|"
have=$SEEDED
for n in $SIZES; do
  [ "$n" -gt "$have" ] || { echo "| $(printf "%'d" "$n") | (already seeded) | | | |"; n=$have; }
  if [ "$n" -gt "$have" ]; then
  t0=$(date +%s.%N)
  $MDL seed --synthetic $((n - have)) --start "$have" >/dev/null
  t1=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
  printf '%s\t%s\t%s\n' "$n" "$((n - have))" "$secs" >>"$SEED_TSV"
  echo "| $(printf "%'d" "$n") | seed (+$((n - have)) metrics): $secs s | | | |"
  fi
  have=$n
  analyze
  [ -n "$SERVER" ] && kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
  ENABLE_CACHE=false MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn $MDL serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
  B="http://127.0.0.1:$PORT/api/v1/metrics"
  pages=$(( (n + 49) / 50 )); deep=$(( pages < 2000 ? pages : 2000 ))
  # The cursor of page `deep` of QUERY: page 1 by number, then the next_cursor chain.
  cursor_at() { # query, depth
    python3 - "$B" "$TOKEN" "$1" "$2" <<'PY'
import json, sys, urllib.parse, urllib.request
base, token, query, deep = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
url = f"{base}?{query}&limit=50"
cursor = ""
for _ in range(max(deep - 1, 1)):
    req = urllib.request.Request(url + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""),
                                 headers={"Authorization": f"Bearer {token}"})
    nxt = json.load(urllib.request.urlopen(req))["pagination"].get("next_cursor")
    if not nxt:
        break
    cursor = nxt
print(urllib.parse.quote(cursor))
PY
  }
  CURSOR=$(cursor_at "sort=name" "$deep")
  FILTER_CURSOR=$(cursor_at "tier=Tier-2" 2)
  measure() { # label, url [seconds]
    oha --no-tui --output-format json -z "${3:-$SECS}s" -c 10 -H "Authorization: Bearer $TOKEN" "$2" >"$WORK/r.json" 2>/dev/null
    python3 - "$n" "$1" "$WORK/r.json" "$TSV" <<'PY'
import json, sys
n, label, path, tsv = sys.argv[1:5]
d = json.load(open(path)); p = d["latencyPercentiles"]; s = d["summary"]
if p.get("p50") is None:
    # Nothing finished within the run (each request slower than the whole window).
    print(f"| {int(n):,} | {label} | - | - | 0 (none finished) |")
    sys.exit(0)
codes = d.get("statusCodeDistribution", {})
bad = sum(v for k, v in codes.items() if k != "200")
with open(tsv, "a") as f:
    f.write(f"{n}\t{label}\t{p['p50']*1000:.3f}\t{p['p95']*1000:.3f}\t{p['p99']*1000:.3f}\t{s['requestsPerSec']:.1f}\t{bad}\n")
print(f"| {int(n):,} | {label} | {p['p50']*1000:.2f} | {p['p95']*1000:.2f} | {s['requestsPerSec']:,.0f}{' (' + str(bad) + ' non-200)' if bad else ''} |")
PY
  }
  measure "filtered list, cursor mode (tier=Tier-2, page 2)" "$B?tier=Tier-2&limit=50&cursor=$FILTER_CURSOR"
  measure "filtered list, page mode (tier=Tier-2, counted)" "$B?tier=Tier-2&limit=50&page=1"
  measure "two filters, page mode (tier=Tier-2&category=Finance, counted)" "$B?tier=Tier-2&category=Finance&limit=50&page=1"
  # Numbered pages count the whole filter; cursor mode's first page (count=false) does not.
  measure "first page" "$B?limit=50&page=1"
  measure "first page, cursor mode (count=false)" "$B?sort=name&limit=50&count=false"
  measure "deep page by cursor (page $deep)" "$B?sort=name&limit=50&cursor=$CURSOR"
  measure "deep page by number (page $deep)" "$B?limit=50&page=$deep"
  measure "stats" "http://127.0.0.1:$PORT/api/v1/stats"
  # Searches read a page's worth of matches, tier by tier, in the list's order.
  measure "full-text search: word in an eighth of the names (q=conversion)" "$B?q=conversion&limit=20"
  measure "full-text search: word in every description (q=events)" "$B?q=events&limit=20"
  measure "full-text search: word in one name (q=4242)" "$B?q=4242&limit=20"
  measure "full-text search + filter (q=conversion&tier=Tier-2)" "$B?q=conversion&tier=Tier-2&limit=20"
  measure "full-text search: names in one block of the order (q=checkout)" "$B?q=checkout&limit=20"
  # Last: a word whose rows all sort after the first 55 % of names is read in full (see
  # docs/design.md), and its statement timeouts would open the breaker for the rows after it.
  measure "full-text search: word in a quarter, far into the order (q=excellence)" "$B?q=excellence&limit=20"
done

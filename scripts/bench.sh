#!/usr/bin/env bash
# One load profile against one freshly seeded server, and a row appended to docs/benchmarks.md.
#
#   scripts/bench.sh MODE PROFILE [METRICS] [extra mdl-loadtest flags...]
#
#   MODE     sqlite | postgres | postgres-redis
#   PROFILE  smoke | steady | spike | stress | soak
#   METRICS  synthetic metrics to seed (default 10000)
#
# Needs PostgreSQL and Redis as in .ci/run for the postgres modes. Results (goose's HTML report
# and the summary JSON) go to bench-results/<mode>-<profile>/.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:?mode: sqlite | postgres | postgres-redis}
PROFILE=${2:?profile: smoke | steady | spike | stress | soak}
N=${3:-10000}
shift $(( $# < 3 ? $# : 3 ))
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
PORT=${BENCH_PORT:-3200}
OUT=bench-results/$MODE-$PROFILE
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build --release --quiet -p mdl -p mdl-loadtest
MDL=target/release/mdl

case "$MODE" in
  sqlite) export DATABASE_URL="sqlite://$WORK/bench.db"; unset REDIS_URL || true ;;
  postgres|postgres-redis)
    DB=mdl_bench_$$
    psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
    trap 'cleanup; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
    export DATABASE_URL="$PG/$DB"
    if [ "$MODE" = postgres-redis ]; then
      export REDIS_URL=$REDIS MDL_REDIS_PREFIX=mdlbench-$$
    else
      unset REDIS_URL || true
    fi ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac

$MDL seed --synthetic "$N" >/dev/null
if [[ $DATABASE_URL == postgres* ]]; then psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null; fi
PASSWORD=bench-$RANDOM-password
MDL_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn $MDL serve --bind 127.0.0.1:$PORT >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done

mkdir -p "$OUT"
status=0
target/release/mdl-loadtest --host "http://127.0.0.1:$PORT" --profile "$PROFILE" \
  --password "$PASSWORD" --out "$OUT" "$@" || status=$?

python3 - "$OUT/$PROFILE.json" "$MODE" "$N" "$PROFILE" "$status" "$*" >>docs/benchmarks.md <<'PY'
import json, sys, datetime
path, mode, n, profile, status, extra = sys.argv[1:7]
s = json.load(open(path))
steps = s.get("steps") or [{}]
# A stress row shows the knee: the last step that held (else the first step).
r = s.get("result") or next((x for x in steps if x.get("users") == s.get("knee_users")), steps[0])
hit = s.get("cache_hit_rate")
knee = s.get("knee_users")
print(f"| {datetime.date.today()} | {mode} | {int(n):,} | {profile}{' ' + extra if extra else ''} | {r.get('users', s['users'])} "
      f"| {r.get('requests_per_s', 0):,.0f} | {r.get('p50_ms', 0):.1f} | {r.get('p95_ms', 0):.1f} | {r.get('p99_ms', 0):.1f} "
      f"| {r.get('error_rate', 0):.4f} | {'-' if hit is None else f'{hit:.3f}'} "
      f"| {'knee ' + str(knee) + ' users' if knee else ('pass' if s.get('passed') else 'broken: ' + '; '.join(s.get('broken', [])))} |")
PY
echo "appended a row to docs/benchmarks.md (exit status of the profile: $status)"
exit $status

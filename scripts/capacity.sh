#!/usr/bin/env bash
# CPU cost per request type, for the capacity model in docs/scaling.md.
#
#   scripts/capacity.sh [METRICS] [SECONDS]        (defaults: 10000 metrics, 10 s per row)
#
# One release `mdl serve` per cache setting on one PostgreSQL database and a private Redis:
#   - cache on (L1 + Redis): cached hits and writes;
#   - a 1 MB in-process tier, read across 10,000 single metrics or 200 list pages (far more than
#     it holds), so nearly every hit comes from Redis: what an instance pays for an entry another
#     instance computed;
#   - cache off: what a miss costs.
# Each row drives one request type with wrk for SECONDS and reads, before and after, the CPU
# time (utime + stime from /proc) of the instance, of the PostgreSQL backends serving that
# instance's pool and of the Redis server. CPU time per request, unlike requests per second,
# hardly moves when other work shares the machine, so the rows can be added up into a model.
# Prints the table and the model (markdown); raw numbers stay in $CAPACITY_OUT if set.
# Needs: wrk, psql, redis-server, python3, PostgreSQL as in .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
SECS=${2:-10}
PG=${CAPACITY_PG:-postgres://postgres@127.0.0.1:5432}
DB=mdl_capacity
REDIS_PORT=${CAPACITY_REDIS_PORT:-6391}
OUT=${CAPACITY_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  [ -n "${CAPACITY_OUT:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin mdl
MDL=$PWD/target/release/mdl
TICK=$(getconf CLK_TCK)

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB"
$MDL seed --synthetic "$N" >/dev/null
psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --logfile "$OUT/redis.log" >/dev/null
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS_PID=$(redis-cli -p "$REDIS_PORT" info server | awk -F: '/^process_id/ {print $2}' | tr -d '\r')

# The pool stays open (min = max) so its backends' CPU counters survive the whole run; warming
# is off so only the measured requests run.
export CAPACITY_PATHS=/dev/null MDL_ADMIN_PASSWORD=capacity-password-$RANDOM DB_POOL_MIN=10 DB_POOL_MAX=10 \
  DB_IDLE_TIMEOUT_S=3600 ENABLE_CACHE_WARMING=false MDL_L1_TTL=3600 CACHE_TTL=3600 \
  MDL_LOGIN_RATE_PER_MIN=1000 RUST_LOG=warn
ready() { for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0; sleep 0.2; done; return 1; }
start() { # port, name, env...
  local port=$1 name=$2
  shift 2
  env "$@" "$MDL" serve --bind "127.0.0.1:$port" >"$OUT/$name.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$OUT/$name.pid"
  ready "$port"
}
start 3120 cached "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" MDL_REDIS_PREFIX=cap
start 3121 l2only "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" MDL_REDIS_PREFIX=cap MDL_L1_CAPACITY_MB=1 MDL_PAGE_CAPACITY_MB=1
start 3122 uncached ENABLE_CACHE=false

TOKEN=$(curl -s -X POST http://127.0.0.1:3120/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$MDL_ADMIN_PASSWORD\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["tokens"]["access_token"])')
ID=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:3120/api/v1/metrics?limit=1&sort=name" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"][0]["metric_id"])')
WORD=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:3120/api/v1/metrics?limit=1&sort=name" |
  python3 -c 'import json,sys,re;print(re.findall("[a-z]{5,}",json.load(sys.stdin)["data"][0]["name"].lower())[0])')

# A full definition from the example catalog, with a fresh metric_id per request.
python3 - "$OUT/write.lua" "$TOKEN" <<'PY'
import json, sys
metric = json.load(open("examples/sample-metrics.json"))["metrics"][0]
metric["metric_id"] = "__ID__"
body = json.dumps(metric).replace("\\", "\\\\").replace('"', '\\"')
open(sys.argv[1], "w").write(f'''
local body = "{body}"
local n = 0
-- The warm-up and the measured run are separate wrk processes: each needs ids of its own.
math.randomseed(os.time())
local run = (os.getenv("CAPACITY_RUN") or "x") .. "-" .. os.time() .. "-" .. math.random(1000000)
request = function()
  n = n + 1
  local b = body:gsub("__ID__", "cap-" .. run .. "-" .. n)
  return wrk.format("POST", "/api/v1/metrics",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {sys.argv[2]}"}}, b)
end
''')
PY

# Paths read in turn, for the rows that must spread over more entries than the in-process tier
# holds.
cat >"$OUT/paths.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("CAPACITY_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
LUA
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:3120/api/v1/export?format=json" |
  python3 -c 'import json,sys;[print("/api/v1/metrics/"+m["metric_id"]) for m in json.load(sys.stdin)["metrics"]]' >"$OUT/singles"
seq 1 $((N / 50)) | sed 's|^|/api/v1/metrics?limit=50\&page=|' >"$OUT/pages"

cpu_of() { # pid... -> total CPU ticks (utime + stime)
  local total=0 p f
  for p in "$@"; do
    f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
backends() { # PIDs of the PostgreSQL backends the instances hold open
  psql "$PG/postgres" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND application_name <> 'psql'"
}

: >"$OUT/rows"
row() { # name, port, concurrency, then wrk arguments after the URL path
  local name=$1 port=$2 conns=$3 path=$4
  shift 4
  local inst pgs before_i before_p before_r after_i after_p after_r reqs errs
  inst=$(cat "$OUT/$(case $port in 3120) echo cached ;; 3121) echo l2only ;; *) echo uncached ;; esac).pid")
  # Warm: the entries exist (cached rows) and the pool's connections are open, so the backends
  # read below are the ones that serve the measured requests.
  wrk -t1 -c "$conns" -d "${WARM:-1}s" -H "Authorization: Bearer $TOKEN" -H 'Accept-Encoding: gzip' "$@" \
    "http://127.0.0.1:$port$path" >/dev/null
  mapfile -t pgs < <(backends)
  before_i=$(cpu_of "$inst") before_p=$(cpu_of "${pgs[@]}") before_r=$(cpu_of "$REDIS_PID")
  wrk -t1 -c "$conns" -d "${SECS}s" -H "Authorization: Bearer $TOKEN" -H 'Accept-Encoding: gzip' "$@" \
    "http://127.0.0.1:$port$path" >"$OUT/wrk.txt"
  after_i=$(cpu_of "$inst") after_p=$(cpu_of "${pgs[@]}") after_r=$(cpu_of "$REDIS_PID")
  reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
  errs=$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk.txt")
  echo "$name|$reqs|${errs:-0}|$((after_i - before_i))|$((after_p - before_p))|$((after_r - before_r))|$TICK|$SECS" >>"$OUT/rows"
  echo "measured: $name ($reqs requests)" >&2
}

row "cached hit: list page 1 (50, gzip)" 3120 20 "/api/v1/metrics?page=1&limit=50"
row "cached hit: single metric" 3120 20 "/api/v1/metrics/$ID"
CAPACITY_PATHS=$OUT/pages WARM=15 row "L2 hit: list pages 1-$((N / 50)) (50, gzip)" 3121 20 "/" -s "$OUT/paths.lua"
CAPACITY_PATHS=$OUT/singles WARM=20 row "L2 hit: $N single metrics" 3121 20 "/" -s "$OUT/paths.lua"
row "miss: list page 1 (50, gzip)" 3122 10 "/api/v1/metrics?page=1&limit=50"
row "miss: filtered list page 3 (50, gzip)" 3122 10 "/api/v1/metrics?tier=Tier-2&page=3&limit=50"
row "miss: single metric" 3122 10 "/api/v1/metrics/$ID"
row "miss: search q=$WORD (50)" 3122 10 "/api/v1/metrics?q=$WORD&limit=50"
row "miss: stats" 3122 10 "/api/v1/stats"
CAPACITY_RUN=$RANDOM row "write: create (3.6 KB definition)" 3120 10 "/api/v1/metrics" -s "$OUT/write.lua"

python3 - "$OUT/rows" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    name, reqs, errs, ci, cp, cr, tick, secs = line.rstrip("\n").split("|")
    reqs, tick = int(reqs), int(tick)
    us = lambda ticks: ticks / tick * 1e6 / max(reqs, 1)
    rows.append((name, reqs, int(errs), us(int(ci)), us(int(cp)), us(int(cr)), reqs / float(secs)))
print("| request | requests | non-2xx | instance CPU µs/req | PostgreSQL CPU µs/req | Redis CPU µs/req | req/s seen |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, reqs, errs, i, p, r, rate in rows:
    print(f"| {name} | {reqs:,} | {errs} | {i:,.0f} | {p:,.0f} | {r:,.0f} | {rate:,.0f} |")

# The model: the load harness's steady read mix, its measured hit rate, one write per 1,000
# reads. A miss costs what its route costs uncached; a hit costs an in-process hit, or a Redis
# hit for the share of hits the in-process tier of that instance did not hold.
cost = {name: (i, p, r) for name, _, _, i, p, r, _ in rows}
def pick(prefix):
    return next(v for k, v in cost.items() if k.startswith(prefix))
mix = [  # weight, uncached cost
    (30, pick("miss: list page 1")), (10, pick("miss: filtered")), (25, pick("miss: filtered")),
    (8, pick("miss: search")), (20, pick("miss: single")), (4, pick("miss: stats")), (3, pick("miss: single")),
]
total = sum(w for w, _ in mix)
miss = [sum(w * c[k] for w, c in mix) / total for k in range(3)]
l1 = [(a + b) / 2 for a, b in zip(pick("cached hit: list"), pick("cached hit: single"))]
l2_single = next(v for k, v in cost.items() if k.startswith("L2 hit") and "single" in k)
l2 = [(a + b) / 2 for a, b in zip(pick("L2 hit: list"), l2_single)]
write = pick("write")
hit_rate, write_share = 0.92, 0.001
print()
print(f"Model inputs (µs of CPU per request: instance / PostgreSQL / Redis): miss in the steady mix "
      f"{miss[0]:.0f} / {miss[1]:.0f} / {miss[2]:.0f}; in-process hit {l1[0]:.0f} / 0 / 0; Redis hit "
      f"{l2[0]:.0f} / {l2[1]:.0f} / {l2[2]:.0f}; write {write[0]:.0f} / {write[1]:.0f} / {write[2]:.0f}; "
      f"hit rate {hit_rate}, {write_share * 1000:g} write per 1,000 reads.")
print()
print("| reads/s | hits from Redis | instance cores | instances (2 cores at 70 %) | PostgreSQL cores | Redis cores |")
print("|---:|---:|---:|---:|---:|---:|")
for rate in (10_000, 100_000):
    for l2_share in (0.0, 0.5):
        per = [hit_rate * ((1 - l2_share) * l1[k] + l2_share * l2[k]) + (1 - hit_rate) * miss[k]
               + write_share * write[k] for k in range(3)]
        cores = [rate * c / 1e6 for c in per]
        instances = max(1, -(-cores[0] // 1.4))
        print(f"| {rate:,} | {l2_share:.0%} | {cores[0]:.1f} | {instances:.0f} | {cores[1]:.1f} | {cores[2]:.2f} |")
PY

#!/usr/bin/env bash
# A local MDL cluster: N `mdl serve` instances over one PostgreSQL database and a private Redis,
# behind HAProxy with active readiness checks.
#
#   scripts/cluster.sh up [N]        start N instances (default 3) and the balancer
#   scripts/cluster.sh down          stop everything `up` started (idempotent)
#   scripts/cluster.sh status        instances, balancer view, Redis
#   scripts/cluster.sh restart I     SIGTERM instance I, wait for its drain, start it, wait until
#                                    the balancer routes to it again (one step of a rolling restart)
#   scripts/cluster.sh stop I | start I | kill I     the pieces of that, and kill -9
#   scripts/cluster.sh redis-stop | redis-start      the private Redis (for the outage drill)
#
# State (pids, ports, logs, the generated HAProxy config, the admin password) lives in
# .cluster/ (git-ignored). Settings, all optional:
#   MDL_CLUSTER_PG        postgres://postgres@127.0.0.1:5432   server URL without database
#   MDL_CLUSTER_DB        mdl_cluster                           dropped and created by `up`
#   MDL_CLUSTER_PORT      8088   the balancer          MDL_CLUSTER_STATS_PORT  8089  HAProxy stats
#   MDL_CLUSTER_BASE_PORT 3100   instance I on BASE+I  MDL_CLUSTER_REDIS_PORT  6390  private Redis
#   MDL_CLUSTER_SEED      1000   synthetic metrics     MDL_CLUSTER_SOURCE 127.0.0.2  HAProxy's source
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STATE=${MDL_CLUSTER_DIR:-$ROOT/.cluster}
PG=${MDL_CLUSTER_PG:-postgres://postgres@127.0.0.1:5432}
DB=${MDL_CLUSTER_DB:-mdl_cluster}
LB_PORT=${MDL_CLUSTER_PORT:-8088}
STATS_PORT=${MDL_CLUSTER_STATS_PORT:-8089}
BASE_PORT=${MDL_CLUSTER_BASE_PORT:-3100}
REDIS_PORT=${MDL_CLUSTER_REDIS_PORT:-6390}
SEED=${MDL_CLUSTER_SEED:-1000}
# HAProxy talks to the instances from this loopback address and only it is trusted for
# X-Forwarded-For: a client connecting straight to an instance from 127.0.0.1 cannot claim to
# be someone else. (On one host any local process could still bind 127.0.0.2; a real
# deployment gives the balancer an address of its own.)
SOURCE=${MDL_CLUSTER_SOURCE:-127.0.0.2}
# Longer than HAProxy needs to see two failed checks one second apart (plus the check timeout),
# so an instance is out of rotation before its listener closes.
DRAIN_GRACE_MS=${MDL_CLUSTER_DRAIN_GRACE_MS:-3500}
MDL=$ROOT/target/release/mdl

say() { printf '%s\n' "$*" >&2; }
die() { say "cluster: $*"; exit 1; }

# Polls CMD every 100 ms until it succeeds or SECONDS pass; no fixed sleeps anywhere.
wait_for() { # seconds, description, command...
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { say "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

# A process that exited but was not reaped yet (its parent, `up`, is long gone) still answers
# kill -0: it counts as gone.
running() { kill -0 "$1" 2>/dev/null && ! ps -o stat= -p "$1" | grep -q '^Z'; }
gone() { ! running "$1"; }
alive() { [ -f "$1" ] && running "$(cat "$1")"; }
port_of() { echo $((BASE_PORT + $1)); }
count() { cat "$STATE/n" 2>/dev/null || echo 0; }

# The balancer's opinion of instance I: UP, DOWN, MAINT, or "UP 1/2"-style transitions.
lb_state() { # instance
  curl -sf "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, -v s="mdl$1" '$1 == "mdl" && $2 == s { print $18 }'
}
lb_up() { [ "$(lb_state "$1")" = UP ]; }
lb_down() { case "$(lb_state "$1")" in DOWN*) return 0 ;; *) return 1 ;; esac; }
ready() { curl -sf -o /dev/null "http://127.0.0.1:$(port_of "$1")/health/ready"; }

ensure_tools() {
  if ! command -v haproxy >/dev/null; then
    say "installing haproxy (Debian package)"
    apt-get install -y haproxy >/dev/null || die "haproxy is missing and could not be installed"
  fi
  command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
  command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"
  if [ ! -x "$MDL" ]; then
    say "building target/release/mdl"
    cargo build --release --bin mdl >&2
  fi
}

start_instance() { # instance
  local i=$1 port
  port=$(port_of "$i")
  alive "$STATE/mdl$i.pid" && die "instance $i is already running"
  # The subshell execs the server, so $! is the server's pid.
  (
    set -a
    # shellcheck source=/dev/null
    . "$STATE/env"
    exec "$MDL" serve --bind "127.0.0.1:$port"
  ) >>"$STATE/mdl$i.log" 2>&1 &
  echo $! >"$STATE/mdl$i.pid"
  wait_for 60 "instance $i ready on :$port" ready "$i" || {
    tail -20 "$STATE/mdl$i.log" >&2
    return 1
  }
}

# SIGTERM: the instance fails readiness for the drain grace, HAProxy takes it out, then its
# listener closes and in-flight requests finish (up to MDL_REQUEST_TIMEOUT_S + 5 s).
stop_instance() { # instance
  local f=$STATE/mdl$1.pid
  alive "$f" || { rm -f "$f"; return 0; }
  kill -TERM "$(cat "$f")"
  if ! wait_for 45 "instance $1 to exit" gone "$(cat "$f")"; then
    kill -KILL "$(cat "$f")" 2>/dev/null || true
  fi
  rm -f "$f"
}

redis_start() {
  alive "$STATE/redis.pid" && return 0
  # Private and memory-only: the outage drill kills it, and nothing else on the machine uses it.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$STATE" --logfile "$STATE/redis.log" --daemonize no >/dev/null 2>&1 &
  echo $! >"$STATE/redis.pid"
  wait_for 10 "redis on :$REDIS_PORT" redis-cli -p "$REDIS_PORT" ping
}

redis_stop() { # signal (KILL for the drill, TERM otherwise)
  local f=$STATE/redis.pid
  if alive "$f"; then
    kill "-${1:-TERM}" "$(cat "$f")"
    wait_for 10 "redis to exit" gone "$(cat "$f")" || true
  fi
  rm -f "$f"
}

write_haproxy_cfg() { # count
  local servers="" i
  for i in $(seq 1 "$1"); do
    servers+="    server mdl$i 127.0.0.1:$(port_of "$i")"$'\n'
  done
  # awk, not sed: the server lines contain newlines.
  awk -v servers="${servers%$'\n'}" -v state="$STATE" -v bind="127.0.0.1:$LB_PORT" \
    -v stats="127.0.0.1:$STATS_PORT" -v source="$SOURCE" '
    { gsub(/@STATE@/, state); gsub(/@BIND@/, bind); gsub(/@STATS_BIND@/, stats); gsub(/@SOURCE@/, source) }
    /^@SERVERS@$/ { print servers; next }
    { print }' deploy/haproxy.cfg.tmpl >"$STATE/haproxy.cfg"
}

up() { # count
  local n=${1:-3} i
  [[ $n =~ ^[1-9][0-9]?$ ]] || die "up N: N must be 1-99"
  if [ "$(count)" -gt 0 ] && alive "$STATE/haproxy.pid"; then
    say "already up ($(count) instances); run '$0 down' first"
    status
    return 0
  fi
  ensure_tools
  mkdir -p "$STATE"
  down >/dev/null 2>&1 || true
  # A failed start leaves nothing running.
  trap 'say "start failed: stopping what was started"; down >/dev/null 2>&1' ERR

  pg_isready -q -d "$PG/postgres" || die "PostgreSQL does not answer at $PG"
  say "database $DB: recreating, migrating, seeding $SEED metrics"
  psql "$PG/postgres" -qX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  DATABASE_URL="$PG/$DB" "$MDL" migrate >/dev/null
  DATABASE_URL="$PG/$DB" "$MDL" seed --synthetic "$SEED" >/dev/null

  local password secret
  password=cluster-$(openssl rand -hex 12)
  secret=$(openssl rand -hex 32)
  (
    umask 077
    echo "$password" >"$STATE/admin-password"
    # One secret for all: a token issued by one instance is valid on every other.
    cat >"$STATE/env" <<EOF
DATABASE_URL=$PG/$DB
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
MDL_REDIS_PREFIX=mdlcluster
MDL_JWT_SECRET=$secret
MDL_ADMIN_PASSWORD=$password
MDL_TRUSTED_PROXIES=$SOURCE/32
MDL_DRAIN_GRACE_MS=$DRAIN_GRACE_MS
RUST_LOG=${RUST_LOG:-warn}
EOF
  )
  echo "$n" >"$STATE/n"

  redis_start
  # The first instance creates the admin user; the others start once it exists.
  start_instance 1
  # Only these subshells are waited for: the servers and Redis are children of this shell too.
  local starting=()
  for i in $(seq 2 "$n"); do
    start_instance "$i" &
    starting+=($!)
  done
  for p in "${starting[@]}"; do wait "$p" || true; done
  for i in $(seq 1 "$n"); do ready "$i" || die "instance $i did not start (see $STATE/mdl$i.log)"; done

  write_haproxy_cfg "$n"
  haproxy -c -q -f "$STATE/haproxy.cfg" || die "invalid $STATE/haproxy.cfg"
  # Truncated, not appended: HAProxy resets the descriptor's flags (O_APPEND included) and would
  # write over an old log from its start.
  haproxy -f "$STATE/haproxy.cfg" >"$STATE/haproxy.log" 2>&1 &
  echo $! >"$STATE/haproxy.pid"
  for i in $(seq 1 "$n"); do wait_for 20 "balancer to route to instance $i" lb_up "$i"; done
  wait_for 10 "the balancer's /health/ready" curl -sf "http://127.0.0.1:$LB_PORT/health/ready"
  trap - ERR

  say ""
  say "cluster up: $n instances on 127.0.0.1:$((BASE_PORT + 1))-$((BASE_PORT + n)), database $DB"
  say "  balancer   http://127.0.0.1:$LB_PORT   (HAProxy stats: http://127.0.0.1:$STATS_PORT/)"
  say "  admin      user admin, password in $STATE/admin-password"
  say "  logs       $STATE/*.log      stop with: $0 down"
  echo "http://127.0.0.1:$LB_PORT"
}

down() {
  local i
  # The balancer first, so nothing is routed to instances while they stop.
  if alive "$STATE/haproxy.pid"; then
    kill -TERM "$(cat "$STATE/haproxy.pid")"
    wait_for 10 "haproxy to exit" gone "$(cat "$STATE/haproxy.pid")" || kill -KILL "$(cat "$STATE/haproxy.pid")" 2>/dev/null || true
  fi
  rm -f "$STATE/haproxy.pid"
  local stopping=()
  for f in "$STATE"/mdl*.pid; do
    [ -e "$f" ] || continue
    i=${f##*/mdl}
    i=${i%.pid}
    stop_instance "$i" &
    stopping+=($!)
  done
  for p in "${stopping[@]}"; do wait "$p" || true; done
  redis_stop TERM
  rm -f "$STATE/n"
  say "cluster down"
}

status() {
  local n i pid
  n=$(count)
  [ "$n" -gt 0 ] || { say "cluster not up"; return 1; }
  printf '%-10s %-8s %-6s %-8s %s\n' instance pid port ready balancer
  for i in $(seq 1 "$n"); do
    pid=$(cat "$STATE/mdl$i.pid" 2>/dev/null || echo -)
    alive "$STATE/mdl$i.pid" || pid="$pid(dead)"
    printf '%-10s %-8s %-6s %-8s %s\n' "mdl$i" "$pid" "$(port_of "$i")" \
      "$(ready "$i" && echo yes || echo no)" "$(lb_state "$i" || echo '?')"
  done
  printf 'haproxy    %s  http://127.0.0.1:%s\n' "$(alive "$STATE/haproxy.pid" && echo running || echo stopped)" "$LB_PORT"
  printf 'redis      %s  :%s\n' "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || echo down)" "$REDIS_PORT"
}

instance_arg() {
  if ! [[ ${1:-} =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt "$(count)" ]; then
    die "instance must be 1..$(count)"
  fi
}

# Instances started by any command inherit this: each holds HAProxy's connections and its
# pool, and drills open thousands.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cmd=${1:-}
shift || true
case $cmd in
up) up "${1:-3}" ;;
down) down ;;
status) status ;;
start)
  instance_arg "${1:-}"
  start_instance "$1"
  wait_for 20 "balancer to route to instance $1" lb_up "$1"
  ;;
stop) instance_arg "${1:-}" && stop_instance "$1" ;;
restart)
  instance_arg "${1:-}"
  stop_instance "$1"
  # Seen down first, so the wait below is for the new process being routed, not the old one
  # still counted UP (without a drain grace the process is gone before the checks notice).
  wait_for 10 "balancer to mark instance $1 down" lb_down "$1"
  start_instance "$1"
  wait_for 20 "balancer to route to instance $1" lb_up "$1"
  ;;
kill)
  instance_arg "${1:-}"
  kill -KILL "$(cat "$STATE/mdl$1.pid")"
  rm -f "$STATE/mdl$1.pid"
  ;;
lb-state) instance_arg "${1:-}" && lb_state "$1" ;;
lb-down) instance_arg "${1:-}" && lb_down "$1" ;;
# Retries and redispatches the balancer made so far (both backends).
lb-retries)
  curl -sf "http://127.0.0.1:$STATS_PORT/;csv" |
    awk -F, '$2 == "BACKEND" && $1 ~ /^mdl/ { r += $16; d += $17 } END { print r + 0, d + 0 }'
  ;;
lb-up) instance_arg "${1:-}" && lb_up "$1" ;;
redis-stop) redis_stop KILL ;;
redis-start) redis_start ;;
*)
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac

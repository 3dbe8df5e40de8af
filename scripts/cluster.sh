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
#   scripts/cluster.sh redis-cut I | redis-heal I    cut a namespaced instance off Redis, heal it
#   scripts/cluster.sh addr I        where instance I listens (host:port)
#
# State (pids, ports, logs, the generated HAProxy config, the admin password) lives in
# .cluster/ (git-ignored). Settings, all optional:
#   MDL_CLUSTER_PG        postgres://postgres@127.0.0.1:5432   server URL without database
#   MDL_CLUSTER_DB        mdl_cluster                           dropped and created by `up`
#   MDL_CLUSTER_PORT      8088   the balancer          MDL_CLUSTER_STATS_PORT  8089  HAProxy stats
#   MDL_CLUSTER_BASE_PORT 3100   instance I on BASE+I  MDL_CLUSTER_REDIS_PORT  6390  private Redis
#   MDL_CLUSTER_SEED      1000   synthetic metrics     MDL_CLUSTER_SOURCE 127.0.0.2  HAProxy's source
#   MDL_CLUSTER_NETNS     ""     instances (e.g. "2") run in a network namespace of their own
#   MDL_CLUSTER_PG_VIA    ""     host:port the instances reach PostgreSQL through (a proxy)
#   MDL_CLUSTER_L1_TTL    ""     MDL_L1_TTL of the instances (server default when empty)
#   MDL_CLUSTER_MAXCONN   ""     HAProxy maxconn (derived from the descriptor limit when empty)
#   MDL_CLUSTER_KEEPALIVE_S 10   HAProxy's idle keep-alive timeout for clients
#   MDL_CLUSTER_BIN       target/release/mdl   the server binary
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
NETNS=${MDL_CLUSTER_NETNS:-}
PG_VIA=${MDL_CLUSTER_PG_VIA:-}
L1_TTL=${MDL_CLUSTER_L1_TTL:-}
MAXCONN=${MDL_CLUSTER_MAXCONN:-}
KEEPALIVE_S=${MDL_CLUSTER_KEEPALIVE_S:-10}
MDL=${MDL_CLUSTER_BIN:-$ROOT/target/release/mdl}

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

# A namespaced instance I lives in netns mdlc<I>, joined to the host by a veth pair on
# 10.77.<I>.0/24. Host side: .1 forwards to PostgreSQL, .2 forwards to Redis, .3 is the
# balancer's source (the only address that instance trusts for X-Forwarded-For; host processes
# reaching the namespace use .1 by default). Namespace side: .10, the instance. Separate host
# addresses for PostgreSQL and Redis are what lets a route cut one without the other.
in_netns() { [ -f "$STATE/netns" ] && grep -qx "$1" "$STATE/netns"; }
ns_name() { echo "mdlc$1"; }
ns_net() { echo "10.77.$1"; }
host_of() { if in_netns "$1"; then echo "$(ns_net "$1").10"; else echo 127.0.0.1; fi; }
addr_of() { echo "$(host_of "$1"):$(port_of "$1")"; }
count() { cat "$STATE/n" 2>/dev/null || echo 0; }

# The balancer's opinion of instance I: UP, DOWN, MAINT, or "UP 1/2"-style transitions.
lb_state() { # instance
  curl -sf "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, -v s="mdl$1" '$1 == "mdl" && $2 == s { print $18 }'
}
lb_up() { [ "$(lb_state "$1")" = UP ]; }
lb_down() { case "$(lb_state "$1")" in DOWN*) return 0 ;; *) return 1 ;; esac; }
ready() { curl -sf -o /dev/null "http://$(addr_of "$1")/health/ready"; }

ensure_tools() {
  if ! command -v haproxy >/dev/null; then
    say "installing haproxy (Debian package)"
    apt-get install -y haproxy >/dev/null || die "haproxy is missing and could not be installed"
  fi
  command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
  command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"
  if [ -n "$NETNS" ] && ! command -v socat >/dev/null; then
    say "installing socat (Debian package)"
    apt-get install -y socat >/dev/null || die "socat is missing and could not be installed"
  fi
  if [ ! -x "$MDL" ]; then
    say "building target/release/mdl"
    cargo build --release --bin mdl >&2
  fi
}

start_instance() { # instance
  local i=$1 wrap=()
  alive "$STATE/mdl$i.pid" && die "instance $i is already running"
  in_netns "$i" && wrap=(ip netns exec "$(ns_name "$i")")
  # The subshell execs the server (`ip netns exec` execs it in turn), so $! is the server's pid.
  (
    set -a
    # shellcheck source=/dev/null
    . "$STATE/env"
    # shellcheck source=/dev/null
    if [ -f "$STATE/env$i" ]; then . "$STATE/env$i"; fi
    exec "${wrap[@]}" "$MDL" serve --bind "$(addr_of "$i")"
  ) >>"$STATE/mdl$i.log" 2>&1 &
  echo $! >"$STATE/mdl$i.pid"
  wait_for 60 "instance $i ready on $(addr_of "$i")" ready "$i" || {
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

# The namespace, the veth pair, the host addresses and two TCP forwarders (socat: PostgreSQL and
# Redis listen on 127.0.0.1 only, which a namespace cannot reach).
netns_up() { # instance
  local i=$1 ns net
  ns=$(ns_name "$i")
  net=$(ns_net "$i")
  netns_down "$i"
  ip netns add "$ns"
  ip link add "${ns}h" type veth peer name "${ns}n"
  ip link set "${ns}n" netns "$ns"
  # .1 first: it is the primary address, the default source for host traffic to the namespace.
  ip addr add "$net.1/24" dev "${ns}h"
  ip addr add "$net.2/24" dev "${ns}h"
  ip addr add "$net.3/24" dev "${ns}h"
  ip link set "${ns}h" up
  ip -n "$ns" addr add "$net.10/24" dev "${ns}n"
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "${ns}n" up
  socat "TCP-LISTEN:$(pg_port),bind=$net.1,reuseaddr,fork" "TCP:${PG_VIA:-$(pg_hostport)}" >>"$STATE/fwd$i.log" 2>&1 &
  echo $! >"$STATE/fwd-pg$i.pid"
  socat "TCP-LISTEN:$REDIS_PORT,bind=$net.2,reuseaddr,fork" "TCP:127.0.0.1:$REDIS_PORT" >>"$STATE/fwd$i.log" 2>&1 &
  echo $! >"$STATE/fwd-redis$i.pid"
  wait_for 10 "forwarders for instance $i" bash -c "exec 3<>/dev/tcp/$net.1/$(pg_port) 4<>/dev/tcp/$net.2/$REDIS_PORT"
  (
    umask 077
    cat >"$STATE/env$i" <<EOF
DATABASE_URL=$(pg_user_part)@$net.1:$(pg_port)/$DB
REDIS_URL=redis://$net.2:$REDIS_PORT
MDL_TRUSTED_PROXIES=$net.3/32
EOF
  )
}

netns_down() { # instance
  local i=$1 ns f
  ns=$(ns_name "$i")
  redis_heal "$i"
  for f in "$STATE/fwd-pg$i.pid" "$STATE/fwd-redis$i.pid"; do
    if alive "$f"; then
      # socat's forked children hold the forwarded connections.
      pkill -TERM -P "$(cat "$f")" 2>/dev/null || true
      kill -TERM "$(cat "$f")" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  ip netns del "$ns" 2>/dev/null || true
  ip link del "${ns}h" 2>/dev/null || true
  rm -f "$STATE/env$i"
}

# The cut: inside the namespace a blackhole route to the Redis forwarder's address, and on the
# host a blackhole rule for what that address sends to the instance. Both directions drop, as
# in a real partition (a one-way cut would still deliver Redis's invalidation messages).
# PostgreSQL (.1) and the balancer (.3) are untouched.
redis_cut() { # instance
  local i=$1 net
  net=$(ns_net "$i")
  in_netns "$i" || die "instance $i is not in a namespace of its own (MDL_CLUSTER_NETNS)"
  ip -n "$(ns_name "$i")" route replace blackhole "$net.2/32"
  ip rule del pref "$((1000 + i))" 2>/dev/null || true
  ip rule add from "$net.2/32" to "$net.10/32" blackhole pref "$((1000 + i))"
}

redis_heal() { # instance
  local i=$1 net
  net=$(ns_net "$i")
  ip -n "$(ns_name "$i")" route del blackhole "$net.2/32" 2>/dev/null || true
  ip rule del pref "$((1000 + i))" 2>/dev/null || true
}

# postgres://user@host:port -> its pieces (MDL_CLUSTER_PG has no database part).
pg_hostport() { local hp=${PG#*://}; echo "${hp#*@}"; }
pg_port() { local hp=${PG_VIA:-$(pg_hostport)}; echo "${hp##*:}"; }
pg_user_part() { local u=${PG#*://}; echo "${PG%%://*}://${u%@*}"; }

write_haproxy_cfg() { # count
  local servers="" i tuning="" client_s
  for i in $(seq 1 "$1"); do
    servers+="    server mdl$i $(addr_of "$i")"
    # Its own source address: a loopback source cannot reach the namespace.
    if in_netns "$i"; then servers+=" source $(ns_net "$i").3"; fi
    servers+=$'\n'
  done
  # HAProxy refuses to start (strict-limits) when it cannot raise the descriptor limit to about
  # 2 x maxconn, and the hard limit cannot be raised here. Idle keep-alive clients hold one
  # descriptor each, not two, so more of them fit than that rule assumes.
  if [ -n "$MAXCONN" ]; then tuning="    maxconn $MAXCONN"$'\n'"    no strict-limits"; fi
  client_s=$((KEEPALIVE_S > 60 ? KEEPALIVE_S : 60))
  # awk, not sed: the server lines contain newlines.
  awk -v servers="${servers%$'\n'}" -v state="$STATE" -v bind="127.0.0.1:$LB_PORT" \
    -v stats="127.0.0.1:$STATS_PORT" -v source="$SOURCE" -v tuning="$tuning" \
    -v keepalive="${KEEPALIVE_S}s" -v client="${client_s}s" '
    { gsub(/@STATE@/, state); gsub(/@BIND@/, bind); gsub(/@STATS_BIND@/, stats); gsub(/@SOURCE@/, source)
      gsub(/@KEEPALIVE@/, keepalive); gsub(/@CLIENT_TIMEOUT@/, client) }
    /^@SERVERS@$/ { print servers; next }
    /^@GLOBAL_TUNING@$/ { if (tuning != "") print tuning; next }
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
    if [ -n "$PG_VIA" ]; then echo "DATABASE_URL=$(pg_user_part)@$PG_VIA/$DB" >>"$STATE/env"; fi
    if [ -n "$L1_TTL" ]; then echo "MDL_L1_TTL=$L1_TTL" >>"$STATE/env"; fi
  )
  echo "$n" >"$STATE/n"
  : >"$STATE/netns"
  for i in ${NETNS//,/ }; do
    [[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$n" ] || die "MDL_CLUSTER_NETNS: $i is not an instance 1..$n"
    echo "$i" >>"$STATE/netns"
    netns_up "$i"
  done

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
  if [ -f "$STATE/netns" ]; then
    while read -r i; do netns_down "$i"; done <"$STATE/netns"
    rm -f "$STATE/netns"
  fi
  rm -f "$STATE/n"
  say "cluster down"
}

status() {
  local n i pid
  n=$(count)
  [ "$n" -gt 0 ] || { say "cluster not up"; return 1; }
  printf '%-10s %-8s %-16s %-8s %s\n' instance pid address ready balancer
  for i in $(seq 1 "$n"); do
    pid=$(cat "$STATE/mdl$i.pid" 2>/dev/null || echo -)
    alive "$STATE/mdl$i.pid" || pid="$pid(dead)"
    printf '%-10s %-8s %-16s %-8s %s\n' "mdl$i" "$pid" "$(addr_of "$i")" \
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
redis-cut) instance_arg "${1:-}" && redis_cut "$1" ;;
redis-heal) instance_arg "${1:-}" && redis_heal "$1" ;;
addr) instance_arg "${1:-}" && addr_of "$1" ;;
redis-start) redis_start ;;
*)
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# Makes sure the servers the tests and the reference services need are reachable on loopback:
# PostgreSQL 15 (127.0.0.1:5432, trust auth, database "test"), Redis 7 (127.0.0.1:6379) and
# RabbitMQ 3.10 (127.0.0.1:5672, guest/guest), and pgbouncer (127.0.0.1:6432, transaction pooling,
# every database of the local PostgreSQL) for the tests that run through a pooler.
#
#   scripts/infra.sh up       start what is installed but stopped; as root, apt-install what is missing
#                             (also the binaries of the private servers outage tests start, and
#                             promtool and prometheus for the alert-rule tests)
#   scripts/infra.sh status   say what is reachable; exit 1 when something is not
#
# Without root, a missing server is reported with the exact command that installs it.
set -euo pipefail

PG_PORT=5432
REDIS_PORT=6379
AMQP_PORT=5672
WAIT_SECONDS=${INFRA_WAIT_SECONDS:-90}

log() { printf 'infra: %s\n' "$*" >&2; }

reachable() {  # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_for() {  # name check-command...
  local name=$1; shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$name did not become ready within ${WAIT_SECONDS}s"
      return 1
    fi
    sleep 1
  done
  log "$name is ready"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
  if ! is_root; then
    log "missing: $* (run as root: apt-get install -y $*)"
    return 1
  fi
  log "installing $* with apt"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL -------------------------------------------------------------------------------

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && psql_admin -tAc 'select 1' | grep -q 1; }

psql_admin() {
  if is_root && id postgres >/dev/null 2>&1; then
    su postgres -c "psql -X -q -h 127.0.0.1 -p $PG_PORT -d postgres $(printf '%q ' "$@")"
  else
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
  fi
}

pg_configure_fresh_install() {
  # A cluster apt just created asks for passwords on TCP; the tests expect trust auth on loopback,
  # as on the CI machines. Only a cluster installed by this script is changed.
  local version hba
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  sed -i -E 's/^(local\s+all\s+(postgres|all)\s+)\S+/\1trust/' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main restart
}

pg_ensure_roles() {
  psql_admin -tAc "select 1 from pg_roles where rolname = 'root'" | grep -q 1 \
    || psql_admin -c 'create role root superuser login'
  psql_admin -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1 \
    || psql_admin -c 'create database test'
}

postgres_up() {
  if reachable 127.0.0.1 "$PG_PORT"; then
    log "postgresql is reachable on 127.0.0.1:$PG_PORT"
    return 0
  fi
  local fresh=0
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql postgresql-client || return 1
    fresh=1
  fi
  log "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  ((fresh)) && pg_configure_fresh_install
  wait_for postgresql pg_ready
  pg_ensure_roles
}

# --- Redis ------------------------------------------------------------------------------------

redis_up() {
  if reachable 127.0.0.1 "$REDIS_PORT"; then
    log "redis is reachable on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  log "starting redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
}

# --- RabbitMQ ---------------------------------------------------------------------------------

rabbitmq_up() {
  if reachable 127.0.0.1 "$AMQP_PORT"; then
    log "rabbitmq is reachable on 127.0.0.1:$AMQP_PORT"
    return 0
  fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server || return 1
  log "starting rabbitmq"
  rabbitmq-server -detached
  wait_for rabbitmq reachable 127.0.0.1 "$AMQP_PORT"
}

# --- pgbouncer (issue 14) ---------------------------------------------------------------------
# Transaction pooling in front of the local PostgreSQL, as Kubernetes set-ups put it: a `*`
# wildcard database, so each test run's own database is reachable through it too. Trust auth (the
# users must be listed in the auth file: postgres and root). Its config, log and pid live in
# PGBOUNCER_DIR, which this script owns and rewrites. pgbouncer refuses to run as root: as root it
# runs as the postgres user. No ignore_startup_parameters: it rejects what it does not track.

PGBOUNCER_PORT=${PGBOUNCER_PORT:-6432}
if is_root; then
  PGBOUNCER_DIR=${PGBOUNCER_DIR:-/var/lib/svcinfra-pgbouncer}
else
  PGBOUNCER_DIR=${PGBOUNCER_DIR:-${TMPDIR:-/tmp}/svcinfra-pgbouncer-$(id -u)}
fi

pgbouncer_write_config() {
  mkdir -p "$PGBOUNCER_DIR"
  printf '"postgres" ""\n"root" ""\n' >"$PGBOUNCER_DIR/userlist.txt"
  cat >"$PGBOUNCER_DIR/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGBOUNCER_DIR/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 400
default_pool_size = 8
max_user_connections = 24
server_idle_timeout = 30
autodb_idle_timeout = 60
logfile = $PGBOUNCER_DIR/pgbouncer.log
pidfile = $PGBOUNCER_DIR/pgbouncer.pid
EOF
  if is_root && id postgres >/dev/null 2>&1; then chown -R postgres: "$PGBOUNCER_DIR"; fi
}

pgbouncer_up() {
  if reachable 127.0.0.1 "$PGBOUNCER_PORT"; then
    log "pgbouncer is reachable on 127.0.0.1:$PGBOUNCER_PORT"
    return 0
  fi
  local bin=/usr/sbin/pgbouncer
  command -v pgbouncer >/dev/null && bin=$(command -v pgbouncer)
  [ -x "$bin" ] || apt_install pgbouncer || return 1
  pgbouncer_write_config
  log "starting $("$bin" --version | head -n1) with $PGBOUNCER_DIR/pgbouncer.ini"
  if is_root; then
    "$bin" -d -u postgres "$PGBOUNCER_DIR/pgbouncer.ini"
  else
    "$bin" -d "$PGBOUNCER_DIR/pgbouncer.ini"
  fi
  wait_for pgbouncer reachable 127.0.0.1 "$PGBOUNCER_PORT"
}

# --- Private servers (svcinfra.testing PrivatePostgres / PrivateRedis / PrivateRabbitNode) -----
# Tests that need an outage (the chaos run) start servers of their own from the same packages:
# initdb and pg_ctl under /usr/lib/postgresql/<version>/bin (run as the `postgres` OS user when
# root), redis-server, and RabbitMQ's scripts under /usr/lib/rabbitmq/bin. A machine whose shared
# servers run elsewhere (reachable, but not installed here) gets the packages now.

private_servers_up() {
  local missing=()
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  if is_root && ! id postgres >/dev/null 2>&1; then missing+=(postgresql); fi
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
  # The TLS tests (issue 17) make their CA and certificates with the openssl command line.
  command -v openssl >/dev/null || missing+=(openssl)
  if ((${#missing[@]})); then
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u) || return 1
  fi
  log "private test servers: initdb, redis-server, rabbitmq-server and openssl are installed"
}

# --- promtool and prometheus (issue 21) -------------------------------------------------------
# The alert-rule tests run `promtool check rules` / `promtool test rules`, and an e2e test starts a
# private Prometheus (its own port and data directory). Both binaries are Debian's `prometheus`
# package; it ships an init script, so the install keeps apt from starting a server on :9090
# (policy-rc.d answers 101 while apt runs, unless the machine has one already), and leaves out
# the recommended node exporter.

prometheus_tools_up() {
  if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    log "promtool and prometheus are installed ($(promtool --version 2>&1 | head -n1))"
    return 0
  fi
  local guard=/usr/sbin/policy-rc.d made=0
  if is_root && [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod +x "$guard" && made=1
  fi
  local rc=0
  apt_install --no-install-recommends prometheus || rc=1
  if ((made)); then rm -f "$guard"; fi
  return $rc
}

status() {
  local rc=0
  for svc in "postgresql $PG_PORT" "redis $REDIS_PORT" "rabbitmq $AMQP_PORT" \
    "pgbouncer $PGBOUNCER_PORT"; do
    set -- $svc
    if reachable 127.0.0.1 "$2"; then log "$1: up (127.0.0.1:$2)"; else log "$1: DOWN (127.0.0.1:$2)"; rc=1; fi
  done
  return $rc
}

case "${1:-up}" in
  up)
    rc=0
    postgres_up || rc=1
    redis_up || rc=1
    rabbitmq_up || rc=1
    pgbouncer_up || rc=1
    private_servers_up || rc=1
    prometheus_tools_up || rc=1
    if ((rc)); then
      log "some servers are missing or down; see the lines above"
      exit 1
    fi
    ;;
  status) status ;;
  *) echo "usage: $0 up|status" >&2; exit 2 ;;
esac

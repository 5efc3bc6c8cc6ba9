#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server for `tox -e postgres` (pg_ctl; as the
# `postgres` user when run as root, which PostgreSQL refuses; DIR must then be a folder that user can reach, e.g.
# under /tmp, not inside .tox). Usage: pg.sh start|stop DIR PORT
set -euo pipefail
action=$1 dir=$2 port=$3
bin=$(dirname "$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)")
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $action in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    [ -f "$dir/data/PG_VERSION" ] || as "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    as "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    as "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" \
       -l "$dir/server.log" -w start >/dev/null
    echo "PostgreSQL on 127.0.0.1:$port (data $dir/data)" ;;
  stop)
    as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true ;;
esac

#!/bin/sh
# Make PostgreSQL, Redis and nginx available to the tests (Debian's packages; the tests start
# their own servers on free ports in temporary folders, so nothing here is started or configured).
set -e
missing=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
    echo "Install$missing (Debian: apt-get install$missing) and run make test again." >&2
    exit 1
fi

#!/bin/sh
# Make a Chromium available to the e2e tests: Debian's package when we are root on Debian (these
# machines cannot download Playwright's own browser build), Playwright's browser elsewhere.
set -e
PY="${1:-python3}"
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
    [ -x "$candidate" ] && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    "$PY" -m playwright install chromium
fi

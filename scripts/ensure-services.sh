#!/usr/bin/env bash
# Make sure what the tests talk to is installed and running: PostgreSQL on 127.0.0.1:5432, Chromium for the
# headless HTML-report test, Prometheus Alertmanager for the alert-routing test and Prometheus (with promtool)
# for the metrics test (those tests start their own on a free port) and, with --bench, nginx/wrk.
set -euo pipefail

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # Quiet unless it fails (debconf and service scripts chatter on stderr); then show everything.
    local log
    log=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
      DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends "$@"; } >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      return 1
    fi
    rm -f "$log"
  else
    echo "ensure-services: please install: $*" >&2
    return 1
  fi
}

if ! command -v pg_ctlcluster >/dev/null; then
  apt_install postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi

if [ "${1:-}" = "--bench" ]; then
  command -v nginx >/dev/null || apt_install nginx
  command -v wrk >/dev/null || apt_install wrk
fi

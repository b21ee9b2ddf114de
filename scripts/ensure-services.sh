#!/usr/bin/env bash
# Make sure what the tests talk to is installed and running: PostgreSQL on 127.0.0.1:5432, Chromium for the
# headless HTML-report test (and, with --bench, nginx/wrk).
set -euo pipefail

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -qq update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends "$@" >/dev/null
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

if ! command -v chromium >/dev/null; then
  apt_install chromium
fi

if [ "${1:-}" = "--bench" ]; then
  command -v nginx >/dev/null || apt_install nginx
  command -v wrk >/dev/null || apt_install wrk
fi

#!/usr/bin/env bash
# Real engines for `npm run test:engines`: installs them from Debian's archive, starts them on
# 127.0.0.1 only, stops them by PID. Root on Debian bookworm, no Docker.
# Engines used so far: promtool, PostgreSQL 15.
#
#   scripts/engines.sh install     apt packages the engine suite needs
#   scripts/engines.sh start|stop  shared servers (none yet: promtool is a plain command, and each
#                                  test file starts its own PostgreSQL with @strata/testkit's startPostgres)
#
# Env: ENGINES_DIR (state, pids, logs; default /tmp/strata-engines).
# Engines join this script as the issues that need them land (NATS, mosquitto, Ceph RGW, moto).
set -euo pipefail
D=${ENGINES_DIR:-/tmp/strata-engines}
mkdir -p "$D"
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  prometheus                              # promtool: checks our /metrics exposition
  postgresql-15 postgresql-client-15      # binaries in /usr/lib/postgresql/15/bin, for startPostgres
)

do_install() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    apt-get update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  fi
  # Only promtool is used. Where systemd runs, the Debian package also starts a prometheus
  # daemon on *:9090: stop that service (by name, never other prometheus processes).
  if [ -d /run/systemd/system ]; then systemctl stop prometheus 2>/dev/null || true; fi
  # Installing postgresql-15 also creates the cluster 15/main and, where systemd runs, starts it
  # on port 5432. Tests never use it: stop it, but only if this run just installed the package
  # (a cluster that was there before is somebody else's).
  if [[ " ${missing[*]-} " == *" postgresql-15 "* ]] && [ -d /run/systemd/system ]; then
    systemctl stop postgresql@15-main 2>/dev/null || true
  fi
  command -v promtool >/dev/null
  [ -x /usr/lib/postgresql/15/bin/postgres ]
}

do_start() { :; }

do_stop() {
  local f p
  for f in "$D"/*.pid; do
    [ -f "$f" ] || continue
    for p in $(cat "$f"); do kill "$p" 2>/dev/null || true; done
    rm -f "$f"
  done
}

case "${1:-}" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac

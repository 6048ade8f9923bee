#!/usr/bin/env bash
# Real engines for `npm run test:engines`: installs them from Debian's archive, starts them on
# 127.0.0.1 only, stops them by PID. Root on Debian bookworm, no Docker.
#
#   scripts/engines.sh install     apt packages the engine suite needs
#   scripts/engines.sh start|stop  servers (none needed yet: promtool is a plain command)
#
# Env: ENGINES_DIR (state, pids, logs; default /tmp/strata-engines).
# Engines join this script as the issues that need them land (NATS, PostgreSQL, mosquitto, Ceph RGW, moto).
set -euo pipefail
D=${ENGINES_DIR:-/tmp/strata-engines}
mkdir -p "$D"
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(prometheus)   # promtool: checks our /metrics exposition

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
  command -v promtool >/dev/null
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

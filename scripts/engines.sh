#!/usr/bin/env bash
# Real engines for `npm run test:engines`: installs them from Debian's archive, starts them on
# 127.0.0.1 only, stops them by PID. Root on Debian bookworm, no Docker.
#
#   scripts/engines.sh install   apt packages the engine suite needs
#   scripts/engines.sh start     the shared, slow-to-start servers: Ceph RGW (real S3, :7480) and
#                                moto (AWS API emulator, :5000). Idempotent: running ones are kept.
#                                Writes $ENGINES_DIR/engines.env (the URLs and keys tests read).
#   scripts/engines.sh stop      stops what `start` started, by PID
#   scripts/engines.sh status    prints engines.env when everything is up, else exits 1
#
# Servers a test must kill, cut or cluster (PostgreSQL, nats-server, mosquitto) are started per
# test file by @strata/testkit (startPostgres, startNats, startMosquitto) on free ports instead.
# Env: ENGINES_DIR (state, pids, logs; default /tmp/strata-engines).
set -euo pipefail
D=${ENGINES_DIR:-/tmp/strata-engines}
mkdir -p "$D"
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  prometheus                              # promtool: checks our /metrics exposition
  postgresql-15 postgresql-client-15      # binaries in /usr/lib/postgresql/15/bin, for startPostgres
  nats-server                             # JetStream stream engine
  mosquitto mosquitto-clients             # external MQTT broker (bridge mode, bench:mqtt baseline)
  ceph-mon ceph-osd radosgw ceph-common   # Ceph RGW: the real S3 engine
  chromium                                # browser tests (the dashboard), driven by playwright-core
)

do_install() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    apt-get update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  fi
  # Where systemd runs, Debian packages start their daemons (prometheus on *:9090, the
  # PostgreSQL cluster 15/main, mosquitto, nats-server). Tests use none of them: stop the ones
  # this run just installed (a service that was there before is somebody else's).
  if [ -d /run/systemd/system ]; then
    local pkg unit
    for pkg in prometheus:prometheus postgresql-15:postgresql@15-main mosquitto:mosquitto nats-server:nats-server; do
      unit=${pkg#*:}
      if [[ " ${missing[*]-} " == *" ${pkg%%:*} "* ]]; then systemctl stop "$unit" 2>/dev/null || true; fi
    done
  fi
  command -v promtool nats-server mosquitto radosgw >/dev/null
  [ -x /usr/lib/postgresql/15/bin/postgres ]
  command -v moto_server >/dev/null || echo "engines: WARN moto_server not found (it ships with the image's Python; PyPI is unreachable)" >&2
}

wait_port() { # port seconds
  local i
  for i in $(seq 1 $(($2 * 5))); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done
  echo "engines: timeout waiting for 127.0.0.1:$1 (logs in $D)" >&2
  return 1
}

alive() { # pid-file: every pid in it runs
  local p
  [ -s "$1" ] || return 1
  for p in $(cat "$1"); do kill -0 "$p" 2>/dev/null || return 1; done
}

start_moto() {
  alive "$D/moto.pid" && return
  setsid moto_server -H 127.0.0.1 -p 5000 >"$D/moto.log" 2>&1 </dev/null &
  echo $! >"$D/moto.pid"
  wait_port 5000 30
}

# Real S3: 1 monitor + 1 BlueStore-on-file OSD + radosgw, no cephx, loopback only (~20 s).
start_ceph_rgw() {
  alive "$D/ceph.pid" && return
  local C=$D/ceph f p
  for f in "$C"/run/*.pid; do # daemons of a start that failed half-way
    [ -f "$f" ] && for p in $(cat "$f"); do kill "$p" 2>/dev/null || true; done
  done
  rm -rf "$C"
  mkdir -p "$C"/{run,log,mon,osd,rgw}
  local FSID
  FSID=$(cat /proc/sys/kernel/random/uuid)
  cat >"$C/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:6789
mon initial members = a
public network = 127.0.0.0/8
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
run dir = $C/run
admin socket = $C/run/\$name.asok
log file = $C/log/\$name.log
pid file = $C/run/\$name.pid
mon data = $C/mon/\$cluster-\$id
osd data = $C/osd/\$cluster-\$id
osd objectstore = bluestore
bluestore block path = $C/osd/\$cluster-\$id/block.file
bluestore block create = true
bluestore block size = 4294967296
osd memory target = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:7480 tcp_nodelay=1
rgw data = $C/rgw
CONF
  export CEPH_CONF=$C/ceph.conf
  monmaptool --create --add a v1:127.0.0.1:6789 --fsid "$FSID" "$C/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$C/monmap"
  ceph-mon -i a
  local U ID
  U=$(cat /proc/sys/kernel/random/uuid)
  ID=$(ceph osd new "$U")
  mkdir -p "$C/osd/ceph-$ID"
  ceph-osd -i "$ID" --mkfs --osd-uuid "$U" 2>/dev/null
  ceph-osd -i "$ID"
  ceph osd crush add "osd.$ID" 1.0 root=default host=localhost >/dev/null 2>&1
  radosgw -n client.rgw.a
  wait_port 7480 90
  radosgw-admin user create --uid=strata --display-name=Strata --access-key=STRATAKEY --secret=STRATASECRET >/dev/null
  for f in client.rgw.a "osd.$ID" mon.a; do
    for _ in $(seq 1 50); do [ -s "$C/run/$f.pid" ] && break; sleep 0.1; done
  done
  cat "$C/run/client.rgw.a.pid" "$C/run/osd.$ID.pid" "$C/run/mon.a.pid" >"$D/ceph.pid"
}

do_start() {
  start_moto
  start_ceph_rgw
  cat >"$D/engines.env" <<ENV
STRATA_TEST_CEPH_URL=http://127.0.0.1:7480
STRATA_TEST_CEPH_KEY=STRATAKEY
STRATA_TEST_CEPH_SECRET=STRATASECRET
STRATA_TEST_MOTO_URL=http://127.0.0.1:5000
ENV
  echo "engines up: Ceph RGW http://127.0.0.1:7480, moto http://127.0.0.1:5000 (env: $D/engines.env)"
}

do_status() {
  alive "$D/moto.pid" && alive "$D/ceph.pid" && cat "$D/engines.env"
}

do_stop() {
  local f p
  # Ceph daemons by their own pid files too: a start that failed half-way wrote no ceph.pid.
  for f in "$D"/*.pid "$D"/ceph/run/*.pid; do
    [ -f "$f" ] || continue
    for p in $(cat "$f"); do kill "$p" 2>/dev/null || true; done
    rm -f "$f"
  done
  rm -f "$D/engines.env"
}

case "${1:-}" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac

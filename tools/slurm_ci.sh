#!/usr/bin/env bash
# A one-node Slurm cluster on loopback, from Debian 12 packages, without systemd: what CI needs to
# run tests/test_slurm.cpp for real (README "Clusters (Slurm)").
#
#   tools/slurm_ci.sh install   slurmctld, slurmd, slurm-client, munge (--no-install-recommends)
#   tools/slurm_ci.sh start     munged (unless one answers already), slurmctld, slurmd; waits idle
#   tools/slurm_ci.sh status    exits 0 when the controller answers and the node is up
#   tools/slurm_ci.sh stop      stops the daemons this script started; safe to call any time
#
# Everything lives under $SLURM_DIR (default /tmp/costcurve-slurm): slurm.conf, state, spool, logs,
# pid files. /etc/slurm is not touched: clients find the cluster through SLURM_CONF, which `start`
# prints and which callers export, e.g.
#   export SLURM_DIR=/tmp/costcurve-slurm SLURM_CONF=/tmp/costcurve-slurm/slurm.conf
#   tools/slurm_ci.sh start && trap 'tools/slurm_ci.sh stop' EXIT
# Run as root (SlurmUser=root; the jobs run as the submitting user). The recipe and its pitfalls:
# ../shared/reference/slurm-local.md.
set -euo pipefail

SLURM_DIR=${SLURM_DIR:-/tmp/costcurve-slurm}
export SLURM_CONF="$SLURM_DIR/slurm.conf"
NODE=localhost

log() { printf '[slurm_ci %s] %s\n' "$(date +%T)" "$*" >&2; }

case "$SLURM_DIR" in
  /?*) ;;
  *) log "SLURM_DIR must be an absolute path other than /, got '$SLURM_DIR'"; exit 2 ;;
esac

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "timeout waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

do_install() {
  local p missing=""
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -z "$missing" ]; then
    log "packages present"
    return 0
  fi
  # Keep apt's postinst from starting the daemons with the packaged configuration (only matters
  # where invoke-rc.d would run the init scripts); our own policy file is removed afterwards.
  local added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  log "installing$missing"
  local rc=0
  # shellcheck disable=SC2086 # $missing is a list of package names
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; } || rc=$?
  if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  return "$rc"
}

write_conf() {
  local ncpu mem
  ncpu=$(nproc)
  # More RealMemory than slurmd detects would drain the node: 90% of MemTotal, in MiB.
  mem=$(awk '/MemTotal/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
  # linuxproc + task/none + no job accounting: no cgroup plugin is loaded, so whatever cgroup
  # layout the CI machine has does not matter. batch_sched_delay=0: array waves start within a
  # second of each other instead of three.
  cat >"$SLURM_CONF" <<EOF
# written by costcurve tools/slurm_ci.sh
ClusterName=costcurve-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SLURM_DIR/ctld
SlurmdSpoolDir=$SLURM_DIR/d
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$ncpu RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

stop_pids() { # stop_pids PIDFILE...: SIGTERM each recorded pid that is still our daemon, wait, SIGKILL
  local f pid pids=()
  for f in "$@"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    # Only a live process whose name is the daemon's (the pid may have been reused since).
    case "$(cat /proc/"$pid"/comm 2>/dev/null)" in
      slurmd | slurmctld | munged) kill -TERM "$pid" 2>/dev/null && pids+=("$pid") ;;
    esac
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  local _ alive
  for _ in $(seq 150); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still alive after 15 s, SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  return 0
}

do_stop() {
  # The daemons delete their pid files when they exit; start keeps copies (*.keep) to stop by.
  stop_pids "$SLURM_DIR/slurmd.pid.keep" "$SLURM_DIR/slurmctld.pid.keep"
  stop_pids "$SLURM_DIR/munged.pid.keep"
  rm -f "$SLURM_DIR"/*.pid.keep
  [ "${1:-}" = quiet ] || log "daemons stopped"
}

do_start() {
  do_stop quiet # leftovers of an earlier run of ours (recorded pids only)
  command -v slurmctld >/dev/null || [ -x /usr/sbin/slurmctld ] || {
    log "slurmctld is not installed: tools/slurm_ci.sh install"
    return 1
  }
  # Only what this script creates is wiped, never SLURM_DIR itself.
  rm -rf "$SLURM_DIR/ctld" "$SLURM_DIR/d" "$SLURM_DIR/log"
  mkdir -p "$SLURM_DIR/ctld" "$SLURM_DIR/d" "$SLURM_DIR/log"
  write_conf

  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running (not ours): using it"
  else
    if [ ! -s /etc/munge/munge.key ]; then # the package's postinst makes one; just in case
      mungekey --create --keyfile=/etc/munge/munge.key
      chown munge:munge /etc/munge/munge.key
      chmod 600 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge # nothing creates it without systemd
    # As root munged refuses its log file (owned by munge): run it as munge.
    runuser -u munge -- /usr/sbin/munged
    wait_for 10 "munged" sh -c 'munge -n | unmunge'
    cp /run/munge/munged.pid "$SLURM_DIR/munged.pid.keep"
  fi

  /usr/sbin/slurmctld
  if ! wait_for 20 "slurmctld" scontrol ping; then
    tail -20 "$SLURM_DIR/log/slurmctld.log" >&2 || true
    return 1
  fi
  cp "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/slurmctld.pid.keep"
  /usr/sbin/slurmd -N "$NODE" # -N: the host's name need not be "localhost"
  wait_for 10 "slurmd pid file" test -s "$SLURM_DIR/slurmd.pid"
  cp "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmd.pid.keep"
  if ! wait_for 30 "node idle" sh -c "sinfo -h -n $NODE -o %T | grep -qx idle"; then
    sinfo -N -l >&2 || true
    tail -20 "$SLURM_DIR/log/slurmd.log" >&2 || true
    return 1
  fi
  log "cluster up: $(sinfo -h -o '%P %a %D %T %N %c CPUs'); clients need: export SLURM_CONF=$SLURM_CONF"
}

do_status() {
  [ -s "$SLURM_CONF" ] || {
    log "no $SLURM_CONF: not started"
    return 1
  }
  scontrol ping && sinfo -N -l
}

case "${1:-}" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *)
    echo "usage: $0 install|start|status|stop   (SLURM_DIR=$SLURM_DIR)" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# A single-node SLURM cluster for the test suite, started without systemd:
#   tests/slurm/cluster.sh start    install the Debian packages if missing, write the config,
#                                   start munged, mariadbd + slurmdbd (for sacct), slurmctld,
#                                   slurmd, and wait until the node is idle
#   tests/slurm/cluster.sh stop     cancel jobs, stop only the daemons this script started
#   tests/slurm/cluster.sh status
#   tests/slurm/cluster.sh restart-controller [pause_s]   (jobs survive; used by a test)
# Needs root (the daemons run as root/munge and the config lives in /etc/slurm, where the client
# tools look for it). State, logs and PID files live in $SCALELAW_SLURM_STATE
# (default /tmp/scalelaw-slurm). Two partitions share the node: `low` (default, preemptible,
# GraceTime 5 s) and `high` (PriorityTier 10), with preempt/partition_prio + REQUEUE and
# preempt_send_user_signal, so a job on `high` makes a `low` job receive its --signal (submitit:
# USR2), checkpoint and requeue.
set -euo pipefail
STATE=${SCALELAW_SLURM_STATE:-/tmp/scalelaw-slurm}
CONF=/etc/slurm/slurm.conf
DBPORT=${SCALELAW_SLURM_DBPORT:-3307}
HOST=$(hostname -s)
PKGS="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"

log() { echo "[slurm-cluster] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_pkgs() {
  local missing=""
  for b in slurmctld slurmd sbatch munged slurmdbd mariadbd; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null || die "SLURM is not installed and there is no apt-get"
  log "installing $PKGS"
  # keep the packages' maintainer scripts from starting daemons (no systemd here; we start them)
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy; made_policy=1; fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >"$STATE/apt.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$STATE/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >>"$STATE/apt.log" 2>&1 \
      || { [ -n "$made_policy" ] && rm -f $policy; tail -5 "$STATE/apt.log" >&2; die "apt-get install failed"; }
  fi
  [ -n "$made_policy" ] && rm -f $policy
  return 0
}

write_config() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(free -m | awk '/^Mem:/{print $2}') * 9 / 10 ))
  mkdir -p /etc/slurm "$STATE"/{spool,ctld,log}
  # a config this script did not write is kept aside and put back by `stop`
  if [ -e $CONF ] && ! grep -q '^# scalelaw test cluster' $CONF && [ ! -e "$STATE/slurm.conf.orig" ]; then
    cp -p $CONF "$STATE/slurm.conf.orig"
  fi
  cat > $CONF <<CONF
# scalelaw test cluster (tests/slurm/cluster.sh); state in $STATE
ClusterName=scalelaw
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
# a requeued job is held for the credential lifetime: keep it short
AuthInfo=cred_expire=10
MailProg=/bin/true
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# cgroups are not usable in this VM: track processes by their parent ids
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
KillWait=5
MinJobAge=300
ReturnToService=2
# the node may advertise more CPUs than it has, so arrays run several tasks at once
SlurmdParameters=config_overrides
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobCompType=jobcomp/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=${SCALELAW_SLURM_CPUS:-8} RealMemory=$mem State=UNKNOWN
PartitionName=low Nodes=$HOST Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=5 OverSubscribe=NO
PartitionName=high Nodes=$HOST Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
CONF
  cat > /etc/slurm/slurmdbd.conf <<CONF
# scalelaw test cluster (tests/slurm/cluster.sh)
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
  chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
  if pid_alive "$STATE/munged.pid"; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  mkdir -p "$STATE/munge"; chown munge:munge "$STATE/munge"
  mkdir -p /run/munge; chown munge:munge /run/munge
  su -s /bin/sh munge -c "munged --pid-file=$STATE/munge/munged.pid --log-file=$STATE/munge/munged.log --seed-file=$STATE/munge/munged.seed"
  for _ in $(seq 50); do [ -s "$STATE/munge/munged.pid" ] && break; sleep 0.1; done
  cp "$STATE/munge/munged.pid" "$STATE/munged.pid"
}

start_mariadb() {
  if pid_alive "$STATE/mariadbd.pid"; then return 0; fi
  local dd="$STATE/mysql" sock="$STATE/mysqld.sock"
  if [ ! -d "$dd/mysql" ]; then
    mkdir -p "$dd"
    mariadb-install-db --user=root --datadir="$dd" --auth-root-authentication-method=socket \
      --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $STATE/log)"
  fi
  mariadbd --no-defaults --user=root --datadir="$dd" --socket="$sock" --port="$DBPORT" --bind-address=127.0.0.1 \
    --pid-file="$STATE/mariadbd.pid" --log-error="$STATE/log/mariadbd.log" --skip-log-bin \
    --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
  for _ in $(seq 100); do
    mariadb --no-defaults -S "$sock" -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2
  done
  mariadb --no-defaults -S "$sock" -u root -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" \
    || die "MariaDB did not come up (see $STATE/log/mariadbd.log)"
}

start_daemon() {  # name pidfile command...
  local name=$1 pidf=$2; shift 2
  if pid_alive "$pidf"; then return 0; fi
  "$@" || die "$name failed to start (see $STATE/log/$name.log)"
  for _ in $(seq 100); do [ -s "$pidf" ] && return 0; sleep 0.1; done
  die "$name wrote no PID file (see $STATE/log/$name.log)"
}

wait_idle() {
  for _ in $(seq 120); do
    if sinfo -h -N -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; then return 0; fi
    sleep 0.5
  done
  sinfo -N >&2 || true
  die "node did not become idle within 60 s (see $STATE/log)"
}

start() {
  [ "$(id -u)" = 0 ] || die "needs root"
  local t0; t0=$(date +%s.%N)
  mkdir -p "$STATE"
  install_pkgs
  write_config
  start_munge
  start_mariadb
  start_daemon slurmdbd "$STATE/slurmdbd.pid" slurmdbd
  for _ in $(seq 100); do sacctmgr -n -i show cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -i add cluster scalelaw >/dev/null 2>&1 || true
  start_daemon slurmctld "$STATE/slurmctld.pid" slurmctld
  start_daemon slurmd "$STATE/slurmd.pid" slurmd
  wait_idle
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  log "cluster up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
}

stop_pid() {  # pidfile name
  local pidf=$1 name=$2 pid
  [ -s "$pidf" ] || return 0
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$name ($pid) did not stop; killing"; kill -9 "$pid" 2>/dev/null || true; }
  fi
  rm -f "$pidf"
}

stop() {
  if pid_alive "$STATE/slurmctld.pid"; then
    scancel --user root --full >/dev/null 2>&1 || true
    for _ in $(seq 40); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  stop_pid "$STATE/slurmd.pid" slurmd
  stop_pid "$STATE/slurmctld.pid" slurmctld
  stop_pid "$STATE/slurmdbd.pid" slurmdbd
  stop_pid "$STATE/mariadbd.pid" mariadbd
  stop_pid "$STATE/munged.pid" munged
  if [ -e "$STATE/slurm.conf.orig" ]; then mv "$STATE/slurm.conf.orig" $CONF; fi
  log "stopped"
}

restart_controller() {  # stop slurmctld by its PID file and start it again (jobs keep running)
  stop_pid "$STATE/slurmctld.pid" slurmctld
  sleep "${1:-1}"
  start_daemon slurmctld "$STATE/slurmctld.pid" slurmctld
  for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "slurmctld did not answer after a restart"
}

status() {
  for n in munged mariadbd slurmdbd slurmctld slurmd; do
    if pid_alive "$STATE/$n.pid"; then echo "$n running ($(cat "$STATE/$n.pid"))"; else echo "$n stopped"; fi
  done
  scontrol ping 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart-controller) restart_controller "${2:-1}" ;;
  *) echo "usage: $0 start|stop|status|restart-controller [pause_s]" >&2; exit 2 ;;
esac

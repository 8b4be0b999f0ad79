#!/usr/bin/env bash
# slurm-fixture.sh - a private one-node Slurm cluster on localhost for tests (Debian's slurm-wlm
# and munge): its own munge key and socket, slurm.conf, state and logs under DIR; nothing listens
# beyond 127.0.0.1 (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny; every address localhost).
#
#   tests/slurm/slurm-fixture.sh start DIR    start munged, slurmctld, slurmd; wait for the node
#                                             to be idle; print `export SLURM_CONF=DIR/slurm.conf`
#   tests/slurm/slurm-fixture.sh stop DIR     stop them (by their pid files) and leave DIR
#   tests/slurm/slurm-fixture.sh check        exit 0 when it can run here, else 77 with the reason
#
# Needs root (slurmd runs jobs as their user; it must be root for that): as root, or through
# passwordless sudo.  Exit 77 (skip) when the packages are missing or root is not available.
set -euo pipefail

cmd=${1:-}
dir=${2:-}

need() {
  local missing=()
  for b in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "slurm fixture: ${missing[*]} not installed (apt-get install slurm-wlm munge; scripts/setup.sh does as root)" >&2
    exit 77
  fi
  if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
    echo "slurm fixture: needs root (or passwordless sudo) to start slurmd" >&2
    exit 77
  fi
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

free_port() { # a TCP port nothing listens on, from 20000..59999
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "slurm fixture: no free port found" >&2
  exit 1
}

start() {
  need
  mkdir -p "$dir"/{state,spool,log,munge}
  dir=$(cd "$dir" && pwd)
  chmod 700 "$dir/munge"
  # munge: a private key and socket
  as_root mungekey -c -f -k "$dir/munge/munge.key" 2>/dev/null ||
    as_root dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  as_root chmod 400 "$dir/munge/munge.key"
  as_root munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
  local cpus mem ctl_port d_port
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2))
  ctl_port=$(free_port)
  d_port=$(free_port)
  while [ "$d_port" = "$ctl_port" ]; do d_port=$(free_port); done
  cat >"$dir/slurm.conf" <<EOF
# one-node test cluster (tests/slurm/slurm-fixture.sh)
ClusterName=kgentest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=600
NodeName=kgennode NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Feature=kgentest State=UNKNOWN
PartitionName=kgen Nodes=kgennode Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  as_root env SLURM_CONF="$SLURM_CONF" /usr/sbin/slurmctld -i -f "$SLURM_CONF"
  as_root env SLURM_CONF="$SLURM_CONF" /usr/sbin/slurmd -N kgennode -f "$SLURM_CONF"
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -n1 || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    echo "slurm fixture: the node did not become idle (state '${state:-none}'); logs in $dir/log" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    stop
    exit 1
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  export SLURM_CONF="$dir/slurm.conf"
  local f pid
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    as_root kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do
      as_root kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    as_root kill -9 "$pid" 2>/dev/null || true
  done
  # slurmstepd of a job cut short: only those of this cluster (their spool dir)
  pgrep -f "slurmstepd.*" >/dev/null 2>&1 && for pid in $(pgrep -f slurmstepd); do
    grep -qs "$dir" "/proc/$pid/cmdline" "/proc/$pid/environ" && as_root kill -9 "$pid" 2>/dev/null || true
  done
  return 0
}

case "$cmd" in
start) [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start ;;
stop) [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop ;;
check) need ;;
*) echo "usage: $0 start DIR | stop DIR | check" >&2; exit 2 ;;
esac

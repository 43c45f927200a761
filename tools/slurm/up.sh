#!/usr/bin/env bash
# A single-node SLURM with accounting on this Debian machine, for `make test-slurm` and for
# trying workflow/profiles/slurm on one machine. As root:
#
#   tools/slurm/up.sh     # install (apt-get), configure, start; prints the sinfo line
#   tools/slurm/down.sh   # stop the daemons this script started, nothing else
#
# Debian 12 packages (SLURM 22.05): munge, MariaDB, slurmdbd, slurmctld, slurmd. Idempotent:
# a daemon that already runs is left alone, a second run only checks. It never stops or
# rewrites what it did not start or write: a config file without its marker line stops it.
# Memory is enforced without cgroups (they belong to the machine's owner): the job
# accounting poller samples every second and kills a step over its --mem (OverMemoryKill).
set -euo pipefail

MARK="# written by tabflow tools/slurm/up.sh"
STATE=/run/tabflow-slurm          # one file per daemon this script started (for down.sh)
CLUSTER=tabflow
PARTITION=main
HOST=$(hostname -s)
ETC=/etc/slurm
LOGS=/var/log/slurm

say() { printf 'slurm-up: %s\n' "$*"; }
die() { printf 'slurm-up: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts system daemons)"
command -v apt-get >/dev/null || die "needs a Debian-like system with apt-get"

wait_for() {  # wait_for SECONDS WHAT COMMAND...: retry COMMAND every 0.5 s
  local seconds=$1 what=$2; shift 2
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "$what did not come up in ${seconds} s (see $LOGS/ or the daemon's log)"
    sleep 0.5
  done
}

alive() {  # alive PIDFILE NAME: the pid file names a live process called NAME
  local pid
  [ -s "$1" ] && pid=$(cat "$1") && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

started() {  # started NAME PIDFILE: remember that this script started it
  mkdir -p "$STATE"
  echo "$2" >"$STATE/$1"
  say "started $1 (pid $(cat "$2"))"
}

write_conf() {  # write_conf PATH MODE < content: only files this script wrote before
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  { echo "$MARK"; cat; } >"$tmp"
  if [ -e "$path" ] && ! grep -qxF "$MARK" "$path"; then
    rm -f "$tmp"
    die "$path exists and was not written by this script; not touching it"
  fi
  if [ -e "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 0
  fi
  install -D -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  say "wrote $path"
  CHANGED=1
}

# --- packages --------------------------------------------------------------------------
PACKAGES="slurm-wlm slurmdbd munge mariadb-server"
missing=$(for p in $PACKAGES; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
  grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  say "installing $(echo $missing)"
  # The packages' scripts must not start their daemons (with the stock configs): this
  # script starts them itself. policy-rc.d says so to invoke-rc.d; ours only if none is there.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

# --- configuration ---------------------------------------------------------------------
CHANGED=""
# The node as slurmd sees it: CPUs and memory; 90% of the memory for jobs.
read -r CPUS MEM < <(slurmd -C | awk '/^NodeName/ {
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  print v["CPUs"], int(v["RealMemory"] * 0.9) }')
[ -n "${CPUS:-}" ] && [ -n "${MEM:-}" ] || die "slurmd -C did not describe this node"

DBPASS=""
if [ -f "$ETC/slurmdbd.conf" ]; then
  DBPASS=$(sed -n 's/^StoragePass=//p' "$ETC/slurmdbd.conf")
fi
[ -n "$DBPASS" ] || DBPASS=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')

write_conf "$ETC/slurm.conf" 644 <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups: processes are tracked by their parent pids, tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# --mem is enforced by the accounting poller: every second, a step over its memory is
# killed and the job ends OUT_OF_MEMORY.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
# A job over its --time gets SIGTERM, then SIGKILL 5 s later.
KillWait=5
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

write_conf "$ETC/slurmdbd.conf" 600 <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
CONF
mkdir -p "$LOGS" /var/spool/slurmctld /var/spool/slurmd

# --- munge -----------------------------------------------------------------------------
[ -s /etc/munge/munge.key ] || { say "creating the munge key"; mungekey --create --keyfile=/etc/munge/munge.key; }
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- munged
  wait_for 20 munged sh -c 'munge -n </dev/null | unmunge'
  started munged /run/munge/munged.pid
fi

# --- MariaDB: the accounting database --------------------------------------------------
if ! mysqladmin ping >/dev/null 2>&1; then
  install -d -o mysql -g mysql -m 755 /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  setsid nohup mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
    >>"$LOGS/mariadb.log" 2>&1 </dev/null &
  wait_for 60 MariaDB mysqladmin ping
  started mariadbd /run/mysqld/mysqld.pid
fi
mysql <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# --- SLURM -----------------------------------------------------------------------------
if ! alive /run/slurmdbd.pid slurmdbd; then
  slurmdbd
  wait_for 60 slurmdbd sacctmgr -n list cluster
  started slurmdbd /run/slurmdbd.pid
fi
if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]; then
  sacctmgr -i add cluster "$CLUSTER" >/dev/null
  say "cluster $CLUSTER added to the accounting database"
fi
if ! alive /run/slurmctld.pid slurmctld; then
  slurmctld
  wait_for 60 slurmctld scontrol ping
  started slurmctld /run/slurmctld.pid
elif [ -n "$CHANGED" ]; then
  scontrol reconfigure
  say "slurmctld reconfigured"
fi
if ! alive /run/slurmd.pid slurmd; then
  slurmd
  started slurmd /run/slurmd.pid
fi
node_ready() { sinfo -h -n "$HOST" -o %t | grep -qE '^(idle|mix|alloc)'; }
if ! node_ready; then
  sleep 2
  # A node left down or drained by an earlier run (ReturnToService covers most cases).
  node_ready || scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  wait_for 60 "node $HOST" node_ready
fi

# --- check: a job runs and accounting sees it ------------------------------------------
id=$(sbatch --parsable -J tabflow-slurm-up -p "$PARTITION" -t 1 --mem=10 -o /dev/null --wrap true)
completed() { sacct -n -X -P -j "$1" -o State | grep -qx COMPLETED; }
wait_for 60 "job $id in accounting (sacct)" completed "$id"
say "up: $(sinfo -h -o '%P %a %D %t %c CPUs %m MB' | head -1); test job $id COMPLETED"

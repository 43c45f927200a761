#!/usr/bin/env bash
# Stop the daemons that tools/slurm/up.sh started (recorded in /run/tabflow-slurm), in
# reverse order; anything it did not start keeps running. Packages and configs stay.
set -euo pipefail
STATE=/run/tabflow-slurm
[ "$(id -u)" = 0 ] || { echo "slurm-down: error: run as root" >&2; exit 1; }
for name in slurmd slurmctld slurmdbd mariadbd munged; do
  [ -f "$STATE/$name" ] || continue
  pidfile=$(cat "$STATE/$name")
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill "$pid"
    for _ in $(seq 60); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    echo "slurm-down: stopped $name (pid $pid)"
  fi
  rm -f "$STATE/$name"
done

#!/usr/bin/env bash
# A stand-in for a batch scheduler's submit command (sbatch, qsub): Snakemake's
# cluster-generic executor calls it with the job script as the last argument. It prints
# a job id and runs the job in the background on this machine, as a scheduler would on
# a node; the job script itself reports success or failure to Snakemake.
set -euo pipefail
jobscript="${!#}"
logs="${TABFLOW_SCHEDULER_LOGS:-.snakemake/scheduler}"
mkdir -p "$logs"
id="local-$(date +%s%N)"
nohup bash "$jobscript" >"$logs/$id.log" 2>&1 </dev/null &
echo "$id"

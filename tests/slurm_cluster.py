"""Is a SLURM up here, and what did it run: for the SLURM tests and `make bench`."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess

RUN_ID = re.compile(r"SLURM run ID: (\S+)")
_TARGET = re.compile(r"--target-jobs\s+'?(\w+):([^'\s]*)")


def slurm_problem() -> str | None:
    """Why the workflow cannot go through SLURM here, or None."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH"
    for cmd in (["sinfo", "-h"], ["sacct", "-n", "-X", "-j", "1"]):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"`{' '.join(cmd)}` failed: {err}"
        if res.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {res.stderr.strip()}"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[cluster]')"
    return None


def account_and_partition() -> tuple[str, str]:
    """This user's first SLURM account and the default partition, as a user looks them up."""
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    accounts = subprocess.run(
        ["sacctmgr", "-n", "-P", "list", "associations", f"user={user}", "format=account"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    partitions = subprocess.run(
        ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True
    ).stdout.split()
    default = next(p.rstrip("*") for p in partitions if p.endswith("*"))
    return accounts[0], default


def run_id(output: str) -> str:
    """The plugin's id of one workflow run (the name of all its SLURM jobs)."""
    m = RUN_ID.search(output)
    assert m, f"no SLURM run ID in Snakemake's output:\n{output[-3000:]}"
    return m.group(1)


def sacct_rows(run: str) -> list[dict[str, str]]:
    """Every SLURM job and job step of one workflow run."""
    since = (datetime.datetime.now() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    fields = ["JobID", "State", "Account", "Partition", "SubmitLine"]
    out = subprocess.run(
        ["sacct", "-P", "-n", "--name", run, "-S", since, "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [dict(zip(fields, line.split("|", 4), strict=True)) for line in out.splitlines()]


def target(row: dict[str, str]) -> tuple[str, str | None] | None:
    """(rule, model) of the Snakemake job a step ran (`srun ... --target-jobs rule:model=x`).

    Only steps: a job's own SubmitLine (sbatch --wrap=...) names the jobs of its group too.
    """
    if "." not in row["JobID"]:
        return None
    m = _TARGET.search(row["SubmitLine"])
    if not m:
        return None
    wildcards = dict(p.split("=", 1) for p in m.group(2).split(",") if p)
    return m.group(1), wildcards.get("model")

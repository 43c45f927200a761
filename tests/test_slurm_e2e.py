"""The workflow through a real SLURM and workflow/profiles/slurm: `make test-slurm`.

Needs a SLURM with accounting that answers here (tools/slurm/up.sh brings one up on a
Debian machine, as root) and snakemake-executor-plugin-slurm (`pip install -e .[cluster]`).
Not part of `make test`: pyproject's addopts deselect the `slurm` marker.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .e2e import (
    MODELS,
    Project,
    Receiver,
    _read_all,
    fork,
    mlflow_rows,
    start_tracking_server,
    stop,
    wait_until_up,
)
from .slurm_cluster import (
    RUN_ID,
    account_and_partition,
    run_id,
    sacct_rows,
    slurm_problem,
    target,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]

PROFILE = ("--workflow-profile", "workflow/profiles/slurm")
# Rules that run on the submitting machine (localrules): seconds of work each.
LOCAL = {("leaderboard", None), ("register", None), ("front_page", None)}


@dataclass
class Runs:
    project: Project
    local: Project
    planned: set[tuple[str, str | None]]
    account: str
    partition: str
    cold: subprocess.CompletedProcess
    rows: list[dict[str, str]]
    server_db: Path
    seconds: float


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    """A cold run through SLURM (MLflow at a tracking server) and a local `snakemake -j 3`."""
    if problem := slurm_problem():
        pytest.fail(f"SLURM is not up here ({problem}): run tools/slurm/up.sh as root")
    root = tmp_path_factory.mktemp("slurm")
    local = Project.create(root / "local")
    local.run("dvc", "pull")
    local.snakemake("-j", "3")
    project = Project.create(root / "slurm")
    project.run("dvc", "pull")
    planned = project.planned_jobs()
    account, partition = account_and_partition()
    server, url = start_tracking_server(root / "server", project.env)
    try:
        wait_until_up(server, url)
        start = time.perf_counter()
        cold = project.snakemake(
            *PROFILE,
            "--default-resources",
            f"slurm_account={account}",
            f"slurm_partition={partition}",
            env={"MLFLOW_TRACKING_URI": url},
            check=False,
        )
        seconds = time.perf_counter() - start
    finally:
        stop(server)
    rows = sacct_rows(run_id(cold.stdout + cold.stderr)) if cold.returncode == 0 else []
    return Runs(
        project, local, planned, account, partition, cold, rows, root / "server/mlflow.db", seconds
    )


def test_every_job_but_the_local_leaderboard_went_through_sbatch(runs):
    assert runs.cold.returncode == 0, runs.cold.stderr[-4000:]
    steps = [target(r) for r in runs.rows if target(r)]
    assert len(steps) == len(set(steps)), steps  # each job ran once
    assert set(steps) == runs.planned - LOCAL
    jobs = [r for r in runs.rows if "." not in r["JobID"]]
    # preprocess, then one job per model: its train and evaluate (the profile's groups).
    assert len(jobs) == 1 + len(MODELS)
    assert {(r["State"], r["Account"], r["Partition"]) for r in jobs} == {
        ("COMPLETED", runs.account, runs.partition)
    }
    assert "Rule: leaderboard" in runs.cold.stderr + runs.cold.stdout


def test_metrics_and_predictions_are_byte_identical_to_a_local_run(runs):
    assert runs.cold.returncode == 0, runs.cold.stderr[-4000:]
    for pattern in ("results/metrics/{}.json", "results/predictions/{}.csv"):
        assert _read_all(runs.project, pattern) == _read_all(runs.local, pattern), pattern


def test_the_mlflow_variables_reach_the_jobs_and_every_run_finished(runs):
    """MLFLOW_TRACKING_URI was only exported (no envvars in the profile): sbatch passed it on."""
    assert runs.cold.returncode == 0, runs.cold.stderr[-4000:]
    assert mlflow_rows(runs.project, runs.server_db) == [(m, "FINISHED") for m in MODELS]
    assert not (runs.project.path / "mlflow.db").exists()
    assert not (runs.project.path / "mlruns").exists()


def test_a_job_killed_by_scancel_fails_the_run_with_its_rule_then_a_rerun_completes(runs, tmp_path):
    """No account, no partition, no MLflow variable: the plugin guesses, jobs use sqlite."""
    project = fork(runs.project, tmp_path / "project")
    project.clean()
    out = tmp_path / "scancel.out"
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            ["snakemake", *PROFILE], cwd=project.path, env=project.env, stdout=fh, stderr=fh
        )
        try:
            cancelled = None
            deadline = time.monotonic() + 300
            while proc.poll() is None and cancelled is None and time.monotonic() < deadline:
                if m := RUN_ID.search(out.read_text()):
                    for row in sacct_rows(m.group(1)):
                        if target(row) == ("train", "rf") and row["State"] == "RUNNING":
                            cancelled = row["JobID"].split(".")[0]
                            subprocess.run(["scancel", cancelled], check=True)
                time.sleep(0.5)
            returncode = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:  # a run that never ends must not outlive the test
                proc.kill()
                proc.wait()
    output = out.read_text()
    assert cancelled, f"train rf was not caught running (exit {returncode}):\n{output[-3000:]}"
    assert returncode != 0
    assert "tabflow: workflow FAILED in rule train" in output, output[-3000:]
    assert f"rule train (model=rf) was cancelled: SLURM job {cancelled} CANCELLED" in output

    rerun = project.snakemake(*PROFILE, check=False)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for pattern in ("results/metrics/{}.json", "results/predictions/{}.csv"):
        assert _read_all(project, pattern) == _read_all(runs.local, pattern), pattern
    rows = mlflow_rows(project)
    assert {m for m, status in rows if status == "FINISHED"} == set(MODELS), rows
    assert "RUNNING" not in {status for _, status in rows}, rows


def test_a_job_over_its_mem_mb_fails_naming_the_rule_and_the_resource(runs, tmp_path):
    """train's step needs about 330 MB (imports included), the batch step 190 MB."""
    project = fork(runs.project, tmp_path / "project")
    project.clean()
    hook = Receiver()
    try:
        res = project.snakemake(
            *PROFILE,
            "--config",
            "models=[lr]",
            "--set-resources",
            "train:mem_mb=260",
            "evaluate:mem_mb=260",
            check=False,
            env={"APPRISE_URLS": hook.url("failure")},
        )
    finally:
        hook.close()
    output = res.stdout + res.stderr
    assert res.returncode != 0
    line = next((x for x in output.splitlines() if "ran out of memory" in x), None)
    assert line, output[-3000:]
    assert re.fullmatch(
        r"rule train \(model=lr\) ran out of memory: SLURM job \d+ "
        r"(OUT_OF_MEMORY|FAILED, step \d+\.\d+ killed at \d+ MB), over its --mem 260 MB; "
        r"raise mem_mb for train under set-resources in workflow/profiles/slurm/config.yaml "
        r"\(or --set-resources train:mem_mb=\.\.\.\)",
        line,
    ), line
    [message] = hook.messages("failure")
    assert message["title"] == "tabflow: workflow FAILED in rule train"
    assert message["message"].splitlines()[0] == line


TINY = """\
strategy: grid
space:
  lr:
    model.params.C: choice(0.01, 0.1, 1, 10)
"""


def test_a_sweep_runs_its_shards_as_slurm_jobs(runs, tmp_path):
    """Two shards of a four-trial sweep, each its own SLURM job; the tuned lr after them."""
    project = Project.create(tmp_path / "sweep")
    project.run("dvc", "pull")
    (project.path / "configs/sweep/tiny.yaml").write_text(TINY)
    res = project.snakemake(
        *PROFILE,
        "--default-resources",
        f"slurm_account={runs.account}",
        f"slurm_partition={runs.partition}",
        "--config",
        "sweep=tiny",
        "sweep_shards=2",
        "models=[lr]",
        check=False,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    steps = [target(r) for r in sacct_rows(run_id(res.stdout + res.stderr)) if target(r)]
    assert [s for s in steps if s[0] == "sweep_shard"] == [("sweep_shard", None)] * 2
    assert ("sweep_select", "lr") in steps and ("train", "lr-tiny") in steps
    trials = (project.path / "results/sweeps/tiny/lr/trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 4

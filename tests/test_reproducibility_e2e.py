"""End to end: cold runs, bit-for-bit results, the DVC round trip, going back in time,
reproducing an MLflow run, and DVC cache safety. Real snakemake, dvc and MLflow.

`make test` makes one cold run (clone b's: a job killed mid-training, then finished), which
the tests here fork. The tests marked `soak` need twenty alternating cold runs in two fresh
clones (`make soak`, in CI): a shared tracking server (`make demo`), and the same bytes
from every run. A test that changes a clone works on its
own copy of clone b (`forked`, `tracked`), so every test runs alone and in any order.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from .conftest import BIN
from .e2e import (
    CLUSTER_GENERIC,
    EVERYTHING,
    FINAL,
    MODELS,
    N_COLD_RUNS,
    Project,
    edit_file,
    free_port,
    kill_mid_job,
    parse_jobs,
    tree_digest,
)

pytestmark = pytest.mark.e2e


RF_METRICS = "results/metrics/rf.json"


@pytest.mark.soak
def test_cold_runs_in_a_row_all_pass(clones):
    """Parallel first use of a new MLflow DB must not race: N cold runs from an empty state
    (results/, mlflow.db, mlruns/ and .snakemake/ wiped), alternating between two clones
    (2 in `make test`, 20 in `make soak`), some of them by another road (VARIANTS)."""
    assert len(clones.runs) == N_COLD_RUNS
    for i, run in enumerate(clones.runs, 1):
        assert run.returncode == 0, f"cold run {i} ({run.variant}) failed:\n{run.stderr_tail}"
        assert "RUNNING" not in [status for _, status in run.mlflow_rows], f"cold run {i}"
        finished = [row for row in run.mlflow_rows if row[1] == "FINISHED"]
        assert finished == [(m, "FINISHED") for m in MODELS], f"cold run {i} ({run.variant})"


def _variant(runs: list, name: str):
    (run,) = [r for r in runs if r.variant == name]
    return run


def test_a_job_killed_mid_training_fails_the_run_and_a_rerun_completes(clone_b):
    """SIGKILL to `train rf` halfway: the run fails cleanly, `snakemake -j 3` finishes it
    (its results are bit-identical to every other cold run's: make soak)."""
    run = _variant(clone_b.runs, "killed")
    assert run.returncode == 0, run.stderr_tail
    finished = [row for row in run.mlflow_rows if row[1] == "FINISHED"]
    assert finished == [(m, "FINISHED") for m in MODELS]
    killed = run.kills[0]
    assert killed.rule == "train" and killed.returncode != 0
    assert "Error in rule train" in killed.output and "model=rf" in killed.output
    assert killed.temp_files == []
    assert "RUNNING" not in killed.parents  # FAILED, or never begun if MLflow was loading
    assert all(status != "RUNNING" for _, status in killed.rows)
    assert "RUNNING" not in [s for _, s in run.mlflow_rows]


def test_a_job_killed_while_logging_leaves_its_mlflow_run_failed(forked):
    """SIGKILL to `evaluate rf` while its MLflow run is open: the workflow marks it FAILED."""
    # The target before --forcerun, which takes every word after it as a rule to force.
    killed = kill_mid_job(forked, "evaluate", "rf", RF_METRICS, "--forcerun", "evaluate")
    assert killed.returncode != 0 and "Error in rule evaluate" in killed.output
    assert killed.rows.count(("rf", "FAILED")) == 1
    assert all(status != "RUNNING" for _, status in killed.rows)
    assert killed.parents[-1] == "FAILED"
    assert killed.temp_files == []


def test_cluster_generic_executor_runs_the_jobs_through_the_submit_command(forked, clone_b):
    """The same bytes as the cold run's, through a scheduler's submit command."""
    res = forked.snakemake(
        "-j", "3", *CLUSTER_GENERIC, "--forcerun", "train", "--config", "models=[lr]"
    )
    output = res.stdout + res.stderr
    submitted = re.findall(r"Submitted job \d+ with external jobid 'local-\d+'", output)
    assert len(submitted) == 2, output[-3000:]  # train, evaluate; the rest are local rules
    assert "Finished jobid" in output and "(Rule: leaderboard)" in output
    metrics = forked.path.joinpath("results/metrics/lr.json").read_bytes()
    assert metrics == clone_b.runs[0].metrics["lr"]


@pytest.mark.soak
def test_shared_tracking_server_gets_every_run_and_artifact(clones):
    """MLFLOW_TRACKING_URI at an `mlflow server --serve-artifacts` (the `make demo` run):
    no local store at all."""
    run = _variant(clones.runs, "make demo")
    proj = clones.a if run.clone == "a" else clones.b
    index = clones.runs.index(run)
    # That clone was wiped and rerun after this run: check the state of the run itself.
    assert run.mlflow_rows == [(m, "FINISHED") for m in MODELS]
    assert "MLflow: experiment 'heart_disease_classification' at http://127.0.0.1:" in run.output
    assert "logging through the workflow's store server" not in run.output
    artifacts = clones.server_dir / "artifacts"
    assert len(list(artifacts.rglob("MLmodel"))) == len(MODELS)
    assert len(list(artifacts.rglob("roc_curve.png"))) == len(MODELS)
    assert len(list(artifacts.rglob("leaderboard.csv"))) == 1  # on the parent run
    assert not run.local_store, f"cold run {index + 1} wrote {run.local_store} in {proj.path}"


@pytest.mark.soak
def test_make_demo_pulls_runs_and_prints_the_leaderboard(clones):
    """A cold run was `make demo` in clone a, before any `dvc pull` there."""
    out = clones.a.demo_output
    assert "dvc pull" in out and "snakemake -j 3" in out
    board = out[re.search(r"model\s+cv_roc_auc", out).start() :].splitlines()
    assert sorted(line.split()[0] for line in board[1:4]) == MODELS
    assert board[4].startswith("best by 5-fold CV roc_auc: ")
    assert "tabflow: 3 models trained, best " in out, "the end-of-run summary"
    everything = _variant(clones.runs, "make demo").output  # stdout and stderr
    warned = [line for line in everything.splitlines() if re.search(r"(?i)warn|deprecat", line)]
    assert warned == [], "no warning a user cannot act on"


@pytest.mark.soak
def test_cold_runs_in_separate_clones_are_bit_identical(clones):
    first = clones.runs[0]
    assert {r.clone for r in clones.runs} == {"a", "b"}
    for i, run in enumerate(clones.runs[1:], 2):
        assert run.metrics == first.metrics, f"metrics of cold run {i} ({run.clone}) differ"
        assert run.predictions == first.predictions, f"predictions of cold run {i} differ"


def test_results_round_trip_through_dvc_and_the_cache_keeps_their_bytes(tracked, tmp_path):
    a = tracked
    subprocess.run(["git", "clone", "-q", str(a.path), str(tmp_path / "c")], check=True)
    c = Project(tmp_path / "c", a.env)
    assert not (c.path / "results").exists() and not (c.path / ".snakemake").exists()
    c.run("dvc", "pull")
    for folder in ("data", "results"):
        assert tree_digest(c.path / folder) == tree_digest(a.path / folder), folder

    noop = c.snakemake("-j", "3", "-n")
    output = noop.stdout + noop.stderr
    assert "Nothing to be done" in output and parse_jobs(output) == set(), output

    # A real change still reruns exactly the affected jobs.
    rf_yaml = c.path / "configs/model/rf.yaml"
    original = edit_file(rf_yaml, "n_estimators: 100", "n_estimators: 50")
    assert c.planned_jobs() == {("train", "rf"), ("evaluate", "rf")} | FINAL
    rf_yaml.write_text(original)
    data = c.path / "data/raw/heart.csv"
    raw = data.read_bytes()
    data.write_bytes(raw.replace(b"\n52,1,0,125,212", b"\n53,1,0,125,212", 1))
    assert data.read_bytes() != raw
    assert c.planned_jobs() == EVERYTHING
    data.write_bytes(raw)
    assert c.planned_jobs() == set()

    # A tool that rewrites a tracked result in place cannot corrupt DVC's cache.
    assert a.run("dvc", "config", "cache.type").stdout.strip() == "copy"
    metrics = a.path / "results/metrics/rf.json"
    original = metrics.read_bytes()
    md5 = hashlib.md5(original).hexdigest()
    cached = a.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert cached.read_bytes() == original
    with open(metrics, "r+b") as fh:  # rewrite in place, as a tool might
        fh.write(b'{"accuracy": 0.0}\n')
        fh.truncate()
    assert cached.read_bytes() == original
    a.run("dvc", "checkout", "--force", "results")
    assert metrics.read_bytes() == original


@pytest.fixture
def s3(tmp_path):
    """moto's S3 server on a free loopback port with an empty bucket: (url, bucket, env)."""
    import boto3

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "moto.log", "w"),  # closed when the test process ends
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **_keys(env))
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket="tabflow-team")
            break
        except Exception:
            assert server.poll() is None and time.monotonic() < deadline, "moto did not start"
            time.sleep(0.3)
    yield url, "tabflow-team", env, client
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


def _keys(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }


def _use_s3_remote(project: Project, url: str, bucket: str) -> None:
    """What README "Scaling out" tells a team to run once (then commit .dvc/config)."""
    project.run("dvc", "remote", "add", "-f", "team", f"s3://{bucket}/tabflow")
    project.run("dvc", "remote", "modify", "team", "endpointurl", url)


def test_data_and_results_round_trip_through_an_s3_remote(tracked, s3, tmp_path):
    """`dvc push` to an S3-compatible endpoint (moto), `dvc pull` into a fresh clone."""
    a = tracked
    url, bucket, env, client = s3
    _use_s3_remote(a, url, bucket)
    a.run("dvc", "push", "-r", "team", env=env)
    stored = client.list_objects_v2(Bucket=bucket, Prefix="tabflow/")["KeyCount"]
    assert stored >= 2 + len(tree_digest(a.path / "results")), "data + every result file"

    subprocess.run(["git", "clone", "-q", str(a.path), str(tmp_path / "d")], check=True)
    d = Project(tmp_path / "d", a.env)
    _use_s3_remote(d, url, bucket)
    d.run("dvc", "pull", "-r", "team", env=env)
    for folder in ("data", "results"):
        assert tree_digest(d.path / folder) == tree_digest(a.path / folder), folder


def test_reproduce_an_mlflow_run(a):
    run_id = json.loads((a.path / "results/mlflow/lr.json").read_text())["run_id"]
    ok = a.run("tabflow", "reproduce", run_id, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "metrics match exactly" in ok.stdout

    data = a.path / "data/raw/heart.csv"
    raw = data.read_bytes()
    data.write_bytes(b"".join(raw.splitlines(keepends=True)[:700]))
    try:
        bad = a.run("tabflow", "reproduce", run_id, check=False)
    finally:
        data.write_bytes(raw)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "METRICS DIFFER" in bad.stdout
    assert "differs: data: data/raw/heart.csv: run md5 4ee20893" in bad.stdout

    missing = a.run("tabflow", "reproduce", "0" * 32, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith(f"error: run '{'0' * 32}' not found")

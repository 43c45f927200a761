"""End to end: the real snakemake, dvc and MLflow on the real demo data, in a copy of the repo.

The tests in this module share one project copy and run in file order: a cold run,
then checks of its outputs, then reruns that change the state step by step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from .e2e import MODELS, Project, edit_file, free_port, parse_jobs

pytestmark = pytest.mark.e2e

DEMO_MD5 = "4ee20893ad7e2ff8ff5ed8dd0e7f37bc"
EXPERIMENT = "heart_disease_classification"


@pytest.fixture(scope="module")
def project(clones) -> Project:
    """Clone b, right after its last cold run (see conftest.clones)."""
    assert clones.runs[-1].clone == "b" and clones.runs[-1].returncode == 0
    return clones.b


def mlflow_runs(project: Project):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=project.tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return client, runs


def test_dvc_pull_restores_the_demo_data_with_a_safe_cache(project, clones, mlflow_server):
    assert not clones.data_in_git, "data/ must come from DVC, not from git"
    data = project.path / "data" / "raw" / "heart.csv"
    assert subprocess.run(["md5sum", data], capture_output=True, text=True).stdout.split()[0] == (
        DEMO_MD5
    )
    assert project.run("dvc", "config", "cache.type").stdout.strip() == "copy"
    # Only the demo data's objects live in git; anything pushed later is ignored.
    dvc_md5 = yaml.safe_load((project.path / "data.dvc").read_text())["outs"][0]["md5"]
    tracked = set(project.run("git", "ls-files", "dvc-storage").stdout.split())
    assert tracked == {
        f"dvc-storage/files/md5/{dvc_md5[:2]}/{dvc_md5[2:]}",
        f"dvc-storage/files/md5/{DEMO_MD5[:2]}/{DEMO_MD5[2:]}",
    }
    assert project.run("git", "check-ignore", "dvc-storage/files/md5/00/later-push", check=False)


def test_every_output_is_under_results(project):
    for model in MODELS:
        for rel in (
            f"results/models/{model}.joblib",
            f"results/metrics/{model}.json",
            f"results/plots/{model}/roc_curve.png",
            f"results/plots/{model}/confusion_matrix.png",
            f"results/mlflow/{model}.json",
        ):
            path = project.path / rel
            assert path.is_file() and path.stat().st_size > 0, rel
        png = (project.path / f"results/plots/{model}/roc_curve.png").read_bytes()
        assert png.startswith(b"\x89PNG")
    assert (project.path / "results/data/train.parquet").is_file()
    assert not (project.path / "outputs").exists(), "Hydra must not write outputs/"
    untracked = project.run("git", "status", "--porcelain").stdout.split("\n")
    assert not [line for line in untracked if line.strip()], "pipeline wrote outside ignored paths"


def test_split_is_honest_and_metrics_are_in_the_expected_range(project):
    summary = project.read_json("results/data/summary.json")
    assert summary["n_rows_raw"] == 1025
    assert summary["n_duplicates_dropped"] == 723
    assert summary["n_train"] + summary["n_test"] == 302
    train = pd.read_parquet(project.path / "results/data/train.parquet")
    test = pd.read_parquet(project.path / "results/data/test.parquet")
    assert train.merge(test, how="inner").empty, "a duplicate crosses the split"
    log = (project.path / "results/logs/preprocess/preprocess.log").read_text()
    assert "723 exact duplicates dropped" in log
    for model in MODELS:
        metrics = project.read_json(f"results/metrics/{model}.json")
        assert set(metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
        # A leaky split scores ~0.99; deduplicated, a 61-row test set lands near 0.8 / 0.9.
        assert 0.70 <= metrics["accuracy"] <= 0.90, (model, metrics)
        assert 0.83 <= metrics["roc_auc"] <= 0.95, (model, metrics)


def test_one_mlflow_run_per_model_with_config_tags_metrics_plots(project):
    client, runs = mlflow_runs(project)
    assert sorted(r.data.tags["model"] for r in runs) == MODELS
    commit = project.run("git", "rev-parse", "HEAD").stdout.strip()
    dvc_md5 = yaml.safe_load((project.path / "data.dvc").read_text())["outs"][0]["md5"]
    for run in runs:
        model = run.data.tags["model"]
        assert run.info.status == "FINISHED"
        assert run.data.tags["git_commit"] == commit
        assert run.data.tags["data_md5"] == dvc_md5
        assert run.data.tags["data_file_md5"] == DEMO_MD5
        params = run.data.params
        assert params["training.test_size"] == "0.2"
        assert params["training.random_state"] == "42"
        assert params["data.target_col"] == "target"
        assert params["mlflow.experiment_name"] == EXPERIMENT
        assert params["model.params.random_state"] == "42"
        assert params["model._target_"].startswith("sklearn.")
        metrics = project.read_json(f"results/metrics/{model}.json")
        for key, value in metrics.items():
            assert run.data.metrics[key] == pytest.approx(value, abs=1e-12)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert artifacts == {"plots/roc_curve.png", "plots/confusion_matrix.png"}
        assert project.read_json(f"results/mlflow/{model}.json")["run_id"] == run.info.run_id


def test_logged_model_predicts_exactly_like_the_file(project, monkeypatch):
    import mlflow
    import mlflow.sklearn

    monkeypatch.chdir(project.path)
    mlflow.set_tracking_uri(project.tracking_uri())
    test = pd.read_parquet(project.path / "results/data/test.parquet").drop(columns=["target"])
    for model in MODELS:
        uri = project.read_json(f"results/mlflow/{model}.json")["model_uri"]
        logged = mlflow.sklearn.load_model(uri)
        on_disk = joblib.load(project.path / f"results/models/{model}.joblib")
        np.testing.assert_array_equal(logged.predict_proba(test), on_disk.predict_proba(test))


@pytest.fixture(scope="module")
def mlflow_server(project):
    """`mlflow server` on a free loopback port against the project's DB.

    Requested by the first test of the module, so it starts (about 20 s here) while
    the other checks run; the REST test waits until it answers /health.
    """
    port = free_port()
    server = subprocess.Popen(
        [
            "mlflow",
            "server",
            "--backend-store-uri",
            project.tracking_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=project.path,
        env=project.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    yield server, f"http://127.0.0.1:{port}"
    os.killpg(server.pid, signal.SIGKILL)  # a graceful stop takes ~6 s; nothing to keep
    server.wait(timeout=30)


def test_mlflow_server_serves_the_runs_over_rest(project, mlflow_server):
    server, base = mlflow_server
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        assert server.poll() is None, server.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "mlflow server did not come up in 120 s"
        time.sleep(0.5)
    url = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        experiment_id = json.load(resp)["experiment"]["experiment_id"]
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        runs = json.load(resp)["runs"]
    by_model = {{t["key"]: t["value"] for t in r["data"]["tags"]}["model"]: r for r in runs}
    assert sorted(by_model) == MODELS
    for model, run in by_model.items():
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        expected = project.read_json(f"results/metrics/{model}.json")
        assert metrics["roc_auc"] == pytest.approx(expected["roc_auc"])
        assert metrics["accuracy"] == pytest.approx(expected["accuracy"])


def test_report_contains_every_model(project):
    project.snakemake("--report", "report.html")
    html = (project.path / "report.html").read_text()
    for model in MODELS:
        assert model in html
    assert html.count("roc_curve.png") >= 3 and html.count("confusion_matrix.png") >= 3


def test_noop_rerun_has_nothing_to_do(project):
    res = project.snakemake("-j", "3", "-n")
    assert "Nothing to be done" in res.stdout + res.stderr
    assert parse_jobs(res.stdout + res.stderr) == set()


def test_editing_data_or_training_yaml_reruns_everything(project):
    everything = {("preprocess", None)} | {
        (rule, m) for rule in ("train", "evaluate") for m in MODELS
    }
    for rel, old, new in [
        ("configs/data.yaml", "positive_name: no disease", "positive_name: healthy"),
        ("configs/training.yaml", "test_size: 0.2", "test_size: 0.25"),
    ]:
        original = edit_file(project.path / rel, old, new)
        try:
            assert project.planned_jobs() == everything, rel
        finally:
            (project.path / rel).write_text(original)
    assert project.planned_jobs() == set()


def test_editing_one_model_yaml_reruns_only_that_model(project):
    before = {m: (project.path / f"results/metrics/{m}.json").stat().st_mtime_ns for m in MODELS}
    edit_file(project.path / "configs/model/rf.yaml", "n_estimators: 300", "n_estimators: 200")
    assert project.planned_jobs() == {("train", "rf"), ("evaluate", "rf")}
    project.snakemake("-j", "3")
    after = {m: (project.path / f"results/metrics/{m}.json").stat().st_mtime_ns for m in MODELS}
    assert after["rf"] != before["rf"]
    assert after["lr"] == before["lr"] and after["gb"] == before["gb"]
    _, runs = mlflow_runs(project)
    assert len(runs) == 4
    assert runs[-1].data.tags["model"] == "rf"
    assert runs[-1].data.params["model.params.n_estimators"] == "200"
    assert project.planned_jobs() == set()


def test_subset_of_models_with_overrides_reaches_every_job(project):
    gb_before = (project.path / "results/metrics/gb.json").stat().st_mtime_ns
    overrides = "overrides=training.test_size=0.3 training.random_state=7"
    args = ["--config", "models=[lr,rf]", overrides]
    planned = project.planned_jobs(*args)
    assert planned == {("preprocess", None)} | {
        (rule, m) for rule in ("train", "evaluate") for m in ("lr", "rf")
    }
    project.snakemake("-j", "3", *args)
    assert project.read_json("results/data/summary.json")["n_test"] == 91
    assert (project.path / "results/metrics/gb.json").stat().st_mtime_ns == gb_before
    _, runs = mlflow_runs(project)
    newest = {r.data.tags["model"]: r for r in runs[-2:]}
    assert sorted(newest) == ["lr", "rf"]
    for run in newest.values():
        assert run.data.params["training.test_size"] == "0.3"
        assert run.data.params["training.random_state"] == "7"
        assert run.data.params["model.params.random_state"] == "7"
        assert run.data.metrics["n_test"] == 91
    assert project.planned_jobs(*args) == set()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["overrides=training.test_size=abc"], "training.test_size: Value 'abc'"),
        (["overrides=training.test_size=1.5"], "training.test_size=1.5 is invalid"),
        (["overrides=training.foo=1"], "unknown config key 'training.foo'"),
        (["models=[lr,xyz]"], "unknown model 'xyz'"),
    ],
)
def test_bad_config_stops_before_any_job(project, args, expected):
    before = project.results_mtimes()
    res = project.snakemake("-j", "3", "--config", *args, check=False)
    output = (res.stdout + res.stderr).strip()
    assert res.returncode != 0
    assert output.splitlines() == [output] and expected in output, output
    assert project.results_mtimes() == before


def test_scripts_run_by_hand_with_argv_overrides(project):
    model_file = project.path / "results/models/lr.joblib"
    before = model_file.stat().st_mtime_ns
    project.run("python", "workflow/scripts/train.py", "model=lr", "model.params.C=0.5")
    assert model_file.stat().st_mtime_ns != before
    assert joblib.load(model_file).named_steps["estimator"].C == 0.5
    bad = project.run(
        "python", "workflow/scripts/train.py", "model=lr", "training.test_size=2", check=False
    )
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "training.test_size=2.0 is invalid" in lines[0], bad.stderr

"""End to end: the real snakemake, dvc and MLflow on the real demo data, in a copy of the repo.

Tests that only read use clone b after its last cold run (see conftest.clone_b); a test
that changes anything works on its own copy of that state (`forked`), so every test runs
alone (`pytest -k NAME`) and in any order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tabflow.models import load_model

from .conftest import BIN
from .e2e import (
    DEMO_MD5,
    EVERYTHING,
    FINAL,
    MODELS,
    Project,
    Receiver,
    edit_file,
    free_port,
    parse_jobs,
    registry_versions,
    start_tracking_server,
    stop,
    stored_files,
    tree_digest,
    wait_until_up,
)
from .e2e import mlflow_rows as mlflow_rows_of

pytestmark = pytest.mark.e2e

EXPERIMENT = "heart_disease_classification"


@pytest.fixture(scope="module")
def project(clone_b) -> Project:
    """Clone b, right after its last cold run (see conftest.clone_b)."""
    last = clone_b.runs[-1]
    assert last.returncode == 0 and last.local_store == ["mlflow.db", "mlruns"]
    return clone_b.project


FIGURES = {
    "roc_curve.png",
    "precision_recall.png",
    "confusion_matrix.png",
    "calibration.png",
    "permutation_importance.png",
}


def all_runs(project: Project):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=project.tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return client, runs


def mlflow_runs(project: Project):
    """The model runs, oldest first (without the workflow parent runs)."""
    client, runs = all_runs(project)
    return client, [r for r in runs if r.data.tags.get("tabflow.role") != "workflow"]


def workflow_runs(project: Project):
    """The parent run of every workflow invocation, oldest first."""
    _, runs = all_runs(project)
    return [r for r in runs if r.data.tags.get("tabflow.role") == "workflow"]


# The two tests that use the module's `mlflow server` run on one xdist worker: one server.
REST = pytest.mark.xdist_group("rest-server")


@REST
def test_dvc_pull_restores_the_demo_data_with_a_safe_cache(project, clone_b, mlflow_server):
    assert not clone_b.data_in_git, "data/ must come from DVC, not from git"
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
            f"results/models/{model}.skops",
            f"results/metrics/{model}.json",
            f"results/cv/{model}.json",
            f"results/importance/{model}.csv",
            f"results/mlflow/{model}.json",
            *(f"results/plots/{model}/{fig}" for fig in FIGURES),
        ):
            path = project.path / rel
            assert path.is_file() and path.stat().st_size > 0, rel
        for fig in FIGURES:
            png = (project.path / f"results/plots/{model}/{fig}").read_bytes()
            assert png.startswith(b"\x89PNG"), fig
    for rel in ("results/data/train.parquet", "results/leaderboard.csv", "results/leaderboard.md"):
        assert (project.path / rel).is_file(), rel
    assert not (project.path / "results/.mlflow-parent.json").exists(), "parent run left open"
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
        cv = project.read_json(f"results/cv/{model}.json")
        assert run.data.metrics["cv_roc_auc_mean"] == pytest.approx(cv["roc_auc"]["mean"])
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert artifacts == {f"plots/{fig}" for fig in FIGURES}
        assert project.read_json(f"results/mlflow/{model}.json")["run_id"] == run.info.run_id
        assert "notify.urls" not in params
        # The job logged through the main process's loopback server, not the sqlite file.
        log = (project.path / f"results/logs/evaluate/{model}.log").read_text()
        assert "logging through the workflow's store server at http://127.0.0.1:" in log


def test_leaderboard_ranks_models_with_cross_validation(project):
    import csv

    with open(project.path / "results/leaderboard.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["model"] for r in rows) == MODELS
    assert [r["rank"] for r in rows] == ["1", "2", "3"]
    cv_auc = [float(r["cv_roc_auc_mean"]) for r in rows]
    assert cv_auc == sorted(cv_auc, reverse=True), "sorted by CV ROC AUC, not the test split"
    for row in rows:
        metrics = project.read_json(f"results/metrics/{row['model']}.json")
        cv = project.read_json(f"results/cv/{row['model']}.json")
        assert cv["folds"] == 5 and row["cv_folds"] == "5"
        for m in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert float(row[m]) == pytest.approx(metrics[m], abs=1e-6)
            assert float(row[f"cv_{m}_mean"]) == pytest.approx(cv[m]["mean"], abs=1e-6)
            assert 0 < float(row[f"cv_{m}_std"]) < 0.2
        # CV on the deduplicated training part: no leak, so nowhere near 0.99
        assert 0.80 <= cv["roc_auc"]["mean"] <= 0.96, (row["model"], cv)
    md = (project.path / "results/leaderboard.md").read_text()
    assert f"Best model: **{rows[0]['model']}**" in md
    assert len([line for line in md.splitlines() if line.startswith("| ")]) == 4
    shown = project.run("tabflow", "leaderboard").stdout
    assert f"best by 5-fold CV roc_auc: {rows[0]['model']}" in shown


def test_parent_run_holds_the_leaderboard_and_groups_the_model_runs(project, monkeypatch):
    import csv

    import mlflow

    monkeypatch.chdir(project.path)
    # Clone b's cold run: an attempt whose `train rf` was killed, then the one that finished.
    parents = workflow_runs(project)
    assert [p.info.status for p in parents] in (["FINISHED"], ["FAILED", "FINISHED"])
    parent = parents[-1]
    mlflow.set_tracking_uri(project.tracking_uri())
    children = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(children["tags.model"]) == MODELS, "one row per model"
    for model in MODELS:
        logged = project.read_json(f"results/mlflow/{model}.json")
        assert logged["parent_run_id"] == parent.info.run_id
    with open(project.path / "results/leaderboard.csv") as fh:
        best = next(csv.DictReader(fh))
    assert parent.data.tags["best_model"] == best["model"]
    assert parent.data.tags["primary_metric"] == "roc_auc"
    for key in ("roc_auc", "accuracy", "cv_roc_auc_mean"):
        assert parent.data.metrics[f"best_{key}"] == pytest.approx(float(best[key]), abs=1e-6)
    client, _ = all_runs(project)
    listed = {a.path for a in client.list_artifacts(parent.info.run_id, "leaderboard")}
    assert listed == {"leaderboard/leaderboard.csv", "leaderboard/leaderboard.md"}
    got = client.download_artifacts(parent.info.run_id, "leaderboard/leaderboard.csv", "/tmp")
    assert open(got).read() == (project.path / "results/leaderboard.csv").read_text()


def test_logged_model_predicts_exactly_like_the_file_with_pickle_off(project, monkeypatch):
    """Models are skops files (never pickles); MLflow loads them as pyfunc models from code,
    with MLflow's pickle deserialization turned off."""
    import mlflow
    import mlflow.pyfunc

    monkeypatch.chdir(project.path)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    mlflow.set_tracking_uri(project.tracking_uri())
    test = pd.read_parquet(project.path / "results/data/test.parquet").drop(columns=["target"])
    for model in MODELS:
        uri = project.read_json(f"results/mlflow/{model}.json")["model_uri"]
        logged = mlflow.pyfunc.load_model(uri).predict(test)
        on_disk = load_model(project.path / f"results/models/{model}.skops")
        assert list(logged.columns) == ["probability", "label", "class", "unseen"]
        np.testing.assert_array_equal(logged["probability"], on_disk.predict_proba(test)[:, 1])
        np.testing.assert_array_equal(logged["label"], on_disk.predict(test))


@pytest.fixture(scope="module")
def mlflow_server(project):
    """`mlflow server` on a free loopback port against the project's DB.

    Requested by the first test of the module, so it starts (about 20 s here) while
    the other checks run; the REST test waits until it answers /health.
    """
    server, url = start_tracking_server(
        project.path.parent / "rest-server", project.env, backend_uri=project.tracking_uri()
    )
    yield server, url
    stop(server)


@REST
def test_mlflow_server_serves_the_runs_over_rest(project, mlflow_server):
    server, base = mlflow_server
    wait_until_up(server, base)
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
    tags = [{t["key"]: t["value"] for t in r["data"]["tags"]} for r in runs]
    by_model = {t["model"]: r for t, r in zip(tags, runs, strict=True) if "model" in t}
    assert sorted(by_model) == MODELS
    for model, run in by_model.items():
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        expected = project.read_json(f"results/metrics/{model}.json")
        assert metrics["roc_auc"] == pytest.approx(expected["roc_auc"])
        assert metrics["accuracy"] == pytest.approx(expected["accuracy"])


def report_parts(html: str) -> tuple[dict, dict]:
    """The `results` and `categories` objects a Snakemake report embeds as JSON."""

    def embedded(name: str) -> dict:
        anchor = html.index(f'<script id="{name}">')
        start = html.index(f"var {name} = ", anchor) + len(f"var {name} = ")
        return json.JSONDecoder().raw_decode(html[start:])[0]

    return embedded("results"), embedded("categories")


def test_report_shows_leaderboard_and_every_figure_of_every_model(forked):
    project = forked
    project.snakemake("--report", "report.html")
    html = (project.path / "report.html").read_text()
    results, categories = report_parts(html)
    assert categories["Leaderboard"] == {"Other": ["results/leaderboard.html"]}
    for model in MODELS:
        shown = {Path(f).name for files in categories[model].values() for f in files}
        assert shown == FIGURES, model
    for path, entry in results.items():
        # Embedded as data URIs: nothing to fetch, the file opens anywhere.
        assert entry["data_uri"].startswith("data:"), path
        assert "seed\n42" in entry["caption"] or "seed 42" in entry["caption"], path
        assert "0.2" in entry["caption"], path
        if path.endswith(".png"):
            assert entry["labels"]["model"] in MODELS
            assert "<tt" in entry["caption"]  # the model's hyperparameters, quoted
    assert "n_estimators=100" in results["results/plots/rf/roc_curve.png"]["caption"]
    assert "C=1.0" in results["results/plots/lr/roc_curve.png"]["caption"]
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?://", html)


def test_noop_rerun_has_nothing_to_do(project):
    code, output = project.snakemake_here("-j", "3", "-n")
    assert code == 0 and "Nothing to be done" in output
    assert parse_jobs(output) == set()


EVALUATE_ON = {("evaluate", m) for m in MODELS} | FINAL


def test_a_config_key_reruns_the_rules_that_declare_it(forked):
    for rel, old, new, expected in [
        ("configs/data.yaml", "positive_name: no disease", "positive_name: healthy", EVERYTHING),
        ("configs/training.yaml", "test_size: 0.2", "test_size: 0.25", EVERYTHING),
        ("configs/config.yaml", "calibration_bins: 5", "calibration_bins: 4", EVALUATE_ON),
        ("configs/config.yaml", "experiment_name: null", "experiment_name: mine", EVALUATE_ON),
        ("configs/config.yaml", "urls: []", "urls: ['json://127.0.0.1:9/x']", set()),
    ]:
        original = edit_file(forked.path / rel, old, new)
        try:
            assert forked.planned_jobs() == expected, (rel, new)
        finally:
            (forked.path / rel).write_text(original)


# (files edited together, the jobs that must rerun): modules by what imports them (the
# evaluation and plotting code, the tables, the metrics, the reading of rows that every
# stage's data goes through), then files no job imports. Edits go to the copy's own
# package, which PYTHONPATH makes the one imported.
CODE_EDITS = [
    (("src/tabflow/plots.py", "src/tabflow/tracking/model_run.py"), EVALUATE_ON),
    (("src/tabflow/leaderboard.py",), FINAL),
    (("src/tabflow/metrics.py",), EVERYTHING - {("preprocess", None)}),
    (("src/tabflow_rows/__init__.py",), EVERYTHING),
    (
        (
            "src/tabflow/notify.py",
            "src/tabflow/hooks.py",
            "src/tabflow/config.py",
            "README.md",
            "tests/test_data.py",
            "benchmarks/bench.py",
        ),
        set(),
    ),
]


def test_a_code_change_reruns_exactly_the_jobs_whose_code_imports_it(forked):
    env = {"PYTHONPATH": str(forked.path / "src")}
    assert forked.planned_jobs(env=env) == set(), "the same code under another path"
    for edited, expected in CODE_EDITS:
        originals = {rel: (forked.path / rel).read_bytes() for rel in edited}
        for rel, text in originals.items():
            (forked.path / rel).write_bytes(text + b"\n# an edit\n")
        try:
            res = forked.snakemake("-j", "3", "-n", env=env)
        finally:
            for rel, text in originals.items():
                (forked.path / rel).write_bytes(text)
        output = res.stdout + res.stderr
        assert parse_jobs(output) == expected, edited
        if expected:  # the reason names the module: "Params have changed ... 'tabflow.plots ..."
            module = edited[0].removeprefix("src/").removesuffix(".py").replace("/", ".")
            module = module.removesuffix(".__init__")
            assert f"now: '{module} " in output or f",'{module} " in output, output[-2000:]
    # Content, not mtime: every edit undone, every file touched, one deleted and checked out.
    for path in (forked.path / "src").rglob("*.py"):
        os.utime(path)
    (forked.path / "src/tabflow/plots.py").unlink()
    forked.run("git", "checkout", "--", "src/tabflow/plots.py")
    assert forked.planned_jobs(env=env) == set()


def test_an_installed_package_is_fingerprinted_where_the_jobs_import_it(forked, tmp_path):
    """Non-editable: `pip install --target`, first on PYTHONPATH, as site-packages would be."""
    site = tmp_path / "site"
    forked.run("python", "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), ".")
    env = {"PYTHONPATH": str(site)}
    assert forked.planned_jobs(env=env) == set()
    edit_file(forked.path / "src/tabflow/plots.py", "ROC curve: ", "ROC: ")
    assert forked.planned_jobs(env=env) == set(), "the checkout is not what the jobs import"
    edit_file(site / "tabflow/plots.py", "ROC curve: ", "ROC: ")
    roc = forked.path / "results/plots/rf/roc_curve.png"
    before = roc.read_bytes()
    res = forked.snakemake("-j", "3", "results/metrics/rf.json", env=env)  # rf's alone
    assert parse_jobs(res.stdout + res.stderr) == {("evaluate", "rf")}
    assert roc.read_bytes() != before, "the job ran the installed copy"
    assert forked.planned_jobs(env=env) == EVALUATE_ON - {("evaluate", "rf")}


def test_make_clean_keeps_the_experiment_history(forked):
    stamp = forked.path.parent / "installed.stamp"
    stamp.touch()
    make = ("make", f"VIRTUAL_ENV={BIN.parent}", f"STAMP={stamp}")
    forked.run(*make, "clean")
    assert not (forked.path / "results").exists() and not (forked.path / ".snakemake").exists()
    assert (forked.path / "mlflow.db").is_file() and (forked.path / "mlruns").is_dir()
    forked.run(*make, "clean-mlflow-history")
    assert not (forked.path / "mlflow.db").exists() and not (forked.path / "mlruns").exists()


@pytest.fixture(scope="module")
def receiver():
    hook = Receiver()
    yield hook
    hook.close()


SECRETS = ("SECRET-IN-CONFIG-7f3a", "SECRET-IN-ENV-91bc")


@pytest.mark.long
def test_editing_one_model_yaml_reruns_only_it_and_the_old_results_are_a_checkout_away(
    tracked, receiver, tmp_path
):
    """lr made worse: only it reruns, and the registry adds it as challenger. Also: a second
    `snakemake -j 3` started at the same time is refused, nothing damaged; a killed
    writer's temp file is removed; the notification URLs (secrets) end up in no file. Then
    back in time: the results tracked and committed, `git checkout` of the first commit
    and `dvc pull` bring back its results, current for its configs."""
    project = tracked
    first_commit = project.run("git", "rev-parse", "HEAD").stdout.strip()
    first_results = tree_digest(project.path / "results")
    before = {m: (project.path / f"results/metrics/{m}.json").stat().st_mtime_ns for m in MODELS}
    # What a writer killed halfway leaves: removed when a run starts, never tracked by DVC.
    stale = project.path / "results/metrics/.lr.json.k1ll3d.tmp"
    stale.write_text("half")
    assert project.run("dvc", "check-ignore", str(stale.relative_to(project.path))).stdout
    edit_file(project.path / "configs/model/lr.yaml", "C: 1.0", "C: 0.01")
    # Notification targets: one in the config, one in $APPRISE_URLS, one that is down.
    edit_file(
        project.path / "configs/config.yaml",
        "urls: []",
        f"urls: ['{receiver.url('config/' + SECRETS[0])}']",
    )
    dead = f"json://127.0.0.1:{free_port()}/down"
    env = {**project.env, "APPRISE_URLS": f"{receiver.url('env/' + SECRETS[1])} {dead}"}
    # Two at once in the same folder: Snakemake's lock lets one run, refuses the other.
    logs = [tmp_path / f"run{i}.log" for i in range(2)]
    pair = [
        subprocess.Popen(
            ["snakemake", "-j", "3"],
            cwd=project.path,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    codes = [proc.wait(timeout=600) for proc in pair]
    outputs = [log.read_text() for log in logs]
    assert sorted(codes) == [0, 1], outputs
    winner = outputs[codes.index(0)]  # stdout and stderr together
    res = subprocess.CompletedProcess([], 0, winner, winner)
    refused = outputs[codes.index(1)]
    assert "LockException" in refused and "Directory cannot be locked" in refused
    assert "tabflow:" not in refused, "the refused run has no hooks: no message, no MLflow run"
    ran = parse_jobs(res.stdout + res.stderr)
    assert ran == {("train", "lr"), ("evaluate", "lr")} | FINAL
    assert not stale.exists()
    after = {m: (project.path / f"results/metrics/{m}.json").stat().st_mtime_ns for m in MODELS}
    assert after["lr"] != before["lr"]
    assert after["rf"] == before["rf"] and after["gb"] == before["gb"]
    _, runs = mlflow_runs(project)
    assert len(runs) == 4
    assert runs[-1].data.tags["model"] == "lr"
    assert runs[-1].data.params["model.params.C"] == "0.01"
    assert project.planned_jobs() == set()

    # The best model of this run is a new version, challenger: not better than the champion.
    decision = project.read_json("results/registry.json")
    assert decision["new"]["version"] == 2 and decision["alias"] == "challenger"
    assert not decision["promoted"] and not decision["champion"]["cv_recomputed"]
    assert decision["new"]["cv"] < decision["champion"]["cv"]
    assert decision["reason"].endswith(": not better")
    assert decision["champion"]["test"] is not None and decision["new"]["test"] is not None
    assert decision["text"] in res.stdout, "the decision is in the summary"
    aliases = {v: t["aliases"] for v, t in registry_versions(project).items()}
    assert aliases == {1: "champion", 2: "challenger"}

    # The summary: printed, and delivered to both live targets; the dead one only warned.
    board = (project.path / "results/leaderboard.csv").read_text().splitlines()
    best = board[1].split(",")[1]
    parent = workflow_runs(project)[-1].info.run_id
    assert f"tabflow: 3 models trained, best {best}" in res.stdout
    assert "notification to json://127.0.0.1/... could not be delivered" in res.stderr
    for where in ("config/" + SECRETS[0], "env/" + SECRETS[1]):
        (message,) = receiver.messages(where)
        assert message["type"] == "success"
        assert message["title"] == f"tabflow: 3 models trained, best {best}"
        body = message["message"]
        assert f"Best model by 5-fold CV roc_auc: {best} (CV roc_auc 0." in body
        assert all(re.search(rf"^\s+{m}\s+0\.\d{{3}}±0\.\d{{3}}\s", body, re.M) for m in MODELS)
        assert f"workflow run {parent}" in body and "snakemake --report report.html" in body

    # Not in MLflow (DB, artifacts), job logs, results, Snakemake's records or the report.
    project.snakemake("--report", "report.html")
    places = stored_files(project)
    assert len(places) > 50
    for path in places:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} leaked into {path}"

    project.run("tabflow", "track")
    project.run("git", "commit", "-q", "-am", "lr with C=0.01")
    assert (
        tree_digest(project.path / "results")["metrics/lr.json"]
        != (first_results["metrics/lr.json"])
    )
    project.run("git", "checkout", "-q", first_commit)
    project.run("dvc", "pull")
    assert tree_digest(project.path / "results") == first_results
    assert project.planned_jobs() == set(), "the first commit's results are current for them"


def test_scripts_run_by_hand_with_argv_overrides(forked):
    project = forked
    model_file = project.path / "results/models/lr.skops"
    before = model_file.stat().st_mtime_ns
    project.run("python", "workflow/scripts/stage.py", "train", "model=lr", "model.params.C=0.5")
    assert model_file.stat().st_mtime_ns != before
    assert load_model(model_file).named_steps["estimator"].C == 0.5
    bad = project.run(
        "python",
        "workflow/scripts/stage.py",
        "train",
        "model=lr",
        "training.test_size=2",
        check=False,
    )
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "training.test_size=2.0 is invalid" in lines[0], bad.stderr


@pytest.mark.long
def test_seeds_multiply_the_models_in_one_job_per_model(forked):
    """`--config seeds=[1,2]`: one job per model trains and evaluates every seed; each seed
    has its own files, MLflow run and leaderboard row."""
    project = forked
    args = ("--config", "models=[rf]", "seeds=[1,2]")
    names = ["rf-seed1", "rf-seed2"]
    res = project.snakemake("-j", "3", *args)
    assert parse_jobs(res.stdout + res.stderr) == {("seed_batch", "rf")} | FINAL, (
        "the split is shared: no preprocess"
    )
    for name in names:
        assert project.path.joinpath(f"results/plots/{name}/roc_curve.png").is_file()
    assert project.planned_jobs(*args) == set()
    scores = [
        pd.read_csv(project.path / f"results/predictions/{name}.csv")["y_score"] for name in names
    ]
    assert not scores[0].equals(scores[1]), "a different seed grows a different forest"
    board = pd.read_csv(project.path / "results/leaderboard.csv")
    assert sorted(board["model"]) == names
    _, runs = mlflow_runs(project)
    newest = {r.data.tags["model"]: r for r in runs if r.data.tags["model"] in names}
    for seed, name in enumerate(names, 1):
        assert newest[name].data.params["model.params.random_state"] == str(seed)
        assert newest[name].info.status == "FINISHED"


def test_bad_config_leaves_the_results_of_the_last_run_alone(forked):
    """Every bad input has its own case in test_bad_input_e2e; here: nothing is lost."""
    project = forked
    before = project.results_mtimes()
    res = project.snakemake("-j", "3", "--config", "overrides=training.test_size=1.5", check=False)
    assert res.returncode != 0
    assert "training.test_size=1.5 is invalid" in res.stderr
    assert project.results_mtimes() == before


def test_failed_job_notifies_the_rule_and_its_log_tail(forked, receiver):
    """A value only the data can refuse (one monotonic constraint for many features):
    `train rf` fails. Runs with `--logger rich`."""
    project = forked
    edit_file(project.path / "configs/model/rf.yaml", "n_estimators: 100", "monotonic_cst: [1]")
    edit_file(
        project.path / "configs/config.yaml",
        "urls: []",
        f"urls: ['{receiver.url('failure/' + SECRETS[0])}']",
    )
    parents_before = len(workflow_runs(project))
    res = project.snakemake("-j", "3", "--config", "models=[rf]", "--logger", "rich", check=False)
    assert "rule train" in res.stdout + res.stderr
    assert res.returncode != 0
    (message,) = receiver.messages("failure/" + SECRETS[0])
    assert message["type"] == "failure"
    assert message["title"] == "tabflow: workflow FAILED in rule train"
    body = message["message"]
    assert body.startswith("rule train (model=rf) failed\nlast lines of results/logs/train/rf.log:")
    assert "monotonic_cst has shape 1 but the input data X has" in body
    assert "workflow FAILED in rule train" in res.stderr
    # Its parent run is FAILED, or was never begun if the job failed while MLflow loaded.
    assert all(r.info.status == "FAILED" for r in workflow_runs(project)[parents_before:])
    assert not (project.path / "results/.mlflow-parent.json").exists()
    assert all(status != "RUNNING" for _, status in mlflow_rows_of(project))


def test_long_jobs_log_each_fold_and_each_feature(project):
    for model in MODELS:
        train = (project.path / f"results/logs/train/{model}.log").read_text()
        assert all(f"{model}: CV fold {i}/5: roc_auc 0." in train for i in range(1, 6)), train
        evaluate = (project.path / f"results/logs/evaluate/{model}.log").read_text()
        assert "permutation importance 13/13: " in evaluate


def test_a_model_listed_twice_runs_once(project):
    code, output = project.snakemake_here("-j", "3", "-n", "--config", "models=[lr,lr]")
    assert code == 0 and parse_jobs(output) == FINAL, "a leaderboard of lr alone"
    (inputs,) = re.findall(r"^\s+input: (results/metrics/.*)$", output, re.M)
    assert inputs.split(", ") == ["results/metrics/lr.json", "results/cv/lr.json"]

"""End to end: a multiclass table with text labels and a regression table (scikit-learn's
own wine and diabetes data, written to CSV here: no download) through the demo's commands
with two overrides: every default model, the task's metrics and figures, the registry,
and the four ways of scoring raw rows (tabflow predict, snakemake predict, mlflow.pyfunc,
mlflow models serve), which agree as floats."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import DEMO_CSV
from .e2e import Project, parse_jobs, registry_aliases, served_answer

pytestmark = pytest.mark.e2e

MODELS = ["gb", "lr", "rf"]
REGRESSION_FIGURES = [
    "predicted_actual",
    "residuals",
    "residual_distribution",
    "permutation_importance",
]
CULTIVARS = ["barolo", "grignolino", "barbera"]  # the wine data's three cultivars


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """wines.csv (the cultivar as text) and diabetes.csv (8 rows without a target, an ID
    column, '?' for missing, an inf, 20 copies of rows under new IDs)."""
    from sklearn.datasets import load_diabetes, load_wine

    folder = tmp_path_factory.mktemp("tables")
    wine = load_wine(as_frame=True).frame
    wine["cultivar"] = np.array(CULTIVARS)[wine.pop("target")]
    wine.to_csv(folder / "wines.csv", index=False)
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    diabetes = diabetes.rename(columns={"target": "progression"})
    diabetes.loc[diabetes.index[::56][:8], "progression"] = np.nan
    # What a user's own CSV holds: an ID, '?' for missing, an inf, 20 copies under new IDs.
    diabetes.insert(0, "patient", [f"P{i:04d}" for i in range(len(diabetes))])
    diabetes["bmi"] = diabetes["bmi"].astype(object)
    diabetes.loc[::17, "bmi"] = "?"
    diabetes.loc[5, "bp"] = np.inf
    copies = diabetes.iloc[1:21].assign(patient=[f"P9{i:03d}" for i in range(20)])
    diabetes = pd.concat([diabetes, copies], ignore_index=True)
    diabetes.to_csv(folder / "diabetes.csv", index=False)
    return {"wines": folder / "wines.csv", "diabetes": folder / "diabetes.csv"}


def _run(project: Project, overrides: str) -> subprocess.CompletedProcess:
    res = project.snakemake("-j", "3", "--config", f"overrides={overrides}")
    assert parse_jobs(res.stdout + res.stderr) >= {("train", m) for m in MODELS}
    return res


def _raw_rows(source: Path, path: Path, target: str) -> Path:
    """Rows as a user holds them: 30 of the table, without the target, an int where
    training saw floats, a missing value."""
    rows = pd.read_csv(source).sample(30, random_state=1).drop(columns=[target])
    first = rows.select_dtypes("number").columns[0]
    rows[first] = rows[first].astype(object)
    rows.loc[rows.index[0], first] = int(float(rows[first].iloc[0]))
    rows.loc[rows.index[1], first] = None
    rows.to_csv(path, index=False)
    return path


def _four_ways(
    project: Project, overrides: str, registered: str, rows: Path, tmp_path: Path, monkeypatch
) -> dict[str, pd.DataFrame]:
    """The answers to the same raw rows: tabflow predict, snakemake predict, mlflow.pyfunc
    (in this process) and mlflow models serve (JSON)."""
    import mlflow.pyfunc

    uri = f"models:/{registered}@champion"
    project.run("tabflow", "predict", uri, str(rows), str(tmp_path / "batch.csv"))
    batch = pd.read_csv(tmp_path / "batch.csv", keep_default_na=False)
    project.snakemake(
        "-j", "3", "predict", "--config", f"predict_input={rows}", f"overrides={overrides}"
    )
    (made,) = [
        p
        for p in (project.path / "results/predictions/new").glob("*.csv")
        if ".drift." not in p.name
    ]
    workflow = pd.read_csv(made, keep_default_na=False)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri())  # undone after the test
    # In this process too: another test of this worker may have set it (it wins over the
    # environment variable).
    mlflow.set_tracking_uri(project.tracking_uri())
    plain = pd.read_csv(rows)
    pyfunc = mlflow.pyfunc.load_model(uri).predict(plain)
    served = served_answer(project, uri, plain, tmp_path / "serve.log")
    return {"batch": batch, "snakemake predict": workflow, "pyfunc": pyfunc, "served": served}


def _same_numbers(ways: dict[str, pd.DataFrame], columns: list[str]) -> None:
    batch = ways["batch"]
    for way, answer in ways.items():
        for column in columns:
            difference = np.abs(answer[column].to_numpy(float) - batch[column].to_numpy(float))
            assert difference.max() == 0.0, (way, column)


@pytest.mark.long
def test_a_multiclass_table_with_text_labels(tables, tmp_path, monkeypatch):
    project = Project.create(tmp_path / "p")
    overrides = f"data.raw_path={tables['wines']} data.target_col=cultivar"
    res = _run(project, overrides)
    summary = project.read_json("results/data/summary.json")
    assert summary["task"] == "multiclass"
    assert summary["task_reason"].startswith("target 'cultivar' holds 3 classes (text)")
    assert summary["reading"]["problem"]["classes"] == sorted(CULTIVARS)
    board = pd.read_csv(project.path / "results/leaderboard.csv")
    assert list(board.columns[2:8]) == [
        "f1_macro",
        "accuracy",
        "balanced_accuracy",
        "f1_weighted",
        "roc_auc_ovr",
        "log_loss",
    ]
    assert board["cv_f1_macro_mean"].is_monotonic_decreasing
    assert (board["f1_macro"] > 0.8).all(), "three cultivars are easy to tell apart"
    for model in MODELS:
        figures = {p.name for p in (project.path / f"results/plots/{model}").iterdir()}
        assert figures == {
            "confusion_matrix.png",
            "roc_per_class.png",
            "permutation_importance.png",
        }
    front = (project.path / "results/summary.rst").read_text()
    assert "- task: multiclass (target 'cultivar' holds 3 classes (text)" in front
    assert "- rows per class: barbera: 48, barolo: 59, grignolino: 71" in front
    decision = project.read_json("results/registry.json")
    assert decision["registered_model"] == "wines_cultivar_classifier"
    assert (
        decision["problem"]
        == "multiclass: cultivar (3 classes), 13 features (" + str(tables["wines"]) + ")"
    )
    assert "MLflow: experiment 'wines_cultivar_classification'" in res.stdout

    rows = _raw_rows(tables["wines"], tmp_path / "rows.csv", "cultivar")
    ways = _four_ways(project, overrides, "wines_cultivar_classifier", rows, tmp_path, monkeypatch)
    columns = [f"probability_{c}" for c in sorted(CULTIVARS)]
    assert list(ways["batch"].columns) == [*columns, "label", "unseen", "model"]
    assert np.allclose(ways["batch"][columns].sum(axis=1), 1.0)
    _same_numbers(ways, columns)
    for way, answer in ways.items():
        assert answer["label"].tolist() == ways["batch"]["label"].tolist(), way
        assert set(answer["label"]) <= set(CULTIVARS), way


@pytest.mark.long
def test_own_regression_csv_is_a_problem_of_its_own(tables, forked, tmp_path, monkeypatch):
    """Bring your own CSV, a regression, to a clone that ran the demo, with overrides for
    every job: rows without a target dropped with a warning, the ID column left out, '?'
    and an inf read as missing, 20 copies under new IDs deduplicated, the demo's column
    settings not applied; its runs and model take names of their own, leaving the demo's
    experiment and registered model alone; four ways of scoring agree. Then the demo's best
    model again, --forceall: the same config, data and code, so no new version."""
    from mlflow import MlflowClient

    project = forked
    demo_registry = registry_aliases(project)
    assert demo_registry == {"heart_disease_classifier": {1: "champion"}}
    client = MlflowClient(tracking_uri=project.tracking_uri())
    demo = client.get_experiment_by_name("heart_disease_classification").experiment_id
    demo_runs = len(client.search_runs([demo]))
    csv = tables["diabetes"]
    overrides = (
        f"data.raw_path={csv} data.target_col=progression data.id_col=patient "
        "data.na_markers=[?] training.test_size=0.3 training.random_state=7"
    )
    _run(project, overrides)
    log = (project.path / "results/logs/preprocess/preprocess.log").read_text()
    assert "8 of 462 rows have no 'progression' (the target): dropped" in log
    assert re.search(
        r"task regression \(target 'progression' holds \d+ distinct whole numbers in 454 rows, "
        r"too many to be classes",
        log,
    )
    assert "were written for data/raw/heart.csv (data.columns_for), not applied" in log
    assert "infinite values read as missing: bp (2 rows)" in log  # a row and its copy
    summary = project.read_json("results/data/summary.json")
    assert summary["n_duplicates_dropped"] == 20 and summary["n_test"] == 131  # ceil(.3*434)
    assert "patient" not in summary["numeric_cols"] + summary["categorical_cols"]
    table = pd.read_csv(csv, na_values=["?"]).drop(columns="patient").drop_duplicates()
    table = table.dropna(subset=["progression"]).replace([np.inf, -np.inf], np.nan)
    assert summary["n_missing"] == {k: int(v) for k, v in table.isna().sum().items() if v}
    board = pd.read_csv(project.path / "results/leaderboard.csv")
    assert list(board.columns[2:7]) == ["rmse", "mae", "r2", "median_ae", "mape"]
    assert board["cv_rmse_mean"].is_monotonic_increasing, "rmse: lower is better"
    front = (project.path / "results/summary.rst").read_text()
    assert "- target: from 25 to 346" in front and "positive" not in front.lower()
    assert len(client.search_runs([demo])) == demo_runs, "nothing in the demo's experiment"
    own = client.get_experiment_by_name("diabetes_progression_regression")
    runs = [r for r in client.search_runs([own.experiment_id]) if "model" in r.data.tags]
    assert sorted(r.data.tags["model"] for r in runs) == MODELS
    for run in runs:  # the overrides reached every job
        assert run.data.params["data.raw_path"] == str(csv)
        assert run.data.params["training.test_size"] == "0.3"
        assert run.data.params["model.params.random_state"] == "7"
        assert run.data.metrics["n_test"] == 131
        figures = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert figures == {f"plots/{name}.png" for name in REGRESSION_FIGURES}
    decision = project.read_json("results/registry.json")
    assert decision["registered_model"] == "diabetes_progression_regressor"
    assert decision["reason"] == "the first version"
    both = {**demo_registry, "diabetes_progression_regressor": {1: "champion"}}
    assert registry_aliases(project) == both

    rows = _raw_rows(csv, tmp_path / "rows.csv", "progression")
    ways = _four_ways(
        project, overrides, "diabetes_progression_regressor", rows, tmp_path, monkeypatch
    )
    assert list(ways["batch"].columns) == [
        "patient",
        "prediction",
        "unseen",
        "model",
    ]  # its ID kept
    _same_numbers(ways, ["prediction"])

    # The demo again, every job forced: nothing new to register.
    res = project.snakemake("-j", "3", "--forceall", "--config", "models=[lr]")
    decision = project.read_json("results/registry.json")
    assert decision["registered_model"] == "heart_disease_classifier"
    assert not decision["registered"] and decision["alias"] == "champion"
    assert "no new version" in decision["text"] and decision["text"] in res.stdout
    assert registry_aliases(project) == both


def test_the_positive_when_hint_pastes_into_the_command_line(tmp_path):
    """data.task=binary on a target of four values: the error's own hint, pasted into the
    same command line in a shell, makes it run."""
    project = Project.create(tmp_path / "p")
    base = f"data.raw_path={DEMO_CSV} data.target_col=cp data.task=binary"
    command = f'snakemake -j 3 -n --config overrides="{base}"'
    refused = project.run("bash", "-c", command, check=False)
    assert refused.returncode == 1
    (line,) = [line for line in refused.stderr.splitlines() if "config error" in line]
    hint = line.split("(positive when above 0: ")[1].split(")")[0]
    assert hint == "data.positive_when=gt:0"
    pasted = project.run("bash", "-c", command.replace(base, f"{base} {hint}"))
    assert ("preprocess", None) in parse_jobs(pasted.stdout + pasted.stderr)

"""End to end: the registry's champion gate, the four ways of scoring raw rows (tabflow
predict, snakemake predict, mlflow.pyfunc, mlflow models serve), bad rows, and the
report's front page in a real browser. Each test works on its own copy of a cold run."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .e2e import (
    DEMO_MD5,
    Project,
    dataframe_split,
    edit_file,
    free_port,
    job_blocks,
    post,
    raw_rows,
    registry_versions,
    run_probing_the_store,
    serve,
    stop,
    stored_files,
)

pytestmark = pytest.mark.e2e

NAME = "heart_disease_classifier"


@pytest.mark.long
def test_the_champion_moves_only_when_beaten_on_the_same_rows(forked):
    project = forked
    first = project.read_json("results/registry.json")
    assert first["new"]["version"] == 1 and first["promoted"] and first["alias"] == "champion"
    assert first["reason"] == "the first version"
    assert first["problem"] == "binary: target = 1, 13 features (data/raw/heart.csv)"
    commit = project.run("git", "rev-parse", "HEAD").stdout.strip()
    v1 = registry_versions(project)[1]
    assert v1["aliases"] == "champion" and v1["git_commit"] == commit
    assert v1["model"] == first["new"]["model"] and v1["run_id"] == first["new"]["run_id"]
    assert v1["data_md5"] == DEMO_MD5 and v1["tabflow.problem"]

    # The same run registered again: no new version.
    again = project.snakemake("-j", "3", "--forcerun", "register")
    assert "already registered" in project.read_json("results/registry.json")["reason"]
    assert "no new version" in again.stdout and list(registry_versions(project)) == [1]

    # (A worse best model, registered as challenger: the model-edit test in
    # test_workflow_e2e.py.) Other training rows: the champion is cross-validated again on
    # them, then compared. Meanwhile, a real HTTP request to the workflow's loopback store
    # server: only its jobs get in.
    other_rows = ("--config", "models=[lr]", "overrides=training.test_size=0.25")
    res = run_probing_the_store(project, *other_rows)
    assert res.returncode == 0, res.output[-3000:]
    assert res.answers == {"none": 401, "wrong": 401, "job": 200}
    log = (project.path / "results/logs/evaluate/lr.log").read_text()
    assert "logging through the workflow's store server" in log
    decision = project.read_json("results/registry.json")
    assert decision["new"]["version"] == 2 and decision["alias"] == "challenger"
    assert decision["champion"]["cv_recomputed"] is True
    assert decision["reason"].endswith(": not better"), "the same model on the same rows: a tie"
    assert decision["champion"]["test"] is not None and decision["new"]["test"] is not None
    assert decision["text"] in res.output, "the decision is in the summary"
    aliases = {v: t["aliases"] for v, t in registry_versions(project).items()}
    assert aliases == {1: "champion", 2: "challenger"}
    with sqlite3.connect(project.path / "mlflow.db") as conn:
        tags = dict(
            conn.execute(
                "SELECT t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
                "WHERE t.key LIKE 'registry.%' ORDER BY r.start_time"
            )
        )
    assert tags["registry.version"] == str(decision["new"]["version"])
    # The store's secret is in no file: results, records, MLflow, logs, the report.
    project.snakemake("--report", "report.html")
    assert [p for p in stored_files(project) if res.token.encode() in p.read_bytes()] == []


def _predict(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return project.run("tabflow", "predict", *args, check=check)


ANSWER = ["probability", "label", "class", "unseen"]


@pytest.mark.long
def test_every_way_in_scores_raw_rows_the_same(forked, tmp_path, monkeypatch):
    """The same raw rows through tabflow predict, snakemake predict, mlflow.pyfunc and
    mlflow models serve (JSON and CSV): the same numbers, as floats. Bad rows get the
    client one line and no trace; a new config after training changes nothing; a moved
    alias reruns snakemake predict."""
    import mlflow
    import mlflow.pyfunc

    project = forked
    rows = raw_rows(project, tmp_path / "rows.csv")
    res = _predict(project, "--set", "predict.id_col=pid", str(rows), str(tmp_path / "b.csv"))
    assert "columns the model does not use, dropped: notes" in res.stderr
    assert "'cp' has values never seen in training: 9" in res.stderr
    batch = pd.read_csv(tmp_path / "b.csv", keep_default_na=False)
    assert list(batch.columns) == ["pid", *ANSWER, "model"]
    assert batch["pid"].tolist() == [f"P{i}" for i in range(40)], "every row, in order"
    assert set(batch["model"]) == {f"models:/{NAME}/1"}
    assert batch.loc[5, "unseen"] == "cp=9" and (batch["unseen"].drop(index=5) == "").all()

    project.snakemake("-j", "3", "predict", "--config", f"predict_input={rows}")
    folder = project.path / "results/predictions/new"
    (workflow_file,) = [p for p in folder.glob("rows-*.csv") if ".drift." not in p.name]
    assert Path(f"{workflow_file}".replace(".csv", ".drift.csv")).is_file()
    workflow = pd.read_csv(workflow_file, keep_default_na=False)

    monkeypatch.chdir(project.path)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    mlflow.set_tracking_uri(project.tracking_uri())
    plain = pd.read_csv(rows)  # plain pandas, as a notebook would
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(plain)

    port = free_port()
    server = serve(project, f"models:/{NAME}@champion", tmp_path / "serve.log", port)
    try:
        status, body = post(port, dataframe_split(plain))
        assert status == 200, body
        served = pd.DataFrame(json.loads(body)["predictions"])
        status, body = post(port, rows.read_text(), "text/csv")
        assert status == 200, body
        served_csv = pd.DataFrame(json.loads(body)["predictions"])
        bad = plain.astype({"age": object})
        bad.loc[3, "age"] = "sixty"
        refused = {
            "a string in a number column": post(port, dataframe_split(bad)),
            "a missing column": post(port, dataframe_split(plain.drop(columns=["chol"]))),
            "no JSON": post(port, '{"dataframe_split": {'),
        }
    finally:
        stop(server)
    ways = {"snakemake predict": workflow, "pyfunc": pyfunc, "served": served}
    ways["served as CSV"] = served_csv
    for way, answer in ways.items():
        difference = np.abs(answer["probability"].to_numpy() - batch["probability"].to_numpy())
        assert difference.max() == 0.0, way
        assert answer["label"].tolist() == batch["label"].tolist(), way
        assert answer["unseen"].fillna("").tolist() == batch["unseen"].tolist(), way
    for case, (status, body) in refused.items():
        assert status == 400, (case, body)
        assert not re.search(r"stack_trace|Traceback|site-packages|/tmp/|\.py", body), body
    message = {case: json.loads(body)["message"] for case, (_, body) in refused.items()}
    assert message["a string in a number column"] == (
        "column 'age' takes numbers, but row 4 has 'sixty'"
    )
    assert message["a missing column"].startswith("missing feature column(s) chol ")

    # A new config after training changes nothing about how the model reads rows.
    edit_file(project.path / "configs/data.yaml", "ca: [4]", "ca: [3]")
    edit_file(project.path / "configs/data.yaml", "na_markers: []", "na_markers: ['2']")
    _predict(project, "--set", "predict.id_col=pid", str(rows), str(tmp_path / "again.csv"))
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()

    # The champion alias moved by hand (a rollback, a promotion in the MLflow UI):
    # snakemake predict says why it reruns, and its answers name the model that made them.
    client = mlflow.MlflowClient()
    rf = json.loads((project.path / "results/mlflow/rf.json").read_text())
    version = mlflow.register_model(rf["model_uri"], NAME)
    client.set_registered_model_alias(NAME, "champion", version.version)
    res = project.snakemake("-j", "3", "predict", "--config", f"predict_input={rows}")
    output = res.stdout + res.stderr
    reason = [line for line in output.splitlines() if "reason: Params have changed" in line]
    assert reason and f"models:/{NAME}/1" in reason[0] and f"models:/{NAME}/2" in reason[0]
    moved = pd.read_csv(workflow_file, keep_default_na=False)
    assert set(moved["model"]) == {f"models:/{NAME}/2"}
    assert not np.array_equal(moved["probability"], workflow["probability"])

    # Another file with the same name elsewhere gets an output of its own.
    elsewhere = tmp_path / "elsewhere" / "rows.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_text("\n".join(rows.read_text().splitlines()[:11]) + "\n")
    config = ("--config", f"predict_input={elsewhere}")
    planned = project.snakemake("-j", "3", "-n", "predict", *config)
    (job,) = [b for b in job_blocks(planned.stdout + planned.stderr) if b["rule"] == "predict"]
    other = job["output"].split(", ")[0]
    assert other.startswith("results/predictions/new/rows-") and other != str(
        workflow_file.relative_to(project.path)
    ), job
    inside = project.path / "results/rows.csv"
    shutil.copy(rows, inside)
    refused_rule = project.snakemake(
        "-j", "3", "predict", "--config", "predict_input=results/rows.csv", check=False
    )
    assert refused_rule.returncode == 1
    assert "predict_input=results/rows.csv lies under results/ (paths.results_dir)" in (
        refused_rule.stderr
    )
    assert inside.read_bytes() == rows.read_bytes()


def test_bad_prediction_input_is_one_line_and_writes_nothing(forked, tmp_path, monkeypatch, capsys):
    """`tabflow predict`'s own main(), in this process, for every way to get it wrong: one
    line, exit 1, nothing written, the input untouched."""
    from tabflow.cli import main

    project = forked
    monkeypatch.chdir(project.path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rows = raw_rows(project, tmp_path / "rows.csv", n=12)
    frame = pd.read_csv(rows)
    out = tmp_path / "out.csv"

    def csv(name: str, table: pd.DataFrame | None = None, text: str | None = None) -> str:
        path = tmp_path / name
        path.write_text(text if text is not None else table.to_csv(index=False))
        return str(path)

    typo = frame.astype({"age": object})
    typo.loc[4, "age"] = "sixty"
    header = rows.read_text().splitlines()[0]
    repeated = rows.read_text().replace(header, header.replace(",notes", ",age"), 1)
    run_id = project.read_json("results/registry.json")["new"]["run_id"]
    cases = [
        (
            [csv("missing.csv", frame.drop(columns=["chol", "thal"])), out],
            "missing feature column(s) chol, thal that the model needs",
        ),
        ([csv("typo.csv", typo), out], "column 'age' takes numbers, but line 6 has 'sixty'"),
        ([csv("empty.csv", text=""), out], "empty.csv is empty (the rows to predict)"),
        ([csv("header.csv", frame.head(0)), out], "header.csv has a header but no rows"),
        (
            [csv("twice.csv", text=repeated), out],
            "the header names 'age' (columns 2 and 16) more than once",
        ),
        (["0" * 32, str(rows), out], f"run {'0' * 32} not found"),
        ([str(rows), str(rows)], "is the input: tabflow predict never writes over its input"),
        ([csv("x.drift.csv", frame), tmp_path / "x.csv"], "x.drift.csv, which is the input"),
        ([str(rows), tmp_path], "is a folder: give a file name"),
        (
            ["--set", "predict.id_col=patient_id", str(rows), out],
            "predict.id_col='patient_id' is not a column",
        ),
        (
            ["--set", "data.na_markers=[x]", str(rows), out],
            "the model reads rows as it was trained to",
        ),
        (
            ["Champion", str(rows), out],
            f"registered model '{NAME}' has no alias 'Champion'; "
            "its aliases: champion (v1); did you mean 'champion'?",
        ),
        (["results/models/lr.skops", str(rows), out], "is a file, not a model"),
        (
            ["models:/nosuchmodel@champion", str(rows), out],
            f"no registered model 'nosuchmodel' in sqlite:///mlflow.db; registered models: {NAME}",
        ),
    ]
    before = rows.read_bytes()
    for args, message in cases:
        code = main(["predict", *map(str, args)])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 1, (message, err)
        assert lines[-1].startswith("error: ") and message in lines[-1], (message, err)
        assert "Traceback" not in err
        assert not out.exists() and not (tmp_path / "out.drift.csv").exists(), message
        assert not (tmp_path / "x.csv").exists() and rows.read_bytes() == before
    # A run id in capitals is still the run.
    assert main(["predict", run_id.upper(), str(rows), str(out)]) == 0
    best = project.read_json("results/registry.json")["new"]["model"]
    logged = project.read_json(f"results/mlflow/{best}.json")["model_uri"]
    assert set(pd.read_csv(out)["model"]) == {logged}
    # Where the training data is not (a machine that only scores): the champion still.
    data = project.path / "data/raw/heart.csv"
    data.rename(data.with_name("away.csv"))
    assert main(["predict", str(rows), str(tmp_path / "elsewhere.csv")]) == 0, capsys.readouterr()
    assert set(pd.read_csv(tmp_path / "elsewhere.csv")["model"]) == {f"models:/{NAME}/1"}
    # No registered model yet: a store where nothing was trained.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["predict", str(rows), str(tmp_path / "none.csv")]) == 1
    assert f"no registered model '{NAME}' in sqlite:///" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_report_opens_on_the_answer_in_a_real_browser(forked, tmp_path):
    """snakemake --report, opened in headless Chromium: its first page, as rendered, names
    the best model, shows the leaderboard, the data and the champion decision."""
    assert CHROMIUM, "Chromium is needed for this test: apt-get install chromium (.ci/run does)"
    project = forked
    project.snakemake("--report", "report.html")
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=8000",
            "--dump-dom",
            (project.path / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    shown = re.sub(r"<script.*?</script>", " ", dom, flags=re.S)  # rendered text only
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shown))
    best = project.read_json("results/registry.json")["new"]["model"]
    for expected in (
        f"Best model: {best}",
        "Leaderboard (ranked by 5-fold CV roc_auc on the training part)",
        "1025 rows, 723 exact duplicates dropped, 302 kept",
        "is champion: the first version",
    ):
        assert expected in text, expected
    assert text.index(f"Best model: {best}") < text.index("Data"), "the answer comes first"

"""End to end: the registry's champion gate, batch prediction, serving, and the report's
front page in a real browser. Each test works on its own copy of a cold run's state."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from .e2e import DEMO_MD5, Project, edit_file, free_port, stop

pytestmark = pytest.mark.e2e

NAME = "heart_disease_classifier"


def _versions(project: Project) -> dict[int, dict[str, str]]:
    """Each version of the registered model: its tags and aliases."""
    with sqlite3.connect(project.path / "mlflow.db") as conn:
        versions = [
            v
            for (v,) in conn.execute(
                "SELECT version FROM model_versions WHERE name=? ORDER BY version", (NAME,)
            )
        ]
        out = {}
        for v in versions:
            tags = dict(
                conn.execute(
                    "SELECT key, value FROM model_version_tags WHERE name=? AND version=?",
                    (NAME, v),
                )
            )
            aliases = [
                a
                for (a,) in conn.execute(
                    "SELECT alias FROM registered_model_aliases WHERE name=? AND version=?",
                    (NAME, v),
                )
            ]
            out[int(v)] = {**tags, "aliases": ",".join(aliases)}
    return out


def test_the_champion_moves_only_when_beaten_on_the_same_rows(forked):
    project = forked
    first = project.read_json("results/registry.json")
    assert first["new"]["version"] == 1 and first["promoted"] and first["alias"] == "champion"
    assert first["reason"] == "the first version"
    commit = project.run("git", "rev-parse", "HEAD").stdout.strip()
    v1 = _versions(project)[1]
    assert v1["aliases"] == "champion" and v1["git_commit"] == commit
    assert v1["model"] == first["new"]["model"] and v1["run_id"] == first["new"]["run_id"]
    assert v1["data_md5"] == DEMO_MD5

    # A worse best model: registered, but challenger; the champion stays.
    edit_file(project.path / "configs/model/lr.yaml", "C: 1.0", "C: 0.01")
    res = project.snakemake("-j", "3")
    second = project.read_json("results/registry.json")
    assert second["new"]["version"] == 2 and second["alias"] == "challenger"
    assert not second["promoted"] and not second["champion"]["cv_recomputed"]
    assert second["new"]["cv"] < second["champion"]["cv"]
    assert second["champion"]["test"] is not None and second["new"]["test"] is not None
    assert second["text"] in res.stdout, "the decision is in the summary"
    aliases = {v: t["aliases"] for v, t in _versions(project).items()}
    assert aliases == {1: "champion", 2: "challenger"}

    # Other training rows: the champion is cross-validated again on them, then compared.
    other_rows = ("--config", "models=[lr]", "overrides=training.test_size=0.25")
    third = project.snakemake("-j", "3", *other_rows)
    decision = project.read_json("results/registry.json")
    assert decision["champion"]["cv_recomputed"] is True
    assert decision["text"] in third.stdout
    with sqlite3.connect(project.path / "mlflow.db") as conn:
        tags = dict(
            conn.execute(
                "SELECT t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
                "WHERE t.key LIKE 'registry.%' ORDER BY r.start_time"
            )
        )
    assert tags["registry.version"] == str(decision["new"]["version"])


def _rows(project: Project, n: int = 12) -> pd.DataFrame:
    test = pd.read_parquet(project.path / "results/data/test.parquet").drop(columns=["target"])
    return test.head(n).reset_index(drop=True)


def _predict(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return project.run("tabflow", "predict", *args, check=check)


def test_batch_prediction_scores_new_rows_like_the_champion(forked, tmp_path):
    project = forked
    rows = _rows(project)
    rows.insert(0, "pid", [f"P{i}" for i in range(len(rows))])
    rows["notes"] = "x"  # a column the model does not use
    rows.loc[2, "cp"] = 9  # a chest-pain code never seen in training
    new = tmp_path / "new.csv"
    rows.to_csv(new, index=False)
    out = tmp_path / "scored.csv"
    res = _predict(project, "--set", "data.id_col=pid", str(new), str(out))
    assert "columns the model does not use, dropped: notes" in res.stderr
    assert "'cp' has values never seen in training: 9" in res.stderr
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["pid", "probability", "label", "class"]
    assert scored["pid"].tolist() == rows["pid"].tolist(), "every row, in order"
    champion = project.read_json("results/registry.json")["new"]["model"]
    from tabflow.models import load_model

    model = load_model(project.path / f"results/models/{champion}.skops")
    features = rows.drop(columns=["pid", "notes"])
    np.testing.assert_allclose(scored["probability"], model.predict_proba(features)[:, 1])
    drift = pd.read_csv(tmp_path / "scored.drift.csv")
    assert set(drift["feature"]) == set(features.columns)
    assert {"psi", "drifted"} <= set(drift.columns)

    # The same as a rule of the workflow.
    res = project.snakemake("-j", "3", "predict", "--config", f"predict_input={new}")
    rule_out = pd.read_csv(project.path / "results/predictions/new/new.csv")
    np.testing.assert_allclose(rule_out["probability"], scored["probability"])


def test_bad_prediction_input_is_one_line_and_writes_nothing(forked, tmp_path):
    project = forked
    rows = _rows(project)
    out = tmp_path / "out.csv"
    cases = []
    missing = tmp_path / "missing.csv"
    rows.drop(columns=["chol", "thal"]).to_csv(missing, index=False)
    cases.append(((str(missing), str(out)), "missing feature column(s) chol, thal"))
    typo = tmp_path / "typo.csv"
    bad = rows.astype({"age": object})
    bad.loc[4, "age"] = "sixty"
    bad.to_csv(typo, index=False)
    cases.append(((str(typo), str(out)), "column 'age' takes numbers, but line 6 has 'sixty'"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases.append(((str(empty), str(out)), "empty.csv is empty (the rows to predict)"))
    unknown = "0" * 32
    cases.append(((unknown, str(missing), str(out)), f"run {unknown} not found"))
    for args, message in cases:
        res = _predict(project, *args, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1, res.stderr
        assert lines[-1].startswith("error: ") and message in lines[-1], (message, res.stderr)
        assert "Traceback" not in res.stderr
        assert not out.exists() and not (tmp_path / "out.drift.csv").exists()
    # No registered model yet: a store where nothing was trained.
    fresh = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}"}
    res = project.run("tabflow", "predict", str(missing), str(out), check=False, env=fresh)
    assert res.returncode == 1
    assert "no model 'heart_disease_classifier' with alias 'champion' in the registry yet" in (
        res.stderr
    )


def test_the_served_champion_answers_like_batch_prediction_with_pickle_off(forked, tmp_path):
    project = forked
    rows = _rows(project, 8)
    new = tmp_path / "new.csv"
    rows.to_csv(new, index=False)
    _predict(project, str(new), str(tmp_path / "batch.csv"))
    port = free_port()
    env = {
        **project.env,
        "MLFLOW_TRACKING_URI": project.tracking_uri(),
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    }
    server = subprocess.Popen(
        [
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{NAME}@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.5)
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split"))})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            served = [p["probability"] for p in json.load(resp)["predictions"]]
    finally:
        stop(server)
    batch = pd.read_csv(tmp_path / "batch.csv")["probability"].tolist()
    assert served == pytest.approx(batch, abs=1e-12)


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

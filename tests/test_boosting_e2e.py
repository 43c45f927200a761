"""End to end: LightGBM, XGBoost, CatBoost and histogram boosting through the real workflow on the
demo (a fork of the cold run), named with `--config models=[...]` (they are not in the
default set): the leaderboard and MLflow hold them, the registry compares the best with
the demo's champion on the same rows, and each logged model answers raw rows as
`tabflow predict` does, with pickle deserialization off (XGBoost's also when served).
Their demo files stop early: the rounds chosen in the final fit are in the log and MLflow."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from .e2e import raw_rows, served_answer

pytestmark = pytest.mark.e2e

BOOSTING = ["catboost", "hgb", "lgbm", "xgb"]


@pytest.mark.long
def test_boosting_models_train_log_and_answer_raw_rows_like_the_batch(
    forked, tmp_path, monkeypatch
):
    import mlflow.pyfunc
    from mlflow import MlflowClient

    project = forked
    champion = project.read_json("results/registry.json")["new"]["model"]  # the demo's best
    res = project.snakemake("-j", "3", "--config", f"models=[{','.join(BOOSTING)}]")
    board = pd.read_csv(project.path / "results/leaderboard.csv")
    assert sorted(board["model"]) == BOOSTING
    assert (board["cv_roc_auc_mean"] > 0.8).all() and (board["roc_auc"] > 0.8).all()
    client = MlflowClient(tracking_uri=project.tracking_uri())
    for model in BOOSTING:
        log = (project.path / f"results/logs/train/{model}.log").read_text()
        # The rule's one thread, not every core (hgb: OMP_NUM_THREADS, set by Snakemake).
        assert "(threads=1)" in log, log[-2000:]
        found = re.search(r"(\d+) boosting rounds by early stopping", log)
        assert found, log[-2000:]
        run = client.get_run(project.read_json(f"results/mlflow/{model}.json")["run_id"])
        assert run.data.metrics["boosting_rounds"] == int(found.group(1)) < 500
    decision = project.read_json("results/registry.json")
    assert decision["champion"]["model"] == champion, "compared with the demo's champion"
    assert decision["new"]["model"] == board["model"][0]
    assert decision["text"] in res.stdout

    rows = raw_rows(project, tmp_path / "rows.csv")  # codes, markers, an unseen category
    plain = pd.read_csv(rows)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri())
    # In this process too: another test of this worker may have set it (it wins over the
    # environment variable).
    mlflow.set_tracking_uri(project.tracking_uri())
    for model in BOOSTING:
        uri = project.read_json(f"results/mlflow/{model}.json")["model_uri"]
        out = tmp_path / f"{model}.csv"
        project.run("tabflow", "predict", uri, str(rows), str(out))
        batch = pd.read_csv(out, keep_default_na=False)
        assert batch["unseen"].str.contains("cp=9").sum() == 1, model
        pyfunc = mlflow.pyfunc.load_model(uri).predict(plain)
        np.testing.assert_array_equal(pyfunc["probability"], batch["probability"], model)
        assert pyfunc["label"].tolist() == batch["label"].tolist(), model
        if model == "xgb":  # float32 inside: the answer is still the same double
            served = served_answer(project, uri, plain, tmp_path / "serve.log")
            np.testing.assert_array_equal(served["probability"], batch["probability"])

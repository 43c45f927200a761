"""The pipeline stages. Each reads and writes the files `Paths` names, atomically."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tabflow.io import read_json, write_json, write_with
from tabflow.paths import Paths

log = logging.getLogger(__name__)


def preprocess(cfg: DictConfig) -> dict[str, Any]:
    """Raw CSV -> deduplicated, stratified train/test parquet files + a summary."""
    from tabflow.data import prepare

    paths = Paths.from_config(cfg)
    train, test, summary = prepare(cfg)
    write_with(paths.train_data, lambda p: train.to_parquet(p, index=False))
    write_with(paths.test_data, lambda p: test.to_parquet(p, index=False))
    write_json(paths.data_summary, summary)
    return summary


def train(cfg: DictConfig, model_name: str, threads: int = 1) -> Path:
    """Fit the model's pipeline on the training split and save it with joblib."""
    import joblib
    import pandas as pd

    from tabflow.data import feature_columns, xy
    from tabflow.models import build_pipeline

    paths = Paths.from_config(cfg)
    df = pd.read_parquet(paths.train_data)
    numeric, categorical = feature_columns(df, cfg.data)
    pipeline = build_pipeline(cfg.model, numeric, categorical, n_jobs=threads)
    X, y = xy(df, cfg.data.target_col)
    start = time.perf_counter()
    pipeline.fit(X, y)
    fit_seconds = time.perf_counter() - start
    log.info(
        "%s: fitted %s on %d rows in %.2f s", model_name, cfg.model._target_, len(X), fit_seconds
    )
    write_with(paths.model_file(model_name), lambda p: joblib.dump(pipeline, p, compress=3))
    write_json(paths.train_info(model_name), {"fit_seconds": fit_seconds, "n_train": len(X)})
    return Path(paths.model_file(model_name))


def score(cfg: DictConfig, model_name: str):
    """Load the saved model, predict the test split; return (model, X, y, pred, score, metrics)."""
    import joblib
    import pandas as pd

    from tabflow.data import xy
    from tabflow.evaluate import compute_metrics

    paths = Paths.from_config(cfg)
    model = joblib.load(paths.model_file(model_name))
    X, y = xy(pd.read_parquet(paths.test_data), cfg.data.target_col)
    y_pred = model.predict(X)
    y_score = model.predict_proba(X)[:, 1]
    metrics = compute_metrics(y.to_numpy(), y_pred, y_score)
    return model, X, y, y_pred, y_score, metrics


def evaluate(cfg: DictConfig, model_name: str) -> dict[str, float]:
    """Score the saved model on the test split, plot, and log one MLflow run."""
    import pandas as pd

    from tabflow import tracking
    from tabflow.evaluate import plot_confusion, plot_roc

    paths = Paths.from_config(cfg)
    model, X, y, y_pred, y_score, metrics = score(cfg, model_name)
    log.info("%s: %s", model_name, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

    labels = [str(cfg.data.negative_name), str(cfg.data.positive_name)]
    write_with(paths.roc_plot(model_name), lambda p: plot_roc(y, y_score, model_name, p))
    write_with(
        paths.confusion_plot(model_name), lambda p: plot_confusion(y, y_pred, labels, model_name, p)
    )
    predictions = pd.DataFrame({"y_true": y, "y_pred": y_pred, "y_score": y_score})
    write_with(paths.predictions(model_name), lambda p: predictions.to_csv(p, index=False))
    write_json(paths.metrics(model_name), metrics)

    experiment_id = tracking.init_tracking(cfg, paths.tracking_lock)
    fit = read_json(paths.train_info(model_name))
    run = tracking.log_model_run(
        cfg,
        model_name,
        model,
        {**metrics, "fit_seconds": fit["fit_seconds"], "n_train": fit["n_train"], "n_test": len(X)},
        [
            ("plots", paths.roc_plot(model_name)),
            ("plots", paths.confusion_plot(model_name)),
            ("metrics", paths.metrics(model_name)),
            ("data", paths.data_summary),
        ],
        input_example=X.head(5),
        experiment_id=experiment_id,
    )
    write_json(paths.mlflow_run(model_name), run)
    log.info("%s: MLflow run %s (%s)", model_name, run["run_id"], run["model_uri"])
    return metrics

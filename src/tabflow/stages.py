"""The pipeline stages. Each reads and writes the files `Paths` names, atomically."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tabflow.evaluate import METRICS
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


def train(cfg: DictConfig, model_name: str, threads: int = 1, cross_validate: bool = True) -> Path:
    """Cross-validate the model's pipeline on the training split, fit it there, save it."""
    import joblib
    import pandas as pd

    from tabflow.data import feature_columns, xy
    from tabflow.evaluate import cross_validate as run_cv
    from tabflow.models import build_pipeline

    paths = Paths.from_config(cfg)
    df = pd.read_parquet(paths.train_data)
    numeric, categorical = feature_columns(df, cfg.data)
    pipeline = build_pipeline(cfg.model, numeric, categorical, n_jobs=threads)
    X, y = xy(df, cfg.data.target_col)
    log.info("%s: training on %d rows x %d columns", model_name, X.shape[0], X.shape[1])
    if cross_validate:
        folds = int(cfg.evaluation.cv_folds)
        cv = run_cv(pipeline, X, y, folds, int(cfg.training.random_state), n_jobs=threads)
        log.info(
            "%s: %d-fold CV on the training part: %s",
            model_name,
            folds,
            ", ".join(f"{m}={cv[m]['mean']:.4f}±{cv[m]['std']:.4f}" for m in METRICS),
        )
        write_json(paths.cv(model_name), cv)
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
    """Score the saved model on the test split, plot, and log one MLflow (child) run."""
    import pandas as pd

    from tabflow import evaluate as ev
    from tabflow import tracking

    paths = Paths.from_config(cfg)
    model, X, y, y_pred, y_score, metrics = score(cfg, model_name)
    log.info("%s: %s", model_name, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

    evaluation = cfg.evaluation
    importance = ev.permutation_importance(
        model,
        X,
        y,
        str(evaluation.primary_metric),
        int(evaluation.permutation_repeats),
        int(cfg.training.random_state),
    )
    labels = [str(cfg.data.negative_name), str(cfg.data.positive_name)]
    plots = paths.plots(model_name)
    y_true = y.to_numpy()
    draw = {
        "roc": lambda p: ev.plot_roc(y_true, y_score, model_name, p),
        "precision_recall": lambda p: ev.plot_precision_recall(y_true, y_score, model_name, p),
        "confusion": lambda p: ev.plot_confusion(y_true, y_pred, labels, model_name, p),
        "calibration": lambda p: ev.plot_calibration(
            y_true, y_score, int(evaluation.calibration_bins), model_name, p
        ),
        "importance": lambda p: ev.plot_importance(
            importance, str(evaluation.primary_metric), model_name, p
        ),
    }
    for name, path in plots.items():
        write_with(path, draw[name])
    write_with(paths.importance(model_name), lambda p: importance.to_csv(p, index=False))
    predictions = pd.DataFrame({"y_true": y, "y_pred": y_pred, "y_score": y_score})
    write_with(paths.predictions(model_name), lambda p: predictions.to_csv(p, index=False))
    write_json(paths.metrics(model_name), metrics)

    backend = tracking.tracking_uri(cfg)  # before prepare_run may switch to the main's server
    experiment_id, parent_run_id = tracking.prepare_run(cfg, paths)
    fit = read_json(paths.train_info(model_name))
    cv = read_json(paths.cv(model_name))
    cv_metrics = {f"cv_{m}_{stat}": cv[m][stat] for m in METRICS for stat in ("mean", "std")}
    run = tracking.log_model_run(
        cfg,
        model_name,
        model,
        {
            **metrics,
            **cv_metrics,
            "fit_seconds": fit["fit_seconds"],
            "n_train": fit["n_train"],
            "n_test": len(X),
        },
        [
            *(("plots", path) for path in plots.values()),
            ("metrics", paths.metrics(model_name)),
            ("metrics", paths.cv(model_name)),
            ("metrics", paths.importance(model_name)),
            ("data", paths.data_summary),
        ],
        input_example=X.head(5),
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        backend_uri=backend,
    )
    write_json(paths.mlflow_run(model_name), run)
    log.info("%s: MLflow run %s (%s)", model_name, run["run_id"], run["model_uri"])
    return metrics


def leaderboard(cfg: DictConfig, models: list[str]) -> list[dict[str, Any]]:
    """Rank the models by the primary metric; write the leaderboard as CSV, Markdown, HTML."""
    from tabflow import leaderboard as lb

    paths = Paths.from_config(cfg)
    metric = str(cfg.evaluation.primary_metric)
    rows = lb.collect(paths, models, metric)
    write_with(paths.leaderboard_csv, lambda p: lb.write_csv(rows, metric, p))
    write_with(paths.leaderboard_md, lambda p: Path(p).write_text(lb.to_markdown(rows, metric)))
    write_with(paths.leaderboard_html, lambda p: Path(p).write_text(lb.to_html(rows, metric, cfg)))
    log.info("best model by %s: %s", metric, rows[0]["model"])
    return rows

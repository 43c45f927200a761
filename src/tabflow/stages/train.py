"""Stage 'train': cross-validate a model's pipeline on the training split, fit it, save it."""

from __future__ import annotations

import logging
import time
from typing import Any

from tabflow.io import write_json, write_with
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)


def run(job: Job) -> None:
    assert job.model is not None
    fit(job.cfg, job.model, job.threads, tuned=job.params.get("tuned"))


# What a tuned model's CV is (its cv json's "estimate"), in words.
ESTIMATES = {
    "fresh": "the selected parameters on a fresh fold split",
    "nested": "nested CV, the whole search inside each outer fold",
}


def fit(
    cfg: Any,
    model_name: str,
    threads: int = 1,
    cross_validate: bool = True,
    tuned: dict[str, Any] | None = None,
) -> None:
    """Fit (and, unless told not to, first cross-validate) the model; write its files.

    `tuned`: a sweep's best.json. Its selection scored the parameters again on a fresh
    fold split: that is the model's CV (an estimate the search did not choose on), or
    with `nested: true` the search's nested CV; the search's best beside it. Nothing is
    cross-validated again here."""
    import pandas as pd

    from tabflow import metrics
    from tabflow.data import xy
    from tabflow.io import read_json
    from tabflow.models import build_pipeline, fold_jobs, rounds_of, save_model, threads_of

    paths = Paths.from_config(cfg)
    df = pd.read_parquet(paths.train_data)
    summary = read_json(paths.data_summary)  # preprocess decided how rows are read
    pipeline = build_pipeline(cfg.model, summary["reading"], n_jobs=threads)
    X, y = xy(df, cfg.data.target_col)
    log.info("%s: training on %d rows x %d columns", model_name, X.shape[0], X.shape[1])
    if tuned is not None:
        fresh = {**tuned["fresh_cv"], "seed": tuned["fresh_seed"]}
        if "nested" in tuned:
            cv = {**tuned["nested"]["cv"], "estimate": "nested", "fresh": fresh}
        else:
            cv = {**fresh, "estimate": "fresh"}
        cv["search"] = tuned["cv"]
        primary = str(cfg.evaluation.primary_metric)
        log.info(
            "%s: CV %s %.4f (%s: %s); the search's best %.4f",
            model_name,
            primary,
            cv[primary]["mean"],
            cv["estimate"],
            ESTIMATES[cv["estimate"]],
            tuned["cv"][primary]["mean"],
        )
        write_json(paths.cv(model_name), cv)
    elif cross_validate:
        folds = int(cfg.evaluation.cv_folds)
        seed = int(cfg.training.random_state)
        names = list(cfg.task.metrics)
        cv = metrics.cross_validate(
            pipeline,
            X,
            y,
            folds,
            seed,
            str(cfg.task.name),
            names,
            n_jobs=fold_jobs(pipeline, threads),
            label=f"{model_name}: ",
            primary=str(cfg.evaluation.primary_metric),
        )
        shown = ", ".join(f"{m}={cv[m]['mean']:.4f}±{cv[m]['std']:.4f}" for m in names)
        log.info("%s: %d-fold CV on the training part: %s", model_name, folds, shown)
        write_json(paths.cv(model_name), cv)
    start = time.perf_counter()
    pipeline.fit(X, y)
    fit_seconds = time.perf_counter() - start
    target = cfg.model._target_
    threads_used, rounds = threads_of(pipeline), rounds_of(pipeline)
    using = f" (threads={threads_used})" if threads_used is not None else ""
    if rounds is not None:
        using += f", {rounds} boosting rounds by early stopping"
    log.info("%s: fitted %s%s on %d rows in %.2f s", model_name, target, using, len(X), fit_seconds)
    write_with(paths.model_file(model_name), lambda p: save_model(pipeline, p))
    info = {"fit_seconds": fit_seconds, "n_train": len(X), "model_key": model_key(cfg, summary)}
    if rounds is not None:
        info["boosting_rounds"] = rounds
    write_json(paths.train_info(model_name), info)


def model_key(cfg: Any, summary: dict[str, Any]) -> str:
    """What a fitted model follows from: its config, the training rows and how they are
    read, the code that fits it and the libraries' versions. The registry adds a version
    only for a key it does not hold yet (a model is registered once, however often it is
    trained again)."""
    import hashlib
    import json
    from importlib.metadata import version

    from tabflow.fingerprint import code_of
    from tabflow.io import file_digest

    parts = {
        "model": cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model),
        "rows": file_digest(Paths.from_config(cfg).train_data, "sha256"),
        "reading": summary["reading"],
        "code": code_of("train"),
        "versions": {p: version(p) for p in ("scikit-learn", "numpy", "pandas", "skops")},
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]

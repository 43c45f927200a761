"""Stage 'sweep_shard': one job runs many trials of a model's sweep, each scored by
k-fold CV on the training part (stratified for classes; the test split is not an input).

Every trial's scores go to a cache under a digest of all they depend on (the model's
config with the trial's parameters, the training rows, the CV settings, the code), so a
trial already scored by any earlier shard or sweep is read back, not fitted again.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from tabflow.io import file_digest, read_json, write_json
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)


class Trials:
    """Scores trials of one model on the training part, through the trial cache."""

    def __init__(self, job: Job, seed: int | None = None) -> None:
        """`seed`: the CV folds' (default: training.random_state's)."""
        import pandas as pd

        from tabflow.data import xy
        from tabflow.fingerprint import code_of

        self.cfg = job.cfg
        self.model = str(job.model)
        self.threads = job.threads
        self.paths = Paths.from_config(job.cfg)
        summary = read_json(self.paths.data_summary)
        self.reading = summary["reading"]
        self.X, self.y = xy(pd.read_parquet(self.paths.train_data), job.cfg.data.target_col)
        self.primary = str(job.cfg.evaluation.primary_metric)
        self.task = str(job.cfg.task.name)
        self.metrics = list(job.cfg.task.metrics)
        self.base = {
            "model": job.cfg.model.to_dict(),
            "data": file_digest(self.paths.train_data, "sha256"),
            "reading": self.reading,
            "folds": int(job.cfg.evaluation.cv_folds),
            "seed": int(job.cfg.training.random_state) if seed is None else seed,
            "code": code_of("sweep_shard"),
        }
        self.fitted = self.cached = 0

    def score(self, params: dict[str, Any]) -> dict[str, Any]:
        """{"cv": {metric: {mean, std}}, "fit_seconds": s, "cached": bool} of one trial;
        a combination the estimator refuses when it is fitted (say, penalty l1 with the
        lbfgs solver) is a failed trial: {"cv": None, "error": its one line}, cached too
        (the same trial fails the same way)."""
        from tabflow import metrics
        from tabflow.models import build_pipeline, fold_jobs
        from tabflow.sweep import trial_key

        key = trial_key(**self.base, params=params)
        cache = self.paths.trial_cache(self.model, key)
        try:
            result = read_json(cache)
            self.cached += 1
            return {**result, "cached": True}
        except (OSError, ValueError):
            pass
        model_cfg = {**self.base["model"], "params": {**self.base["model"]["params"], **params}}
        pipeline = build_pipeline(model_cfg, self.reading, n_jobs=self.threads)
        start = time.perf_counter()
        try:
            cv = metrics.cross_validate(
                pipeline,
                self.X,
                self.y,
                self.base["folds"],
                self.base["seed"],
                self.task,
                self.metrics,
                n_jobs=fold_jobs(pipeline, self.threads),
                primary=self.primary,
                log_folds=False,
            )
            error = ""
        except Exception as err:  # the estimator refused these params at fit
            cv, error = None, failure(err)
        result = {"params": params, "cv": cv, "fit_seconds": time.perf_counter() - start}
        if error:
            result["error"] = error
        write_json(cache, result)
        self.fitted += 1
        return {**result, "cached": False}


def failure(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def row(
    trial: int, params: dict[str, Any], result: dict[str, Any], metrics: list[str]
) -> dict[str, Any]:
    """One trial: its number, parameters (with their types: JSON, not CSV), CV scores of
    `metrics` (NaN for a failed trial, whose `error` says why)."""
    from tabflow.metrics import cv_keys, flat_cv

    scores = (
        flat_cv(result["cv"]) if result.get("cv") else dict.fromkeys(cv_keys(metrics), math.nan)
    )
    return {
        "trial": trial,
        "params": params,
        **scores,
        "fit_seconds": round(float(result["fit_seconds"]), 3),
        "cached": bool(result["cached"]),
        "error": result.get("error", ""),
    }


def run(job: Job) -> None:
    spec = job.params["sweep"]
    shard, shards = int(job.params["shard"]), int(spec["shards"])
    trials = Trials(job)
    label = f"{trials.model} shard {shard + 1}/{shards}"
    study = None
    if spec["strategy"] == "tpe":
        study, rows = _tpe(job, trials, spec, shard, label)
    else:
        rows = []
        for index, params in job.params["trials"]:
            result = trials.score(params)
            rows.append(row(index, params, result, trials.metrics))
            _log_trial(label, index, params, result, trials.primary)
    log.info(
        "%s: %d trials, %d fitted, %d read from the trial cache",
        label,
        len(rows),
        trials.fitted,
        trials.cached,
    )
    out = Paths.from_config(job.cfg).sweep_shard(spec["name"], trials.model, shard)
    write_json(out, {"study": study, "trials": rows})


def _log_trial(label: str, index: int, params: dict, result: dict, primary: str) -> None:
    if result.get("error"):
        log.warning("%s: trial %d %s failed: %s", label, index, params, result["error"])
        return
    cv = result["cv"][primary]
    how = "cached" if result["cached"] else f"{result['fit_seconds']:.1f} s"
    log.info(
        "%s: trial %d %s: %s %.4f ± %.4f (%s)",
        label,
        index,
        params,
        primary,
        cv["mean"],
        cv["std"],
        how,
    )


def _tpe(job: Job, trials: Trials, spec: dict, shard: int, label: str) -> tuple[str, list]:
    """Ask Optuna for trials until the model's study has `trials` complete ones; the shards
    of a model share the study through a journal file next to its results."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from tabflow.metrics import ALL
    from tabflow.sweep import Dimension, distributions, trial_key

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = distributions([Dimension.from_dict(d) for d in spec["space"]])
    journal = Path(trials.paths.optuna_journal(spec["name"], trials.model))
    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    direction = "maximize" if ALL[trials.primary].greater_is_better else "minimize"
    name = trial_key(**trials.base)  # new data, CV or code: a new study
    optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    # Seeded by the shard and by how far the study got: a shard started again proposes
    # new points rather than the ones its first start proposed (the cache has those).
    started = len(optuna.load_study(study_name=name, storage=storage).trials)
    seed = trials.base["seed"] + 1000 * shard + started
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    rows: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in space.items()}
        result = trials.score(params)
        trial.set_user_attr("result", result)
        trial.set_user_attr("shard", shard)
        rows.append(row(trial.number, params, result, trials.metrics))
        _log_trial(label, trial.number, params, result, trials.primary)
        if result.get("error"):
            return math.nan  # Optuna records the trial as FAIL and goes on
        return float(result["cv"][trials.primary]["mean"])

    # Each shard owns a share of `trials` and runs until its share is done (complete or
    # failed), so the count is exact however the shards interleave (and raising `trials`
    # adds the rest).
    shards, total = int(spec["shards"]), int(spec["trials"])
    share = total // shards + (1 if shard < total % shards else 0)
    complete = tuple(getattr(optuna.trial.TrialState, state) for state in DONE)
    mine = [
        t
        for t in study.get_trials(deepcopy=False, states=complete)
        if t.user_attrs.get("shard") == shard
    ]
    if len(mine) < share:
        study.optimize(objective, n_trials=share - len(mine))
    return name, rows


DONE = ("COMPLETE", "FAIL")  # the states of a tpe trial that is over


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    import optuna.distributions as od

    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, od.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)

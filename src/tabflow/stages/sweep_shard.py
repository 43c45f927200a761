"""Stage 'sweep_shard': the shard jobs of a sweep take its trials, of every model, from
one queue until none is left, and score each by k-fold CV on the training part
(stratified for classes; the test split is not an input). However the trials' costs
spread, every shard stays busy until the last trial is taken.

The queue is a folder of this invocation (emptied as it starts): a shard takes a trial by
creating its file, which only one can (O_EXCL, also on a cluster's shared file system).
Every trial's scores go to a cache under a digest of all they depend on (the model's
config with the trial's parameters, the training rows, the CV settings, the code), so a
trial already scored by any earlier shard or sweep is read back, not fitted again: a
shard that starts again after a Ctrl-C takes the whole queue and reads most of it back.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from tabflow.io import file_digest, read_json, write_json
from tabflow.paths import Paths
from tabflow.stages import Declared, Job

log = logging.getLogger(__name__)


class Trials:
    """Scores trials of one model on the training part, through the trial cache."""

    def __init__(
        self,
        job: Job,
        seed: int | None = None,
        data: tuple | None = None,
        outer: int | None = None,
    ) -> None:
        """`seed`: the CV folds' (default: training.random_state's); `data`: the training
        rows (X, y), if already read; `outer` (nested CV): the trials are scored on the
        training rows outside that outer fold, which `held_out` scores the winner on."""
        import pandas as pd

        from tabflow.data import xy
        from tabflow.fingerprint import code_of
        from tabflow.metrics import folds_of

        self.cfg = job.cfg
        self.model = str(job.model)
        self.threads = job.threads
        self.paths = Paths.from_config(job.cfg)
        summary = read_json(self.paths.data_summary)
        self.reading = summary["reading"]
        if data is None:
            data = xy(pd.read_parquet(self.paths.train_data), job.cfg.data.target_col)
        self.data = data
        self.X, self.y = data
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
        self.held: tuple | None = None
        if outer is not None:
            X, y = data
            splits = folds_of(self.task, self.base["folds"], self.base["seed"]).split(X, y)
            inside, held = list(splits)[outer]
            self.X, self.y = X.iloc[inside], y.iloc[inside]
            self.held = (X.iloc[held], y.iloc[held])
            self.base["outer"] = outer
        self.fitted = self.cached = 0

    def score(self, params: dict[str, Any]) -> dict[str, Any]:
        """{"cv": {metric: {mean, std}}, "fit_seconds": s, "cached": bool} of one trial;
        a combination the estimator refuses when it is fitted (say, penalty l1 with the
        lbfgs solver) is a failed trial: {"cv": None, "error": its one line}, cached too
        (the same trial fails the same way)."""
        from tabflow import metrics
        from tabflow.models import fold_jobs
        from tabflow.sweep import trial_key

        key = trial_key(**self.base, params=params)
        cache = self.paths.trial_cache(self.model, key)
        try:
            result = read_json(cache)
            self.cached += 1
            return {**result, "cached": True}
        except (OSError, ValueError):
            pass
        pipeline = self.pipeline(params)
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

    def pipeline(self, params: dict[str, Any]) -> Any:
        """The model's unfitted pipeline with a trial's parameters."""
        from tabflow.models import build_pipeline

        model = self.base["model"]
        return build_pipeline(
            {**model, "params": {**model["params"], **params}}, self.reading, n_jobs=self.threads
        )

    def held_out(self, params: dict[str, Any]) -> dict[str, Any]:
        """Nested CV: the parameters fitted on the rows outside the outer fold and scored
        on the fold, {metric: value} (or {"error": its one line}); cached like a trial."""
        from tabflow.metrics import score_fitted
        from tabflow.sweep import trial_key

        assert self.held is not None, "held_out needs an outer fold"
        cache = self.paths.trial_cache(self.model, trial_key(**self.base, held=params))
        try:
            return read_json(cache)
        except (OSError, ValueError):
            pass
        try:
            fitted = self.pipeline(params).fit(self.X, self.y)
            X, y = self.held
            result = score_fitted(fitted, X, y.to_numpy(), self.task, self.metrics)
        except Exception as err:
            result = {"error": failure(err)}
        write_json(cache, result)
        return result


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
    paths = Paths.from_config(job.cfg)
    label = f"shard {shard + 1}/{shards}"
    queue = Queue(paths.sweep_queue(spec["name"]))
    scorers: dict[tuple[str, int | None], Trials] = {}
    studies: dict[tuple[str, int | None], Any] = {}
    rows: list[dict[str, Any]] = []
    for model, index, outer in queue_order(spec):
        if not queue.take(search_label(model, outer), index):
            continue  # another shard has it
        if (model, outer) not in scorers:
            cfg = Declared(job.params["configs"][model], "sweep_shard")
            first = next(iter(scorers.values()), None)  # the training rows, read once
            one = Job(cfg, model=model, threads=job.threads)
            scorers[model, outer] = Trials(one, data=first and first.data, outer=outer)
        trials = scorers[model, outer]
        name = f"{label}: {search_label(model, outer)}"
        started = time.time()  # wall clock: make bench reads when the trial phase ran
        if spec["strategy"] == "tpe":
            if (model, outer) not in studies:
                studies[model, outer] = _study(trials, spec, shard)
            line = _tpe_trial(studies[model, outer], trials, spec, index, name)
        else:
            params = spec["models"][model]["trials"][index]
            result = trials.score(params)
            line = row(index, params, result, trials.metrics)
            _log_trial(name, index, params, result, trials.primary)
        times = {"started": started, "ended": time.time()}
        rows.append({"model": model, "outer": outer, **times, **line})
    fitted = sum(t.fitted for t in scorers.values())
    cached = sum(t.cached for t in scorers.values())
    log.info(
        "%s: %d trials, %d fitted, %d read from the trial cache", label, len(rows), fitted, cached
    )
    names = {search_label(*key): study.study_name for key, study in studies.items()}
    write_json(paths.sweep_shard(spec["name"], shard), {"studies": names, "trials": rows})


def search_label(model: str, outer: int | None) -> str:
    """A model's search (`rf`), or its search inside outer fold k of nested CV (`rf@outer2`)."""
    return model if outer is None else f"{model}@outer{outer}"


def queue_order(spec: dict[str, Any]) -> list[tuple[str, int, int | None]]:
    """Every (model, trial, outer fold) of the sweep, the models' trials interleaved (the
    costly model's trials spread over the whole queue, not left for its end); outer fold
    None: the search itself, k: its copy inside outer fold k (nested CV). tpe: a search's
    `trials` slots, each asked of Optuna when a shard takes it."""
    counts = {m: int(one["count"]) for m, one in spec["models"].items()}
    outers = [None, *range(int(spec["outer"]))]
    return [
        (m, i, k)
        for i in range(max(counts.values()))
        for k in outers
        for m in counts
        if i < counts[m]
    ]


class Queue:
    """This invocation's queue of trials: taking one creates its file, which only one
    shard can."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, search: str, index: int) -> bool:
        try:
            os.close(os.open(self.folder / f"{search}-{index}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True


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


def _study(trials: Trials, spec: dict[str, Any], shard: int) -> Any:
    """The model's Optuna study, which every shard shares through a journal file next to
    its results; this shard's sampler."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from tabflow.metrics import ALL
    from tabflow.sweep import trial_key

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal = Path(trials.paths.optuna_journal(spec["name"], trials.model))
    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    direction = "maximize" if ALL[trials.primary].greater_is_better else "minimize"
    name = trial_key(**trials.base)  # new data, CV or code: a new study
    optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    # Seeded by the shard and by how far the study got: a shard started again proposes
    # new points rather than the ones its first start proposed (the cache has those).
    started = len(optuna.load_study(study_name=name, storage=storage).trials)
    sampler = optuna.samplers.TPESampler(seed=trials.base["seed"] + 1000 * shard + started)
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler)


def _tpe_trial(study: Any, trials: Trials, spec: dict, slot: int, label: str) -> dict:
    """Slot `slot` of a model's tpe trials: the trial an earlier invocation ran for it, or
    a new one asked of the study."""
    import optuna

    from tabflow.sweep import Dimension, distributions

    complete = tuple(getattr(optuna.trial.TrialState, state) for state in DONE)
    for done in study.get_trials(deepcopy=False, states=complete):
        if done.user_attrs.get("slot") == slot and "result" in done.user_attrs:
            trials.cached += 1
            result = {**done.user_attrs["result"], "cached": True}
            return row(done.number, done.params, result, trials.metrics)
    space = distributions([Dimension.from_dict(d) for d in spec["models"][trials.model]["space"]])
    trial = study.ask()
    params = {name: _suggest(trial, name, dist) for name, dist in space.items()}
    result = trials.score(params)
    trial.set_user_attr("result", result)
    trial.set_user_attr("slot", slot)
    _log_trial(label, trial.number, params, result, trials.primary)
    if result.get("error"):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # recorded, and the sweep goes on
    else:
        study.tell(trial, float(result["cv"][trials.primary]["mean"]))
    return row(trial.number, params, result, trials.metrics)


DONE = ("COMPLETE", "FAIL")  # the states of a tpe trial that is over


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    import optuna.distributions as od

    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, od.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)

"""The metrics of each task, declared once: cross-validation, the test score, permutation
importance, the leaderboard, MLflow, the registry's gate, sweeps and the notifications all
read METRICS.

Add a metric with one entry here (an `sklearn.metrics` function, what it takes, its
direction). Import-light: the Snakefile and the config schema read the names; sklearn
loads only when scoring.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tabflow.tasks import TASKS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    function: str  # a function of sklearn.metrics, called as function(y_true, y, **kwargs)
    # What y is: "label" (the predicted class, or value), "score" (the positive class's
    # probability) or "proba" (every class's probability, one column per class).
    needs: str = "label"
    greater_is_better: bool = True
    kwargs: tuple[tuple[str, Any], ...] = ()
    every_class: bool = False  # labels=every class: a fold's rows may lack one
    no_zero_target: bool = False  # undefined where a target is 0 (MAPE): left out then

    def score(self, y_true: Any, responses: Responses) -> float:
        from sklearn import metrics

        y = getattr(responses, self.needs)
        kwargs = dict(self.kwargs)
        if self.every_class:
            kwargs["labels"] = list(range(responses.proba.shape[1]))
        return float(getattr(metrics, self.function)(y_true, y, **kwargs))


@dataclass(frozen=True)
class Responses:
    """What a fitted model says about some rows: its labels (or values), and for a
    classifier its class probabilities (and, binary, the positive class's)."""

    label: Any = None
    proba: Any = None
    score: Any = None

    def rows(self, start: int, stop: int) -> Responses:
        """The responses of rows start..stop."""
        return Responses(*(None if v is None else v[start:stop] for v in self.__dict__.values()))


_NO_WARNING = (("zero_division", 0),)
METRICS: dict[str, dict[str, Metric]] = {
    "binary": {
        "accuracy": Metric("accuracy_score"),
        "precision": Metric("precision_score", kwargs=_NO_WARNING),
        "recall": Metric("recall_score", kwargs=_NO_WARNING),
        "f1": Metric("f1_score", kwargs=_NO_WARNING),
        "roc_auc": Metric("roc_auc_score", needs="score"),
        "average_precision": Metric("average_precision_score", needs="score"),
        "log_loss": Metric("log_loss", needs="score", greater_is_better=False),
    },
    "multiclass": {
        "accuracy": Metric("accuracy_score"),
        "balanced_accuracy": Metric("balanced_accuracy_score"),
        "f1_macro": Metric("f1_score", kwargs=(("average", "macro"), *_NO_WARNING)),
        "f1_weighted": Metric("f1_score", kwargs=(("average", "weighted"), *_NO_WARNING)),
        "roc_auc_ovr": Metric(
            "roc_auc_score",
            needs="proba",
            kwargs=(("multi_class", "ovr"), ("average", "macro")),
            every_class=True,
        ),
        "log_loss": Metric("log_loss", needs="proba", greater_is_better=False, every_class=True),
    },
    "regression": {
        "rmse": Metric("root_mean_squared_error", greater_is_better=False),
        "mae": Metric("mean_absolute_error", greater_is_better=False),
        "r2": Metric("r2_score"),
        "median_ae": Metric("median_absolute_error", greater_is_better=False),
        "mape": Metric(
            "mean_absolute_percentage_error", greater_is_better=False, no_zero_target=True
        ),
    },
}
CV_STATS = ("mean", "std")
# Every metric name of every task (a name means the same, direction included, wherever it
# appears): what a leaderboard's columns, a sweep's trials and a logged run may hold.
ALL = {name: m for task in METRICS.values() for name, m in task.items()}


def names(task: str, has_zero: bool = False) -> list[str]:
    """The metrics of a task that apply to its data (MAPE not where a target is 0)."""
    return [n for n, m in METRICS[task].items() if not (has_zero and m.no_zero_target)]


def cv_key(metric: str, stat: str) -> str:
    """The name of a cross-validated estimate: cv_roc_auc_mean, cv_log_loss_std, ..."""
    return f"cv_{metric}_{stat}"


def cv_keys(metrics: list[str]) -> list[str]:
    return [cv_key(m, s) for m in metrics for s in CV_STATS]


def scored(cv: dict[str, Any]) -> list[str]:
    """The metrics of a cross_validate() result (or of a metrics file), in its order."""
    return [k for k in cv if k in ALL]


def flat_cv(cv: dict[str, Any]) -> dict[str, float]:
    """A cross_validate() result as {cv_roc_auc_mean: ..., cv_roc_auc_std: ..., ...}."""
    return {cv_key(m, s): cv[m][s] for m in scored(cv) for s in CV_STATS}


def nested_cv(flat: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The inverse of flat_cv: {roc_auc: {mean: ..., std: ...}, ...}."""
    return {
        m: {s: flat[cv_key(m, s)] for s in CV_STATS}
        for m in ALL
        if all(cv_key(m, s) in flat for s in CV_STATS)
    }


def ordered(primary: str, metrics: list[str]) -> list[str]:
    """The metric names, the ranking one first."""
    return [primary, *(m for m in metrics if m != primary)]


def better_first(metric: str, value: float) -> float:
    """Sort key that puts the best value of `metric` first."""
    return -value if ALL[metric].greater_is_better else value


def needs(task: str, metrics: list[str]) -> set[str]:
    """What the given metrics of a task take from a model (Metric.needs)."""
    return {METRICS[task][m].needs for m in metrics}


def responses(model: Any, X: pd.DataFrame, task: str, wanted: set[str] | None = None):
    """What a model says about rows X: one predict and (a classifier) one predict_proba
    call for every metric, each only if `wanted` (default: everything) needs it."""
    wanted = wanted if wanted is not None else {"label", "proba", "score"}
    label = model.predict(X) if "label" in wanted else None
    if task == "regression" or not wanted & {"proba", "score"}:
        return Responses(label)
    proba = model.predict_proba(X)
    return Responses(label, proba, proba[:, 1] if task == "binary" else None)


def score_all(y_true: np.ndarray, said: Responses, task: str, metrics: list[str]):
    """{metric: value} of the given metrics of a task."""
    specs = METRICS[task]
    return {name: specs[name].score(y_true, said) for name in metrics}


def score_fitted(
    model: Any, X: pd.DataFrame, y_true: np.ndarray, task: str, metrics: list[str]
) -> dict[str, float]:
    """Every metric of a fitted model on rows X (responses: one call per kind of answer,
    not one per metric)."""
    said = responses(model, X, task, needs(task, metrics))
    return score_all(y_true, said, task, metrics)


def folds_of(task: str, folds: int, seed: int) -> Any:
    """The CV splitter of a task: stratified for classes, shuffled k-fold for amounts."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = StratifiedKFold if TASKS[task].stratified else KFold
    return splitter(n_splits=folds, shuffle=True, random_state=seed)


def cross_validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    folds: int,
    seed: int,
    task: str,
    metrics: list[str],
    n_jobs: int = 1,
    label: str = "",
    primary: str | None = None,
    log_folds: bool = True,
) -> dict[str, Any]:
    """k-fold CV of an unfitted pipeline (folds_of the task): mean and std (ddof 0) of each
    metric.

    What sklearn's cross_validate computes, fold by fold, logging each fold as it ends (a
    big table would otherwise sit silent for minutes); `n_jobs` folds at a time. Each
    fold predicts its rows once for every metric (score_fitted).
    """
    from joblib import Parallel, delayed
    from sklearn.base import clone

    primary = primary or metrics[0]
    splits = list(folds_of(task, folds, seed).split(X, y))

    def fold(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
        fitted = clone(pipeline).fit(X.iloc[train], y.iloc[train])
        return score_fitted(fitted, X.iloc[test], y.iloc[test].to_numpy(), task, metrics)

    started = time.perf_counter()
    scores = []
    jobs = (delayed(fold)(train, test) for train, test in splits)
    for i, one in enumerate(Parallel(n_jobs=n_jobs, return_as="generator")(jobs), 1):
        scores.append(one)
        elapsed = time.perf_counter() - started
        if log_folds:
            log.info(
                "%sCV fold %d/%d: %s %.4f (%.1f s)", label, i, folds, primary, one[primary], elapsed
            )
    return summarize(scores, metrics)


def summarize(scores: list[dict[str, float]], metrics: list[str]) -> dict[str, Any]:
    """Each fold's scores -> {"folds": k, metric: {mean, std (ddof 0)}}: a CV result."""
    import numpy as np

    out: dict[str, Any] = {"folds": len(scores)}
    for name in metrics:
        values = np.asarray([one[name] for one in scores], dtype=float)
        out[name] = {"mean": float(values.mean()), "std": float(values.std())}
    return out

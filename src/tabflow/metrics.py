"""The metrics, declared once: cross-validation, the test score, permutation importance,
the leaderboard, MLflow and the notifications all read METRICS.

Add a metric with one entry here (an `sklearn.metrics` function). Import-light: the
Snakefile and the config schema read the names; sklearn loads only when scoring.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    function: str  # a function of sklearn.metrics, called as function(y_true, y, **kwargs)
    uses_scores: bool  # y is the positive class's probability (else: the predicted labels)
    greater_is_better: bool = True
    kwargs: tuple[tuple[str, Any], ...] = ()

    def score(self, y_true: Any, y: Any) -> float:
        from sklearn import metrics

        return float(getattr(metrics, self.function)(y_true, y, **dict(self.kwargs)))


_NO_WARNING = (("zero_division", 0),)
METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy_score", uses_scores=False),
    "precision": Metric("precision_score", uses_scores=False, kwargs=_NO_WARNING),
    "recall": Metric("recall_score", uses_scores=False, kwargs=_NO_WARNING),
    "f1": Metric("f1_score", uses_scores=False, kwargs=_NO_WARNING),
    "roc_auc": Metric("roc_auc_score", uses_scores=True),
    "average_precision": Metric("average_precision_score", uses_scores=True),
    "log_loss": Metric("log_loss", uses_scores=True, greater_is_better=False),
}
CV_STATS = ("mean", "std")


def cv_key(metric: str, stat: str) -> str:
    """The name of a cross-validated estimate: cv_roc_auc_mean, cv_log_loss_std, ..."""
    return f"cv_{metric}_{stat}"


def cv_keys() -> list[str]:
    return [cv_key(m, s) for m in METRICS for s in CV_STATS]


def flat_cv(cv: dict[str, Any]) -> dict[str, float]:
    """A cross_validate() result as {cv_roc_auc_mean: ..., cv_roc_auc_std: ..., ...}."""
    return {cv_key(m, s): cv[m][s] for m in METRICS for s in CV_STATS}


def nested_cv(flat: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The inverse of flat_cv: {roc_auc: {mean: ..., std: ...}, ...}."""
    return {m: {s: flat[cv_key(m, s)] for s in CV_STATS} for m in METRICS}


def ordered(primary: str) -> list[str]:
    """The metric names, the ranking one first."""
    return [primary, *(m for m in METRICS if m != primary)]


def better_first(metric: str, value: float) -> float:
    """Sort key that puts the best value of `metric` first."""
    return -value if METRICS[metric].greater_is_better else value


def score_all(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Every metric of the positive class (label 1) from labels and probabilities."""
    return {
        name: m.score(y_true, y_score if m.uses_scores else y_pred) for name, m in METRICS.items()
    }


def score_fitted(model: Any, X: pd.DataFrame, y_true: np.ndarray) -> dict[str, float]:
    """Every metric of a fitted model on rows X: one predict and one predict_proba call
    for all of them (a scorer per metric would predict once per metric)."""
    return score_all(y_true, model.predict(X), model.predict_proba(X)[:, 1])


def cross_validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    folds: int,
    seed: int,
    n_jobs: int = 1,
    label: str = "",
    primary: str = "roc_auc",
    log_folds: bool = True,
) -> dict[str, Any]:
    """Stratified k-fold CV of an unfitted pipeline: mean and std (ddof 0) of each metric.

    What sklearn's cross_validate computes, fold by fold, logging each fold as it ends (a
    big table would otherwise sit silent for minutes); `n_jobs` folds at a time. Each
    fold predicts its rows once for every metric (score_fitted).
    """
    import numpy as np
    from joblib import Parallel, delayed
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y))

    def fold(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
        fitted = clone(pipeline).fit(X.iloc[train], y.iloc[train])
        return score_fitted(fitted, X.iloc[test], y.iloc[test].to_numpy())

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
    out: dict[str, Any] = {"folds": folds}
    for name in METRICS:
        values = np.asarray([one[name] for one in scores], dtype=float)
        out[name] = {"mean": float(values.mean()), "std": float(values.std())}
    return out

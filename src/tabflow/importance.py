"""Permutation feature importance of a fitted model, for any metric of tabflow.metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tabflow.metrics import METRICS, responses

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd


def permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    metric: str,
    repeats: int,
    seed: int,
    max_rows: int | None = None,
) -> pd.DataFrame:
    """How much `metric` worsens when one raw feature column is shuffled, most important first.

    Same definition as sklearn.inspection.permutation_importance (a drop for a metric where
    higher is better, a rise for a loss), but the `repeats` shuffled copies of a column are
    scored with one predict call on the stacked rows: a 300-tree forest pays its per-call
    overhead 13 times here instead of 130. On more than `max_rows` rows, on a seeded sample
    of that many (its `max_samples`): the cost is rows x repeats x features predictions,
    which at a million test rows outweighs the training.
    """
    import numpy as np
    import pandas as pd

    if max_rows is not None and len(X) > max_rows:
        keep = np.sort(np.random.RandomState(seed).choice(len(X), max_rows, replace=False))
        log.info("permutation importance on %d of the %d test rows", max_rows, len(X))
        X, y = X.iloc[keep], y.iloc[keep]
    spec = METRICS[task][metric]
    sign = 1.0 if spec.greater_is_better else -1.0
    y_true = np.asarray(y)
    n = len(X)

    def predict(frame: pd.DataFrame) -> Any:
        return responses(model, frame, task, {spec.needs})

    baseline = spec.score(y_true, predict(X))
    rng = np.random.RandomState(seed)
    means, stds = [], []
    for i, column in enumerate(X.columns, 1):
        stacked = pd.concat([X] * repeats, ignore_index=True)
        values = X[column].to_numpy()
        stacked[column] = np.concatenate([values[rng.permutation(n)] for _ in range(repeats)])
        said = predict(stacked)
        worse = [
            sign * (baseline - spec.score(y_true, said.rows(r * n, (r + 1) * n)))
            for r in range(repeats)
        ]
        means.append(float(np.mean(worse)))
        stds.append(float(np.std(worse)))
        log.info("permutation importance %d/%d: %s %.4f", i, X.shape[1], column, means[-1])
    table = pd.DataFrame(
        {"feature": list(X.columns), "importance_mean": means, "importance_std": stds}
    )
    return table.sort_values(
        ["importance_mean", "feature"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)

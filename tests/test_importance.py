"""Permutation importance: what it costs, and a cap on the rows it pays for."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from tabflow.importance import permutation_importance


class Counting:
    """A fitted classifier that counts the rows it is asked about."""

    def __init__(self, model):
        self.model, self.rows = model, 0

    def predict_proba(self, X):
        self.rows += len(X)
        return self.model.predict_proba(X)


def _data(n: int = 1000):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y = pd.Series((X["a"] + 0.3 * rng.normal(size=n) > 0).astype(int))
    return Counting(LogisticRegression().fit(X, y)), X, y


def test_on_more_rows_than_the_cap_it_scores_a_seeded_sample_of_the_cap():
    model, X, y = _data()
    capped = permutation_importance(model, X, y, "binary", "roc_auc", 5, 42, max_rows=200)
    assert model.rows == 200 + 200 * 5 * 3, "the baseline, then 5 shuffles of 3 columns"
    assert capped["feature"].iloc[0] == "a" and capped["importance_mean"].iloc[0] > 0.2
    again = permutation_importance(model, X, y, "binary", "roc_auc", 5, 42, max_rows=200)
    pd.testing.assert_frame_equal(capped, again)


def test_under_the_cap_every_row_counts_as_without_one():
    model, X, y = _data()
    every = permutation_importance(model, X, y, "binary", "roc_auc", 5, 42)
    under = permutation_importance(model, X, y, "binary", "roc_auc", 5, 42, max_rows=1000)
    pd.testing.assert_frame_equal(every, under)
    assert model.rows == 2 * (1000 + 1000 * 5 * 3)

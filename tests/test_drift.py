"""Drift: the population stability index of new rows against the training profile."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tabflow.drift import compare, labels, profile


def _frame(shift: float, colours: list[str], n: int = 400) -> pd.DataFrame:
    rng = np.random.RandomState(0)
    return pd.DataFrame(
        {"x": rng.normal(shift, 1, n), "c": rng.choice(colours, n), "k": rng.randint(0, 3, n)}
    )


def test_the_same_rows_do_not_drift_and_shifted_rows_do():
    train = _frame(0.0, ["red", "blue"])
    ref = json.loads(json.dumps(profile(train, ["x"], ["c", "k"])))  # as saved and read back
    same = compare(ref, train).set_index("feature")["psi"]
    assert (same < 1e-9).all(), same
    moved = compare(ref, _frame(2.0, ["red", "green"])).set_index("feature")["psi"]
    assert moved["x"] > 0.2 and moved["c"] > 0.2 and moved["k"] < 0.1


def test_category_labels_do_not_depend_on_how_numbers_were_read():
    as_ints = labels(pd.Series([0, 2, 3]))
    as_floats = labels(pd.Series([0.0, 2.0, np.nan]))
    assert list(as_ints) == ["0", "2", "3"] and list(as_floats[:2]) == ["0", "2"]
    assert pd.isna(as_floats[2])

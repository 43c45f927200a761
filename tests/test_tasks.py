"""The task a target makes (data.task: auto), and what each explicit task accepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabflow.errors import ConfigError, DataError
from tabflow.tasks import MAX_CODES, detect, resolve

RNG = np.random.RandomState(0)
AUTO = [
    ("two words", ["yes", "no"] * 20, "binary"),
    ("three words", ["ash", "elm", "oak"] * 20, "multiclass"),
    ("booleans", [True, False] * 20, "binary"),
    ("0 and 1", [0, 1] * 20, "binary"),
    ("two numbers", [2.5, 7.5] * 20, "binary"),
    ("five codes", list(range(5)) * 20, "multiclass"),
    ("codes as floats", [1.0, 2.0, 3.0] * 20, "multiclass"),
    ("the most codes", list(range(MAX_CODES)) * 20, "multiclass"),
    ("real numbers", list(RNG.normal(size=100)), "regression"),
    ("many whole numbers, few rows each", list(RNG.randint(25, 346, 442)), "regression"),
]


@pytest.mark.parametrize(("values", "task"), [c[1:] for c in AUTO], ids=[c[0] for c in AUTO])
def test_auto_decides_from_the_target(values, task):
    detected = detect(pd.Series(values), "y")
    assert detected.task == task
    assert "'y' holds" in detected.reason


def test_the_reason_says_how_to_choose_the_other_task():
    assert "set data.task=regression" in detect(pd.Series([1, 2, 3] * 9), "y").reason
    assert "set data.task=multiclass" in detect(pd.Series(range(300)), "y").reason


def test_many_whole_numbers_with_many_rows_each_are_told_not_guessed():
    """50 codes in 5000 rows: classes or amounts? The user says."""
    with pytest.raises(ConfigError) as err:
        detect(pd.Series(list(range(50)) * 100), "grade")
    message = str(err.value)
    assert message.startswith("data.task=auto cannot tell what target 'grade' is: 50 distinct")
    assert "set data.task=regression" in message and "data.task=multiclass" in message


def test_missing_values_are_left_out_and_a_target_of_none_is_refused():
    assert detect(pd.Series([1.0, None, 0.0, None] * 5), "y").task == "binary"
    with pytest.raises(DataError, match="target column 'y' .* has no values"):
        detect(pd.Series([None, None], dtype=float), "y")


def test_a_zero_target_is_noted_for_regression():
    assert detect(pd.Series([0.0, 1.5, 2.25, 3.5]), "y").has_zero
    assert not detect(pd.Series([0.5, 1.5, 2.25, 3.5]), "y").has_zero


def test_an_explicit_task_is_checked_against_the_target():
    codes = pd.Series([0, 1, 2, 4] * 5)
    assert resolve("regression", codes, "y", "").task == "regression"
    assert resolve("multiclass", codes, "y", "").task == "multiclass"
    with pytest.raises(ConfigError) as err:
        resolve("binary", codes, "y", "")
    assert "make it binary with data.positive_when (positive when above 0: " in str(err.value)
    assert str(err.value).split("above 0: ")[1].startswith("data.positive_when=gt:0)")
    with pytest.raises(ConfigError, match="data.task=regression needs a numeric target"):
        resolve("regression", pd.Series(["a", "b", "c"]), "y", "")


def test_positive_when_makes_the_task_binary_and_no_other():
    codes = pd.Series([0, 1, 2, 4] * 5)
    assert resolve("auto", codes, "y", "gt:0").task == "binary"
    with pytest.raises(ConfigError, match="makes the target binary, but data.task=multiclass"):
        resolve("multiclass", codes, "y", "gt:0")

"""The champion gate and the problem a model solves (unit tests; end to end in
test_registry_e2e.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tabflow import registry
from tabflow.stages.register import gate

from .conftest import reading_for

HELD = {"version": 1, "model": "lr", "cv": 0.9324}


@pytest.mark.parametrize(
    ("metric", "cv", "delta", "promoted", "why"),
    [
        (
            "roc_auc",
            0.9324,
            0.0,
            False,
            "CV roc_auc 0.9324 against champion v1 (lr) 0.9324: not better",
        ),
        ("roc_auc", 0.9200, 0.0, False, "not better"),
        ("roc_auc", 0.9330, 0.001, False, "better by 0.0006, not by more than min_delta=0.001"),
        ("roc_auc", 0.9400, 0.001, True, "better by 0.0076, more than min_delta=0.001"),
        (
            "log_loss",
            0.9000,
            0.0,
            True,
            "CV log_loss 0.9000 against champion v1 (lr) 0.9324: better by 0.0324",
        ),
        ("log_loss", 0.9324, 0.0, False, "not better"),
    ],
)
def test_a_tie_is_not_a_win(metric, cv, delta, promoted, why):
    got, text = gate(metric, cv, HELD, delta)
    assert got is promoted
    assert why in text


def test_a_champion_that_cannot_be_scored_is_no_reason_to_promote():
    held = {**HELD, "cv": None, "problem": "ValueError: columns are missing"}
    promoted, why = gate("roc_auc", 0.99, held, 0.0)
    assert not promoted
    assert (
        why
        == "champion v1 (lr) could not be scored (ValueError: columns are missing): not compared"
    )


def _reading(**data):
    frame = pd.DataFrame({"age": [50, 60], "colour": ["red", "blue"]})
    return reading_for(frame, ["colour"], **data)


def test_the_problem_is_the_task_target_positive_class_and_feature_kinds():
    base = registry.problem_key(_reading())
    assert registry.problem_key(_reading(raw_path="elsewhere/rows-2027.csv")) == base, (
        "new rows of the same problem compete with the champion"
    )
    assert registry.problem_key(_reading(positive_name="ill")) == base, "a class's name"
    assert registry.problem_key(_reading(target_col="outcome")) != base
    assert registry.problem_key(_reading(positive_label=0)) != base
    assert registry.problem_key(_reading(positive_when="> 1")) != base
    other = reading_for(pd.DataFrame({"age": [50, 60], "colour": [1, 2]}), ["colour"])
    assert registry.problem_key(other) != base, "colour holds numbers there"
    assert registry.problem_text(_reading()) == "binary: target = 1, 2 features (rows.csv)"


def test_a_model_of_another_task_is_another_problem():
    """A regression model is never compared with a classifier of the same target."""
    binary = registry.problem_key(_reading())
    regression = _reading(task="regression")
    multiclass = _reading(task="multiclass", classes=("a", "b", "c"))
    keys = {binary, registry.problem_key(regression), registry.problem_key(multiclass)}
    assert len(keys) == 3
    fewer = _reading(task="multiclass", classes=("a", "b"))
    assert registry.problem_key(fewer) != registry.problem_key(multiclass), "other classes"
    assert registry.problem_text(regression) == "regression: target, 2 features (rows.csv)"
    assert registry.problem_text(multiclass).startswith("multiclass: target (3 classes), 2 ")

"""The tasks, declared once: binary and multiclass classification, regression. Each is a row
of TASKS (its kind of estimator, split, default metric, names); the metrics, figures and
answers of a task are rows of their own tables (tabflow.metrics.METRICS,
tabflow.plots.PLOTS, tabflow_rows.answer).

`data.task: auto` decides from the target column, read when the plan is made (the rules'
outputs depend on the task): text, booleans or two values are classes; a few whole
numbers are class codes; other numbers are amounts to predict. Where the line is unclear
(many whole numbers, each a few rows' worth of a class) it says so and stops rather than
guess. scikit-learn's `type_of_target` draws the first cut. Import-light: the plan reads
TASKS on every Snakemake start; pandas and scikit-learn load only to detect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tabflow.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Task:
    kind: str  # "classification" or "regression": the section of a model file it uses
    primary: str  # the default evaluation.primary_metric
    noun: str  # what its registered model is: <name>_<noun>
    stratified: bool  # split and CV folds keep each class's share


TASKS: dict[str, Task] = {
    "binary": Task("classification", "roc_auc", "classifier", stratified=True),
    "multiclass": Task("classification", "f1_macro", "classifier", stratified=True),
    "regression": Task("regression", "rmse", "regressor", stratified=False),
}
KINDS = ("classification", "regression")
# Whole-number targets: up to this many distinct values are class codes; with fewer rows
# than MIN_CLASS_ROWS per value they are amounts (such classes could not be learned).
MAX_CODES = 10
MIN_CLASS_ROWS = 10


@dataclass(frozen=True)
class Detected:
    task: str
    reason: str  # one line: what the target holds, and how to choose another task
    has_zero: bool = False  # regression: a target of 0 somewhere (no MAPE then)


def experiment_suffix(task: str) -> str:
    """The problem's experiment is <name>_classification or <name>_regression."""
    return TASKS[task].kind


def detect(values: pd.Series, target: str) -> Detected:
    """The task `data.task: auto` chooses for a target column (missing values left out)."""
    import pandas as pd
    from sklearn.utils.multiclass import type_of_target

    known = values.dropna()
    if known.empty:
        raise DataError(f"target column {target!r} (data.target_col) has no values")
    distinct = int(known.nunique())
    other = "; for another task set data.task (binary, multiclass or regression)"
    if not pd.api.types.is_numeric_dtype(known) or pd.api.types.is_bool_dtype(known):
        task = "binary" if distinct <= 2 else "multiclass"
        return Detected(task, f"target {target!r} holds {distinct} classes (text){other}")
    numbers = known.astype("float64")
    kind = type_of_target(numbers.to_numpy())
    if distinct <= 2:
        return Detected("binary", f"target {target!r} holds {distinct} values{other}")
    if kind == "continuous":
        return Detected(
            "regression",
            f"target {target!r} holds {distinct} distinct numbers, not all whole: amounts to "
            f"predict{other}",
            has_zero=bool((numbers == 0).any()),
        )
    if distinct <= MAX_CODES:
        return Detected(
            "multiclass",
            f"target {target!r} holds {distinct} whole numbers: class codes; if they are "
            f"amounts, set data.task=regression",
        )
    if len(known) < MIN_CLASS_ROWS * distinct:
        return Detected(
            "regression",
            f"target {target!r} holds {distinct} distinct whole numbers in {len(known)} rows, "
            f"too many to be classes: amounts to predict; if they are codes, set "
            f"data.task=multiclass",
            has_zero=bool((numbers == 0).any()),
        )
    raise ConfigError(
        f"data.task=auto cannot tell what target {target!r} is: {distinct} distinct whole "
        f"numbers in {len(known)} rows; set data.task=regression if they are amounts (a "
        f"count, a price) or data.task=multiclass if they are codes of classes"
    )


def resolve(setting: str, values: pd.Series, target: str, rule: str) -> Detected:
    """The task of a run: data.task as given (checked against the target), or detected.
    `rule`: data.positive_when, which makes a numeric target binary."""
    import pandas as pd

    known = values.dropna()
    if known.nunique() == 1:
        raise DataError(
            f"target column {target!r} (data.target_col) has one value only "
            f"({known.iloc[0]}): there is nothing to learn; check the file or data.target_col"
        )
    numeric = pd.api.types.is_numeric_dtype(known) and not pd.api.types.is_bool_dtype(known)
    has_zero = bool(numeric and (known.astype("float64") == 0).any())
    if rule:
        if setting not in ("auto", "binary"):
            raise ConfigError(
                f"data.positive_when={rule!r} makes the target binary, but data.task="
                f"{setting}; leave one of them out"
            )
        return Detected("binary", f"data.positive_when={rule!r} makes {target!r} binary")
    if setting == "auto":
        return detect(values, target)
    if setting == "regression" and not numeric:
        shown = ", ".join(map(repr, known.astype(str).unique()[:3]))
        raise ConfigError(
            f"data.task=regression needs a numeric target, but {target!r} holds text "
            f"({shown}, ...); set data.task=multiclass (or auto)"
        )
    if setting == "binary" and known.nunique() > 2:
        hint = " (positive when above 0: data.positive_when=gt:0)" if numeric else ""
        raise ConfigError(
            f"data.task=binary, but target {target!r} holds {known.nunique()} values; make it "
            f"binary with data.positive_when{hint}, or set data.task=multiclass"
        )
    return Detected(setting, f"data.task={setting}", has_zero=has_zero)

"""Checks of the input table before any model is trained.

Errors (DataError, one line naming the file, the column and the fix): a column of numbers
with a few stray strings, a column missing in every row, a class too small for the split
and the cross-validation. Row IDs: see `id_like_columns`. Warnings (logged and kept in the
report): constant columns, a feature that alone predicts the target almost perfectly (a
likely leak). The report goes into results/data/summary.json, which every
MLflow model run carries as `data/summary.json`.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from tabflow.errors import DataError

log = logging.getLogger(__name__)

LEAK_SCORE = 0.99  # single-feature ROC AUC (numeric) or purity (categorical)
MOSTLY_NUMBERS = 0.9  # share of a text column's values that parse as numbers
ID_LIKE = 0.95  # distinct values per row above which a text or integer column is an ID
ID_MIN_ROWS = 20


def check_values(df: pd.DataFrame, source: str, target: str, categorical: set[str]) -> None:
    """A column of numbers with a few other values is read as text, then one-hot encoded
    with a level per number: name those values instead (unless it is declared categorical)."""
    for col in df.columns:
        if col == target or col in categorical or pd.api.types.is_numeric_dtype(df[col]):
            continue
        known = df[col].dropna()
        numbers = pd.to_numeric(known, errors="coerce")
        if len(known) == 0 or numbers.notna().mean() < MOSTLY_NUMBERS:
            continue
        stray = known[numbers.isna()]
        shown = ", ".join(f"{v!r} (line {i + 2})" for i, v in stray.head(5).items())
        more = f" and {len(stray) - 5} more" if len(stray) > 5 else ""
        markers = ",".join(dict.fromkeys(map(str, stray)))  # no spaces: pasteable as is
        raise DataError(
            f"{source}: column {col!r} holds numbers but {len(stray)} value(s) are not: "
            f"{shown}{more}; if they mean missing, set data.na_markers=[{markers}]; if the "
            f"column is categorical, list it in data.categorical_cols"
        )


def id_like_columns(df: pd.DataFrame, target: str) -> dict[str, int]:
    """{column: distinct values} of the columns that look like row IDs: text with a distinct
    value in (nearly) every row, or integers that are that and also count through a range
    (1, 2, 3, ...; a measurement such as an income is unique per row too, but spread out)."""
    found = {}
    for col in df.columns:
        values = df[col].dropna()
        if col == target or len(values) < ID_MIN_ROWS:
            continue
        kind = df[col].dtype
        if pd.api.types.is_bool_dtype(kind) or pd.api.types.is_float_dtype(kind):
            continue
        distinct = int(values.nunique())
        if distinct < ID_LIKE * len(values):
            continue
        if pd.api.types.is_integer_dtype(kind) and values.max() - values.min() + 1 > 1.5 * distinct:
            continue
        found[col] = distinct
    return found


def check_table(
    df: pd.DataFrame, data_cfg: Any, n_duplicates: int, task: str, names: list[str]
) -> dict[str, Any]:
    """Checks of the deduplicated, target-encoded table (classes as codes, `names` theirs)."""
    source = str(data_cfg.raw_path)
    target = str(data_cfg.target_col)
    features = [c for c in df.columns if c != target]
    if not features:
        raise DataError(f"{source}: no feature columns besides the target {target!r}")
    all_missing = [c for c in features if df[c].isna().all()]
    if all_missing:
        raise DataError(
            f"{source}: column(s) {', '.join(map(repr, all_missing))} are empty in every row; "
            f"remove them from the CSV (or check data.na_values / data.na_markers)"
        )
    constant = [c for c in features if df[c].nunique(dropna=True) <= 1]
    for col in constant:
        log.warning("%s: column %r has a single value: it cannot help any model", source, col)
    leaks = {}
    for col in features:
        if col in constant:
            continue
        score = _alone(df[col], df[target], task)
        if score >= LEAK_SCORE:
            leaks[col] = round(score, 4)
            log.warning(
                "%s: column %r alone predicts %r (score %.3f): likely a leak (recorded after "
                "the outcome, or the target recoded); drop it unless you are sure",
                source,
                col,
                target,
                score,
            )
    report: dict[str, Any] = {
        "n_duplicates_dropped": int(n_duplicates),
        "constant_columns": constant,
        "possible_leaks": leaks,
    }
    if task == "regression":
        values = df[target]
        report["target"] = {
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "std": float(values.std(ddof=0)),
        }
    else:
        counts = df[target].value_counts()
        report["class_counts"] = {
            str(int(k)) if task == "binary" else names[int(k)]: int(counts[k])
            for k in sorted(counts.index)
        }
    return report


def check_split(
    train: pd.DataFrame, target: str, cv_folds: int, task: str, names: list[str]
) -> dict[str, Any]:
    """Every class must have at least `cv_folds` rows in the training part (stratified
    folds); amounts need `cv_folds` rows."""
    if task == "regression":
        if len(train) < cv_folds:
            raise DataError(
                f"the training part has {len(train)} rows, fewer than evaluation.cv_folds="
                f"{cv_folds}; lower evaluation.cv_folds or training.test_size, or add rows"
            )
        return {}
    counts = train[target].value_counts()
    smallest = int(counts.min())
    if smallest < cv_folds:
        name = names[int(counts.idxmin())]
        which = f"class {name!r}" if task == "multiclass" else f"the smallest class ({name})"
        raise DataError(
            f"{which} has {smallest} rows in the training part, fewer than "
            f"evaluation.cv_folds={cv_folds}; lower evaluation.cv_folds or "
            f"training.test_size, add rows of it, or leave its rows out"
        )
    return {"smallest_class_in_train": smallest}


def _alone(feature: pd.Series, y: pd.Series, task: str) -> float:
    """How well one column alone predicts the target (rows where it is missing ignored).

    Regression: the absolute rank correlation of a numeric column with the target. Binary,
    numeric: ROC AUC of the raw values, either direction. Otherwise: the accuracy of
    predicting each value's majority class, counted only when the column has at least
    two values and no value occurs once (IDs and free text are not leaks).
    """
    known = feature.notna()
    x, y = feature[known], y[known]
    if y.nunique() < 2 or len(x) < 10:
        return 0.0
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(x) or x.nunique() < 2:
            return 0.0
        return float(abs(x.rank().corr(y.rank())))
    numeric = pd.api.types.is_numeric_dtype(x)
    if task == "multiclass" and numeric and x.nunique() > 20:
        return 0.0  # a many-valued number: no purity to speak of across classes
    if task == "binary" and numeric:
        ranks = x.rank()
        n_pos = int(y.sum())
        n_neg = len(y) - n_pos
        auc = (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return float(max(auc, 1 - auc))
    sizes = x.value_counts()
    if len(sizes) < 2 or sizes.min() < 2:
        return 0.0
    majority = pd.crosstab(x, y).max(axis=1).sum()
    return float(majority / len(x))

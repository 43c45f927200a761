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


def check_table(df: pd.DataFrame, data_cfg: Any, n_duplicates: int) -> dict[str, Any]:
    """Checks of the deduplicated, target-encoded table (target 0/1)."""
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
        score = _alone(df[col], df[target])
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
    counts = df[target].value_counts()
    return {
        "n_duplicates_dropped": int(n_duplicates),
        "class_counts": {str(int(k)): int(v) for k, v in sorted(counts.items())},
        "constant_columns": constant,
        "possible_leaks": leaks,
    }


def check_split(train: pd.DataFrame, target: str, cv_folds: int) -> dict[str, Any]:
    """Every class must have at least `cv_folds` rows in the training part."""
    smallest = int(train[target].value_counts().min())
    if smallest < cv_folds:
        raise DataError(
            f"the smallest class has {smallest} rows in the training part, fewer than "
            f"evaluation.cv_folds={cv_folds}; lower evaluation.cv_folds or "
            f"training.test_size, or add rows"
        )
    return {"smallest_class_in_train": smallest}


def _alone(feature: pd.Series, y: pd.Series) -> float:
    """How well one column alone separates the classes (rows where it is missing ignored).

    Numeric: ROC AUC of the raw values, either direction. Otherwise: the accuracy of
    predicting each value's majority class, counted only when the column has at least
    two values and no value occurs once (IDs and free text are not leaks).
    """
    known = feature.notna()
    x, y = feature[known], y[known]
    if y.nunique() < 2 or len(x) < 10:
        return 0.0
    if pd.api.types.is_numeric_dtype(x):
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

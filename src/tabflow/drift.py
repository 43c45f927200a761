"""How far new rows are from the training rows, feature by feature: the population
stability index (PSI) against a profile of the training split saved by preprocess.

PSI = sum over bins of (new - train) * ln(new / train), over the shares of rows in each
bin: numeric features in the training split's deciles, categorical ones by value (plus
"missing"). Under 0.1 little has moved; above 0.2 (predict.drift_threshold) a warning.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

EPS = 1e-4  # a share of 0 would make the log infinite
TOP = 30  # values kept per categorical feature; the rest count as "(other)"


def profile(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """Bin edges and shares of each feature in `df` (the training split)."""
    out: dict[str, Any] = {"rows": len(df), "numeric": {}, "categorical": {}}
    for col in numeric:
        values = df[col].astype(float)
        known = values.dropna()
        edges = sorted({float(q) for q in known.quantile([i / 10 for i in range(1, 10)])})
        out["numeric"][col] = {"edges": edges, "shares": _numeric_shares(values, edges)}
    for col in categorical:
        out["categorical"][col] = _categorical_shares(df[col], None)
    return out


def _numeric_shares(values: pd.Series, edges: list[float]) -> list[float]:
    """Shares of rows below each edge, between edges, above the last, and missing."""
    import numpy as np

    known = values.dropna().to_numpy(dtype=float)
    counts = np.bincount(np.searchsorted(edges, known, side="right"), minlength=len(edges) + 1)
    total = len(values) or 1
    return [float(c / total) for c in counts] + [float(values.isna().sum() / total)]


def labels(values: pd.Series) -> pd.Series:
    """Category values as text, numbers the same however they were read (2, 2.0 -> "2")."""
    if pd.api.types.is_numeric_dtype(values):

        def text(v: Any) -> Any:
            if pd.isna(v):
                return None
            return str(int(v)) if float(v).is_integer() else str(float(v))

        return values.map(text).astype("string")
    return values.astype("string")


def _categorical_shares(values: pd.Series, keep: list[str] | None) -> dict[str, float]:
    text = labels(values).fillna("(missing)")
    shares = text.value_counts(normalize=True)
    if keep is None:
        keep = [str(v) for v in shares.index[:TOP]]
    out = {v: float(shares.get(v, 0.0)) for v in keep}
    out["(other)"] = round(max(0.0, 1.0 - sum(out.values())), 12)  # no 1e-16 left over
    return out


def psi(expected: list[float], actual: list[float]) -> float:
    return float(
        sum(
            (a - e) * math.log((a + EPS) / (e + EPS)) for e, a in zip(expected, actual, strict=True)
        )
    )


def compare(reference: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    """One row per feature of the profile: its PSI between the training rows and `df`."""
    rows = []
    for col, ref in reference["numeric"].items():
        if col in df.columns:
            now = _numeric_shares(pd.to_numeric(df[col], errors="coerce"), ref["edges"])
            rows.append({"feature": col, "kind": "numeric", "psi": psi(ref["shares"], now)})
    for col, ref in reference["categorical"].items():
        if col in df.columns:
            keys = list(ref)  # aligned by value: a profile read back from JSON is sorted
            now = _categorical_shares(df[col], [k for k in keys if k != "(other)"])
            value = psi([ref[k] for k in keys], [now[k] for k in keys])
            rows.append({"feature": col, "kind": "categorical", "psi": value})
    table = pd.DataFrame(rows, columns=["feature", "kind", "psi"])
    return table.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)

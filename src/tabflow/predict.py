"""Batch prediction with a registered (or any logged) model: new rows in, one probability
and label per row out, plus a drift table against the training rows.

The input is read as the training data is (tabflow.data.read_table) and checked against
the model's signature before anything is written; the model is read from its skops file
(never a pickle).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from tabflow.errors import DataError
from tabflow.io import write_with

log = logging.getLogger(__name__)
DRIFT_MIN_ROWS = 30


def signature_columns(folder: Path) -> list[str]:
    """The input columns the logged model's signature names."""
    from mlflow.models import Model

    found = next(iter(sorted(folder.rglob("MLmodel"))), None)
    signature = Model.load(str(found.parent)).signature if found else None
    if signature is None or signature.inputs is None:
        raise DataError(f"{folder}: the model has no input signature to check rows against")
    return list(signature.inputs.input_names())


def check_rows(
    df: pd.DataFrame, features: list[str], numeric: list[str], source: str, keep: set
) -> pd.DataFrame:
    """The feature columns of `df`, in the model's order: a missing one or a value of the
    wrong type is one line naming it; extra columns are dropped with a warning."""
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing feature column(s) {', '.join(missing)} that the model needs "
            f"(its signature: {', '.join(features)})"
        )
    extra = [c for c in df.columns if c not in features and c not in keep]
    if extra:
        log.warning("%s: columns the model does not use, dropped: %s", source, ", ".join(extra))
    for col in numeric:
        values = df[col]
        if pd.api.types.is_numeric_dtype(values):
            continue
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        row = int(bad.idxmax())
        raise DataError(
            f"{source}: column {col!r} takes numbers, but line {row + 2} has "
            f"{values[row]!r}; fix the value, or add it to data.na_markers if it means missing"
        )
    return df[features].astype({c: "float64" for c in numeric})


def predict(cfg: Any, spec: str, source: str | Path, out: str | Path) -> dict[str, Any]:
    """Score every row of `source` with the model `spec` (an alias such as champion, a
    models:/ URI or a run id; MLflow pointed at the store already); write the predictions
    to `out` and the drift table beside."""
    from tabflow import registry
    from tabflow.data import read_table
    from tabflow.drift import compare

    uri = registry.model_uri(spec, str(cfg.registry.model_name))
    folder = registry.model_dir(uri)
    pipeline, profile = registry.load(uri, folder)
    features = signature_columns(folder)
    numeric = list((profile or {}).get("numeric", {}))
    df = read_table(source, cfg.data, role="the rows to predict")
    if df.empty:
        raise DataError(f"{source} has a header but no rows to predict")
    id_col = cfg.data.id_col
    keep = {id_col, str(cfg.data.target_col)} - {None}
    X = check_rows(df, features, [c for c in numeric if c in features], str(source), keep)
    _warn_unseen(X, profile, str(source))
    probability = pipeline.predict_proba(X)[:, 1]
    label = pipeline.predict(X)
    table = pd.DataFrame({"probability": probability, "label": label})
    names = {1: str(cfg.data.positive_name), 0: str(cfg.data.negative_name)}
    table["class"] = table["label"].map(names)
    if id_col and id_col in df.columns:
        table.insert(0, id_col, df[id_col].to_numpy())
    drift = compare(profile, X) if profile else pd.DataFrame(columns=["feature", "kind", "psi"])
    threshold = float(cfg.predict.drift_threshold)
    drift["drifted"] = drift["psi"] > threshold
    if len(X) < DRIFT_MIN_ROWS:  # a handful of rows always looks drifted
        drift["drifted"] = False
        log.info(
            "%s: %d rows, too few to judge drift (PSI needs %d or more)",
            source,
            len(X),
            DRIFT_MIN_ROWS,
        )
    for row in drift[drift["drifted"]].itertuples():
        log.warning(
            "%s: feature %r drifted from the training rows: PSI %.3f > %g "
            "(predict.drift_threshold)",
            source,
            row.feature,
            row.psi,
            threshold,
        )
    drift_path = drift_file(out)
    write_with(out, lambda p: table.to_csv(p, index=False))
    write_with(drift_path, lambda p: drift.to_csv(p, index=False))
    log.info(
        "%s: %d rows scored with %s -> %s (drift: %s)", source, len(table), uri, out, drift_path
    )
    return {"rows": len(table), "model": uri, "drifted": list(drift[drift["drifted"]]["feature"])}


def drift_file(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.drift.csv")


def _warn_unseen(X: pd.DataFrame, profile: dict[str, Any] | None, source: str) -> None:
    """Categories never seen in training are encoded as none of the known ones: say so
    (where the profile lists every training value, i.e. has no "(other)" share)."""
    from tabflow.drift import labels

    for col, shares in ((profile or {}).get("categorical") or {}).items():
        if col not in X.columns or shares.get("(other)", 0) > 0:
            continue
        unseen = sorted(set(labels(X[col]).dropna()) - set(shares))
        if unseen:
            shown = ", ".join(unseen[:10])
            log.warning("%s: %r has values never seen in training: %s", source, col, shown)

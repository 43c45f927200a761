"""Batch prediction with a registered (or any logged) model: raw rows in, the model's answer
per row out (tabflow_rows.answer_columns, as `mlflow models serve` gives it), plus a drift table
against the training rows.

The CSV is read with plain pandas (its separator: the training data's, recorded in the
model, unless predict.sep says otherwise) and the model reads the rows itself, as it was
trained to: today's data.* settings play no part. The model is read from its skops file
(never a pickle). Nothing is written unless every row could be scored, and never over the
input.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from tabflow.errors import DataError
from tabflow.io import write_with
from tabflow.paths import Paths

log = logging.getLogger(__name__)
DRIFT_MIN_ROWS = 30


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(source: str | Path, out: str | Path) -> None:
    """OUT and its drift table: neither the input nor a folder; one line otherwise."""
    source, out = Path(source), Path(out)
    if out.is_dir():
        raise DataError(f"OUT {out} is a folder: give a file name, e.g. {out / 'scored.csv'}")
    if _same(out, source):
        raise DataError(
            f"OUT {out} is the input: tabflow predict never writes over its input; "
            f"give another file name"
        )
    drift = Path(Paths.drift_table(out))
    if _same(drift, source):
        raise DataError(
            f"the drift table of OUT {out} would be {drift}, which is the input; "
            f"give OUT another name"
        )
    if drift.is_dir():
        raise DataError(f"the drift table of OUT {out} would be {drift}, which is a folder")


def predict(
    cfg: Any,
    spec: str,
    source: str | Path,
    out: str | Path,
    resolved: Any = None,
) -> dict[str, Any]:
    """Score every row of `source` with the model `spec` (an alias such as champion, a
    models:/ URI or a run id; MLflow pointed at the store already), or the model
    `resolved` names; write the answers to `out` and the drift table beside it.

    cfg: registry.model_name (or data.name), predict.* (drift_threshold; sep and id_col of
    the rows, by default those of the training data)."""
    from tabflow import registry
    from tabflow.data import read_csv
    from tabflow.drift import compare
    from tabflow_rows import RowError, reader_of, score

    check_output(source, out)
    model = resolved or registry.resolve(spec, registry.problem_model(cfg))
    folder = registry.model_dir(model.uri)
    pipeline, profile = registry.load(model.uri, folder)
    try:
        reader = reader_of(pipeline)
    except RowError as err:
        raise DataError(f"{model.uri}: {err}") from None
    problem = dict(reader.problem or {})
    sep = cfg.predict.sep or problem.get("sep", ",")
    df = read_csv(source, str(sep), "the rows to predict")
    if df.empty:
        raise DataError(f"{source} has a header but no rows to predict")
    id_col = cfg.predict.id_col or problem.get("id_col")
    if cfg.predict.id_col and id_col not in df.columns:
        raise DataError(
            f"{source}: predict.id_col={id_col!r} is not a column; columns are: "
            f"{', '.join(map(str, df.columns))}"
        )
    features = list(reader.columns)
    extra = [
        c for c in df.columns if c not in features and c not in (id_col, problem.get("target"))
    ]
    if extra:
        log.warning("%s: columns the model does not use, dropped: %s", source, ", ".join(extra))
    try:
        X = reader.transform(df)
        table = score(pipeline, X)
    except RowError as err:
        raise DataError(f"{source}: {err.located(lambda row: f'line {row + 2}')}") from None
    _warn_unseen(reader, X, str(source))
    table["model"] = model.uri
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
    drift_path = Path(Paths.drift_table(out))
    write_with(out, lambda p: table.to_csv(p, index=False))
    write_with(drift_path, lambda p: drift.to_csv(p, index=False))
    log.info(
        "%s: %d rows scored with %s -> %s (drift: %s)",
        source,
        len(table),
        model.uri,
        out,
        drift_path,
    )
    return {
        "rows": len(table),
        "model": model.uri,
        "drifted": list(drift[drift["drifted"]]["feature"]),
    }


def _warn_unseen(reader: Any, X: pd.DataFrame, source: str) -> None:
    """Categories never seen in training are encoded as none of the known ones: say so."""
    for col, values in reader.unseen_values(X).items():
        shown = ", ".join(values[:10])
        log.warning("%s: %r has values never seen in training: %s", source, col, shown)

"""What every logged model carries: how a raw row is read, fixed when the model was trained,
and the answer it gives.

A fitted `RawReader` is the first step of each model's scikit-learn Pipeline. It reads rows
as a user holds them (a CSV read with plain pandas, JSON sent to the scoring server) the
way the training data was read: the feature columns in training order (anything else, an
ID column or the target, left out), numbers as floats whether they come as ints, floats
or text, the missing-value codes, markers and pandas' NA strings as missing, infinities as
missing. A missing column, a repeated one, or text in a number column is one `RowError`
line naming it. `answer()` turns rows into the table every way of scoring returns, and
says which values of a categorical column training never saw.

MLflow copies this package into each logged model (code_paths), so loading or serving a
model needs numpy, pandas, scikit-learn and skops, never tabflow: it must not import
tabflow, and stays import-light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin

# pandas.read_csv's default missing-value strings (keep_default_na=True): the training read
# took them as missing, so rows sent any other way do too.
NA_STRINGS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
# What pandas reads as True and False in a column of booleans.
_BOOLEANS = {"True": 1.0, "TRUE": 1.0, "true": 1.0, "False": 0.0, "FALSE": 0.0, "false": 0.0}


class RowError(ValueError):
    """Rows the model cannot read: one line naming the column and the value. `row` is the
    position (from 0) of the first bad row, if one row is to blame."""

    def __init__(self, message: str, row: int | None = None, where: str = "") -> None:
        super().__init__(message)
        self.row = row
        self.where = where  # the message with `{where}` filled in by `located()`

    def located(self, line_of: Any = None) -> str:
        """The message, the bad row named by `line_of(position)` (a CSV: its line)."""
        if self.row is None or not self.where:
            return str(self)
        place = line_of(self.row) if line_of else f"row {self.row + 1}"
        return self.where.format(place=place)


def as_text(value: Any) -> str | None:
    """A value as the text a CSV would hold, None if missing (2, 2.0 and "2" alike -> "2")."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


class RawReader(TransformerMixin, BaseEstimator):
    """Reads raw rows as the training data was read (see the module's docstring).

    columns: the features, in training order; kinds: {feature: "number" | "bool" | "text"}
    (its kind in the training read); categorical: the features encoded as categories
    (whose unseen values `unseen` names); codes: {feature: [values that mean missing]};
    markers: values that mean missing in every column; problem: what the model predicts
    (task, target, classes, ...), read by `answer` and by whoever compares models.
    """

    def __init__(
        self,
        columns: Sequence[str] = (),
        kinds: Mapping[str, str] | None = None,
        categorical: Sequence[str] = (),
        codes: Mapping[str, Sequence[str]] | None = None,
        markers: Sequence[str] = (),
        na_strings: Sequence[str] = NA_STRINGS,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.columns = columns
        self.kinds = kinds
        self.categorical = categorical
        self.codes = codes
        self.markers = markers
        self.na_strings = na_strings
        self.problem = problem

    def fit(self, X: pd.DataFrame, y: Any = None) -> RawReader:
        """Learn the categories each categorical feature holds in these (training) rows."""
        read = self.transform(X)
        self.categories_ = {
            col: sorted({_plain(v) for v in read[col].dropna()}, key=lambda v: (str(type(v)), v))
            for col in self.categorical
        }
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise RowError("rows must come as a table with named columns")
        columns = list(self.columns)
        repeated = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
        if repeated:
            raise RowError(f"column(s) {', '.join(repeated)} appear more than once; keep one")
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise RowError(
                f"missing feature column(s) {', '.join(missing)} that the model needs "
                f"(its columns: {', '.join(columns)})"
            )
        kinds = self.kinds or {}
        read = {col: self._read(col, kinds.get(col, "number"), X[col]) for col in columns}
        return pd.DataFrame(read, index=X.index)

    def _missing_text(self, col: str) -> set[str]:
        codes = (self.codes or {}).get(col, ())
        return {*self.na_strings, *map(str, self.markers), *map(str, codes)}

    def _read(self, col: str, kind: str, values: pd.Series) -> pd.Series:
        missing_text = self._missing_text(col)
        if kind == "text":
            text = _texts(values)
            return text.where(~text.isin(missing_text), np.nan)
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            numbers = values.astype("float64")
        else:
            text = _texts(values)
            absent = text.isna() | text.isin(missing_text)
            known = text.where(~absent)
            if kind == "bool":
                known = known.map(lambda v: _BOOLEANS.get(v, v), na_action="ignore")
            numbers = pd.to_numeric(known, errors="coerce").astype("float64")
            bad = ~absent & numbers.isna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                value = known.iloc[row]
                where = f"column {col!r} takes numbers, but {{place}} has {value!r}"
                raise RowError(where.format(place=f"row {row + 1}"), row=row, where=where)
        numbers = numbers.where(~np.isinf(numbers))
        coded = {n for t in missing_text - set(self.na_strings) if (n := _as_number(t)) is not None}
        return numbers.mask(numbers.isin(coded)) if coded else numbers

    def _unseen(self, read: pd.DataFrame) -> dict[str, pd.Series]:
        """Per categorical feature, which rows hold a value training never saw."""
        out = {}
        for col in self.categorical:
            known = set(self.categories_[col])
            values = read[col]
            seen = values.map(lambda v, known=known: _plain(v) in known, na_action="ignore")
            out[col] = (values.notna() & ~seen.fillna(True).astype(bool)).to_numpy()
        return out

    def unseen(self, read: pd.DataFrame) -> pd.Series:
        """Per row, the categorical values training never saw ("cp=9; thal=x"), else ""."""
        parts: list[list[str]] = [[] for _ in range(len(read))]
        for col, new in self._unseen(read).items():
            for i in np.flatnonzero(new):
                parts[i].append(f"{col}={as_text(read[col].iloc[i])}")
        return pd.Series(["; ".join(p) for p in parts], index=read.index, dtype=object)

    def unseen_values(self, read: pd.DataFrame) -> dict[str, list[str]]:
        """Per categorical feature with any, its values training never saw, sorted."""
        out = {}
        for col, new in self._unseen(read).items():
            if new.any():
                out[col] = sorted({as_text(v) for v in read[col][new]})
        return out


class NativeFeatures(TransformerMixin, BaseEstimator):
    """Read rows as an estimator that takes missing values and categories itself wants them
    (LightGBM, XGBoost, histogram boosting): numbers as floats, missing kept as NaN, each
    categorical feature a pandas category of text (2.0 and "2" alike: "2"; XGBoost takes no
    float categories) whose categories are fixed at fit (a value that training never saw is
    missing), so every way of scoring encodes a row the same way. `missing`: the text a
    missing or unseen category reads as instead (CatBoost takes no missing category)."""

    def __init__(self, categorical: Sequence[str] = (), missing: str | None = None) -> None:
        self.categorical = categorical
        self.missing = missing

    def fit(self, X: pd.DataFrame, y: Any = None) -> NativeFeatures:
        extra = [] if self.missing is None else [self.missing]
        self.categories_ = {
            col: sorted({as_text(v) for v in X[col].dropna()} - {*extra}) + extra
            for col in self.categorical
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for col in X.columns:
            if col in self.categories_:
                known = self.categories_[col]
                values = X[col].map(as_text, na_action="ignore")
                values = values.where(values.isin(known), self.missing)
                out[col] = pd.Categorical(values, categories=known)
            else:
                out[col] = X[col].astype("float64")
        return pd.DataFrame(out, index=X.index)


class _EarlyStopped(BaseEstimator):
    """A LightGBM, XGBoost or CatBoost estimator whose number of boosting rounds is chosen
    on a slice of each fit's own training rows (`fraction` of them, stratified for a
    classifier): fit there while the slice's loss improves within `rounds` rounds, then
    refit on all the rows with that many rounds. Inside a CV fold it sees that fold's
    training part only; the test split never. `best_rounds_`: the rounds chosen."""

    def __init__(
        self, estimator: Any = None, rounds: int = 20, fraction: float = 0.1, random_state: int = 0
    ) -> None:
        self.estimator = estimator
        self.rounds = rounds
        self.fraction = fraction
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> _EarlyStopped:
        from sklearn.base import clone, is_classifier
        from sklearn.model_selection import train_test_split

        stratify = y if is_classifier(self.estimator) else None
        X_fit, X_slice, y_fit, y_slice = train_test_split(
            X, y, test_size=self.fraction, random_state=self.random_state, stratify=stratify
        )
        probe = clone(self.estimator)
        if type(probe).__module__.startswith("lightgbm"):
            import lightgbm

            stop = [lightgbm.early_stopping(self.rounds, verbose=False)]
            probe.fit(X_fit, y_fit, eval_X=(X_slice,), eval_y=(y_slice,), callbacks=stop)
            best = int(probe.best_iteration_ or probe.n_estimators)
        elif type(probe).__module__.startswith("catboost"):
            probe.fit(X_fit, y_fit, eval_set=(X_slice, y_slice), early_stopping_rounds=self.rounds)
            best = int(probe.get_best_iteration()) + 1
        else:  # XGBoost
            probe.set_params(early_stopping_rounds=self.rounds)
            probe.fit(X_fit, y_fit, eval_set=[(X_slice, y_slice)], verbose=False)
            best = int(probe.best_iteration) + 1
        self.best_rounds_ = best
        # CatBoost calls its rounds `iterations` too (it refuses both names at once).
        key = "iterations" if "iterations" in self.estimator.get_params() else "n_estimators"
        self.estimator_ = clone(self.estimator).set_params(**{key: best}).fit(X, y)
        return self

    def predict(self, X: Any) -> Any:
        return self.estimator_.predict(X)


class EarlyStoppedClassifier(ClassifierMixin, _EarlyStopped):
    def fit(self, X: Any, y: Any) -> EarlyStoppedClassifier:
        super().fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X: Any) -> Any:
        return self.estimator_.predict_proba(X)


class EarlyStoppedRegressor(RegressorMixin, _EarlyStopped):
    pass


def _plain(value: Any) -> Any:
    """A Python float or str (what skops stores and sets compare)."""
    return float(value) if isinstance(value, int | float | np.number) else str(value)


def _texts(values: pd.Series) -> pd.Series:
    """The values as text, as a CSV would hold them (NaN where missing: what scikit-learn's
    imputers take as missing in a column of objects)."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = values.astype(object)
    else:
        text = values.map(as_text, na_action="ignore").astype(object)
    return text.where(values.notna() & text.notna(), np.nan)


# The answer, per row, by task: binary, the positive class's probability, the label (1 =
# the positive class) and the class's name; multiclass, each class's probability
# (probability_<class>, the class as the data names it) and the label (the class);
# regression, the prediction. Then the categorical values never seen in training. Every
# way of scoring returns these columns.


def answer_columns(problem: Mapping[str, Any]) -> list[tuple[str, str]]:
    """[(column, type)] of the answer to a problem (types as MLflow names them)."""
    task = problem.get("task", "binary")
    if task == "regression":
        return [("prediction", "double"), ("unseen", "string")]
    if task == "multiclass":
        probabilities = [(f"probability_{c}", "double") for c in problem["classes"]]
        return [*probabilities, ("label", "string"), ("unseen", "string")]
    return [("probability", "double"), ("label", "long"), ("class", "string"), ("unseen", "string")]


def reader_of(pipeline: Any) -> RawReader:
    reader = pipeline[0]
    if not isinstance(reader, RawReader):
        raise RowError("this model does not read raw rows itself (logged by an older tabflow?)")
    return reader


def answer(pipeline: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """Score raw rows with a fitted pipeline whose first step is a RawReader."""
    reader = reader_of(pipeline)
    return score(pipeline, reader.transform(rows))


def score(pipeline: Any, read: pd.DataFrame) -> pd.DataFrame:
    """The answer (answer_columns) for rows its RawReader has read already."""
    reader = reader_of(pipeline)
    if len(read) == 0:
        raise RowError("no rows to score")
    problem = dict(reader.problem or {})
    task = problem.get("task", "binary")
    model = pipeline[1:]
    unseen = reader.unseen(read).to_numpy()
    if task == "regression":
        prediction = np.asarray(model.predict(read), dtype="float64")
        return pd.DataFrame({"prediction": prediction, "unseen": unseen})
    # As doubles: XGBoost answers in float32, whose CSV text would read back as another double.
    proba = np.asarray(model.predict_proba(read), dtype="float64")
    label = np.asarray(model.predict(read)).astype("int64")
    names = list(problem.get("classes") or ["0", "1"])
    if task == "multiclass":
        out = {f"probability_{name}": proba[:, i] for i, name in enumerate(names)}
        return pd.DataFrame({**out, "label": [names[i] for i in label], "unseen": unseen})
    return pd.DataFrame(
        {
            "probability": proba[:, 1],
            "label": label,
            "class": [names[i] for i in label],
            "unseen": unseen,
        }
    )

"""Load the raw CSV, drop exact duplicates, and split train/test without leakage."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from tabflow.errors import DataError, data_file_problem
from tabflow.tasks import TASKS
from tabflow.validate import check_split, check_table

log = logging.getLogger(__name__)

_RULE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
# The same rules in words, which survive a shell, Snakemake's --config and Hydra's grammar
# (a bare `>` survives none of them): gt:0 is `> 0`.
_WORDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!="}
_WORD_RULE = re.compile(r"^\s*(gt|ge|lt|le|eq|ne)\s*:\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_rule(rule: str) -> tuple[str, float] | None:
    """data.positive_when: 'gt:0' or '> 0' -> ('>', 0.0); None if the rule is neither."""
    if m := _WORD_RULE.match(rule):
        return _WORDS[m.group(1)], float(m.group(2))
    m = _RULE.match(rule)
    return (m.group(1), float(m.group(2))) if m else None


def column_settings(data_cfg: Any) -> tuple[list[str], dict[str, list[str]], bool]:
    """(categorical_cols, na_values, applied) for data.raw_path.

    Column settings belong to the file they were written for (data.columns_for): pointed
    at another CSV, the pipeline starts from neutral ones instead of another table's.
    """
    written_for = data_cfg.columns_for
    applied = not written_for or same_file(written_for, data_cfg.raw_path)
    if not applied:
        return [], {}, False
    na_values = {str(c): [str(v) for v in vals] for c, vals in data_cfg.na_values.items()}
    return [str(c) for c in data_cfg.categorical_cols], na_values, True


def same_file(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def read_csv(
    path: str | Path,
    sep: str,
    role: str,
    missing: Any = None,
    usecols: list[str] | None = None,
    nrows: int | None = None,
) -> pd.DataFrame:
    """pandas.read_csv with pandas' own missing-value strings (plus `missing`: na_values),
    and one line for a file that is not a readable CSV: absent, empty, malformed, another
    separator, a column name given twice. `role` names the file in messages (data.raw_path,
    or the rows to predict); `usecols`, `nrows`: some columns, some rows."""
    path = Path(path)
    if problem := data_file_problem(path, role):
        raise DataError(problem)
    sep = separator(sep)
    try:
        header = list(pd.read_csv(path, nrows=0, sep=sep).columns)
        markers = missing(header) if callable(missing) else missing
        df = pd.read_csv(
            path, sep=sep, na_values=markers, keep_default_na=True, usecols=usecols, nrows=nrows
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty ({role}): expected a CSV with a header") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0]
        raise DataError(f"{path} is not a readable CSV ({role}): {first}") from None
    if usecols is None:
        _check_separator(df, path, sep)
    _check_repeated(path, sep, role)
    return df


def _check_repeated(path: Path, sep: str, role: str) -> None:
    """A column name given twice: pandas would rename the second (`age.1`)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        names = next(csv.reader(fh, delimiter=sep), [])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        where = ", ".join(
            f"{n!r} (columns {' and '.join(str(i + 1) for i, m in enumerate(names) if m == n)})"
            for n in repeated
        )
        raise DataError(f"{path}: the header names {where} more than once ({role}); keep one")


def read_table(path: str | Path, data_cfg: Any, role: str = "data.raw_path") -> pd.DataFrame:
    """Read a CSV the way the training data is read: data.sep, the missing-value markers and
    codes, inf as missing. `role` names the file in messages (data.raw_path, or an input
    to predict)."""
    _, na_values, _ = column_settings(data_cfg)
    markers = [str(v) for v in data_cfg.na_markers]

    def missing(header: list[str]) -> dict[str, list[str]]:
        # Global markers join each column's own codes.
        return {c: [*na_values.get(c, []), *markers] for c in header} if markers else na_values

    df = read_csv(path, str(data_cfg.sep), role, missing)
    return _infinite_as_missing(df, Path(path))


def read_target(data_cfg: Any) -> pd.Series:
    """The target column of data.raw_path, read as the whole table is (missing-value codes
    and markers): what data.task=auto decides from, before any job runs."""
    path = Path(data_cfg.raw_path)
    if problem := data_file_problem(path):
        raise DataError(problem)
    target = str(data_cfg.target_col)
    header = read_csv(path, str(data_cfg.sep), "data.raw_path", nrows=0).columns
    if target not in header:
        raise DataError(
            f"{path}: target column {target!r} (data.target_col) not found; "
            f"columns are: {', '.join(map(str, header))}"
        )
    _, na_values, _ = column_settings(data_cfg)
    missing = [*na_values.get(target, []), *map(str, data_cfg.na_markers)]
    values = read_csv(path, str(data_cfg.sep), "data.raw_path", missing, usecols=[target])
    return _infinite_as_missing(values, path)[target]


def load_raw(data_cfg: Any) -> pd.DataFrame:
    """Read the CSV named by data.raw_path, marking the configured missing-value codes."""
    from tabflow.validate import check_values

    path = Path(data_cfg.raw_path)
    categorical, na_values, applied = column_settings(data_cfg)
    if not applied:
        log.warning(
            "%s: data.categorical_cols and data.na_values were written for %s "
            "(data.columns_for), not applied to this file; to use column settings here, "
            "set data.columns_for=%s with them",
            path,
            data_cfg.columns_for,
            path,
        )
    df = read_table(path, data_cfg)
    target = data_cfg.target_col
    if target not in df.columns:
        raise DataError(
            f"{path}: target column {target!r} (data.target_col) not found; "
            f"columns are: {', '.join(map(str, df.columns))}"
        )
    id_col = data_cfg.id_col
    if id_col:
        if id_col not in df.columns:
            raise DataError(
                f"{path}: data.id_col={id_col!r} is not a column; columns are: "
                f"{', '.join(map(str, df.columns))}"
            )
        df = df.drop(columns=[id_col])
    _log_column_settings(df, path, categorical, na_values)
    check_values(df, str(path), target, set(categorical))
    return _without_id_like(df, data_cfg, path)


def _without_id_like(df: pd.DataFrame, data_cfg: Any, path: Path) -> pd.DataFrame:
    """Stop at columns that look like row IDs (or drop them, if data.drop_id_like_columns):
    one value per row hides every duplicate from deduplication and leaks them into the
    test split, and one-hot encodes into a column per row."""
    from tabflow.validate import id_like_columns

    found = id_like_columns(df, str(data_cfg.target_col))
    if not found:
        return df
    shown = ", ".join(f"{c!r} ({n} distinct values in {len(df)} rows)" for c, n in found.items())
    if data_cfg.drop_id_like_columns:
        log.warning("%s: dropping columns that look like row IDs: %s", path, shown)
        return df.drop(columns=list(found))
    first = next(iter(found))
    fix = f"set data.id_col={first} to drop it" if len(found) == 1 else "data.id_col takes one"
    raise DataError(
        f"{path}: column(s) {shown} look like row IDs: they would make every row distinct, "
        f"so duplicates would reach the test split; {fix}, or set "
        f"data.drop_id_like_columns=true to drop every such column"
    )


# data.sep by name: `;` and a tab do not survive a shell, --config and Hydra's grammar.
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


def separator(sep: str) -> str:
    """data.sep: one character, or a name from SEPARATORS."""
    return SEPARATORS.get(sep, sep)


def _check_separator(df: pd.DataFrame, path: Path, sep: str) -> None:
    """One column whose name holds another separator: the file uses that one."""
    if len(df.columns) != 1:
        return
    name = str(df.columns[0])
    for word, other in SEPARATORS.items():
        if other != sep and other in name:
            raise DataError(
                f"{path}: the header is one column {name[:60]!r}: the file looks "
                f"{word}-separated ({other!r}); set data.sep={word}"
            )


def _log_column_settings(
    df: pd.DataFrame, path: Path, categorical: list[str], na_values: dict[str, list[str]]
) -> None:
    """Which columns each column setting was applied to (and which it names in vain)."""
    present = [c for c in categorical if c in df.columns]
    coded = {c: v for c, v in na_values.items() if c in df.columns}
    log.info(
        "%s: data.categorical_cols applied to: %s; data.na_values applied to: %s",
        path,
        ", ".join(present) or "none",
        ", ".join(f"{c} ({', '.join(v)})" for c, v in coded.items()) or "none",
    )
    missing = [c for c in dict.fromkeys([*categorical, *na_values]) if c not in df.columns]
    if missing:
        log.warning(
            "%s: data.categorical_cols / data.na_values name columns this file does not have: %s",
            path,
            ", ".join(missing),
        )


def _infinite_as_missing(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """inf and -inf in a numeric column count as missing (imputed like NaN), with a warning."""
    import numpy as np

    numeric = df.select_dtypes(include="number")
    counts = {c: int(n) for c, n in np.isinf(numeric).sum().items() if n}
    if not counts:
        return df
    log.warning(
        "%s: infinite values read as missing: %s",
        path,
        ", ".join(f"{c} ({n} rows)" for c, n in counts.items()),
    )
    out = df.copy(deep=False)  # the other columns shared (copy-on-write), not copied
    out[list(counts)] = out[list(counts)].replace([np.inf, -np.inf], np.nan)
    return out


def drop_missing_target(df: pd.DataFrame, target: str, source: str) -> pd.DataFrame:
    """Rows whose target is missing teach nothing and score nothing: dropped, said how many."""
    missing = df[target].isna()
    if not missing.any():
        return df
    if missing.all():
        raise DataError(f"{source}: target column {target!r} is missing in every row")
    log.warning(
        "%s: %d of %d rows have no %r (the target): dropped",
        source,
        int(missing.sum()),
        len(df),
        target,
    )
    return df.loc[~missing].reset_index(drop=True)


def encode_target(
    df: pd.DataFrame, data_cfg: Any, source: str, task: str
) -> tuple[pd.DataFrame, list[str]]:
    """(the table with its target encoded for the task, the class names).

    binary: 1 (data.positive_label, or data.positive_when) / 0; multiclass: 0..K-1 in the
    classes' sorted order, named as they appear in the data; regression: the numbers.
    """
    target = data_cfg.target_col
    df = drop_missing_target(df, target, source)
    if task == "regression":
        values = pd.to_numeric(df[target], errors="coerce")
        if values.isna().any():
            raise DataError(
                f"{source}: data.task=regression needs numbers in {target!r}, but it has "
                f"{df[target][values.isna()].iloc[0]!r}; fix the rows or set data.task"
            )
        return with_column(df, target, values.astype("float64")), []
    values = df[target].dropna().unique()
    if len(values) == 1:
        raise DataError(
            f"{source}: target column {target!r} has one class only ({values[0]}): a "
            f"classifier needs rows of at least two classes; check the file or data.target_col"
        )
    if task == "multiclass":
        return _codes(df, target)
    negative, positive = str(data_cfg.negative_name), str(data_cfg.positive_name)
    rule = str(data_cfg.positive_when or "").strip()
    if rule:
        return _binarize(df, target, rule, source), [negative, positive]
    positive_label = str(data_cfg.positive_label)
    as_text = df[target].astype(str)
    if positive_label not in set(as_text):
        raise DataError(
            f"{source}: data.positive_label={positive_label!r} is not a value of {target!r} "
            f"(values: {', '.join(map(str, values))}); fix it in configs/data.yaml"
        )
    return with_column(df, target, (as_text == positive_label).astype("int64")), [
        negative,
        positive,
    ]


def _codes(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, list[str]]:
    """Classes as codes 0..K-1: numbers in numeric order, text in alphabetical order."""
    from tabflow_rows import as_text

    classes = sorted(df[target].unique(), key=lambda v: (isinstance(v, str), v))
    names = [as_text(c) for c in classes]
    codes = df[target].map({c: i for i, c in enumerate(classes)}).astype("int64")
    return with_column(df, target, codes), [str(n) for n in names]


def _binarize(df: pd.DataFrame, target: str, rule: str, source: str) -> pd.DataFrame:
    import operator

    ops = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
    ops.update({"==": operator.eq, "!=": operator.ne})
    op, threshold = parse_rule(rule) or ("", 0.0)
    numeric = pd.to_numeric(df[target], errors="coerce")
    if numeric.isna().any():
        raise DataError(
            f"{source}: data.positive_when={rule!r} needs a numeric target, but {target!r} "
            f"has values like {df[target][numeric.isna()].iloc[0]!r}"
        )
    positive = ops[op](numeric, threshold)
    if positive.all() or not positive.any():
        raise DataError(
            f"{source}: data.positive_when={rule!r} puts every row of {target!r} in one "
            f"class; choose a threshold inside its range ({numeric.min()} to {numeric.max()})"
        )
    return with_column(df, target, positive.astype("int64"))


def feature_columns(
    df: pd.DataFrame, target: str, declared_categorical: list[str]
) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns; non-numeric columns count as categorical.

    Decided once, by preprocess (results/data/summary.json); later stages read that.
    """
    features = [c for c in df.columns if c != target]
    declared = set(declared_categorical)
    categorical = [c for c in features if c in declared or not pd.api.types.is_numeric_dtype(df[c])]
    numeric = [c for c in features if c not in categorical]
    return numeric, categorical


def with_column(df: pd.DataFrame, column: str, values: Any) -> pd.DataFrame:
    """`df` with one column replaced; the other columns are shared, not copied (pandas'
    copy-on-write leaves `df` as it was): a table of millions of rows is not held twice."""
    out = df.copy(deep=False)
    out[column] = values
    return out


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop exact duplicate rows (features and target), keeping the first of each (with
    none, the table itself: no copy)."""
    dup = df.duplicated(keep="first")
    n_dup = int(dup.sum())
    if not n_dup:
        return df.reset_index(drop=True), 0
    return df.loc[~dup].reset_index(drop=True), n_dup


def split(
    df: pd.DataFrame, target: str, test_size: float, random_state: int, task: str, names: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split of already-deduplicated rows: stratified for classes (a class needs
    a row on each side), shuffled for amounts."""
    from sklearn.model_selection import train_test_split

    n_test = int(round(len(df) * test_size))
    if n_test < 2 or len(df) - n_test < 2:
        raise DataError(
            f"too few rows to split: {len(df)} distinct rows, training.test_size={test_size}; "
            f"need at least 2 rows on each side"
        )
    stratify = None
    if TASKS[task].stratified:
        counts = df[target].value_counts()
        if counts.min() < 2:
            code = int(counts.idxmin())
            raise DataError(
                f"class {names[code]!r} of {target!r} has {int(counts.min())} distinct row: the "
                f"split needs at least 2 per class (one on each side); add rows of it or "
                f"leave its rows out"
            )
        stratify = df[target]
    train, test = train_test_split(
        df, test_size=test_size, random_state=random_state, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def prepare(cfg: Any) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Raw CSV -> (train, test, summary). Duplicates never cross the split."""
    data_cfg = cfg.data
    task = str(cfg.task.name)
    source = str(data_cfg.raw_path)
    log.info("%s: task %s (%s)", source, task, cfg.task.reason)
    raw = load_raw(data_cfg)
    df, names = encode_target(raw, data_cfg, source, task)
    df, n_dup = deduplicate(df)
    log.info(
        "%s: %d rows, %d exact duplicates dropped, %d distinct rows kept",
        source,
        len(raw),
        n_dup,
        len(df),
    )
    report = check_table(df, data_cfg, n_dup, task, names)
    seed = cfg.training.random_state
    target = data_cfg.target_col
    numeric, categorical = feature_columns(df, target, column_settings(data_cfg)[0])
    summary = {
        "reading": reading(data_cfg, raw, categorical, task, names),
        "task": task,
        "task_reason": str(cfg.task.reason),
        "raw_path": source,
        "n_rows_raw": int(len(raw)),
        "n_duplicates_dropped": n_dup,
        "n_rows": int(len(df)),
    }
    missing = {c: int(n) for c, n in df.isna().sum().items() if n}
    del raw  # the split's copies are the only ones from here
    train, test = split(df, target, cfg.training.test_size, seed, task, names)
    report.update(check_split(train, target, int(cfg.evaluation.cv_folds), task, names))
    summary.update(
        {
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            **_target_counts(train, test, target, task),
            "numeric_cols": numeric,
            "categorical_cols": categorical,
            "n_missing": missing,
            "validation": report,
        }
    )
    log.info("split: %d train / %d test rows", len(train), len(test))
    return train, test, summary


def _target_counts(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str
) -> dict[str, Any]:
    """Binary: the positives on each side (the front page's class balance reads the
    validation report's counts for every classification)."""
    if task != "binary":
        return {}
    return {
        "n_positive_train": int(train[target].sum()),
        "n_positive_test": int(test[target].sum()),
    }


def kind(values: pd.Series) -> str:
    """A column's kind in the training read: "bool", "number" or "text"."""
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    return "number" if pd.api.types.is_numeric_dtype(values) else "text"


def problem(data_cfg: Any, task: str, names: list[str]) -> dict[str, Any]:
    """What a model of this data predicts, and from what file: recorded with the model.
    classes: the class names, by code (binary: negative, positive; none for regression)."""
    rule = str(data_cfg.positive_when or "").strip()
    positive = None
    if task == "binary":
        positive = f"target {rule}" if rule else str(data_cfg.positive_label)
    return {
        "task": task,
        "target": str(data_cfg.target_col),
        "positive": positive,
        "classes": list(names),
        "source": str(data_cfg.raw_path),
        "id_col": data_cfg.id_col,
        "sep": str(data_cfg.sep),
    }


def reading(
    data_cfg: Any, raw: pd.DataFrame, categorical: list[str], task: str, names: list[str]
) -> dict[str, Any]:
    """How a raw row of this data is read: the params of the RawReader at the head of every
    model's pipeline (tabflow_rows), written to the data summary by preprocess."""
    from tabflow_rows import NA_STRINGS

    target = str(data_cfg.target_col)
    columns = [str(c) for c in raw.columns if c != target]
    _, codes, _ = column_settings(data_cfg)
    return {
        "columns": columns,
        "kinds": {c: kind(raw[c]) for c in columns},
        "categorical": [str(c) for c in categorical],
        "codes": {c: list(v) for c, v in codes.items() if c in columns},
        "markers": [str(m) for m in data_cfg.na_markers],
        "na_strings": list(NA_STRINGS),
        "problem": problem(data_cfg, task, names),
    }


def xy(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and encoded target of a processed table."""
    return df.drop(columns=[target]), df[target]

"""The model's own reading of raw rows (tabflow_rows): what a user holds becomes what the
training read produced, and the scoring server's errors tell the client one line."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tabflow.data import read_table
from tabflow_rows import RawReader, RowError, answer

from .conftest import DEMO_CSV, reading_for

CATEGORICAL = ["cp", "restecg", "slope", "ca", "thal"]
CODES = {"ca": ["4"], "thal": ["0"]}


def _demo_settings(**more):
    return {"na_values": CODES, "categorical_cols": CATEGORICAL, **more}


def _reader(frame: pd.DataFrame, **more) -> RawReader:
    spec = reading_for(frame.drop(columns=["target"]), CATEGORICAL, **_demo_settings(**more))
    return RawReader(**spec).fit(frame.drop(columns=["target"]))


def _raw_rows() -> str:
    """Demo rows as a user holds them: the codes ca=4 and thal=0, a marker, an empty
    field, an int where training saw floats (oldpeak), a chest-pain code never seen."""
    lines = DEMO_CSV.read_text().splitlines()
    header, rows = lines[0], lines[1:13]
    cols = header.split(",")
    out = [header]
    for i, row in enumerate(rows):
        values = row.split(",")
        if i == 0:
            values[cols.index("ca")] = "4"
        if i == 1:
            values[cols.index("thal")] = "0"
        if i == 2:
            values[cols.index("chol")] = "?"
        if i == 3:
            values[cols.index("trestbps")] = ""
        if i == 4:
            values[cols.index("oldpeak")] = "2"
        if i == 5:
            values[cols.index("cp")] = "9"
        out.append(",".join(values))
    return "\n".join(out) + "\n"


def test_plain_pandas_rows_read_as_the_training_read_them(tmp_path):
    from types import SimpleNamespace

    path = tmp_path / "rows.csv"
    path.write_text(_raw_rows())
    settings = SimpleNamespace(
        sep=",",
        na_markers=["?"],
        columns_for=None,
        raw_path=str(path),
        **_demo_settings(),
    )
    trained = read_table(path, settings)  # the training read: codes, markers, inf
    reader = _reader(trained, na_markers=["?"])
    plain = pd.read_csv(path)  # what a user holds
    read = reader.transform(plain)
    expected = trained.drop(columns=["target"]).astype("float64")
    pd.testing.assert_frame_equal(read, expected)
    assert np.isnan(read.loc[0, "ca"]) and np.isnan(read.loc[1, "thal"])
    assert np.isnan(read.loc[2, "chol"]) and np.isnan(read.loc[3, "trestbps"])


def test_json_rows_of_any_types_read_the_same():
    frame = pd.read_csv(io.StringIO(_raw_rows()))
    reader = _reader(frame, na_markers=["?"])
    # As JSON arrives: every value a string, or ints and floats mixed, None for missing.
    as_text = (
        frame.astype(object).where(frame.notna(), None).map(lambda v: None if v is None else str(v))
    )
    mixed = frame.astype(object)
    mixed.loc[0, "age"] = int(mixed.loc[0, "age"])
    mixed["oldpeak"] = [int(v) if float(v).is_integer() else v for v in mixed["oldpeak"]]
    mixed.loc[2, "ca"] = np.inf
    baseline = reader.transform(frame)
    pd.testing.assert_frame_equal(reader.transform(as_text), baseline)
    read = reader.transform(mixed)
    assert np.isnan(read.loc[2, "ca"]), "infinities are missing"
    pd.testing.assert_frame_equal(read.drop(index=2), baseline.drop(index=2))


def test_unseen_categories_are_named_per_row():
    frame = pd.read_csv(io.StringIO(_raw_rows()))
    reader = _reader(frame.drop(index=5), na_markers=["?"])
    read = reader.transform(frame)
    unseen = reader.unseen(read)
    assert unseen[5] == "cp=9" and (unseen.drop(index=5) == "").all()
    assert reader.unseen_values(read) == {"cp": ["9"]}


@pytest.mark.parametrize(
    ("change", "message", "row"),
    [
        (lambda f: f.drop(columns=["chol", "thal"]), "missing feature column(s) chol, thal", None),
        (lambda f: f.assign(age=["sixty", *f["age"][1:]]), "column 'age' takes numbers", 0),
        (lambda f: f.iloc[:, [0, 0, *range(1, f.shape[1])]], "column(s) age appear more", None),
    ],
)
def test_bad_rows_are_one_line_naming_the_column(change, message, row):
    frame = pd.read_csv(io.StringIO(_raw_rows()))
    reader = _reader(frame, na_markers=["?"])
    with pytest.raises(RowError) as err:
        reader.transform(change(frame))
    assert str(err.value).startswith(message)
    assert err.value.row == row
    if row is not None:
        assert err.value.located(lambda r: f"line {r + 2}") == (
            "column 'age' takes numbers, but line 2 has 'sixty'"
        )


def _fitted(frame: pd.DataFrame):
    from tabflow.models import build_pipeline

    X, y = frame.drop(columns=["target"]), frame["target"]
    spec = reading_for(X, CATEGORICAL, **_demo_settings())
    model = {"_target_": "sklearn.linear_model.LogisticRegression", "scale": True, "params": {}}
    return build_pipeline(model, spec).fit(X, y)


def test_the_answer_is_the_same_table_for_any_way_in():
    frame = pd.read_csv(DEMO_CSV).drop_duplicates().head(120)
    pipeline = _fitted(frame)
    rows = frame.drop(columns=["target"]).head(20)
    out = answer(pipeline, rows)
    assert list(out.columns) == ["probability", "label", "class", "unseen"]
    np.testing.assert_array_equal(out["probability"], pipeline.predict_proba(rows)[:, 1])
    assert set(out["class"]) <= {"yes", "no"}
    with pytest.raises(RowError, match="no rows to score"):
        answer(pipeline, rows.head(0))


def test_the_served_model_tells_the_client_one_line(monkeypatch):
    """What the scoring server sends: the row's problem first, HTTP 400; anything else a
    500 with one generic line; never a stack trace."""
    import json

    from mlflow.exceptions import MlflowException

    from tabflow_rows import served

    frame = pd.read_csv(DEMO_CSV).drop_duplicates().head(120)
    scorer = served.Scorer()
    scorer.model = _fitted(frame)
    bad = frame.drop(columns=["target", "chol"]).head(3)
    with pytest.raises(MlflowException) as err:
        scorer.predict(None, bad)
    # The scoring server rewrites the message of what predict() raised: it stays ours.
    err.value.message = f"Failed to predict data '{bad}'. \nError: {err.value.message}"
    body = json.loads(err.value.serialize_as_json())
    assert err.value.get_http_status_code() == 400
    assert body["message"].startswith("missing feature column(s) chol")
    assert "stack_trace" not in body

    def broken(*args, **kwargs):
        raise RuntimeError("/secret/path/in/a/traceback")

    monkeypatch.setattr(served, "answer", broken)
    with pytest.raises(MlflowException) as err:
        scorer.predict(None, frame.head(2))
    body = json.loads(err.value.serialize_as_json())
    assert err.value.get_http_status_code() == 500
    assert "secret" not in err.value.serialize_as_json() and "stack_trace" not in body

"""Preprocessing on the real demo data and on small hand-made tables."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tabflow.config import DataConfig, compose_config
from tabflow.data import DataError, deduplicate, encode_target, feature_columns, load_raw, prepare

from .conftest import DEMO_CSV


@pytest.fixture
def demo_cfg(in_root):
    """The demo data, read from the repository's DVC object, with its column settings."""
    return compose_config([f"data.raw_path={DEMO_CSV}", f"data.columns_for={DEMO_CSV}"], model="rf")


def test_demo_data_is_deduplicated_before_the_split(demo_cfg):
    train, test, summary = prepare(demo_cfg)
    assert summary["n_rows_raw"] == 1025
    assert summary["n_duplicates_dropped"] == 723
    assert summary["n_rows"] == 302 == len(train) + len(test)
    assert len(test) == 60 or len(test) == 61
    features = [c for c in train.columns]
    joined = train.merge(test, on=features, how="inner")
    assert joined.empty, "a row appears on both sides of the split"


def test_split_is_stratified_and_reproducible(demo_cfg):
    train_a, test_a, _ = prepare(demo_cfg)
    train_b, test_b, _ = prepare(demo_cfg)
    pd.testing.assert_frame_equal(test_a, test_b)
    rate_train, rate_test = train_a["target"].mean(), test_a["target"].mean()
    assert abs(rate_train - rate_test) < 0.02


def test_missing_codes_become_nan(demo_cfg):
    raw = load_raw(demo_cfg.data)
    assert raw["ca"].isna().sum() > 0 and 4 not in set(raw["ca"].dropna())
    assert raw["thal"].isna().sum() > 0 and 0 not in set(raw["thal"].dropna())


def _data_cfg(**kw):
    base = dict(
        raw_path="x.csv", target_col="y", positive_label="yes", categorical_cols=[], na_values={}
    )
    return OmegaConf.merge(OmegaConf.structured(DataConfig), {**base, **kw})


def test_target_is_encoded_with_the_configured_positive_label():
    df = pd.DataFrame({"a": [1, 2, 3], "y": ["yes", "no", "yes"]})
    out, names = encode_target(df, _data_cfg(), "x.csv", "binary")
    assert out["y"].tolist() == [1, 0, 1] and names == ["negative", "positive"]


def test_classes_are_codes_in_sorted_order_named_as_in_the_data():
    df = pd.DataFrame({"a": [1, 2, 3, 4], "y": ["rose", "ash", "rose", "elm"]})
    out, names = encode_target(df, _data_cfg(), "x.csv", "multiclass")
    assert names == ["ash", "elm", "rose"] and out["y"].tolist() == [2, 0, 2, 1]
    numbers = pd.DataFrame({"a": [1, 2, 3], "y": [10, 2, 2]})
    out, names = encode_target(numbers, _data_cfg(), "x.csv", "multiclass")
    assert names == ["2", "10"] and out["y"].tolist() == [1, 0, 0]


def test_rows_without_a_target_are_dropped_saying_how_many(caplog):
    df = pd.DataFrame({"a": [1, 2, 3, 4], "y": [1.5, None, 2.5, None]})
    out, names = encode_target(df, _data_cfg(), "x.csv", "regression")
    assert out["y"].tolist() == [1.5, 2.5] and names == []
    assert "x.csv: 2 of 4 rows have no 'y' (the target): dropped" in caplog.text


def test_unknown_positive_label_is_rejected():
    df = pd.DataFrame({"a": [1, 2], "y": ["no", "maybe"]})
    with pytest.raises(DataError, match=r"data.positive_label='yes' is not a value of 'y'"):
        encode_target(df, _data_cfg(), "x.csv", "binary")


def test_string_columns_are_categorical():
    df = pd.DataFrame({"n": [1.0, 2.0], "s": ["a", "b"], "c": [0, 1], "y": [0, 1]})
    numeric, categorical = feature_columns(df, "y", ["c"])
    assert numeric == ["n"] and categorical == ["s", "c"]


def test_deduplicate_counts_exact_duplicates():
    df = pd.DataFrame({"a": [1, 1, 2, 1], "y": [0, 0, 1, 1]})
    out, n = deduplicate(df)
    assert n == 1 and len(out) == 3


@pytest.mark.parametrize(
    ("task", "y"), [("binary", ["yes", "no", "yes"]), ("multiclass", ["a", "b", "c"])]
)
def test_encoding_the_target_and_finding_no_duplicates_copy_no_feature(task, y):
    """A table of millions of rows is not held twice: the features are shared with the
    table read (pandas copy-on-write), which stays as it was."""
    import numpy as np

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": y})
    out, _ = encode_target(df, _data_cfg(), "x.csv", task)
    kept, n = deduplicate(out)
    assert n == 0 and np.shares_memory(kept["a"].to_numpy(), df["a"].to_numpy())
    assert df["y"].tolist() == y, "the table read is unchanged"


def test_missing_file_says_dvc_pull(tmp_path):
    with pytest.raises(DataError, match=r"not found \(data.raw_path\): run `dvc pull`"):
        load_raw(_data_cfg(raw_path=str(tmp_path / "nope.csv")))


def test_missing_rows_to_predict_name_their_role_and_not_dvc_pull(tmp_path):
    """The demo's fix (dvc pull, data.raw_path) is no fix for a CSV of new rows."""
    from tabflow.data import read_table

    with pytest.raises(DataError) as err:
        read_table(tmp_path / "new.csv", _data_cfg(), role="the rows to predict")
    assert (
        str(err.value) == f"{tmp_path / 'new.csv'} not found (the rows to predict): check the path"
    )
    with pytest.raises(DataError, match=r"is not a file \(the rows to predict\): give a CSV"):
        read_table(tmp_path, _data_cfg(), role="the rows to predict")


def test_missing_target_column_lists_the_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"target column 'y' \(data.target_col\) not found"):
        load_raw(_data_cfg(raw_path=str(path)))


def test_atomic_write_leaves_no_partial_file_and_a_normal_mode(tmp_path):
    import os

    from tabflow.io import write_json, write_with

    target = tmp_path / "out" / "x.json"
    write_json(target, {"b": 1.5, "a": 1})
    assert target.read_text() == '{\n  "a": 1,\n  "b": 1.5\n}\n'
    assert target.stat().st_mode & 0o777 == 0o666 & ~_current_umask()

    def boom(path):
        path.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_with(target, boom)
    assert target.read_text().startswith("{")
    assert sorted(os.listdir(target.parent)) == ["x.json"]


def test_a_temp_file_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import os

    from tabflow.io import write_json

    target = tmp_path / "x.json"
    (tmp_path / ".x.json.abc123.tmp").write_text("half, the writer got SIGKILL")
    (tmp_path / ".y.json.abc123.tmp").write_text("another output's, kept")
    write_json(target, {"a": 1})
    assert sorted(os.listdir(tmp_path)) == [".y.json.abc123.tmp", "x.json"]


def _current_umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Bring your own CSV: NA markers, an ID column, a rule that makes the target binary, and
# the checks that run before any model is trained.


def _own_csv(tmp_path, text: str, **kw):
    path = tmp_path / "own.csv"
    path.write_text(text)
    return _data_cfg(raw_path=str(path), **kw)


def test_na_markers_apply_to_every_column_and_strings_stay_categorical(tmp_path):
    cfg = _own_csv(
        tmp_path, "id,age,colour,y\n1,50,red,yes\n2,?,blue,no\n3,61,?,yes\n", na_markers=["?"]
    )
    df = load_raw(cfg)
    assert df["age"].isna().tolist() == [False, True, False]
    assert df["age"].dtype.kind == "f", "the marker must not turn a numeric column into text"
    assert df["colour"].isna().tolist() == [False, False, True]
    numeric, categorical = feature_columns(df, "y", [])
    assert categorical == ["colour"] and "age" in numeric


def test_id_column_is_dropped_and_must_exist(tmp_path):
    cfg = _own_csv(tmp_path, "id,a,y\n1,5,yes\n2,5,yes\n", id_col="id")
    df = load_raw(cfg)
    assert list(df.columns) == ["a", "y"]
    assert deduplicate(df)[1] == 1, "rows that differ only by ID are duplicates"
    with pytest.raises(DataError, match=r"data.id_col='pid' is not a column; columns are: id, a"):
        load_raw(_own_csv(tmp_path, "id,a,y\n1,5,yes\n", id_col="pid"))


def test_positive_when_makes_a_multi_valued_target_binary():
    df = pd.DataFrame({"a": [1, 2, 3, 4], "y": [0, 1, 2, 4]})
    for rule in ("> 0", "gt:0"):
        out, _ = encode_target(df, _data_cfg(positive_when=rule), "x.csv", "binary")
        assert out["y"].tolist() == [0, 1, 1, 1]
    with pytest.raises(DataError, match=r"puts every row of 'y' in one class"):
        encode_target(df, _data_cfg(positive_when="ge:0"), "x.csv", "binary")
    text = pd.DataFrame({"a": [1, 2], "y": ["x", "z"]})
    with pytest.raises(DataError, match=r"needs a numeric target"):
        encode_target(text, _data_cfg(positive_when="gt:0"), "x.csv", "binary")


@pytest.mark.parametrize("rule", ["> 0", ">= 1.5", "== 2", "!= -1", "gt:0", "le:-1.5"])
def test_positive_when_rules_are_validated_by_the_schema(in_root, rule):
    assert compose_config([f"data.positive_when='{rule}'"], model="lr").data.positive_when


def test_bad_positive_when_rule_is_a_config_error(in_root):
    from tabflow.config import ConfigError

    with pytest.raises(ConfigError, match=r"data.positive_when='above 0' is invalid"):
        compose_config(["data.positive_when='above 0'"], model="lr")


def _table(**cols):
    return pd.DataFrame(cols)


def test_validation_rejects_an_all_missing_column():
    from tabflow.validate import check_table

    df = _table(a=range(20), empty=[None] * 20, y=[0, 1] * 10)
    with pytest.raises(DataError, match=r"x.csv: column\(s\) 'empty' are empty in every row"):
        check_table(df, _data_cfg(), 0, "binary", ["no", "yes"])


def test_validation_reports_constant_columns_and_likely_leaks(caplog):
    from tabflow.validate import check_table

    y = [0, 1] * 15
    df = _table(
        noise=[(i * 7) % 11 for i in range(30)],
        same=[3] * 30,
        leak=[v * 10 + i % 3 for i, v in enumerate(y)],
        group=["a" if v else "b" for v in y],
        y=y,
    )
    report = check_table(df, _data_cfg(), 4, "binary", ["no", "yes"])
    assert report["constant_columns"] == ["same"]
    assert set(report["possible_leaks"]) == {"leak", "group"}
    assert report["class_counts"] == {"0": 15, "1": 15}
    assert report["n_duplicates_dropped"] == 4
    assert "column 'leak' alone predicts 'y'" in caplog.text


def test_validation_needs_enough_rows_per_class_for_the_cv():
    from tabflow.validate import check_split

    train = _table(a=range(12), y=[1] * 9 + [0] * 3)
    with pytest.raises(DataError, match=r"smallest class \(no\) has 3 rows in the training part"):
        check_split(train, "y", 5, "binary", ["no", "yes"])
    assert check_split(train, "y", 3, "binary", ["no", "yes"]) == {"smallest_class_in_train": 3}
    three = _table(a=range(12), y=[0] * 5 + [1] * 5 + [2] * 2)
    with pytest.raises(DataError, match=r"^class 'elm' has 2 rows in the training part, fewer "):
        check_split(three, "y", 5, "multiclass", ["ash", "oak", "elm"])


def test_a_class_with_one_distinct_row_cannot_be_split():
    from tabflow.data import split

    df = _table(a=range(9), y=[0] * 4 + [1] * 4 + [2])
    with pytest.raises(DataError, match=r"^class 'elm' of 'y' has 1 distinct row: the split needs"):
        split(df, "y", 0.3, 0, "multiclass", ["ash", "oak", "elm"])


def _rows(n: int, extra: str = "") -> str:
    """A small table: an integer, a float, a category; the target alternates."""
    lines = [f"{i % 7},{i * 0.37:.2f},{'abc'[i % 3]},{i % 2}{extra}" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_a_column_of_row_ids_stops_the_run_naming_the_fix(tmp_path):
    ids = "".join(f"P{i},{line}\n" for i, line in enumerate(_rows(40).splitlines()))
    cfg = _own_csv(tmp_path, "pid,n,x,c,y\n" + ids, target_col="y")
    with pytest.raises(DataError) as err:
        load_raw(cfg)
    assert "column(s) 'pid' (40 distinct values in 40 rows) look like row IDs" in str(err.value)
    assert "set data.id_col=pid to drop it" in str(err.value)
    dropped = load_raw(_own_csv(tmp_path, "pid,n,x,c,y\n" + ids, drop_id_like_columns=True))
    assert "pid" not in dropped.columns
    counter = "".join(f"{1000 + i},{line}\n" for i, line in enumerate(_rows(40).splitlines()))
    with pytest.raises(DataError, match="'row' .* look like row IDs"):
        load_raw(_own_csv(tmp_path, "row,n,x,c,y\n" + counter))


def test_measurements_unique_per_row_are_not_ids(tmp_path):
    """A float column, or integers spread over a wide range (an income), stay features."""
    spread = "".join(f"{20000 + 997 * i},{line}\n" for i, line in enumerate(_rows(40).splitlines()))
    df = load_raw(_own_csv(tmp_path, "income,n,x,c,y\n" + spread))
    assert "income" in df.columns and "x" in df.columns


def test_stray_strings_in_a_number_column_are_named_with_their_lines(tmp_path):
    lines = _rows(30).splitlines()
    cells = lines[3].split(",")
    cells[1] = "n/a?"  # column x
    lines[3] = ",".join(cells)
    lines[8] = "abc," + lines[8].split(",", 1)[1]
    cfg = _own_csv(tmp_path, "n,x,c,y\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_raw(cfg)
    message = str(err.value)
    assert "column 'n' holds numbers but 1 value(s) are not: 'abc' (line 10)" in message
    assert "set data.na_markers=[abc]" in message
    assert "column 'x'" not in message, "the first column found is named"
    ok = load_raw(
        _own_csv(tmp_path, "n,x,c,y\n" + "\n".join(lines) + "\n", na_markers=["abc", "n/a?"])
    )
    assert ok["n"].dtype.kind == "f" and ok["x"].dtype.kind == "f"


def test_infinite_values_are_missing_with_a_warning(tmp_path, caplog):
    text = "n,x,y\n1,inf,0\n2,-inf,1\n3,0.5,0\n4,0.7,1\n"
    df = load_raw(_own_csv(tmp_path, text))
    assert df["x"].isna().tolist() == [True, True, False, False]
    assert "infinite values read as missing: x (2 rows)" in caplog.text


def test_a_semicolon_separated_file_is_named_as_such(tmp_path):
    text = "a;b;y\n1;2;0\n3;4;1\n"
    expected = "the file looks semicolon-separated (';'); set data.sep=semicolon"
    with pytest.raises(DataError, match=re.escape(expected)):
        load_raw(_own_csv(tmp_path, text))
    assert list(load_raw(_own_csv(tmp_path, text, sep="semicolon")).columns) == ["a", "b", "y"]


def test_a_single_class_target_says_so():
    df = pd.DataFrame({"a": [1, 2, 3], "y": ["yes", "yes", "yes"]})
    with pytest.raises(DataError, match=r"target column 'y' has one class only \(yes\)"):
        encode_target(df, _data_cfg(), "x.csv", "binary")


def test_column_settings_apply_only_to_the_file_they_were_written_for(tmp_path, caplog):
    caplog.set_level("INFO")
    text = "slope,ca,y\n0.5,4,0\n1.5,2,1\n2.5,4,0\n"
    other = _own_csv(tmp_path, text, categorical_cols=["slope"], na_values={"ca": [4]})
    other.columns_for = "data/raw/heart.csv"
    df = load_raw(other)
    assert df["ca"].isna().sum() == 0, "the demo's codes are not this file's"
    assert "written for data/raw/heart.csv (data.columns_for), not applied" in caplog.text
    other.columns_for = other.raw_path
    df = load_raw(other)
    assert df["ca"].isna().sum() == 2
    assert "data.categorical_cols applied to: slope; data.na_values applied to: ca (4)" in (
        caplog.text
    )


def test_column_settings_on_the_command_line_are_for_the_file_given_there(in_root):
    own = compose_config([f"data.raw_path={DEMO_CSV}", "data.categorical_cols=[a]"], model="lr")
    assert own.data.columns_for == str(DEMO_CSV)
    demo_settings = compose_config([f"data.raw_path={DEMO_CSV}"], model="lr")
    assert demo_settings.data.columns_for == "data/raw/heart.csv"


def test_rows_to_predict_get_an_output_of_their_own_and_never_one_under_results(tmp_path):
    from tabflow.errors import predict_input_problem
    from tabflow.paths import Paths

    paths = Paths("results")
    here, there = tmp_path / "new.csv", tmp_path / "elsewhere" / "new.csv"
    assert paths.new_predictions(str(here)) != paths.new_predictions(str(there))
    assert paths.new_predictions(str(here)).startswith("results/predictions/new/new-")
    assert paths.drift_table("a/b/x.csv") == "a/b/x.drift.csv"
    inside = tmp_path / "results" / "predictions" / "new" / "x.csv"
    inside.parent.mkdir(parents=True)
    inside.write_text("a\n1\n")
    problem = predict_input_problem(inside, tmp_path / "results")
    assert problem and "lies under" in problem and "copy the rows elsewhere first" in problem
    assert predict_input_problem(here, tmp_path / "results") == (
        f"{here} not found (predict_input): check the path"
    )
    here.write_text("a\n1\n")
    assert predict_input_problem(here, tmp_path / "results") is None

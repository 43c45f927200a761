"""End to end: every bad input, one case per row, through the real `snakemake -j 3`.

One case per place an error can come from runs as a `snakemake -j 3` process; the other
cases found while the Snakefile is read run Snakemake's own command line in this process
(`snakemake.cli.main`: the same parsing of --config, the same Snakefile), and the other
data errors the preprocess stage by hand (`tabflow run preprocess`). Each case starts
from an empty state (no results, no MLflow DB) in one project copy and must end with one
clear message naming the file or key and the fix, a non-zero exit, no output file under
results/ (only the failed job's log and the tracking lock), no MLflow run left RUNNING,
and the demo data untouched.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from .e2e import DEMO_MD5, MODELS, Project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    proj = Project.create(tmp_path_factory.mktemp("bad-input") / "p")
    proj.run("dvc", "pull")
    return proj


def _demo(project: Project) -> list[str]:
    return project.path.joinpath("data/raw/heart.csv").read_text().splitlines()


def _write(project: Project, name: str, lines: list[str]) -> str:
    path = project.path.parent / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _csv(
    name: str, make: Callable[[list[str]], list[str]], target: str = "target", extra: str = ""
):
    """A case that points data.raw_path at a CSV made from the demo data's lines (and gives
    the `extra` overrides)."""

    def setup(project: Project) -> list[str]:
        path = _write(project, name, make(_demo(project)))
        return ["--config", f"overrides=data.raw_path={path} data.target_col={target} {extra}"]

    return setup


def _overrides(text: str):
    return lambda project: ["--config", f"overrides={text}"]


def _not_pulled(project: Project) -> list[str]:
    """A fresh clone before `dvc pull`: the demo CSV is not there (put back afterwards)."""
    raw = project.path / "data/raw/heart.csv"
    raw.rename(raw.with_name("heart.csv.away"))
    return []


def _evil_model(project: Project) -> list[str]:
    """A model YAML whose `_target_` would run a shell command if it were imported."""
    project.path.joinpath("configs/model/evil.yaml").write_text(
        "_target_: os.system\nscale: false\nparams:\n  command: touch PWNED\n"
    )
    return []


def _with_column(lines: list[str], header: str, value: str) -> list[str]:
    return [f"{lines[0]},{header}", *(f"{row},{value}" for row in lines[1:])]


def _few_positives(lines: list[str]) -> list[str]:
    rows = list(dict.fromkeys(lines[1:]))  # distinct rows, demo order
    positives = [r for r in rows if r.endswith(",1")][:4]
    return [lines[0], *[r for r in rows if r.endswith(",0")], *positives]


def _model_file(name: str, text: str):
    """A case that adds configs/model/<name>.yaml (removed afterwards)."""

    def setup(project: Project) -> list[str]:
        project.path.joinpath(f"configs/model/{name}.yaml").write_text(text)
        return ["--config", f"models=[{name}]"] if name.isidentifier() else []

    return setup


RF = "_target_: sklearn.ensemble.RandomForestClassifier\nscale: false\nparams:\n"


def _locked_results(project: Project) -> list[str]:
    """A results folder nobody may write (immutable, so root too)."""
    results = project.path / "results"
    results.mkdir(exist_ok=True)
    subprocess.run(["chattr", "+i", str(results)], check=True)
    return []


def _server_down(project: Project) -> list[str]:
    project.env["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"  # nothing listens on port 9
    return []


def _with_ids(lines: list[str]) -> list[str]:
    return [f"pid,{lines[0]}", *(f"P{i},{row}" for i, row in enumerate(lines[1:]))]


def _stray_strings(lines: list[str]) -> list[str]:
    """`n/a?` and `abc` in two rows of chol (the fifth column)."""
    out = list(lines)
    for i, value in ((4, "n/a?"), (9, "abc")):
        cells = out[i].split(",")
        cells[4] = value
        out[i] = ",".join(cells)
    return out


def _one_class(lines: list[str]) -> list[str]:
    return [lines[0], *(row for row in lines[1:] if row.endswith(",1"))]


def _sweep(text: str):
    """A case that adds configs/sweep/bad.yaml (removed afterwards) and runs it."""

    def setup(project: Project) -> list[str]:
        project.path.joinpath("configs/sweep/bad.yaml").write_text(text)
        return ["--config", "sweep=bad"]

    return setup


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Project], list[str]]
    message: str  # the one line the user gets (a distinctive part of it)
    # How the case runs: "process" (a real `snakemake -j 3` process: one case per place an
    # error can come from), "parse" (Snakemake's own CLI, `snakemake.cli.main`, in this
    # process: an error found while the Snakefile is read) or "job" (the preprocess stage
    # by hand, `tabflow run preprocess`, in this process: an error in the data).
    runs: str = "parse"


CASES = [
    Case(
        "data not pulled",
        _not_pulled,
        "data error: data/raw/heart.csv not found (data.raw_path): run `dvc pull`",
        runs="process",
    ),
    Case(
        "data file missing",
        _overrides("data.raw_path=/nonexistent/x.csv"),
        "data error: /nonexistent/x.csv not found (data.raw_path): run `dvc pull` to fetch "
        "the demo data, or point data.raw_path at your CSV",
    ),
    Case(
        "empty file",
        _csv("empty.csv", lambda lines: []),
        "empty.csv is empty (data.raw_path): expected a CSV with a header",
        runs="job",
    ),
    Case(
        "malformed CSV",
        _csv("malformed.csv", lambda lines: [lines[0], lines[1], '"' + lines[2], *lines[3:9]]),
        "malformed.csv is not a readable CSV (data.raw_path): Error tokenizing data",
        runs="job",
    ),
    Case(
        "target column missing",
        _csv("no-target.csv", lambda lines: lines, target="diagnosis"),
        "no-target.csv: target column 'diagnosis' (data.target_col) not found; columns are: "
        "age, sex, cp",
        runs="job",
    ),
    Case(
        "binary task on a target of many values",
        _csv("cp-target.csv", lambda lines: lines, target="cp", extra="data.task=binary"),
        "config error: data.task=binary, but target 'cp' holds 4 values; make it binary with "
        "data.positive_when (positive when above 0: data.positive_when=gt:0), or set "
        "data.task=multiclass",
    ),
    Case(
        "all-missing column",
        _csv("empty-column.csv", lambda lines: _with_column(lines, "notes", "")),
        "empty-column.csv: column(s) 'notes' are empty in every row; remove them from the CSV",
        runs="job",
    ),
    Case(
        "too few rows per class for the CV",
        _csv("few-positives.csv", _few_positives),
        "the smallest class (no disease) has 3 rows in the training part, fewer than "
        "evaluation.cv_folds=5; lower evaluation.cv_folds",
        runs="job",
    ),
    Case(
        "wrong type in the config",
        _overrides("training.test_size=abc"),
        "config error: training.test_size: Value 'abc' of type 'str' could not be converted "
        "to Float; fix it in configs/training.yaml or in your override",
    ),
    Case(
        "out-of-range value in the config",
        _overrides("training.test_size=1.5"),
        "config error: training.test_size=1.5 is invalid: expected a fraction strictly "
        "between 0 and 1; fix it in configs/training.yaml or in your override",
    ),
    Case(
        "unknown config key",
        _overrides("training.foo=1"),
        "config error: unknown config key 'training.foo': configs/training.yaml has no such "
        "setting",
        runs="process",
    ),
    Case(
        "unknown model",
        lambda project: ["--config", "models=[lr,xyz]"],
        "config error: unknown model 'xyz' in --config models: configs/model/ has gb, lr, rf; "
        "add configs/model/xyz.yaml or pick from those",
    ),
    Case(
        "_target_ not an allowed estimator",
        _evil_model,
        "config error: model._target_='os.system' is not an allowed estimator; use one of: "
        "catboost.CatBoostClassifier",
    ),
    Case(
        "estimator parameter that does not exist",
        _model_file("bad", RF + "  n_estimatorz: 10\n"),
        "config error: configs/model/bad.yaml: model.params.n_estimatorz: RandomForestClassifier "
        "has no parameter 'n_estimatorz'; did you mean 'n_estimators'?",
    ),
    Case(
        "estimator parameter with an invalid value",
        _model_file("bad", RF + "  max_depth: -1\n"),
        "config error: configs/model/bad.yaml: model.params.max_depth=-1 is invalid: The "
        "'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf)",
    ),
    Case(
        "estimator without probabilities",
        _model_file("svm", "_target_: sklearn.svm.SVC\nscale: true\nparams: {}\n"),
        "config error: configs/model/svm.yaml: SVC gives no class probabilities with these "
        "params (ROC AUC, calibration and log loss need them); wrap it: `calibrate: sigmoid` "
        "in the model file",
    ),
    Case(
        "a metric of another task",
        _overrides("evaluation.primary_metric=rmse"),
        "config error: evaluation.primary_metric='rmse' is not a metric of binary (target "
        "'target' holds 2 values); binary's metrics: accuracy, precision, recall, f1, roc_auc, "
        "average_precision, log_loss",
    ),
    Case(
        "a classifier for a regression target",
        lambda project: [
            *_model_file("svm", "_target_: sklearn.svm.SVC\ncalibrate: sigmoid\n")(project),
            "overrides=data.target_col=chol",
        ],
        "config error: configs/model/svm.yaml has no estimator for regression (target 'chol' "
        "holds 152 distinct whole numbers in 1025 rows, too many to be classes",
    ),
    Case(
        "model file name that breaks the wildcard",
        _model_file("lr+l1", "_target_: sklearn.linear_model.LogisticRegression\n"),
        "config error: configs/model/lr+l1.yaml: a model name may hold only letters, digits, "
        "'_' and '-'; rename the file (e.g. lr_l1.yaml)",
    ),
    Case(
        "tab in a config file",
        _model_file("tab", RF + "\tn_estimators: 10\n"),
        "config error: configs/model/tab.yaml line 4, column 1: YAML syntax error: found "
        "character '\\t' that cannot start any token; indent with spaces, YAML allows no tabs",
    ),
    Case(
        "no model listed",
        lambda project: ["--config", "models=[]"],
        "config error: --config models=[] names no model: leave it out to train the default",
    ),
    Case(
        "unbalanced quote in overrides",
        _overrides("data.raw_path='my data/x.csv"),
        "config error: --config overrides: No closing quotation in",
    ),
    Case(
        "results folder that cannot be written",
        _locked_results,
        "config error: results cannot be written (paths.results_dir): Operation not permitted",
    ),
    Case(
        "tracking server down",
        _server_down,
        "config error: cannot reach MLFLOW_TRACKING_URI=http://127.0.0.1:9 ([Errno 111] "
        "Connection refused): start the server or unset the variable",
    ),
    Case(
        "sweep: a parameter the estimator does not take",
        _sweep("space:\n  rf:\n    model.params.n_estimatorz: choice(10, 20)\n"),
        "config error: configs/sweep/bad.yaml: space.rf.model.params.n_estimatorz: "
        "RandomForestClassifier has no parameter 'n_estimatorz'; did you mean 'n_estimators'?",
    ),
    Case(
        "sweep: an invalid value",
        _sweep("space:\n  rf:\n    model.params.max_depth: choice(-1, 3)\n"),
        "config error: configs/sweep/bad.yaml: space.rf.model.params.max_depth: -1 is invalid",
    ),
    Case(
        "sweep: a model not in configs/model",
        _sweep("space:\n  xgb:\n    model.params.C: choice(1, 2)\n"),
        "config error: configs/sweep/bad.yaml: model 'xgb' is not in configs/model/ (it has "
        "gb, lr, rf)",
    ),
    Case(
        "sweep: an empty space",
        _sweep("strategy: grid\nspace: {}\n"),
        "config error: configs/sweep/bad.yaml: the space is empty",
    ),
    Case(
        "sweep: an unparsable value",
        _sweep("space:\n  lr:\n    model.params.C: choice(1,\n"),
        "config error: configs/sweep/bad.yaml: space.lr.model.params.C: cannot parse 'choice(1,'",
    ),
    Case(
        "sweep: an interval in a grid",
        _sweep("strategy: grid\nspace:\n  lr:\n    model.params.C: interval(0.1, 1)\n"),
        "config error: configs/sweep/bad.yaml: space.lr.model.params.C is an interval, which a "
        "grid cannot enumerate",
    ),
    Case(
        "sweep: a grid over the limit",
        _sweep("max_grid: 2\nspace:\n  lr:\n    model.params.C: choice(0.1, 1, 10)\n"),
        "config error: configs/sweep/bad.yaml: the grid of lr has 3 points, more than max_grid=2",
    ),
    Case(
        "sweep: no trials",
        _sweep("strategy: random\ntrials: 0\nspace:\n  lr:\n    model.params.C: choice(1, 2)\n"),
        "config error: configs/sweep/bad.yaml: trials=0; give a whole number of at least 1",
    ),
    Case(
        "sweep: no such sweep",
        lambda project: ["--config", "sweep=nope"],
        "config error: --config sweep=nope: configs/sweep/nope.yaml not found",
    ),
    Case(
        "ID column",
        _csv("ids.csv", _with_ids),
        "ids.csv: column(s) 'pid' (1025 distinct values in 1025 rows) look like row IDs: they "
        "would make every row distinct, so duplicates would reach the test split; set "
        "data.id_col=pid to drop it",
        runs="job",
    ),
    Case(
        "stray strings in a numeric column",
        _csv("stray.csv", _stray_strings),
        "stray.csv: column 'chol' holds numbers but 2 value(s) are not: 'n/a?' (line 5), "
        "'abc' (line 10); if they mean missing, set data.na_markers=[n/a?,abc]",
        runs="process",
    ),
    Case(
        "semicolon-separated CSV",
        _csv("semicolon.csv", lambda lines: [line.replace(",", ";") for line in lines]),
        "semicolon.csv: the header is one column 'age;sex;cp;trestbps;chol;fbs;restecg;thalach"
        ";exang;oldpeak;s': the file looks semicolon-separated (';'); set data.sep=semicolon",
        runs="job",
    ),
    Case(
        "a column name given twice",
        _csv("twice.csv", lambda lines: [lines[0].replace("chol", "age", 1), *lines[1:]]),
        "twice.csv: the header names 'age' (columns 1 and 5) more than once (data.raw_path); "
        "keep one",
        runs="job",
    ),
    Case(
        "single-class target",
        _csv("one-class.csv", _one_class),
        "one-class.csv: target column 'target' (data.target_col) has one value only (1): there "
        "is nothing to learn",
        runs="job",
    ),
]

PROFILE = "Using workflow specific profile profiles/default"  # Snakemake's first line
# What a failed run may leave under results/: the failed job's log and the tracking lock.
ALLOWED_LEFTOVERS = {"results/.mlflow.lock", "results/logs/preprocess/preprocess.log"}


def _restore(project: Project) -> None:
    away = project.path / "data/raw/heart.csv.away"
    if away.exists():
        away.rename(away.with_name("heart.csv"))
    for extra in project.path.glob("configs/model/*.yaml"):
        if extra.stem not in MODELS:
            extra.unlink()
    project.path.joinpath("configs/sweep/bad.yaml").unlink(missing_ok=True)
    if (project.path / "results").is_dir():
        subprocess.run(["chattr", "-i", str(project.path / "results")], check=True)
    project.env.pop("MLFLOW_TRACKING_URI", None)


def _run(project: Project, case: Case, monkeypatch, capsys) -> tuple[int, str]:
    """(exit status, everything printed) of the case, run as its `runs` says."""
    args = case.setup(project)
    if case.runs == "process":
        res = project.snakemake("-j", "3", *args, check=False)
        return res.returncode, res.stdout + res.stderr
    if case.runs == "parse":
        return project.snakemake_here("-j", "3", *args)
    # "job": `tabflow run preprocess` with the same overrides
    from tabflow.cli import main

    monkeypatch.chdir(project.path)
    for name in [n for n in os.environ if n.startswith(("MLFLOW_", "TABFLOW_"))]:
        monkeypatch.delenv(name)
    (overrides,) = [a.removeprefix("overrides=") for a in args if a.startswith("overrides=")]
    try:
        status = main(["run", "preprocess", *shlex.split(overrides)])
    except SystemExit as end:
        status = end.code
    printed = capsys.readouterr()
    return int(status or 0), printed.out + printed.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_one_clear_error_and_leaves_nothing_behind(
    project, case, monkeypatch, capsys
):
    project.clean()
    try:
        status, output = _run(project, case, monkeypatch, capsys)
        leftovers = {
            str(p.relative_to(project.path))
            for p in (project.path / "results").rglob("*")
            if p.is_file()
        }
        pwned = (project.path / "PWNED").exists()
    finally:
        _restore(project)
    assert status != 0, output
    lines = [line for line in output.splitlines() if case.message in line]
    assert lines, f"expected {case.message!r} in:\n{output}"
    assert "Traceback" not in output, output
    assert leftovers <= ALLOWED_LEFTOVERS, leftovers
    log = project.path / "results/logs/preprocess/preprocess.log"
    if log.exists():  # a data error: found by the preprocess job, before any training
        assert case.message in log.read_text()
        assert "Traceback" not in log.read_text()
    elif case.runs != "job":  # found while the Snakefile is read: that line is all
        rest = [line for line in output.strip().splitlines() if not line.startswith(PROFILE)]
        assert rest == lines, output
    db = project.path / "mlflow.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            statuses = [s for (s,) in conn.execute("SELECT status FROM runs")]
        assert "RUNNING" not in statuses
    assert not pwned
    demo = project.path / "data/raw/heart.csv"
    assert hashlib.md5(demo.read_bytes()).hexdigest() == DEMO_MD5

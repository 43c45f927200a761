"""The gradient-boosting libraries as one-file models: LightGBM, XGBoost and scikit-learn's
histogram boosting (configs/model/lgbm.yaml, xgb.yaml, hgb.yaml). Their parameters are
checked before any job, they take missing values and categories themselves, their thread
count comes from the rule, and their results repeat bit for bit."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from tabflow.config import compose_config
from tabflow.errors import ConfigError
from tabflow.models import build_pipeline

from .conftest import reading_for

BOOSTING = ["catboost", "hgb", "lgbm", "xgb"]


@pytest.mark.parametrize(
    ("model", "override", "message"),
    [
        (
            "lgbm",
            "+model.params.num_leave=10",
            "configs/model/lgbm.yaml: model.params.num_leave: LGBMClassifier has no parameter "
            "'num_leave'; did you mean 'num_leaves'?",
        ),
        (
            "lgbm",
            "model.params.num_leaves=1",
            "configs/model/lgbm.yaml: model.params.num_leaves=1 is invalid: Check failed: "
            "(num_leaves) > (1)",
        ),
        (
            "xgb",
            "+model.params.max_detph=3",
            "configs/model/xgb.yaml: model.params.max_detph: XGBClassifier has no parameter "
            "'max_detph'; did you mean 'max_depth'?",
        ),
        (
            "xgb",
            "model.params.max_depth=-2",
            "configs/model/xgb.yaml: model.params.max_depth=-2 is invalid: value -2 for "
            "Parameter max_depth should be greater equal to 0",
        ),
        (
            "catboost",
            "+model.params.deph=3",
            "configs/model/catboost.yaml: model.params.deph: CatBoostClassifier has no "
            "parameter 'deph'; did you mean 'depth'?",
        ),
        (
            "catboost",
            "model.params.depth=20",
            "configs/model/catboost.yaml: model.params.depth=20 is invalid: Maximum tree depth "
            "is 16",
        ),
        (
            "lr",
            "model.native=true",
            "configs/model/lr.yaml: native: true, but LogisticRegression takes no missing "
            "values or categories itself",
        ),
    ],
)
def test_a_library_parameter_is_checked_before_any_job(in_root, model, override, message):
    with pytest.raises(ConfigError) as err:
        compose_config([override], model=model)
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text and "/__w/" not in text, "one line, no build path"


def test_a_library_that_is_not_installed_is_one_line_naming_the_extra(in_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # `import lightgbm` fails
    with pytest.raises(ConfigError) as err:
        compose_config(["model.params.num_leaves=17"], model="lgbm")
    assert str(err.value) == (
        "model._target_=lightgbm.LGBMClassifier: lightgbm is not installed; "
        "pip install -e '.[boosting]' (make install does)"
    )


def _rows(n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    y = pd.Series(((X["a"] + (X["colour"] == "red")) > 0.5).astype(int))
    X.loc[::7, "a"] = np.nan
    X.loc[::11, "colour"] = np.nan
    return X, y


def _model(in_root, name: str, X: pd.DataFrame, threads: int = 1):
    from tabflow.config import resolved

    cfg = resolved(compose_config([], model=name))["model"]
    return build_pipeline(cfg, reading_for(X, ["colour"]), n_jobs=threads)


@pytest.mark.parametrize("name", BOOSTING)
def test_native_models_take_missing_values_and_categories_as_they_are(in_root, name):
    """No imputation, no one-hot: numbers with their NaN, the categorical column as a
    pandas category fixed at fit (a value never seen in training is missing; for CatBoost,
    which takes no missing category, the value MISSING_CATEGORY)."""
    from tabflow.models import MISSING_CATEGORY

    X, y = _rows()
    X.loc[X.index[:5], "colour"] = np.nan
    model = _model(in_root, name, X).fit(X, y)
    features = model[:-1].transform(pd.concat([X.head(3), X.head(1).assign(colour="pink")]))
    assert list(features.columns) == ["a", "b", "colour"]
    assert features["colour"].dtype == "category"
    missing = [MISSING_CATEGORY] if name == "catboost" else []
    assert list(features["colour"].cat.categories) == ["blue", "green", "red", *missing]
    seen = features["colour"].tolist()
    if missing:
        assert seen == [MISSING_CATEGORY] * 4, "missing and unseen: a category of their own"
    else:
        assert features["colour"].isna().all(), "missing and unseen categories are missing"
    assert features["a"].isna().any(), "missing values reach the estimator"
    assert model.predict_proba(X).shape == (len(X), 2)


@pytest.mark.parametrize("name", ["catboost", "lgbm", "xgb"])
def test_the_library_threads_are_the_rules(in_root, name):
    """n_jobs (CatBoost: thread_count) from the rule's threads (the libraries' default is
    every core)."""
    X, _ = _rows()
    from tabflow.models import threads_of

    assert threads_of(_model(in_root, name, X, threads=1)) == 1
    assert threads_of(_model(in_root, name, X, threads=2)) == 2


def test_histogram_boosting_takes_the_openmp_threads_snakemake_sets(in_root):
    """HistGradientBoosting has no n_jobs: its OpenMP threads (OMP_NUM_THREADS, which
    Snakemake sets to the rule's threads in every job) are what the train log reports."""
    from threadpoolctl import threadpool_limits

    from tabflow.models import threads_of

    X, _ = _rows()
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            assert threads_of(_model(in_root, "hgb", X)) == threads


@pytest.mark.parametrize("name", [n for n in BOOSTING if n != "catboost"])
def test_a_rerun_gives_the_same_bits_and_so_does_another_thread_count(in_root, name):
    """The same data, config, code and threads: identical probabilities. One thread or
    two: identical too (LightGBM's `deterministic`, XGBoost's histogram, scikit-learn's
    OpenMP loops), measured here and said in the README. Not CatBoost's classifier: its
    answers depend on its thread count (at 50,000 rows; catboost/catboost#2804)."""
    from threadpoolctl import threadpool_limits

    X, y = _rows(2000)
    answers = []
    for threads in (1, 1, 2):
        with threadpool_limits(threads, user_api="openmp"):  # histogram boosting's threads
            model = _model(in_root, name, X, threads=threads).fit(X, y)
            answers.append(model.predict_proba(X)[:, 1])
    np.testing.assert_array_equal(answers[0], answers[1])
    np.testing.assert_array_equal(answers[0], answers[2])


def test_catboost_gives_the_same_bits_again_at_the_same_threads(in_root):
    X, y = _rows(2000)
    answers = [
        _model(in_root, "catboost", X, threads=2).fit(X, y).predict_proba(X)[:, 1] for _ in range(2)
    ]
    np.testing.assert_array_equal(answers[0], answers[1])


def test_a_logged_model_requires_its_library(in_root):
    from importlib.metadata import version

    from tabflow.tracking.model_run import pip_requirements

    assert f"lightgbm=={version('lightgbm')}" in pip_requirements("lightgbm.LGBMClassifier")
    assert f"xgboost-cpu=={version('xgboost-cpu')}" in pip_requirements("xgboost.XGBRegressor")
    plain = pip_requirements("sklearn.ensemble.RandomForestClassifier")
    assert not any(r.startswith(("lightgbm", "xgboost")) for r in plain)


def test_a_classifier_without_probabilities_is_calibrated_inside_each_fit(in_root):
    """`calibrate: sigmoid`: CalibratedClassifierCV around the estimator, fitted on its own
    folds of each fit's training rows (scikit-learn 1.9 deprecates SVC(probability=True));
    the model file's error for an SVC without probabilities says so."""
    from sklearn.calibration import CalibratedClassifierCV

    from tabflow.config import resolved

    with pytest.raises(ConfigError, match=r"wrap it: `calibrate: sigmoid` in the model file"):
        compose_config(["model._target_=sklearn.svm.SVC"], model="lr")
    cfg = compose_config(["model._target_=sklearn.svm.SVC", "model.calibrate=sigmoid"], model="lr")
    spec = resolved(cfg)["model"]
    X, y = _rows()
    model = build_pipeline(spec, reading_for(X, ["colour"])).fit(X, y)
    assert isinstance(model[-1], CalibratedClassifierCV) and model[-1].method == "sigmoid"
    assert len(model[-1].calibrated_classifiers_) == 3, "its own three folds"
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and 0.7 < proba[:, 1][y == 1].mean()
    with pytest.raises(
        ConfigError, match=r"model.calibrate='platt' is invalid: expected one of sigmoid, isotonic"
    ):
        compose_config(["model.calibrate=platt"], model="lr")


@pytest.mark.parametrize("name", BOOSTING)
def test_early_stopping_sets_the_rounds_on_a_slice_of_each_fits_own_rows(in_root, tmp_path, name):
    """The rounds are chosen inside each fit (a CV fold's, the final one's) on a tenth of
    the rows it is given, and then fitted on all of them; a model saved with it loads."""
    from tabflow.config import resolved
    from tabflow.models import load_model, rounds_of, save_model

    overrides = ["model.early_stopping.rounds=5", "model.params.learning_rate=0.3"]
    spec = resolved(compose_config(overrides, model=name))["model"]
    assert spec["early_stopping"] == {"rounds": 5, "fraction": 0.1}
    X, y = _rows(600)  # the fit sees the first 300: its slice is 30 of them
    first = build_pipeline(spec, reading_for(X, ["colour"])).fit(X.iloc[:300], y.iloc[:300])
    limit = spec["params"].get("n_estimators") or spec["params"].get("max_iter")
    assert 1 <= rounds_of(first) < limit, "stopped before the last round"
    save_model(first, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), first.predict_proba(X))


def test_a_calibrated_boosting_model_reports_the_rounds_of_its_calibration_fits(in_root):
    """Calibrated, the estimator is fitted once per calibration fold, each stopping on its
    own slice: the rounds logged are their mean."""
    from tabflow.config import resolved
    from tabflow.models import rounds_of

    overrides = ["+model.calibrate=sigmoid", "model.early_stopping.rounds=5"]
    spec = resolved(compose_config([*overrides, "model.params.learning_rate=0.3"], model="lgbm"))
    X, y = _rows(600)
    model = build_pipeline(spec["model"], reading_for(X, ["colour"])).fit(X, y)
    each = [c.estimator.best_rounds_ for c in model[-1].calibrated_classifiers_]
    assert len(each) == 3 and rounds_of(model) == round(sum(each) / 3)
    assert 1 <= rounds_of(model) < spec["model"]["params"]["n_estimators"]

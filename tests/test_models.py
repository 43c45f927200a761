"""The model factory: allowed estimators only, preprocessing inside the pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabflow.config import compose_config
from tabflow.models import ALLOWED_ESTIMATORS, TAKES_NATIVE, build_pipeline, estimator_class

from .conftest import reading_for


def test_disallowed_target_is_never_imported():
    with pytest.raises(ValueError, match="not an allowed estimator"):
        estimator_class("os.system")
    with pytest.raises(ValueError, match="not an allowed estimator"):
        estimator_class("subprocess.Popen")


def test_every_allowed_estimator_is_of_the_kind_it_is_listed_as():
    from sklearn.base import is_classifier, is_regressor

    for target, kind in ALLOWED_ESTIMATORS.items():
        check = is_classifier if kind == "classification" else is_regressor
        assert check(estimator_class(target)()), target


@pytest.mark.parametrize("model", ["rf", "lr", "gb"])
def test_configured_models_fit_raw_rows_with_missing_values(in_root, model):
    cfg = compose_config([], model=model)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"num": rng.normal(size=80), "cat": rng.choice(["a", "b", None], size=80)})
    X.loc[::7, "num"] = np.nan
    y = (X["num"].fillna(0) > 0).astype(int)
    pipe = build_pipeline(cfg.model, reading_for(X, ["cat"]))
    pipe.fit(X, y)
    proba = pipe.predict_proba(X.head(3))
    assert proba.shape == (3, 2)
    params = pipe.named_steps["estimator"].get_params()
    for key, value in cfg.model.params.items():
        assert params[key] == value


def test_scaling_follows_the_config(in_root):
    rows = reading_for(pd.DataFrame({"num": [1.0, 2.0]}))
    lr = build_pipeline(compose_config([], model="lr").model, rows)
    rf = build_pipeline(compose_config([], model="rf").model, rows)
    lr_num = lr.named_steps["features"].transformers[0][1]
    rf_num = rf.named_steps["features"].transformers[0][1]
    assert "standardscaler" in lr_num.named_steps
    assert "standardscaler" not in rf_num.named_steps


@pytest.mark.parametrize(
    ("model", "override", "message"),
    [
        (
            "rf",
            "+model.params.n_estimatorz=10",
            "configs/model/rf.yaml: model.params.n_estimatorz: RandomForestClassifier has no "
            "parameter 'n_estimatorz'; did you mean 'n_estimators'?",
        ),
        (
            "rf",
            "model.params.max_depth=-1",
            "configs/model/rf.yaml: model.params.max_depth=-1 is invalid: The 'max_depth' "
            "parameter of RandomForestClassifier must be an int in the range [1, inf) or None.",
        ),
        (
            "lr",
            "model.params.C=-1",
            "configs/model/lr.yaml: model.params.C=-1 is invalid: The 'C' parameter of "
            "LogisticRegression must be a float in the range (0.0, inf].",
        ),
        (
            "lr",
            "model._target_=sklearn.svm.SVC",
            "configs/model/lr.yaml: SVC gives no class probabilities with these params (ROC "
            "AUC, calibration and log loss need them); wrap it: `calibrate: sigmoid` in the "
            "model file (CalibratedClassifierCV, fitted on each fit's training rows)",
        ),
    ],
)
def test_estimator_params_are_checked_when_the_config_is_composed(
    in_root, model, override, message
):
    """The estimator's own validation, before any job (not after preprocessing and CV)."""
    from tabflow.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        compose_config([override], model=model)
    assert str(err.value).startswith(message), str(err.value)


def _every_estimator_and_task() -> list:
    """(target, task, native) for every allowed estimator on each task it serves, natively
    (missing values and categories as they are) where it can."""
    cases = []
    for target, kind in sorted(ALLOWED_ESTIMATORS.items()):
        tasks = ["regression"] if kind == "regression" else ["binary", "multiclass"]
        natives = [False, True] if target in TAKES_NATIVE else [False]
        cases += [
            pytest.param(target, t, n, id=f"{target}-{t}-{'native' if n else 'encoded'}")
            for t in tasks
            for n in natives
        ]
    return cases


@pytest.mark.parametrize(("target", "task", "native"), _every_estimator_and_task())
def test_every_allowed_estimator_round_trips_through_skops(tmp_path, target, task, native):
    """skops holds every allowed pipeline, on every task it serves, with the types
    SKOPS_TRUSTED names for its library, and no more."""
    import skops.io

    from tabflow.models import SKOPS_TRUSTED, load_model, save_model, trusted_types

    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {"a": rng.normal(size=60), "b": rng.randint(0, 3, 60), "c": rng.choice(["x", "y"], 60)}
    )
    X.loc[3, "a"], X.loc[5, "c"] = np.nan, np.nan
    y = pd.Series(
        {"regression": rng.normal(size=60), "binary": rng.randint(0, 2, 60)}.get(
            task, rng.randint(0, 3, 60)
        )
    )
    calibrate = "sigmoid" if target.endswith("SVC") else None  # its probabilities
    spec = {"_target_": target, "scale": True, "native": native, "params": {}}
    spec["calibrate"] = calibrate
    classes = ("p", "q", "r") if task == "multiclass" else ("0", "1")
    model = build_pipeline(spec, reading_for(X, ["c"], task=task, classes=classes))
    model.fit(X, y)
    path = tmp_path / "m.skops"
    save_model(model, path)
    needed = set(skops.io.get_untrusted_types(file=str(path)))
    assert needed <= set(trusted_types(target)) <= set(SKOPS_TRUSTED)
    answer = "predict" if task == "regression" else "predict_proba"
    loaded = getattr(load_model(path), answer)(X)
    np.testing.assert_array_equal(loaded, getattr(model, answer)(X))


def test_a_model_file_with_other_types_is_refused(tmp_path):
    import fractions

    import skops.io

    from tabflow.errors import DataError
    from tabflow.models import load_model

    path = tmp_path / "odd.skops"
    skops.io.dump({"f": fractions.Fraction(1, 3)}, str(path))  # a type nobody trusted
    with pytest.raises(DataError, match="holds types tabflow does not trust"):
        load_model(path)

"""The model factory: allowed estimators only, preprocessing inside the pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabflow.config import compose_config
from tabflow.models import ALLOWED_ESTIMATORS, build_pipeline, estimator_class


def test_disallowed_target_is_never_imported():
    with pytest.raises(ValueError, match="not an allowed estimator"):
        estimator_class("os.system")
    with pytest.raises(ValueError, match="not an allowed estimator"):
        estimator_class("subprocess.Popen")


def test_every_allowed_estimator_is_a_classifier():
    from sklearn.base import is_classifier

    for target in ALLOWED_ESTIMATORS:
        assert is_classifier(estimator_class(target)()), target


@pytest.mark.parametrize("model", ["rf", "lr", "gb"])
def test_configured_models_fit_raw_rows_with_missing_values(in_root, model):
    cfg = compose_config([], model=model)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"num": rng.normal(size=80), "cat": rng.choice(["a", "b", None], size=80)})
    X.loc[::7, "num"] = np.nan
    y = (X["num"].fillna(0) > 0).astype(int)
    pipe = build_pipeline(cfg.model, ["num"], ["cat"])
    pipe.fit(X, y)
    proba = pipe.predict_proba(X.head(3))
    assert proba.shape == (3, 2)
    params = pipe.named_steps["estimator"].get_params()
    for key, value in cfg.model.params.items():
        assert params[key] == value


def test_scaling_follows_the_config(in_root):
    lr = build_pipeline(compose_config([], model="lr").model, ["num"], [])
    rf = build_pipeline(compose_config([], model="rf").model, ["num"], [])
    lr_num = lr.named_steps["features"].transformers[0][1]
    rf_num = rf.named_steps["features"].transformers[0][1]
    assert "standardscaler" in lr_num.named_steps
    assert "standardscaler" not in rf_num.named_steps


def test_bad_hyperparameter_names_the_model_yaml(in_root):
    cfg = compose_config(["+model.params.not_a_param=1"], model="rf")
    with pytest.raises(ValueError, match=r"model.params: .*not_a_param"):
        build_pipeline(cfg.model, ["num"], [])

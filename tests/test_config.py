"""Config composition and validation with the real configs/ folder."""

from __future__ import annotations

import re

import pytest

from tabflow.catalog import available_models, default_models, split_overrides
from tabflow.config import compose_config
from tabflow.errors import ConfigError
from tabflow.plan import make_plan


def test_models_are_the_yaml_files_and_a_plain_run_trains_the_default_ones(in_root):
    assert available_models() == ["catboost", "gb", "hgb", "lgbm", "lr", "rf", "xgb"]
    assert default_models() == ["gb", "lr", "rf"], "the boosting libraries say default: false"
    assert make_plan([]).models == ["gb", "lr", "rf"]
    assert make_plan([], models=["lgbm"]).models == ["lgbm"]
    swept = make_plan([], sweep="boosting-grid").models
    assert swept == ["gb", "lr", "rf", "lgbm", "xgb", "lgbm-boosting-grid", "xgb-boosting-grid"]
    tpe = make_plan([], sweep="boosting")
    assert tpe.tuned == {f"{m}-boosting": m for m in ("lgbm", "xgb", "hgb")}
    assert {m: len(s["space"]) for m, s in tpe.sweep["models"].items()} == {
        "lgbm": 6,
        "xgb": 6,
        "hgb": 3,
    }


def test_compose_resolves_seed_into_every_model(in_root):
    for model in available_models():
        cfg = compose_config(["training.random_state=7"], model=model)
        assert cfg.training.random_state == 7
        assert cfg.model.params.random_state == 7


def test_overrides_reach_the_config(in_root):
    cfg = compose_config("training.test_size=0.3 data.target_col=sex", model="lr")
    assert cfg.training.test_size == 0.3
    assert cfg.data.target_col == "sex"
    assert cfg.model._target_ == "sklearn.linear_model.LogisticRegression"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ("training.test_size=abc", "training.test_size: Value 'abc' of type 'str' could not be"),
        ("training.test_size=1.5", "training.test_size=1.5 is invalid: expected a fraction"),
        ("training.test_size=0", "training.test_size=0.0 is invalid"),
        ("training.random_state=-1", "training.random_state=-1 is invalid"),
        ("training.foo=1", "unknown config key 'training.foo': configs/training.yaml"),
        ("+training.foo=1", "unknown config key 'training.foo': configs/training.yaml"),
        ("+foo=1", "unknown config key 'foo'"),
        ("+model.foo=1", "unknown config key 'model.foo': configs/model/rf.yaml"),
        ("model._target_=os.system", "model._target_='os.system' is not an allowed estimator"),
        ("evaluation.cv_folds=1", "evaluation.cv_folds=1 is invalid: expected an integer from 2"),
        ("evaluation.primary_metric=auc", "evaluation.primary_metric='auc' is invalid"),
        ("evaluation.permutation_repeats=0", "evaluation.permutation_repeats=0 is invalid"),
        ("evaluation.permutation_max_rows=10", "evaluation.permutation_max_rows=10 is invalid"),
        ("data.na_values=3", "data.na_values: Cannot assign int"),
        ("paths.results_dir=/tmp/x", "paths.results_dir='/tmp/x' is invalid"),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(in_root, overrides, expected):
    with pytest.raises(ConfigError) as err:
        compose_config(overrides, model="rf")
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_model_lists_the_choices(in_root):
    with pytest.raises(
        ConfigError,
        match=r"unknown model 'xyz': configs/model/ has catboost, gb, hgb, lgbm, lr, rf, xgb",
    ):
        compose_config([], model="xyz")
    with pytest.raises(ConfigError, match=r"no model chosen"):
        compose_config([])


def test_plan_selects_models_and_rejects_unknown(in_root):
    assert make_plan([], None).models == ["gb", "lr", "rf"]
    assert make_plan([], ["lr", "rf"]).models == ["lr", "rf"]
    with pytest.raises(ConfigError, match=r"unknown model 'svm' in --config models"):
        make_plan([], ["svm"])


def test_a_rule_gets_exactly_the_keys_it_declares(in_root):
    plan = make_plan([], None)
    keys = ("data.target_col", "model", "evaluation.cv_folds")
    rf = plan.select("rf", keys)
    assert rf == {
        "data": {"target_col": "target"},
        "evaluation": {"cv_folds": 5},
        "model": plan.configs["rf"]["model"],
    }
    assert list(rf) == sorted(rf), "canonical: Snakemake compares params as text"
    assert plan.select("lr", keys)["model"] != rf["model"]
    changed = make_plan(["training.test_size=0.3"], None)
    assert changed.select("rf", ("training",)) != plan.select("rf", ("training",))
    assert changed.select("rf", keys) == rf, "an undeclared key changes nothing"


def test_split_overrides_accepts_string_or_list():
    assert split_overrides("a=1  b='x y'") == ["a=1", "b=x y"]
    assert split_overrides(["a=1"]) == ["a=1"]
    assert split_overrides(None) == []


def test_notify_urls_never_reach_the_jobs(in_root):
    """Notification URLs carry tokens: they stay in the main process (no params, no logs)."""
    plan = make_plan(["notify.urls=[json://h/SECRET]", "training.test_size=0.3"], ["lr"])
    assert plan.notify_urls == ["json://h/SECRET"]
    assert "notify" not in plan.configs["lr"]
    assert "SECRET" not in repr(plan.configs)


def test_seeds_make_one_config_per_model_and_seed(in_root):
    plan = make_plan([], ["lr", "rf"], [1, 2])
    assert plan.models == ["lr-seed1", "lr-seed2", "rf-seed1", "rf-seed2"]
    assert plan.configs["rf-seed2"]["model"]["params"]["random_state"] == 2
    assert plan.configs["rf-seed2"]["training"]["random_state"] == 42  # the split is shared
    data = ("data", "training")
    assert plan.select("rf-seed2", data) == make_plan([], ["lr"]).select(None, data)
    for bad, message in (
        (["x"], "--config seeds: 'x' is not a seed"),
        ([-1], "--config seeds: -1 is not a seed"),
        ([3, 3], "repeats a seed"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            make_plan([], ["lr"], bad)

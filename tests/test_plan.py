"""The composed plan is cached under a digest of what composition reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tabflow import plan as tabflow_plan
from tabflow.catalog import check_once

from .conftest import DEMO_CSV, ROOT


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A folder with a copy of configs/ and the demo data, as the working directory."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    (tmp_path / "data/raw").mkdir(parents=True)
    shutil.copy(DEMO_CSV, tmp_path / "data/raw/heart.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TABFLOW_CONFIG_DIR", raising=False)
    return tmp_path


def test_a_second_start_reads_the_plan_from_the_cache(project):
    first = tabflow_plan.load({})
    second = tabflow_plan.load({})
    assert not first.from_cache and second.from_cache
    assert second.configs == first.configs and second.models == first.models
    assert len(list((project / ".snakemake/tabflow").glob("plan-*"))) == 1


def test_switching_between_arguments_reads_each_plan_from_the_cache(project):
    for request in ({}, {"models": ["lr"]}, {"overrides": "training.test_size=0.3"}):
        assert not tabflow_plan.load(request).from_cache
    for request in ({}, {"models": ["lr"]}, {"overrides": "training.test_size=0.3"}):
        assert tabflow_plan.load(request).from_cache
    for n in range(tabflow_plan._KEEP + 2):
        tabflow_plan.load({"overrides": f"training.random_state={n}"})
    kept = list((project / ".snakemake/tabflow").glob("plan-*"))
    assert len(kept) == tabflow_plan._KEEP
    assert not tabflow_plan.load({"models": ["lr"]}).from_cache  # the least recently used


def test_any_change_to_what_composition_reads_composes_again(project):
    tabflow_plan.load({})
    rf = project / "configs/model/rf.yaml"
    rf.write_text(rf.read_text().replace("n_estimators: 100", "n_estimators: 7"))
    edited = tabflow_plan.load({})
    assert not edited.from_cache
    assert edited.configs["rf"]["model"]["params"]["n_estimators"] == 7
    overridden = tabflow_plan.load({"overrides": "training.test_size=0.3"})
    assert not overridden.from_cache
    assert overridden.configs["lr"]["training"]["test_size"] == 0.3
    assert not tabflow_plan.load({"models": ["lr"]}).from_cache
    assert tabflow_plan.load({"models": ["lr"]}).from_cache


def test_secrets_and_environment_lookups_are_never_cached(project):
    urls = {"overrides": "notify.urls=[json://host/SECRET-7]"}
    assert tabflow_plan.load(urls).notify_urls == ["json://host/SECRET-7"]
    assert not tabflow_plan.load(urls).from_cache
    cache = project / ".snakemake/tabflow"
    assert not any("SECRET-7" in p.read_text() for p in cache.glob("*")) if cache.is_dir() else True
    training = project / "configs/training.yaml"
    training.write_text(training.read_text() + "# ${oc.env:SEED}\n")
    tabflow_plan.load({})
    assert not tabflow_plan.load({}).from_cache


def test_dict_params_keep_int_keys_through_the_cache(project):
    """class_weight {0: 1, 1: 3}: sklearn needs the class labels as they are (ints)."""
    rf = project / "configs/model/rf.yaml"
    rf.write_text(
        rf.read_text().replace(
            "  min_samples_leaf: 2\n", "  min_samples_leaf: 2\n  class_weight: {0: 1.0, 1: 3.0}\n"
        )
    )
    for _ in range(2):  # composed, then from the cache
        plan = tabflow_plan.load({"models": ["rf"]})
        assert plan.configs["rf"]["model"]["params"]["class_weight"] == {0: 1.0, 1: 3.0}
        assert plan.select("rf", ("model",))["model"]["params"]["class_weight"] == {0: 1.0, 1: 3.0}
    assert plan.from_cache


def test_a_changed_data_file_composes_again(project):
    """The task is read from the data: a cached plan of another file (or of this file
    before an edit) is not reused."""
    assert not tabflow_plan.load({}).from_cache
    assert tabflow_plan.load({}).from_cache
    data = project / "data/raw/heart.csv"
    data.write_text(data.read_text().replace(",1\n", ",2\n", 5))
    replanned = tabflow_plan.load({})
    assert not replanned.from_cache and replanned.task == "multiclass"


def test_an_estimator_check_that_passed_is_not_run_again(project):
    """A Snakemake start after a config edit imports no estimator library for models whose
    estimator and params are unchanged; a check that failed runs again."""
    from tabflow.errors import ConfigError

    calls = []

    def passing() -> None:
        calls.append("ok")

    def failing() -> None:
        calls.append("bad")
        raise ConfigError("bad params")

    for _ in range(2):
        check_once(passing, "params", "sklearn.x.Y", {"a": 1})
        with pytest.raises(ConfigError):
            check_once(failing, "params", "sklearn.x.Y", {"a": 2})
    check_once(passing, "params", "sklearn.x.Y", {"a": 3})
    assert calls == ["ok", "bad", "bad", "ok"]


def test_the_configuration_modules_import_in_layers():
    """catalog (what configs/ holds) <- config (composition), sweep (spaces) <- plan: no
    module imports one of its own layer or above, even inside a function."""
    import ast

    from .conftest import ROOT

    layer = {"catalog": 0, "config": 1, "sweep": 1, "plan": 2}
    for name, level in layer.items():
        tree = ast.parse((ROOT / "src" / "tabflow" / f"{name}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == "tabflow":
                    imported.update(parts[1:2] or [a.name for a in node.names])
        above = {m for m in imported if m in layer and layer[m] >= level and m != name}
        assert above == set(), f"tabflow.{name} imports {above}"

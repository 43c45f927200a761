"""Sweeps: the grammar, the trials, and the trial cache's key."""

from __future__ import annotations

import dataclasses

import pytest

from tabflow import sweep
from tabflow.catalog import config_dir
from tabflow.plan import make_plan

from .conftest import DEMO_CSV, ROOT

TARGETS = {
    "rf": "sklearn.ensemble.RandomForestClassifier",
    "lr": "sklearn.linear_model.LogisticRegression",
    "gb": "sklearn.ensemble.GradientBoostingClassifier",
}


def test_the_demo_sweeps_parse_with_hydras_grammar(in_root):
    small = sweep.load("small", config_dir(), TARGETS, ["gb", "lr", "rf"])
    rf = {d.name: d for d in small.space["rf"]}
    assert rf["max_depth"].values == (3, 6, None), "choice(3, 6, null), which Hydra refuses"
    assert len(sweep.trials(small, "rf", 42)) == 9
    wide = sweep.load("wide", config_dir(), TARGETS, ["gb", "lr", "rf"])
    lr = wide.space["lr"][0]
    assert (lr.kind, lr.log, lr.low, lr.high) == ("interval", True, 0.001, 100.0)
    tpe = sweep.load("tpe", config_dir(), TARGETS, ["gb", "lr", "rf"])
    n = {d.name: d for d in tpe.space["rf"]}["n_estimators"]
    assert n.integer and (n.low, n.high) == (50, 300)


def test_raising_random_trials_keeps_the_earlier_ones(in_root):
    wide = sweep.load("wide", config_dir(), TARGETS, ["gb", "lr", "rf"])
    more = dataclasses.replace(wide, trials=60)
    first, second = sweep.trials(wide, "gb", 42), sweep.trials(more, "gb", 42)
    assert second[:40] == first and len(second) == 60
    assert sweep.trials(wide, "gb", 7) != first, "another seed, other trials"


@pytest.fixture
def shard(tmp_path, monkeypatch):
    """A preprocessed demo split under tmp_path/results and lr's whole config as a job's."""
    from tabflow.stages import Declared, Job
    from tabflow.stages.preprocess import run as preprocess

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TABFLOW_CONFIG_DIR", str(ROOT / "configs"))
    overrides = [f"data.raw_path={DEMO_CSV}", f"data.columns_for={DEMO_CSV}"]

    def job(*more: str) -> Job:
        plan = make_plan([*overrides, *more], ["lr"])
        return Job(Declared(plan.configs["lr"], rule=None), model="lr")

    preprocess(job())
    return job


def test_a_trial_is_fitted_once_and_again_only_for_other_cv_settings(shard):
    from tabflow.stages.sweep_shard import Trials

    params = {"C": 0.5}
    assert Trials(shard()).score(params)["cached"] is False
    again = Trials(shard()).score(params)
    assert again["cached"] is True and again["cv"]["roc_auc"]["mean"] > 0.8
    assert Trials(shard()).score({"C": 0.25})["cached"] is False, "another point"
    assert Trials(shard("evaluation.cv_folds=4")).score(params)["cached"] is False
    assert Trials(shard("training.random_state=7")).score(params)["cached"] is False


def test_other_training_rows_fit_every_trial_again(shard, tmp_path):
    import pandas as pd

    from tabflow.stages.sweep_shard import Trials

    Trials(shard()).score({"C": 0.5})
    train = tmp_path / "results/data/train.parquet"
    pd.read_parquet(train).iloc[1:].to_parquet(train, index=False)
    assert Trials(shard()).score({"C": 0.5})["cached"] is False


def test_the_selected_trial_is_scored_again_on_a_fresh_fold_split(shard):
    """The winner's CV on the search's folds is optimistic: the selection scores its
    parameters again by CV on another split of the same training rows (seed + 1), cached
    like a trial; a tuned model's train writes that as its CV, the search's best beside."""
    import json
    from pathlib import Path

    from tabflow.paths import Paths
    from tabflow.stages.sweep_select import rescore
    from tabflow.stages.sweep_shard import Trials
    from tabflow.stages.train import fit

    job = shard()
    search = Trials(job).score({"C": 0.5})["cv"]
    best = {"trial": 3, "params": {"C": 0.5}}
    fresh, seed = rescore(job, best, "")
    assert seed == int(job.cfg.training.random_state) + 1
    assert fresh["roc_auc"]["mean"] != search["roc_auc"]["mean"], "other folds"
    assert fresh["folds"] == search["folds"] and 0.8 < fresh["roc_auc"]["mean"] < 1
    again = Trials(job, seed=seed)
    assert again.score(best["params"])["cached"] is True
    tuned = {"cv": search, "fresh_cv": fresh, "fresh_seed": seed}
    fit(job.cfg, "lr-s", tuned=tuned)
    written = json.loads(Path(Paths.from_config(job.cfg).cv("lr-s")).read_text())
    assert written["roc_auc"] == fresh["roc_auc"] and written["seed"] == seed
    assert written["search"]["roc_auc"] == search["roc_auc"]


def test_a_combination_the_estimator_refuses_is_a_failed_trial_cached_too(shard):
    from tabflow.stages.sweep_shard import Trials, row

    params = {"penalty": "l1", "C": 1.0}  # lbfgs takes l2 only: refused at fit
    first = Trials(shard()).score(params)
    assert first["cv"] is None and first["cached"] is False
    assert first["error"].startswith("ValueError: Solver lbfgs supports only 'l2'")
    again = Trials(shard()).score(params)
    assert again["cached"] is True and again["error"] == first["error"]
    line = row(3, params, again, Trials(shard()).metrics)
    assert line["error"] == first["error"] and line["cv_roc_auc_mean"] != line["cv_roc_auc_mean"]


def test_the_best_trial_is_chosen_among_those_that_did_not_fail():
    from tabflow.errors import DataError
    from tabflow.stages.sweep_select import select

    def line(trial, mean, error=""):
        return {
            "trial": trial,
            "params": {"C": trial},
            "cv_roc_auc_mean": mean,
            "cv_roc_auc_std": 0.01,
            "error": error,
        }

    rows = [line(0, float("nan"), "ValueError: no"), line(1, 0.8), line(2, 0.9)]
    assert select(rows, "roc_auc")["trial"] == 2
    with pytest.raises(
        DataError,
        match=r"^sweep s of lr: every one of the 2 trials failed; "
        r"the first, trial 0 \{'C': 0\}: ValueError: no; change the sweep",
    ):
        select([rows[0], {**rows[0], "trial": 1}], "roc_auc", "sweep s of lr: ")


def test_the_shards_split_the_whole_sweep_one_per_core(in_root):
    """Shards take trials of every model from one queue: as many as the cores given (at
    least 8 trials each), or sweep_shards; small.yaml has 9 + 4 + 4 points."""
    assert make_plan([], ["rf", "gb", "lr"], sweep="small", cores=3).sweep["shards"] == 3
    assert make_plan([], ["rf", "gb", "lr"], sweep="small", cores=8).sweep["shards"] == 3
    assert make_plan([], ["rf", "gb", "lr"], sweep="small", cores=1).sweep["shards"] == 1
    plan = make_plan([], ["rf", "lr"], sweep="small", sweep_shards=4)
    assert plan.sweep["shards"] == 4 and plan.shard_spec("lr")["count"] == 4


QUEUED = """\
strategy: grid
space:
  lr:
    model.params.C: choice(0.1, 1, 10)
  hgb:
    model.params.max_leaf_nodes: choice(7, 15)
"""


def test_shards_take_each_trial_once_from_one_queue_whatever_ran_where(
    shard, tmp_path, monkeypatch
):
    """The first shard to ask takes a trial; a shard that starts after the queue ran dry
    takes none; the next invocation (a new queue) reads every trial back from the cache;
    the selection gathers a model's trials from whichever shards hold them."""
    import json
    import shutil
    from pathlib import Path

    from tabflow.errors import DataError
    from tabflow.io import write_json
    from tabflow.paths import Paths
    from tabflow.stages import Declared, Job
    from tabflow.stages.sweep_select import gather
    from tabflow.stages.sweep_shard import queue_order, run

    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    (configs / "sweep" / "queued.yaml").write_text(QUEUED)
    monkeypatch.setenv("TABFLOW_CONFIG_DIR", str(configs))
    cfg = shard().cfg
    overrides = [f"data.raw_path={DEMO_CSV}", f"data.columns_for={DEMO_CSV}"]
    plan = make_plan(overrides, ["lr", "hgb"], sweep="queued", sweep_shards=2)
    spec = plan.queue_spec()
    order = [("hgb", 0), ("lr", 0), ("hgb", 1), ("lr", 1), ("lr", 2)]
    assert queue_order(spec) == [(m, i, None) for m, i in order]
    paths = Paths.from_config(cfg)

    def shard_job(index: int) -> list[dict]:
        configs_of = {m: plan.configs[m] for m in spec["models"]}
        params = {"sweep": spec, "shard": index, "configs": configs_of}
        run(Job(Declared(plan.configs["lr"], None), params=params))
        return json.loads(Path(paths.sweep_shard("queued", index)).read_text())["trials"]

    first, late = shard_job(0), shard_job(1)
    assert [(r["model"], r["trial"]) for r in first] == order and late == []
    assert not any(r["cached"] for r in first)
    shutil.rmtree(paths.sweep_queue("queued"))  # what a new invocation's start does
    again = shard_job(1)
    assert len(again) == 5 and all(r["cached"] for r in again)
    metrics = list(cfg.task.metrics)
    rows = gather(paths, plan.shard_spec("lr"), "lr", metrics)
    assert [r["trial"] for r in rows] == [0, 1, 2] and "model" not in rows[0]
    assert [r["params"] for r in rows] == [{"C": 0.1}, {"C": 1}, {"C": 10}]
    kept = [r for r in first if (r["model"], r["trial"]) != ("hgb", 1)]
    for index, trials in ((0, kept), (1, [])):
        write_json(paths.sweep_shard("queued", index), {"studies": {}, "trials": trials})
    with pytest.raises(DataError, match=r"sweep queued of hgb: no shard ran trial\(s\) \[1\]"):
        gather(paths, plan.shard_spec("hgb"), "hgb", metrics)


NESTED = """\
strategy: grid
nested: true
space:
  lr:
    model.params.C: choice(0.01, 1)
"""


def test_nested_cv_runs_the_whole_search_inside_each_outer_fold(shard, tmp_path, monkeypatch):
    """`nested: true`: the queue holds the search and a copy of it per outer fold; each
    copy chooses on the rows outside its fold only and is scored on the fold. Checked
    against the same procedure written out with scikit-learn's splitters."""
    import json
    import shutil
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from tabflow.data import xy
    from tabflow.models import build_pipeline
    from tabflow.paths import Paths
    from tabflow.stages import Declared, Job
    from tabflow.stages.sweep_select import nested
    from tabflow.stages.sweep_shard import queue_order, run
    from tabflow.stages.train import fit

    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    (configs / "sweep" / "nest.yaml").write_text(NESTED)
    monkeypatch.setenv("TABFLOW_CONFIG_DIR", str(configs))
    job = shard()
    overrides = [f"data.raw_path={DEMO_CSV}", f"data.columns_for={DEMO_CSV}"]
    plan = make_plan(overrides, ["lr"], sweep="nest", sweep_shards=1)
    spec = plan.queue_spec()
    assert spec["outer"] == 5 and len(queue_order(spec)) == 2 * 6
    run(
        Job(
            Declared(plan.configs["lr"], None),
            params={"sweep": spec, "shard": 0, "configs": {"lr": plan.configs["lr"]}},
        )
    )
    paths = Paths.from_config(job.cfg)
    shard_rows = json.loads(Path(paths.sweep_shard("nest", 0)).read_text())["trials"]
    assert sorted({r["outer"] for r in shard_rows}, key=str) == [0, 1, 2, 3, 4, None]

    got = nested(job, plan.shard_spec("lr"), "roc_auc", "")
    seed, Cs = int(job.cfg.training.random_state), (0.01, 1)
    reading = json.loads(Path(paths.data_summary).read_text())["reading"]
    X, y = xy(pd.read_parquet(paths.train_data), job.cfg.data.target_col)

    def pipeline(C):
        model = {**job.cfg.model.to_dict()}
        return build_pipeline({**model, "params": {**model["params"], "C": C}}, reading)

    split = StratifiedKFold(5, shuffle=True, random_state=seed)
    expected = []
    for k, (inside, held) in enumerate(split.split(X, y)):
        Xi, yi = X.iloc[inside], y.iloc[inside]
        inner = [
            cross_val_score(pipeline(C), Xi, yi, cv=split, scoring="roc_auc").mean() for C in Cs
        ]
        C = Cs[int(np.argmax(inner))]
        assert got["folds"][k]["params"] == {"C": C}
        proba = pipeline(C).fit(Xi, yi).predict_proba(X.iloc[held])[:, 1]
        expected.append(roc_auc_score(y.iloc[held], proba))
    assert got["cv"]["folds"] == 5
    assert got["cv"]["roc_auc"]["mean"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert got["cv"]["roc_auc"]["std"] == pytest.approx(np.std(expected), abs=1e-12)

    search = {"roc_auc": {"mean": 0.99, "std": 0.01}, "folds": 5}
    tuned = {"cv": search, "fresh_cv": search, "fresh_seed": seed + 1, "nested": got}
    fit(job.cfg, "lr-nest", tuned=tuned)
    written = json.loads(Path(paths.cv("lr-nest")).read_text())
    assert written["estimate"] == "nested" and written["roc_auc"] == got["cv"]["roc_auc"]
    assert written["search"] == search and written["fresh"]["seed"] == seed + 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nested: 'yes'\n", "configs/sweep/bad.yaml: nested='yes'; give true or false"),
        (
            "nestd: true\n",
            "configs/sweep/bad.yaml: unknown key 'nestd'; a sweep has strategy, trials, "
            "space, max_grid and nested",
        ),
    ],
)
def test_a_bad_nested_key_is_one_line(tmp_path, text, message):
    from tabflow.errors import ConfigError

    (tmp_path / "sweep").mkdir()
    space = "space:\n  lr:\n    model.params.C: choice(1, 2)\n"
    (tmp_path / "sweep" / "bad.yaml").write_text(text + space)
    with pytest.raises(ConfigError) as err:
        sweep.load("bad", tmp_path, {"lr": TARGETS["lr"]}, ["lr"])
    assert str(err.value) == message

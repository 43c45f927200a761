"""End to end: hyperparameter sweeps through the real snakemake, on a copy of the state
after a cold run. Small sweeps (a few trials of small models) keep it quick."""

from __future__ import annotations

import re
import sqlite3

import pandas as pd
import pytest

from .e2e import Project, job_blocks, parse_jobs

pytestmark = pytest.mark.e2e

TINY = """\
strategy: grid
space:
  lr:
    model.params.C: choice(0.1, 1, 10)
    model.params.penalty: choice(l1, l2)
"""
SWEEP = ("--config", "sweep=tiny")


@pytest.fixture
def swept(forked) -> Project:
    project = forked
    (project.path / "configs/sweep/tiny.yaml").write_text(TINY)
    return project


def _shard_counts(project: Project) -> tuple[int, int]:
    """(fitted, read from the cache) over the shard logs."""
    fitted = cached = 0
    for log in (project.path / "results/logs/sweep_shard").glob("*.log"):
        m = re.search(
            r"(\d+) trials, (\d+) fitted, (\d+) read from the trial cache", log.read_text()
        )
        assert m, log
        fitted, cached = fitted + int(m.group(2)), cached + int(m.group(3))
    return fitted, cached


def _runs(project: Project, role: str) -> list[tuple[str, str, dict]]:
    """(run id, parent run id, tags) of every run with tag tabflow.role=role."""
    with sqlite3.connect(project.path / "mlflow.db") as conn:
        ids = [
            r
            for (r,) in conn.execute(
                "SELECT run_uuid FROM tags WHERE key='tabflow.role' AND value=?", (role,)
            )
        ]
        out = []
        for run in ids:
            tags = dict(conn.execute("SELECT key, value FROM tags WHERE run_uuid=?", (run,)))
            out.append((run, tags.get("mlflow.parentRunId", ""), tags))
    return out


@pytest.mark.long
def test_a_sweep_chooses_by_cv_trains_the_winner_and_caches_every_trial(swept):
    """Also: lr's penalty l1 meets its lbfgs solver in half the grid: those trials fail,
    are recorded, and the rest go on. `-j 2` means 2 cores (the default profile's `jobs`
    does not override it)."""
    project = swept
    code, dry = project.snakemake_here("-j", "2", "-n", *SWEEP)
    assert code == 0, dry[-3000:]
    blocks = job_blocks(dry)
    searching = [b for b in blocks if b["rule"] in ("sweep_shard", "sweep_select")]
    assert len(searching) == 1 + 1, "a shard and a selection"
    for block in searching:
        assert "test.parquet" not in block.get("input", ""), block
    tuned = {("train", "lr-tiny"), ("evaluate", "lr-tiny")}
    assert tuned <= parse_jobs(dry)

    res = project.snakemake("-j", "2", *SWEEP)
    assert "Provided cores: 2" in res.stdout + res.stderr
    trials = pd.read_csv(project.path / "results/sweeps/tiny/lr/trials.csv")
    assert len(trials) == 6 and trials["selected"].sum() == 1
    failed = trials[trials["error"].notna()]
    assert sorted(failed["param.penalty"]) == ["l1"] * 3
    assert failed["error"].str.startswith("ValueError: Solver lbfgs supports").all()
    assert failed["cv_roc_auc_mean"].isna().all()
    best = project.read_json("results/sweeps/tiny/lr/best.json")
    top = trials.sort_values(
        ["cv_roc_auc_mean", "cv_roc_auc_std", "trial"], ascending=[False, True, True]
    ).iloc[0]
    assert best["trial"] == top["trial"], "the best CV mean on the training part"
    assert best["params"]["penalty"] == "l2"
    # The winner scored again on a fresh fold split: the tuned model's CV (what ranks it
    # and what the registry compares), the search's best beside it everywhere.
    cv = project.read_json("results/cv/lr-tiny.json")
    assert cv["roc_auc"] == best["fresh_cv"]["roc_auc"] and cv["seed"] == best["fresh_seed"]
    assert cv["search"]["roc_auc"]["mean"] == pytest.approx(best["cv"]["roc_auc"]["mean"])
    assert cv["roc_auc"]["mean"] != cv["search"]["roc_auc"]["mean"]
    selected = trials[trials["selected"]].iloc[0]
    assert selected["fresh_cv_roc_auc_mean"] == pytest.approx(cv["roc_auc"]["mean"])
    assert trials.loc[~trials["selected"], "fresh_cv_roc_auc_mean"].isna().all()
    assert (project.path / "results/sweeps/tiny/lr/cv_by_param.png").is_file()
    board = pd.read_csv(project.path / "results/leaderboard.csv")
    assert {"lr-tiny", "rf", "lr", "gb"} == set(board["model"])
    row = board.set_index("model").loc["lr-tiny"]
    assert 0 < row["roc_auc"] and 0 < row["cv_roc_auc_mean"], "test and CV side by side"
    assert row["cv_roc_auc_mean"] == pytest.approx(cv["roc_auc"]["mean"], abs=1e-6)
    assert row["search_cv_roc_auc_mean"] == pytest.approx(best["cv"]["roc_auc"]["mean"], abs=1e-6)
    assert pd.isna(board.set_index("model").loc["lr", "search_cv_roc_auc_mean"]), "untuned"
    report = (project.path / "results/leaderboard.md").read_text()
    assert "search's best CV roc_auc" in report
    assert _shard_counts(project) == (6, 0)

    # MLflow: a sweep run per model under the workflow run, a child per trial, one
    # selected; the tuned model's run logs the selected parameters (and is the one model).
    ((sweep_id, _, tags),) = _runs(project, "sweep")
    assert tags["tabflow.sweep_model"] == "lr"
    children = [t for _, parent, t in _runs(project, "trial") if parent == sweep_id]
    assert len(children) == 6
    assert [t["tabflow.selected"] for t in children].count("true") == 1
    errors = [t["tabflow.error"] for t in children if "tabflow.error" in t]
    assert len(errors) == 3 and all("Solver lbfgs supports" in e for e in errors)
    with sqlite3.connect(project.path / "mlflow.db") as conn:
        failed_runs = conn.execute(
            "SELECT count(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "AND t.key = 'tabflow.error' WHERE r.status = 'FAILED'"
        ).fetchone()[0]
    assert failed_runs == 3
    with sqlite3.connect(project.path / "mlflow.db") as conn:
        logged = dict(
            conn.execute(
                "SELECT p.key, p.value FROM params p JOIN tags t ON t.run_uuid = p.run_uuid "
                "AND t.key = 'model' AND t.value = 'lr-tiny'"
            )
        )
    assert logged["model.params.C"] == str(best["params"]["C"])

    # The same sweep again: nothing to do (a grown sweep fits only its new trials:
    # test_sweep.py's trial cache).
    assert project.planned_jobs(*SWEEP) == set()


TPE = """\
strategy: tpe
trials: 6
nested: true
space:
  lr:
    model.params.C: tag(log, interval(0.01, 10))
"""


@pytest.mark.long
def test_tpe_shards_share_one_study(forked):
    """Optuna's TPE with two shards (two processes) asking one study for trials, taking
    its six slots from one queue. (Shards as SLURM jobs: test_slurm_e2e.py.) Nested CV:
    the same queue holds a copy of the search per outer fold, each its own study, and the
    tuned model ranks by the nested estimate."""
    project = forked
    (project.path / "configs/sweep/tpe6.yaml").write_text(TPE)
    args = ("--config", "sweep=tpe6", "sweep_shards=2", "models=[lr]")
    res = project.snakemake("-j", "3", *args)
    shards = [b for b in job_blocks(res.stdout + res.stderr) if b["rule"] == "sweep_shard"]
    assert len(shards) == 2
    trials = pd.read_csv(project.path / "results/sweeps/tpe6/lr/trials.csv")
    assert len(trials) == 6 and trials["trial"].tolist() == list(range(6))
    assert (project.path / "results/sweeps/tpe6/lr/optuna.journal").is_file()
    logs = sorted((project.path / "results/logs/sweep_shard").glob("tpe6-*.log"))
    assert len(logs) == 2
    assert _shard_counts(project) == (6 * 6, 0), "each slot once, whichever shard took it"
    best = project.read_json("results/sweeps/tpe6/lr/best.json")
    folds = best["nested"]["folds"]
    assert [f["outer"] for f in folds] == list(range(5)) and best["nested"]["cv"]["folds"] == 5
    studies = {}
    for path in (project.path / "results/sweeps/tpe6").glob("shard-*.json"):
        studies.update(project.read_json(str(path.relative_to(project.path)))["studies"])
    assert len(set(studies.values())) == 6, studies  # the search and one per outer fold
    cv = project.read_json("results/cv/lr-tpe6.json")
    assert cv["estimate"] == "nested" and cv["roc_auc"] == best["nested"]["cv"]["roc_auc"]
    assert cv["fresh"]["roc_auc"] == best["fresh_cv"]["roc_auc"]
    selected = trials[trials["selected"]].iloc[0]
    assert selected["nested_cv_roc_auc_mean"] == pytest.approx(cv["roc_auc"]["mean"])
    board = pd.read_csv(project.path / "results/leaderboard.csv").set_index("model")
    assert board.loc["lr-tpe6", "cv_roc_auc_mean"] == pytest.approx(cv["roc_auc"]["mean"])

"""The leaderboard: ranking, CSV round trip, Markdown."""

from __future__ import annotations

from tabflow import leaderboard as lb
from tabflow.io import write_json
from tabflow.metrics import METRICS
from tabflow.paths import Paths

BINARY = list(METRICS["binary"])


def _results(tmp_path, scores: dict[str, tuple[float, float]]) -> Paths:
    """Fake metrics/cv files: model -> (test score, cv mean) for every metric."""
    paths = Paths(results_dir=str(tmp_path))
    for model, (test, cv) in scores.items():
        write_json(paths.metrics(model), {m: test for m in BINARY})
        write_json(paths.cv(model), {"folds": 5, **{m: {"mean": cv, "std": 0.01} for m in BINARY}})
    return paths


def test_ranked_by_cv_never_by_the_test_split(tmp_path):
    """b has the best test score but the worst CV: it ranks last (ties: then the name)."""
    scores = {"a": (0.8, 0.85), "b": (0.99, 0.8), "c": (0.8, 0.9), "d": (0.7, 0.9)}
    paths = _results(tmp_path, scores)
    rows = lb.collect(paths, ["a", "b", "c", "d"], "f1", BINARY)
    assert [r["model"] for r in rows] == ["c", "d", "a", "b"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]


def test_a_loss_ranks_lowest_first(tmp_path):
    paths = _results(tmp_path, {"a": (0.4, 0.5), "b": (0.3, 0.45), "c": (0.5, 0.4)})
    rows = lb.collect(paths, ["a", "b", "c"], "log_loss", BINARY)
    assert [r["model"] for r in rows] == ["c", "b", "a"]


def test_csv_round_trip_and_markdown(tmp_path):
    paths = _results(tmp_path, {"lr": (0.9, 0.91), "rf": (0.85, 0.9)})
    rows = lb.collect(paths, ["rf", "lr"], "accuracy", BINARY)
    lb.write_csv(rows, "accuracy", tmp_path / "board.csv")
    back = lb.read_csv(tmp_path / "board.csv")
    assert list(back[0])[:3] == ["rank", "model", "accuracy"]
    assert lb.primary_metric(back) == "accuracy"
    assert back[0]["model"] == "lr" and back[0]["cv_accuracy_mean"] == 0.91
    md = lb.to_markdown(rows, "accuracy")
    assert "Best model: **lr** (CV accuracy 0.9100 ± 0.0100 on the training part; 0.9000 on " in md
    last = lb.format_table(back).splitlines()[-1]
    assert last == "best by 5-fold CV accuracy: lr (test scores beside)"


def test_a_tuned_model_ranks_by_its_fresh_estimate_with_the_searchs_best_beside(tmp_path):
    """A model a sweep tuned ranks by its CV on a fresh fold split (what train wrote), not
    by the search's best (optimistic: it won on those folds), which every table shows apart;
    a model no sweep tuned has no search score (an empty cell)."""
    paths = _results(tmp_path, {"lr": (0.9, 0.93), "lr-s": (0.9, 0.925)})
    search = {m: {"mean": 0.94, "std": 0.01} for m in BINARY}
    cv = {"folds": 5, "seed": 43, "search": search}
    write_json(paths.cv("lr-s"), {**cv, **{m: {"mean": 0.925, "std": 0.01} for m in BINARY}})
    rows = lb.collect(paths, ["lr-s", "lr"], "roc_auc", BINARY)
    assert [r["model"] for r in rows] == ["lr", "lr-s"], "by the fresh estimate"
    lb.write_csv(rows, "roc_auc", tmp_path / "board.csv")
    back = lb.read_csv(tmp_path / "board.csv")
    assert back[1]["search_cv_roc_auc_mean"] == 0.94 and "search_cv_roc_auc_mean" not in back[0]
    md = lb.to_markdown(rows, "roc_auc")
    assert "| search's best CV roc_auc |" in md and "| 0.9400 |" in md
    assert "scored again on a fresh fold split" in md
    table = lb.format_table(back).splitlines()
    assert table[0].split()[-1] == "search_cv" and table[1].split()[-1] == "-"
    assert table[2].split()[-1] == "0.9400"
    plain = lb.to_markdown(lb.collect(paths, ["lr"], "roc_auc", BINARY), "roc_auc")
    assert "search" not in plain, "no column without a tuned model"

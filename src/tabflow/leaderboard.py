"""Compare the models: one row per model, ranked by the cross-validated estimate of the
primary metric on the training part; the test-split score stands beside it and takes no
part in the choice (so it stays an honest estimate of the winner)."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from tabflow.io import read_json
from tabflow.metrics import ALL, CV_STATS, better_first, cv_key, flat_cv, ordered
from tabflow.paths import Paths
from tabflow.tasks import TASKS

Row = dict[str, Any]


def columns(metric: str, metrics: list[str], searched: bool = False) -> list[str]:
    """CSV columns: rank, model, the test metrics (primary first), then mean/std of the CV
    (and, where a sweep tuned a model, its search's best CV mean)."""
    names = ordered(metric, metrics)
    cv = [cv_key(m, s) for m in names for s in CV_STATS]
    return ["rank", "model", *names, *cv, "cv_folds", *([search_key(metric)] if searched else [])]


def search_key(metric: str) -> str:
    """A tuned model's search's best CV mean: optimistic (it won the search on those folds);
    its CV columns hold the selected parameters scored again on a fresh fold split."""
    return f"search_{cv_key(metric, 'mean')}"


def metrics_of(rows: list[Row]) -> list[str]:
    """The metrics the rows hold (a task's: tabflow.metrics.METRICS), in their order."""
    return [k for k in rows[0] if k in ALL] if rows else []


def collect(paths: Paths, models: list[str], metric: str, metrics: list[str]) -> list[Row]:
    """Rows of the given models, best CV mean of `metric` first (ties: the smaller CV std,
    then the name). The test scores are carried along, never compared."""
    rows = []
    for model in models:
        test = read_json(paths.metrics(model))
        cv = read_json(paths.cv(model))
        row: Row = {"model": model, **{m: float(test[m]) for m in metrics}}
        row.update({k: float(v) for k, v in flat_cv({m: cv[m] for m in metrics}).items()})
        row["cv_folds"] = int(cv["folds"])
        if "search" in cv:
            row[search_key(metric)] = float(cv["search"][metric]["mean"])
        rows.append(row)
    mean, std = cv_key(metric, "mean"), cv_key(metric, "std")
    rows.sort(key=lambda r: (better_first(metric, r[mean]), r[std], r["model"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def write_csv(rows: list[Row], metric: str, path: str | Path) -> None:
    with open(path, "w", newline="") as fh:
        fields = columns(metric, metrics_of(rows), has_search(rows, metric))
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})


def read_csv(path: str | Path) -> list[Row]:
    """Rows of a leaderboard.csv, numbers as floats, in rank order."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {
            k: (v if k == "model" else int(v) if k in ("rank", "cv_folds") else float(v))
            for k, v in row.items()
            if v != ""  # a model no sweep tuned has no search score
        }
        for row in rows
    ]


def primary_metric(rows: list[Row]) -> str:
    """The ranking metric of rows read back from CSV: the first metric column."""
    return next(k for k in rows[0] if k in ALL)


def cv_text(row: Row, metric: str) -> str:
    """'0.8812 ± 0.0301': a row's CV mean and std of a metric."""
    return f"{row[cv_key(metric, 'mean')]:.4f} ± {row[cv_key(metric, 'std')]:.4f}"


def _cells(row: Row, metric: str, searched: bool = False) -> list[str]:
    names = ordered(metric, metrics_of([row]))
    cv = [cv_text(row, m) for m in names]
    cells = [str(row["rank"]), str(row["model"]), *cv, *(f"{row[m]:.4f}" for m in names)]
    if searched:
        cells.append(f"{row[search_key(metric)]:.4f}" if search_key(metric) in row else "")
    return cells


def _header(metric: str, folds: int, metrics: list[str], searched: bool = False) -> list[str]:
    names = ordered(metric, metrics)
    header = ["rank", "model", *(f"CV{folds} {m}" for m in names), *(f"test {m}" for m in names)]
    return [*header, f"search's best CV {metric}"] if searched else header


def has_search(rows: list[Row], metric: str) -> bool:
    """Does a row hold a sweep's search score (a tuned model)?"""
    return any(search_key(metric) in row for row in rows)


SEARCH_NOTE = (
    "A model a sweep tuned (<model>-<sweep>): its CV is the selected parameters scored again "
    "on a fresh fold split of the training part (a sweep with nested: true: the nested CV "
    "of its whole search); the search's best CV, on the folds it chose on, is optimistic "
    "and shown apart."
)


def best_text(row: Row, metric: str) -> str:
    """'lr: CV roc_auc 0.9324 ± 0.0314 on the training part, 0.9015 on the test split'."""
    return (
        f"{row['model']}: CV {metric} {cv_text(row, metric)} on the training part, "
        f"{row[metric]:.4f} on the test split"
    )


def to_markdown(rows: list[Row], metric: str) -> str:
    folds = int(rows[0]["cv_folds"])
    searched = has_search(rows, metric)
    header = _header(metric, folds, metrics_of(rows), searched)
    lines = [
        f"# Leaderboard (ranked by {folds}-fold CV {metric} on the training part)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cells(row, metric, searched)) + " |" for row in rows]
    lines += [
        "",
        f"Best model: **{rows[0]['model']}** (CV {metric} {cv_text(rows[0], metric)} on the "
        f"training part; {rows[0][metric]:.4f} on the test split, which took no part in the "
        f"choice).",
        "",
        *([SEARCH_NOTE, ""] if searched else []),
    ]
    return "\n".join(lines)


def to_html(rows: list[Row], metric: str, cfg: Any) -> str:
    """A standalone HTML page (the Snakemake report shows it inline)."""
    folds = int(rows[0]["cv_folds"])
    searched = has_search(rows, metric)
    header = _header(metric, folds, metrics_of(rows), searched)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(row, metric, searched))
        + "</tr>"
        for row in rows
    )
    best = rows[0]
    stratified = " stratified" if TASKS[str(cfg.task.name)].stratified else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Leaderboard</title>'
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "tr:first-child td{font-weight:bold}</style></head><body>"
        f"<h2>Leaderboard, ranked by {folds}-fold CV {html.escape(metric)}</h2>"
        f"<p>Best model: <b>{html.escape(best_text(best, metric))}</b>.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>Test split: {float(cfg.training.test_size):g} of the deduplicated rows, "
        f"seed {int(cfg.training.random_state)}. CV: {folds}-fold{stratified} on the "
        "training part, mean ± standard deviation over the folds; the ranking uses it alone, "
        "the test split only reports."
        f"{' ' + html.escape(SEARCH_NOTE) if searched else ''}</p></body></html>\n"
    )


def format_table(rows: list[Row]) -> str:
    """A plain-text table for the terminal; the first row is the best model."""
    if not rows:
        return "no results yet: run `snakemake -j 3` first"
    metric = primary_metric(rows)
    folds = int(rows[0].get("cv_folds", 0))
    names = ordered(metric, metrics_of(rows))
    searched, key = has_search(rows, metric), search_key(metric)
    header = ["model", f"cv_{metric}", *names, *(["search_cv"] if searched else [])]
    table = [
        [
            str(row["model"]),
            f"{row[cv_key(metric, 'mean')]:.3f}±{row[cv_key(metric, 'std')]:.3f}",
            *(f"{row[m]:.4f}" for m in names),
            *([f"{row[key]:.4f}" if key in row else "-"] if searched else []),
        ]
        for row in rows
    ]
    widths = [max(10, len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    lines = ["  ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(f"{c:>{w}}" for c, w in zip(r, widths, strict=True)) for r in table]
    lines.append(f"best by {folds}-fold CV {metric}: {rows[0]['model']} (test scores beside)")
    return "\n".join(lines)

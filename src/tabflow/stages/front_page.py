"""Stage 'front_page': the report's first page (Snakemake's workflow description) says the
answer before any figure: the best model and its scores, the leaderboard, the data, and
the registry's champion decision. Written as reStructuredText to results/summary.rst."""

from __future__ import annotations

from typing import Any

from tabflow.io import read_json, write_with
from tabflow.paths import Paths
from tabflow.stages import Job


def _escape(text: Any) -> str:
    """Plain text for reStructuredText (and Snakemake's Jinja pass over it)."""
    out = str(text)
    for char in "\\`*_|":
        out = out.replace(char, "\\" + char)
    return out.replace("{", "(").replace("}", ")")


def render(rows: list[dict[str, Any]], summary: dict[str, Any], decision: dict[str, Any]) -> str:
    from tabflow.leaderboard import (
        SEARCH_NOTE,
        cv_text,
        has_search,
        metrics_of,
        primary_metric,
        search_key,
    )
    from tabflow.metrics import ordered

    metric = primary_metric(rows)
    folds = int(rows[0]["cv_folds"])
    names = ordered(metric, metrics_of(rows))[:4]
    task = summary.get("task", "binary")
    key = search_key(metric)
    searched = has_search(rows, metric)
    lines = [
        "Results",
        "=======",
        "",
        f"**Best model: {_escape(rows[0]['model'])}**: CV {_escape(metric)} "
        f"{cv_text(rows[0], metric)} on the training part ({folds}-fold), "
        f"{rows[0][metric]:.4f} on the test split ({summary['n_test']} rows), which took no "
        "part in the choice.",
        "",
        f"**Registry:** {_escape(decision['text'].removeprefix('registry: '))}",
        "",
        f"Leaderboard (ranked by {folds}-fold CV {metric} on the training part)",
        "-" * 70,
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - rank",
        "     - model",
        *(f"     - CV {m}" for m in names[:1]),
        *(f"     - test {m}" for m in names),
        *([f"     - search's best CV {metric}"] if searched else []),
    ]
    for row in rows:
        lines += [f"   * - {row['rank']}", f"     - {_escape(row['model'])}"]
        lines += [f"     - {cv_text(row, metric)}"]
        lines += [f"     - {row[m]:.4f}" for m in names]
        if searched:
            lines += [f"     - {row[key]:.4f}" if key in row else "     -"]
    if searched:
        lines += ["", _escape(SEARCH_NOTE)]
    validation = summary.get("validation", {})
    warnings = [
        *(f"constant column {_escape(c)}" for c in validation.get("constant_columns", [])),
        *(f"possible leak {_escape(c)}" for c in validation.get("possible_leaks", {})),
    ]
    lines += [
        "",
        "Data",
        "----",
        "",
        f"- {_escape(summary['raw_path'])}: {summary['n_rows_raw']} rows, "
        f"{summary['n_duplicates_dropped']} exact duplicates dropped, {summary['n_rows']} kept",
        f"- task: {task} ({_escape(summary.get('task_reason', ''))})",
        f"- split: {summary['n_train']} training rows, {summary['n_test']} test rows",
        _target_line(task, summary),
        "- warnings: " + ("; ".join(warnings) if warnings else "none"),
        "",
        "The figures of every model are under the categories on the left.",
        "",
    ]
    return "\n".join(lines)


def _target_line(task: str, summary: dict[str, Any]) -> str:
    """The target in the task's words: classes and their rows, or the amounts' spread."""
    validation = summary.get("validation", {})
    if task == "regression":
        t = validation.get("target", {})
        return (
            f"- target: from {t.get('min', 0):.4g} to {t.get('max', 0):.4g}, mean "
            f"{t.get('mean', 0):.4g}, standard deviation {t.get('std', 0):.4g}"
        )
    counts = validation.get("class_counts", {})
    shown = ", ".join(f"{_escape(k)}: {v}" for k, v in counts.items())
    return ("- class balance (0/1): " if task == "binary" else "- rows per class: ") + shown


def run(job: Job) -> None:
    from pathlib import Path

    from tabflow.leaderboard import read_csv

    paths = Paths.from_config(job.cfg)
    text = render(
        read_csv(paths.leaderboard_csv), read_json(paths.data_summary), read_json(paths.registry)
    )
    write_with(paths.front_page, lambda p: Path(p).write_text(text))

"""End-of-run messages: a summary on success, the failed rule and its log tail on failure.

Printed by the Snakemake main process and sent with Apprise to every URL in the config
key `notify.urls` and in $APPRISE_URLS. A URL that cannot be reached is reported, never
fatal, and URLs (which carry tokens) are only ever shown in Apprise's privacy form.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabflow import slurm

ENV = "APPRISE_URLS"
LOG_TAIL_LINES = 20


def urls(configured: Sequence[str]) -> list[str]:
    """The configured URLs (notify.urls), then those in $APPRISE_URLS (space or comma
    separated)."""
    from_env = [u for u in re.split(r"[\s,]+", os.environ.get(ENV, "")) if u]
    return list(dict.fromkeys([*map(str, configured), *from_env]))


def send(title: str, body: str, targets: Sequence[str], failure: bool = False) -> list[str]:
    """Send to each URL; return one line per URL that failed (secrets masked)."""
    if not targets:
        return []
    import apprise

    problems = []
    for i, url in enumerate(targets, start=1):
        app = apprise.Apprise()
        if not app.add(url):
            problems.append(f"notification URL #{i} is not a valid Apprise URL")
            continue
        shown = _where(url)
        kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.SUCCESS
        try:
            delivered = app.notify(title=title, body=body, notify_type=kind)
        except Exception as err:  # a plugin bug must not fail the pipeline
            delivered, shown = False, f"{shown} ({type(err).__name__})"
        if not delivered:
            problems.append(f"notification to {shown} could not be delivered")
    return problems


def announce(title: str, body: str, targets: Sequence[str], failure: bool = False) -> None:
    """Print the message, send it, and report (without failing) what could not be sent."""
    print(f"\n{title}\n{body}", file=sys.stderr if failure else sys.stdout, flush=True)
    for problem in send(title, body, targets, failure=failure):
        print(f"warning: {problem}", file=sys.stderr, flush=True)


def success_message(
    rows: list[dict[str, Any]],
    tracking_uri: str,
    experiment: str,
    parent_run_id: str | None,
    decision: str = "",
) -> tuple[str, str]:
    """(title, body) of the summary: the best model, the leaderboard, where to look next."""
    from tabflow.leaderboard import cv_text, format_table, metrics_of, primary_metric

    if not rows:
        return "tabflow: workflow finished", decision or "no leaderboard was made in this run"
    metric = primary_metric(rows)
    best = rows[0]
    scores = ", ".join(f"{m} {best[m]:.4f}" for m in metrics_of(rows))
    cv = cv_text(best, metric)
    where = f"MLflow: experiment '{experiment}' at {_safe_uri(tracking_uri)}"
    if parent_run_id:
        where += f", workflow run {parent_run_id}"
    body = "\n".join(
        [
            f"Best model by {int(best['cv_folds'])}-fold CV {metric}: {best['model']} "
            f"(CV {metric} {cv} on the training part; test split: {scores})",
            *([decision] if decision else []),
            "",
            format_table(rows),
            "",
            where + " (browse with `mlflow ui`)",
            "Report: snakemake --report report.html",
        ]
    )
    return f"tabflow: {len(rows)} models trained, best {best['model']}", body


def _where(url: str) -> str:
    """scheme://host of a notification URL: its path, user and query may hold tokens."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "(unparsable URL)"
    return f"{parts.scheme}://{host}/..."


def _safe_uri(uri: str) -> str:
    """A tracking URI without user:password."""
    return re.sub(r"//[^/@]+@", "//***@", uri)


# Indented when the job was part of a group job (one submission for several rules).
_ERROR = re.compile(r"^\s*Error in rule (\S+):\s*$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


def failed_jobs(main_logs: Sequence[str | Path]) -> list[dict[str, str]]:
    """The `Error in rule X:` blocks of Snakemake's main log: rule, wildcards, log path."""
    jobs: list[dict[str, str]] = []
    for log in main_logs:
        path = Path(log)
        if not path.is_file():
            continue
        current: dict[str, str] | None = None
        for line in path.read_text(errors="replace").splitlines():
            if m := _ERROR.match(line):
                current = {"rule": m.group(1)}
                jobs.append(current)
            elif current is not None and (m := _FIELD.match(line)):
                current.setdefault(m.group(1), m.group(2).strip())
            elif current is not None and line.strip() and not line.startswith((" ", "\t")):
                current = None
    return jobs


def tail(path: str | Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(log {path} not readable)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def failure_message(main_logs: Sequence[str | Path]) -> tuple[str, str]:
    """(title, body): which rule failed, for which wildcards, and the tail of its log.

    Under SLURM, first why SLURM ended the job (out of memory or time, cancelled).
    """
    jobs = failed_jobs(main_logs)
    ended = slurm.failures(main_logs)
    if not jobs:
        logs = [str(p) for p in main_logs]
        body = "no failed job found in the Snakemake log"
        if logs:
            body += f" ({logs[0]}); its last lines:\n" + tail(logs[0])
        return "tabflow: workflow FAILED", "\n".join([*(f.message() for f in ended), body])
    parts = [f.message() for f in ended]
    for job in jobs:
        log = job.get("log", "").split(" (")[0]
        wildcards = job.get("wildcards", "")
        if not wildcards and log and Path(log).stem != job["rule"]:
            wildcards = f"model={Path(log).stem}"  # logs are logs/<rule>/<model>.log
        where = f" ({wildcards})" if wildcards else ""
        parts.append(f"rule {job['rule']}{where} failed")
        if log:
            parts.append(f"last lines of {log}:\n{tail(log)}")
    # In a group job every rule of the group is reported failed; SLURM knows which ran.
    names = ", ".join(dict.fromkeys([f.rule for f in ended if f.rule] or [j["rule"] for j in jobs]))
    return f"tabflow: workflow FAILED in rule {names}", "\n".join(parts)

"""Stage 'leaderboard': rank the models; write the table as CSV, Markdown and HTML."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tabflow import leaderboard as lb
from tabflow.io import write_with
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)


def run(job: Job) -> list[dict[str, Any]]:
    cfg = job.cfg
    paths = Paths.from_config(cfg)
    metric = str(cfg.evaluation.primary_metric)
    rows = lb.collect(paths, list(job.models), metric, list(cfg.task.metrics))
    write_with(paths.leaderboard_csv, lambda p: lb.write_csv(rows, metric, p))
    write_with(paths.leaderboard_md, lambda p: Path(p).write_text(lb.to_markdown(rows, metric)))
    write_with(paths.leaderboard_html, lambda p: Path(p).write_text(lb.to_html(rows, metric, cfg)))
    log.info("best model by %s: %s", metric, rows[0]["model"])
    return rows

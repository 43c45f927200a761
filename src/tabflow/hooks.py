"""What the Snakemake main process does around a run (`onstart`, `onsuccess`, `onerror`).

start:   take the tracking lock, open the invocation's parent MLflow run in the background.
success: save the job records next to the results, close the parent run with the
         leaderboard, print the summary and send it to the notification URLs.
error:   the same records; the parent run and any child a killed job left RUNNING become
         FAILED; print and send which rule failed with the tail of its log.
Nothing here can turn a finished run into a failed one: problems are printed as warnings.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tabflow import notify, provenance, tracking
from tabflow.runner import skip_exit_gc
from tabflow.workflow import Plan


def _warn_on_error(what: str, step: Callable[[], Any]) -> Any:
    try:
        return step()
    except Exception as err:
        print(f"warning: {what} failed: {type(err).__name__}: {err}", file=sys.stderr)
        traceback.print_exc(limit=3, file=sys.stderr)
        return None


class Hooks:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.cfg = plan.configs[plan.models[0]]
        self.invocation = tracking.Invocation(self.cfg, plan.paths, plan.models)

    def start(self) -> None:
        self.invocation.start()

    def success(self, log: Sequence[str]) -> None:
        provenance.save(self.plan.paths.results_dir)
        rows = self._fresh_leaderboard()
        _warn_on_error(
            "closing the MLflow workflow run", lambda: self.invocation.finish(True, rows)
        )
        title, body = notify.success_message(
            rows,
            tracking.tracking_uri(self.cfg),
            str(self.cfg.mlflow.experiment_name),
            self.invocation.run_id,
        )
        notify.announce(title, body, notify.urls(self.cfg))
        skip_exit_gc()

    def error(self, log: Sequence[str]) -> None:
        provenance.save(self.plan.paths.results_dir)
        _warn_on_error("marking the MLflow runs FAILED", lambda: self.invocation.finish(False))
        title, body = notify.failure_message(log)
        notify.announce(title, body, notify.urls(self.cfg), failure=True)
        skip_exit_gc()

    def _fresh_leaderboard(self) -> list[dict[str, Any]]:
        """The leaderboard if this invocation made it, else nothing to announce."""
        from tabflow.leaderboard import read_csv

        board = Path(self.plan.paths.leaderboard_csv)
        if not board.is_file() or board.stat().st_mtime < self.invocation.started:
            return []
        return read_csv(board)

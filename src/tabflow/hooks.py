"""What the Snakemake main process does around a run (`onstart`, `onsuccess`, `onerror`).

start:   take the tracking lock, open the invocation's parent MLflow run in the background
         (once preprocess, if it runs, has read the data).
success: save the job records next to the results, close the parent run with the
         leaderboard, print the summary and send it to the notification URLs.
error:   the same records; the parent run and any child a killed job left RUNNING become
         FAILED; print and send which rule failed with the tail of its log.
Nothing here can turn a finished run into a failed one: problems are printed as warnings.
Everything heavy is imported inside the handlers: a no-op Snakemake start runs none.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from tabflow.plan import Plan


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
        self.cfg = plan.cfg()
        self.invocation: Any = None

    def start(self, rules: Collection[str] = ()) -> None:
        """`rules`: those of the jobs this run will execute. When preprocess is one, MLflow
        is set up once it has read the data: a CSV it refuses costs no MLflow at all. When
        none of them logs to MLflow (`snakemake predict`), nothing is set up: no workflow
        run without children, and the main process imports no MLflow."""
        from tabflow.io import remove_stale_temp_files
        from tabflow.stages import STAGES

        remove_stale_temp_files(self.plan.paths.results_dir)
        if "sweep_shard" in rules and self.plan.sweep:  # this invocation's shards: a new queue
            import shutil

            shutil.rmtree(self.plan.paths.sweep_queue(self.plan.sweep["name"]), ignore_errors=True)
        if not any(STAGES[rule].logs for rule in rules if rule in STAGES):
            return
        from tabflow.tracking.workflow_run import Invocation

        self.invocation = Invocation(self.cfg, self.plan.paths, self.plan.models)
        after = self.plan.paths.data_summary if "preprocess" in rules else None
        self.invocation.start(after=after)

    def success(self, log: Sequence[str]) -> None:
        from tabflow import notify, provenance
        from tabflow.io import read_json
        from tabflow.leaderboard import read_csv
        from tabflow.runner import skip_exit_gc
        from tabflow.tracking.store import tracking_uri

        provenance.save(self.plan.paths.results_dir)
        rows = self._fresh(self.plan.paths.leaderboard_csv, read_csv) or []
        decision = self._fresh(self.plan.paths.registry, read_json)
        if self.invocation is not None:
            _warn_on_error(
                "closing the MLflow workflow run",
                lambda: self.invocation.finish(True, rows, decision),
            )
        title, body = notify.success_message(
            rows,
            tracking_uri(self.cfg),
            str(self.cfg.mlflow.experiment_name),
            self.invocation.run_id if self.invocation is not None else None,
            decision["text"] if decision else "",
        )
        notify.announce(title, body, notify.urls(self.plan.notify_urls))
        skip_exit_gc()

    def error(self, log: Sequence[str]) -> None:
        from tabflow import notify, provenance
        from tabflow.runner import skip_exit_gc

        provenance.save(self.plan.paths.results_dir)
        if self.invocation is not None:
            _warn_on_error("marking the MLflow runs FAILED", lambda: self.invocation.finish(False))
        title, body = notify.failure_message(log)
        notify.announce(title, body, notify.urls(self.plan.notify_urls), failure=True)
        skip_exit_gc()

    def _fresh(self, path: str, read: Callable[[str], Any]) -> Any:
        """What this invocation wrote at `path` (the leaderboard, the registry decision),
        else None: nothing new to announce."""
        started = self.invocation.started if self.invocation is not None else 0.0
        file = Path(path)
        if not file.is_file() or file.stat().st_mtime < started:
            return None
        return read(path)

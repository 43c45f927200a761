"""The parent MLflow run of one workflow invocation, owned by the Snakemake main process,
and the clean-up of the runs of a Snakemake that was killed as a whole.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabflow import context
from tabflow.tracking import store


class Invocation:
    """One workflow invocation's parent run.

    `start()` (from `onstart`, before any job) takes the tracking lock at once and, in a
    background thread while train runs (once preprocess, if it runs, has read the data),
    creates the DB, the experiment and the parent run, then writes its id to
    `paths.parent_run` and releases the lock. Evaluate jobs log their model runs as its
    children. With a sqlite store it also starts the `StoreServer` the jobs on this
    machine log through (its URL goes into `paths.parent_run`, its token only into the
    environment the jobs inherit).

    `finish()` (from `onsuccess`/`onerror`) logs the leaderboard and the best model's
    metrics to the parent, closes it, marks any child run a killed job left RUNNING as
    FAILED, and stops the server.
    """

    def __init__(self, cfg: Any, paths: Any, models: Sequence[str]) -> None:
        self.cfg = cfg
        self.paths = paths
        self.models = list(models)
        self.started = 0.0
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.error: str | None = None
        self.server: store.StoreServer | None = None
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()

    def start(self, after: str | None = None) -> None:
        """`after`: a file this run writes first (preprocess's): the MLflow set-up waits
        until it is written (a job that fails meanwhile cancels it: no imports, no DB)."""
        import time

        self.started = time.time()
        Path(self.paths.parent_run).unlink(missing_ok=True)
        token = store.new_token()  # before any job starts: they inherit it
        lock = store.lock(self.paths.tracking_lock)
        lock.acquire()

        def work() -> None:
            try:
                while after and not self._written(after) and not self._cancelled.is_set():
                    time.sleep(0.1)
                if self._cancelled.is_set():
                    return
                # The slow part is imports (~2 s, then ~1.5 s for the sqlite store): a job
                # that fails meanwhile cancels the rest, no DB and no run.
                import mlflow  # noqa: F401

                if self._cancelled.is_set():
                    return
                if store.tracking_uri(self.cfg).startswith("sqlite:"):
                    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

                    if self._cancelled.is_set():
                        return
                self._create_parent(token)
            except Exception as err:  # jobs still log, without a parent; finish() reports it
                self.error = f"{type(err).__name__}: {err}"
                print(f"MLflow: could not open the workflow run: {self.error}", file=sys.stderr)
            finally:
                lock.release()

        self._thread = threading.Thread(target=work, name="mlflow-parent-run")
        self._thread.start()

    def _written(self, path: str) -> bool:
        """Has this invocation written `path` (since it started)?"""
        try:
            return Path(path).stat().st_mtime >= self.started - 1
        except OSError:
            return False

    def _create_parent(self, token: str) -> None:
        import time

        from mlflow import MlflowClient
        from mlflow.entities import Param

        from tabflow.io import write_json
        from tabflow.tracking.model_run import flat_params

        self.experiment_id = store.create_experiment(self.cfg)
        client = MlflowClient()
        killed = close_abandoned(client, self.experiment_id)
        if killed:
            print(
                f"MLflow: {len(killed)} workflow run(s) of a Snakemake that was killed "
                f"as a whole marked KILLED: {', '.join(killed)}",
                file=sys.stderr,
            )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        tags = {
            "tabflow.role": "workflow",
            "tabflow.host": socket.gethostname(),
            "tabflow.pid": str(os.getpid()),
            "models": ",".join(self.models),
            "data_md5": context.data_md5(),
            **context.git_info(),
            **context.versions(),
        }
        run = client.create_run(self.experiment_id, run_name=f"workflow {stamp}", tags=tags)
        self.run_id = run.info.run_id
        shared = {k: v for k, v in flat_params(self.cfg).items() if not k.startswith("model.")}
        client.log_batch(self.run_id, params=[Param(k, v) for k, v in sorted(shared.items())])
        record = {"run_id": self.run_id}
        uri = store.tracking_uri(self.cfg)
        if uri.startswith("sqlite:"):
            self.server = store.StoreServer(uri, token)
            record.update(server=self.server.start(), host=socket.gethostname())
        write_json(self.paths.parent_run, record)

    def finish(
        self,
        success: bool,
        leaderboard: Sequence[Mapping[str, Any]] = (),
        decision: Mapping[str, Any] | None = None,
    ) -> None:
        """Close the parent run: FINISHED (with the leaderboard this run made), or FAILED.

        A failure before the parent run was begun (say, a bad CSV in preprocess) cancels
        it: the invocation then leaves no MLflow run at all, and fails without waiting
        for the DB to be created.
        """
        if not success:
            self._cancelled.set()
        if self._thread is not None:
            self._thread.join()
        Path(self.paths.parent_run).unlink(missing_ok=True)
        if self.run_id is None:
            return
        from mlflow import MlflowClient

        client = MlflowClient()
        for child in self.children(client):
            if child.info.status == "RUNNING":
                client.set_terminated(child.info.run_id, "FAILED")
        if success and leaderboard:
            self._log_leaderboard(client, leaderboard)
        if success and decision:
            self._log_decision(client, decision)
        client.set_terminated(self.run_id, "FINISHED" if success else "FAILED")
        if self.server is not None:
            self.server.stop()

    def children(self, client: Any = None) -> list:
        from mlflow import MlflowClient

        client = client or MlflowClient()
        return client.search_runs(
            [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{self.run_id}'"
        )

    def _log_leaderboard(self, client: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        import time

        from mlflow.entities import Metric, RunTag

        from tabflow.leaderboard import primary_metric
        from tabflow.metrics import ALL, cv_keys

        best = rows[0]
        now = int(time.time() * 1000)
        names = [*ALL, *cv_keys(list(ALL))]
        metrics = [Metric(f"best_{k}", float(best[k]), now, 0) for k in names if k in best]
        tags = [
            RunTag("best_model", str(best["model"])),
            RunTag("primary_metric", primary_metric(rows)),
        ]
        client.log_batch(self.run_id, metrics=metrics, tags=tags)
        for path in (self.paths.leaderboard_csv, self.paths.leaderboard_md):
            client.log_artifact(self.run_id, path, artifact_path="leaderboard")

    def _log_decision(self, client: Any, decision: Mapping[str, Any]) -> None:
        """The registry's champion decision: both CV scores, both test scores, the alias."""
        import time

        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        held = decision.get("champion") or {}
        scores = {
            "registry.new_cv": decision["new"]["cv"],
            "registry.new_test": decision["new"]["test"],
            "registry.champion_cv": held.get("cv"),
            "registry.champion_test": held.get("test"),
        }
        metrics = [Metric(k, float(v), now, 0) for k, v in scores.items() if v is not None]
        tags = [
            RunTag("registry.version", str(decision["new"]["version"])),
            RunTag("registry.alias", str(decision["alias"])),
            RunTag("registry.decision", str(decision["text"])[:5000]),
        ]
        client.log_batch(self.run_id, metrics=metrics, tags=tags)


def close_abandoned(client: Any, experiment_id: str) -> list[str]:
    """Mark KILLED the workflow runs (and their open children) of a dead Snakemake.

    A Snakemake killed as a whole (SIGKILL, a power cut) runs no `onerror`, so its parent
    run and the runs of the jobs it had going stay RUNNING. A workflow run records the
    host and pid of its Snakemake; one on this host whose process is gone is closed here,
    by the next workflow that opens the experiment. Runs of other hosts are left alone.
    """
    host = socket.gethostname()
    running = "attributes.status = 'RUNNING'"
    parents = client.search_runs(
        [experiment_id], filter_string=f"tags.`tabflow.role` = 'workflow' and {running}"
    )
    closed = []
    for run in parents:
        tags = run.data.tags
        if tags.get("tabflow.host") != host or _alive(tags.get("tabflow.pid", "")):
            continue
        children = client.search_runs(
            [experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}' and {running}",
        )
        for child in children:
            client.set_terminated(child.info.run_id, "KILLED")
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed


def _alive(pid: str) -> bool:
    """Is there a process with this pid? (A reused pid counts as alive: leave the run.)"""
    if not pid.isdigit() or int(pid) <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

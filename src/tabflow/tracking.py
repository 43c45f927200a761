"""MLflow tracking: create the DB once, then one run per model with what it takes to trust it."""

from __future__ import annotations

import logging
import os
import platform
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tabflow.io import file_digest

DVC_FILE = "data.dvc"
_log = logging.getLogger(__name__)


def tracking_uri(cfg: DictConfig) -> str:
    """MLFLOW_TRACKING_URI when set, else mlflow.tracking_uri from the config."""
    return os.environ.get("MLFLOW_TRACKING_URI") or str(cfg.mlflow.tracking_uri)


def _create_experiment(cfg: DictConfig, uri: str | None = None) -> str:
    """Point MLflow at `uri` (default: the configured store) and return the experiment id."""
    import mlflow

    mlflow.set_tracking_uri(uri or tracking_uri(cfg))
    return str(mlflow.set_experiment(str(cfg.mlflow.experiment_name)).experiment_id)


def _lock(lock_path: str | Path):
    from filelock import FileLock

    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_path), timeout=600, thread_local=False)


def prepare_run(cfg: DictConfig, paths: Any) -> tuple[str, str | None]:
    """(experiment id, parent run id or None) for a job about to log a model run.

    Under the lock: the workflow's `onstart` holds it until the DB, the experiment and the
    parent run exist, so a job never races the first use of a new sqlite DB. The parent
    is the invocation's run named in `paths.parent_run`, if it is still running. On the
    machine of the Snakemake main process, the job talks to the store through the main
    process (see `Invocation`): no SQLAlchemy/alembic import (3 s), one sqlite writer.
    """
    import json

    import mlflow

    with _lock(paths.tracking_lock):
        parent_file = Path(paths.parent_run)
        try:
            invocation = json.loads(parent_file.read_text()) if parent_file.is_file() else {}
        except ValueError:
            invocation = {}
        server = invocation.get("server")
        if server and invocation.get("host") == socket.gethostname() and _answers(server):
            # Its links to the run would point at a server that ends with the workflow.
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            _log.info("MLflow: logging through the workflow's store server at %s", server)
        else:
            server = None
        experiment_id = _create_experiment(cfg, server)
    parent = invocation.get("run_id")
    if not parent:
        return experiment_id, None
    try:
        run = mlflow.MlflowClient().get_run(parent)
    except Exception:  # a parent file left by a killed workflow, in another DB
        return experiment_id, None
    if run.info.status != "RUNNING" or run.info.experiment_id != experiment_id:
        return experiment_id, None
    return experiment_id, parent


def _answers(url: str) -> bool:
    """Does something listen at http://host:port? (A killed workflow leaves a stale URL.)"""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


class Invocation:
    """One workflow invocation's parent MLflow run, owned by the Snakemake main process.

    `start()` (from `onstart`, before any job) takes the tracking lock at once and, in a
    background thread while preprocess/train run, creates the DB, the experiment and the
    parent run, then writes its id to `paths.parent_run` and releases the lock. Evaluate
    jobs log their model runs as children.

    With a sqlite store, the main process also serves it to the jobs on its machine: the
    MLflow tracking server's Flask app, in a thread, on a free loopback port (its URL is
    in `paths.parent_run`). A job then needs the light REST client instead of importing
    SQLAlchemy and alembic (about 3 s of CPU per job), and only one process ever writes
    the sqlite file. Artifacts are still written by the jobs, straight to `mlruns/`.

    `finish()` (from `onsuccess`/`onerror`) logs the leaderboard and the best model's
    metrics to the parent, closes it, marks any child run a killed job left RUNNING as
    FAILED, and stops the server.
    """

    def __init__(self, cfg: DictConfig, paths: Any, models: Sequence[str]) -> None:
        self.cfg = cfg
        self.paths = paths
        self.models = list(models)
        self.started = 0.0
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.error: str | None = None
        self.server_url: str | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()

    def start(self) -> None:
        import time

        self.started = time.time()
        Path(self.paths.parent_run).unlink(missing_ok=True)
        lock = _lock(self.paths.tracking_lock)
        lock.acquire()

        def work() -> None:
            try:
                # The slow part is imports (~2 s, then ~1.5 s for the sqlite store): a job
                # that fails meanwhile (a bad CSV) cancels the rest, no DB and no run.
                import mlflow  # noqa: F401

                if self._cancelled.is_set():
                    return
                if tracking_uri(self.cfg).startswith("sqlite:"):
                    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

                    if self._cancelled.is_set():
                        return
                self._create_parent()
            except Exception as err:  # jobs still log, without a parent; finish() reports it
                self.error = f"{type(err).__name__}: {err}"
                print(f"MLflow: could not open the workflow run: {self.error}", file=sys.stderr)
            finally:
                lock.release()

        self._thread = threading.Thread(target=work, name="mlflow-parent-run")
        self._thread.start()

    def _create_parent(self) -> None:
        import time

        from mlflow import MlflowClient

        from tabflow.io import write_json

        self.experiment_id = _create_experiment(self.cfg)
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
            "data_md5": data_md5(),
            **git_info(),
            **versions(),
        }
        run = client.create_run(self.experiment_id, run_name=f"workflow {stamp}", tags=tags)
        self.run_id = run.info.run_id
        shared = {k: v for k, v in flat_params(self.cfg).items() if not k.startswith("model.")}
        client.log_batch(self.run_id, params=_params(shared))
        record = {"run_id": self.run_id}
        if tracking_uri(self.cfg).startswith("sqlite:"):
            self._serve()
            record.update(server=self.server_url, host=socket.gethostname())
        write_json(self.paths.parent_run, record)

    def _serve(self) -> None:
        """The tracking server's Flask app on 127.0.0.1:<free port>, in a daemon thread."""
        from mlflow.server import BACKEND_STORE_URI_ENV_VAR, app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any) -> None:  # no access log on Snakemake's console
                pass

        # How `mlflow server --backend-store-uri` configures the app, in this process only.
        os.environ[BACKEND_STORE_URI_ENV_VAR] = tracking_uri(self.cfg)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        self.server_url = f"http://127.0.0.1:{self._server.server_port}"
        serve = threading.Thread(target=self._server.serve_forever, name="mlflow-store")
        serve.daemon = True
        serve.start()

    def finish(self, success: bool, leaderboard: Sequence[Mapping[str, Any]] = ()) -> None:
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
        client.set_terminated(self.run_id, "FINISHED" if success else "FAILED")
        if self._server is not None:
            self._server.shutdown()

    def children(self, client: Any = None) -> list:
        from mlflow import MlflowClient

        client = client or MlflowClient()
        return client.search_runs(
            [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{self.run_id}'"
        )

    def _log_leaderboard(self, client: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        import time

        from mlflow.entities import Metric, RunTag

        from tabflow.evaluate import METRICS
        from tabflow.leaderboard import primary_metric

        best = rows[0]
        now = int(time.time() * 1000)
        names = [*METRICS, *(f"cv_{m}_{s}" for m in METRICS for s in ("mean", "std"))]
        metrics = [Metric(f"best_{k}", float(best[k]), now, 0) for k in names if k in best]
        tags = [
            RunTag("best_model", str(best["model"])),
            RunTag("primary_metric", primary_metric(rows)),
        ]
        client.log_batch(self.run_id, metrics=metrics, tags=tags)
        for path in (self.paths.leaderboard_csv, self.paths.leaderboard_md):
            client.log_artifact(self.run_id, path, artifact_path="leaderboard")


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


def _params(flat: Mapping[str, str]) -> list:
    from mlflow.entities import Param

    return [Param(k, v) for k, v in sorted(flat.items())]


def public_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without `notify` (its URLs may hold secrets): what gets logged."""
    out = OmegaConf.to_container(cfg, resolve=True)
    out.pop("notify", None)
    return out


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The full resolved config (minus secrets) as dotted MLflow params."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = str(node)

    walk(public_config(cfg), "")
    return out


def git_info() -> dict[str, str]:
    """Commit of the working tree and whether it has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def data_md5(dvc_file: str | Path = DVC_FILE) -> str:
    """The md5 that data.dvc records for the tracked data, or 'untracked'."""
    import yaml

    path = Path(dvc_file)
    if not path.is_file():
        return "untracked"
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "untracked"))


def file_md5(path: str | Path) -> str:
    return file_digest(path, "md5")


def versions() -> dict[str, str]:
    """Python and key package versions, as tags."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python_version": platform.python_version()}
    for pkg in ("scikit-learn", "pandas", "numpy", "mlflow", "hydra-core", "snakemake", "dvc"):
        try:
            out[f"version.{pkg}"] = version(pkg)
        except PackageNotFoundError:
            out[f"version.{pkg}"] = "absent"
    return out


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model, given explicitly (no slow inference)."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "cloudpickle", "pandas", "numpy")]


def _skip_environment_scan() -> None:
    """Spare MLflow its scan of every installed distribution (about 2 s per model here).

    With explicit pip_requirements, log_model still maps all installed modules to
    packages to warn about version mismatches. Seeding MLflow's (private) cache with
    the packages we pin keeps that check for them and skips the scan. If MLflow
    renames the cache this is a no-op and only costs the time again.
    """
    from mlflow.utils import requirements_utils

    if getattr(requirements_utils, "_MODULES_TO_PACKAGES", "absent") is None:
        requirements_utils._MODULES_TO_PACKAGES = {
            "sklearn": ["scikit-learn"],
            "cloudpickle": ["cloudpickle"],
            "pandas": ["pandas"],
            "numpy": ["numpy"],
        }


def log_model_run(
    cfg: DictConfig,
    model_name: str,
    model: Any,
    metrics: Mapping[str, float],
    artifacts: Sequence[tuple[str, str | Path]],
    input_example: Any,
    experiment_id: str,
    parent_run_id: str | None = None,
    backend_uri: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Log one model's run (a child of the workflow run); a failure inside marks it FAILED."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    _skip_environment_scan()

    tags = {
        "model": model_name,
        "estimator": str(cfg.model._target_),
        "data_md5": data_md5(),
        "data_file_md5": file_md5(cfg.data.raw_path),
        **git_info(),
        **versions(),
        **(extra_tags or {}),
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=model_name, tags=tags, parent_run_id=parent_run_id
    ) as run:
        mlflow.log_params(flat_params(cfg))
        mlflow.log_metrics(dict(metrics))
        mlflow.log_dict(public_config(cfg), "config.yaml")
        for subdir, path in artifacts:
            mlflow.log_artifact(str(path), artifact_path=subdir)
        signature = infer_signature(input_example, model.predict(input_example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=pip_requirements(),
            signature=signature,
        )
        return {
            "run_id": run.info.run_id,
            "experiment_id": experiment_id,
            "experiment_name": str(cfg.mlflow.experiment_name),
            "model_uri": info.model_uri,
            "tracking_uri": backend_uri or tracking_uri(cfg),
            "parent_run_id": parent_run_id or "",
        }

"""Where runs go: the tracking URI, the experiment, the lock around first use of a new
sqlite DB, and the loopback server through which a workflow's jobs reach a sqlite store.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

# The per-invocation secret of the workflow's store server: set by the Snakemake main
# process in its environment, which its jobs inherit; never written anywhere.
TOKEN_ENV = "TABFLOW_STORE_TOKEN"


def tracking_uri(cfg: Any) -> str:
    """MLFLOW_TRACKING_URI when set, else mlflow.tracking_uri from the config."""
    return os.environ.get("MLFLOW_TRACKING_URI") or str(cfg.mlflow.tracking_uri)


def unreachable(uri: str, timeout: float = 5.0) -> str | None:
    """Why a tracking server cannot be reached, with the fix; None if it answers (or if
    `uri` is no server). Checked once before any job: MLflow's own retries take minutes."""
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answers (maybe asking for credentials): the jobs will see the rest
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return (
            f"cannot reach MLFLOW_TRACKING_URI={uri} ({reason}): start the server or "
            f"unset the variable"
        )


# The tag from which `mlflow ui` picks an experiment's page: training runs, not GenAI.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def create_experiment(cfg: Any, uri: str | None = None) -> str:
    """Point MLflow at `uri` (default: the configured store) and return the experiment id,
    marked as a model-training experiment."""
    import mlflow

    mlflow.set_tracking_uri(uri or tracking_uri(cfg))
    experiment = mlflow.set_experiment(str(cfg.mlflow.experiment_name))
    key, value = EXPERIMENT_KIND
    if experiment.tags.get(key) != value:
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)
    return str(experiment.experiment_id)


def lock(lock_path: str | Path):
    from filelock import FileLock

    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_path), timeout=600, thread_local=False)


def connect(cfg: Any, paths: Any) -> tuple[str, str | None]:
    """(experiment id, parent run id or None) for a job about to log a model run.

    Under the lock: the workflow's `onstart` holds it until the DB, the experiment and the
    parent run exist, so a job never races the first use of a new sqlite DB. The parent
    is the invocation's run named in `paths.parent_run`, if it is still running. On the
    machine of the Snakemake main process, a job that has the invocation's token talks to
    the store through the main process's `StoreServer`: no SQLAlchemy/alembic import
    (3 s), one sqlite writer.
    """
    import json

    import mlflow

    with lock(paths.tracking_lock):
        parent_file = Path(paths.parent_run)
        try:
            invocation = json.loads(parent_file.read_text()) if parent_file.is_file() else {}
        except ValueError:
            invocation = {}
        server = invocation.get("server")
        token = os.environ.get(TOKEN_ENV)
        local = invocation.get("host") == socket.gethostname()
        if server and token and local and _answers(server):
            os.environ["MLFLOW_TRACKING_TOKEN"] = token  # sent as "Authorization: Bearer"
            # Its links to the run would point at a server that ends with the workflow.
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            _log.info("MLflow: logging through the workflow's store server at %s", server)
        else:
            server = None
        experiment_id = create_experiment(cfg, server)
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


def new_token() -> str:
    """A fresh secret for this invocation's store server, put where its jobs will find it."""
    import secrets

    token = secrets.token_urlsafe(32)
    os.environ[TOKEN_ENV] = token
    return token


class StoreServer:
    """MLflow's tracking-server app for a sqlite store, on 127.0.0.1:<free port>, in a
    daemon thread of the Snakemake main process, for the jobs on this machine.

    Every request must carry `Authorization: Bearer <token>` (the jobs have the token in
    their environment); anything else gets 401, so another local user cannot read, change
    or delete runs through it. Artifacts do not pass through it: jobs write them to mlruns/.
    """

    def __init__(self, backend_uri: str, token: str) -> None:
        self.backend_uri = backend_uri
        self.token = token
        self.url: str | None = None
        self._server: Any = None

    def start(self) -> str:
        from mlflow.server import BACKEND_STORE_URI_ENV_VAR, app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any) -> None:  # no access log on Snakemake's console
                pass

        # How `mlflow server --backend-store-uri` configures the app, in this process only.
        os.environ[BACKEND_STORE_URI_ENV_VAR] = self.backend_uri
        guarded = _require_token(app, self.token)
        self._server = make_server("127.0.0.1", 0, guarded, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        serve = threading.Thread(target=self._server.serve_forever, name="mlflow-store")
        serve.daemon = True
        serve.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()


def _require_token(app: Any, token: str) -> Any:
    """A WSGI app that passes on only requests with `Authorization: Bearer <token>`."""
    import hmac

    expected = f"Bearer {token}".encode()

    def guarded(environ: dict, start_response: Any) -> Any:
        given = environ.get("HTTP_AUTHORIZATION", "").encode()
        if not hmac.compare_digest(given, expected):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"this store server answers only the jobs of its workflow\n"]
        return app(environ, start_response)

    return guarded

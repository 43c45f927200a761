"""MLflow tracking: create the DB once, then one run per model with what it takes to trust it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tabflow.io import file_digest

DVC_FILE = "data.dvc"


def tracking_uri(cfg: DictConfig) -> str:
    """MLFLOW_TRACKING_URI when set, else mlflow.tracking_uri from the config."""
    return os.environ.get("MLFLOW_TRACKING_URI") or str(cfg.mlflow.tracking_uri)


def _create_experiment(cfg: DictConfig) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(cfg))
    return str(mlflow.set_experiment(str(cfg.mlflow.experiment_name)).experiment_id)


def _lock(lock_path: str | Path):
    from filelock import FileLock

    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_path), timeout=600, thread_local=False)


def init_tracking(cfg: DictConfig, lock_path: str | Path) -> str:
    """Create the tracking DB and the experiment if needed; return the experiment id.

    A file lock serialises first use: parallel first writers to one new sqlite DB
    otherwise die with 'table runs already exists' and similar alembic errors.
    """
    with _lock(lock_path):
        return _create_experiment(cfg)


def experiment_exists(cfg: DictConfig) -> bool:
    """Cheap check, without importing MLflow: does the sqlite DB already hold the experiment?"""
    import sqlite3

    uri = tracking_uri(cfg)
    if not uri.startswith("sqlite:///"):
        return False
    db = Path(uri.removeprefix("sqlite:///"))
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT 1 FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                (str(cfg.mlflow.experiment_name),),
            ).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def start_tracking_init(cfg: DictConfig, lock_path: str | Path) -> threading.Thread | None:
    """Create the DB and experiment in the background, holding the lock until done.

    Called once per workflow run (Snakemake `onstart`), before any job starts. The lock
    is taken here, synchronously, so every job that later opens the tracking store waits
    for the initialisation instead of racing it; meanwhile preprocess/train jobs run.
    """
    if experiment_exists(cfg):
        return None
    lock = _lock(lock_path)
    lock.acquire()

    def work() -> None:
        try:
            _create_experiment(cfg)
        except Exception as err:  # the jobs retry under the lock and report it
            print(f"MLflow initialisation failed: {err}", file=sys.stderr)
        finally:
            lock.release()

    thread = threading.Thread(target=work, name="mlflow-init")
    thread.start()
    return thread


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The full resolved config as dotted MLflow params."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
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
    extra_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Log one model's run; a failure inside marks the run FAILED, never RUNNING."""
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
    with mlflow.start_run(experiment_id=experiment_id, run_name=model_name, tags=tags) as run:
        mlflow.log_params(flat_params(cfg))
        mlflow.log_metrics(dict(metrics))
        mlflow.log_dict(OmegaConf.to_container(cfg, resolve=True), "config.yaml")
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
            "tracking_uri": mlflow.get_tracking_uri(),
        }

"""One model's MLflow run: its config as params, metrics, artifacts, tags and the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabflow import context


def public_config(cfg: Any) -> dict[str, Any]:
    """A resolved config (plain dicts, or a job's `Declared`) as a plain dict copy, without
    `notify` (its URLs may hold secrets)."""
    import copy

    out = cfg.to_dict() if hasattr(cfg, "to_dict") else copy.deepcopy(dict(cfg))
    out.pop("notify", None)
    return out


def flat_params(cfg: Any) -> dict[str, str]:
    """The resolved config (minus secrets) as dotted MLflow params."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = str(node)

    walk(public_config(cfg), "")
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
    cfg: Any,
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

    from tabflow.tracking.store import tracking_uri

    _skip_environment_scan()

    tags = {
        "model": model_name,
        "estimator": str(cfg.model["_target_"]),
        "data_md5": context.data_md5(),
        "data_file_md5": context.file_md5(cfg.data.raw_path),
        **context.git_info(),
        **context.versions(),
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

"""The MLflow model registry: versions of one registered model, the aliases `champion` and
`challenger`, and the model files behind a name, an alias, a `models:/` URI or a run id.

A model is read from its skops file with tabflow's own trusted types (models.load_model):
nothing is unpickled and no code stored with the model runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tabflow.errors import ConfigError

CHAMPION, CHALLENGER = "champion", "challenger"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def model_uri(spec: str, name: str) -> str:
    """`champion` (or another alias) -> models:/<name>@champion; a models:/ URI as is; a
    run id -> the model that run logged."""
    if spec.startswith("models:/"):
        return spec
    if _RUN_ID.match(spec):
        return _run_model(spec)
    return f"models:/{name}@{spec}"


def _run_model(run_id: str) -> str:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"run {run_id} not found in {client.tracking_uri}") from None
    outputs = [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])]
    if not outputs:
        raise ConfigError(f"run {run_id} logged no model (a workflow or sweep run?)")
    return f"models:/{outputs[0]}"


def model_dir(uri: str) -> Path:
    """The model's files on this machine (MLflow downloads them once per call)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except MlflowException as err:
        first = str(err).splitlines()[0]
        if "@" in uri and ("not found" in first.lower() or "does not exist" in first.lower()):
            name, alias = uri.removeprefix("models:/").split("@", 1)
            raise ConfigError(
                f"no model {name!r} with alias {alias!r} in the registry yet: run "
                f"`snakemake -j 3` first (each run registers its best model)"
            ) from None
        raise ConfigError(f"cannot load {uri}: {first}") from None


def load(uri: str, folder: Path | None = None) -> tuple[Any, dict[str, Any] | None]:
    """(pipeline, training profile or None) of a logged model; `folder`: its files, if
    model_dir(uri) fetched them already."""
    import json

    from tabflow.models import load_model

    folder = folder or model_dir(uri)
    skops = sorted(folder.rglob("*.skops"))
    if not skops:
        raise ConfigError(f"{uri} holds no skops model file (logged by an older tabflow?)")
    profile = next(iter(sorted(folder.rglob("profile.json"))), None)
    return load_model(skops[0]), json.loads(profile.read_text()) if profile else None


def register(name: str, uri: str, tags: dict[str, str]) -> Any:
    """A new version of `name` (the registered model is created if missing) for the
    logged model at `uri` (models:/m-...)."""
    import mlflow

    return mlflow.register_model(uri, name, tags=tags)


def alias(client: Any, name: str, which: str) -> Any | None:
    """The version that holds an alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, which)
    except MlflowException:
        return None

"""The MLflow model registry: versions of one registered model, the aliases `champion` and
`challenger`, and the model files behind a name, an alias, a `models:/` URI or a run id.

A model is read from its skops file with tabflow's own trusted types (models.load_model):
nothing is unpickled and no code stored with the model runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabflow.errors import ConfigError

CHAMPION, CHALLENGER = "champion", "challenger"
_RUN_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".skops", ".json", ".parquet", ".pkl", ".yaml")


@dataclass(frozen=True)
class Resolved:
    """A model to load: `uri` pins it (a registered version, models:/name/3, or a logged
    model, models:/m-...), whatever alias led there."""

    uri: str
    name: str | None = None
    version: int | None = None
    source: str = ""  # the logged model behind a version (models:/m-...)


def resolve(spec: str, name: str) -> Resolved:
    """`champion` (or another alias of registered model `name`), a models:/ URI or a run id
    -> the model it names now. Anything that names no model is one ConfigError line
    saying what does exist."""
    if spec.startswith("models:/"):
        body = spec.removeprefix("models:/")
        if "@" in body:
            return _by_alias(*body.split("@", 1))
        if "/" in body:
            model, version = body.rsplit("/", 1)
            return _version(model, version)
        if body.startswith("m-"):
            return Resolved(spec, source=spec)
        raise ConfigError(
            f"{spec} names no version: give an alias or a version, e.g. "
            f"models:/{body}@{CHAMPION} or models:/{body}/1"
        )
    if _RUN_ID.match(spec):
        logged = _run_model(spec.lower())
        return Resolved(logged, source=logged)
    if (
        any(c in spec for c in "/\\")
        or spec.lower().endswith(_FILE_SUFFIXES)
        or Path(spec).exists()
    ):
        raise ConfigError(
            f"MODEL {spec!r} is a file, not a model: give an alias ({CHAMPION}, {CHALLENGER}), "
            f"a models:/ URI or a run id (tabflow predict [MODEL] IN.csv OUT.csv)"
        )
    return _by_alias(name, spec)


def _registered(client: Any, name: str) -> Any:
    """The registered model `name`; else one line listing those that exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException:
        pass
    store = mlflow.get_tracking_uri()
    names = sorted(m.name for m in client.search_registered_models(max_results=100))
    if not names:
        raise ConfigError(
            f"no registered model {name!r} in {store} yet: no model is registered there; run "
            f"`snakemake -j 3` first (each run registers its best model)"
        ) from None
    raise ConfigError(
        f"no registered model {name!r} in {store}; registered models: {', '.join(names)}"
    ) from None


def _by_alias(name: str, alias: str) -> Resolved:
    from mlflow import MlflowClient

    model = _registered(MlflowClient(), name)
    aliases = dict(model.aliases or {})
    if alias not in aliases:
        listed = ", ".join(f"{a} (v{v})" for a, v in sorted(aliases.items())) or "none yet"
        close = [a for a in aliases if a.lower() == alias.lower()]
        hint = f"; did you mean {close[0]!r}? (aliases are case-sensitive)" if close else ""
        raise ConfigError(
            f"registered model {name!r} has no alias {alias!r}; its aliases: {listed}{hint}"
        )
    return _version(name, str(aliases[alias]))


def _version(name: str, version: str) -> Resolved:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    model = _registered(client, name)
    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        aliases = ", ".join(f"{a} (v{v})" for a, v in sorted((model.aliases or {}).items()))
        raise ConfigError(
            f"registered model {name!r} has no version {version!r}"
            + (f"; its aliases: {aliases}" if aliases else "")
        ) from None
    return Resolved(f"models:/{name}/{version}", name, int(version), str(found.source))


def problem_model(cfg: Any) -> str:
    """registry.model_name; without it (the task unknown: `tabflow predict` where the
    training data is not) the problem's registered model the store holds, of
    <data.name>_classifier and _regressor."""
    if cfg.registry.model_name:
        return str(cfg.registry.model_name)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from tabflow.tasks import TASKS

    client = MlflowClient()
    candidates = list(dict.fromkeys(f"{cfg.data.name}_{t.noun}" for t in TASKS.values()))
    held = []
    for name in candidates:
        try:
            client.get_registered_model(name)
            held.append(name)
        except MlflowException:
            pass
    if len(held) > 1:
        raise ConfigError(
            f"registered models {' and '.join(held)} are both this problem's and "
            f"{cfg.data.raw_path} is not here to tell the task: set data.task or "
            f"registry.model_name (or give a models:/ URI)"
        )
    return (held or candidates)[0]


def pinned(cfg: Any, spec: str) -> Resolved:
    """The model `spec` names right now, in the configured store: what `snakemake predict`
    records as its params, so that a moved alias (a new champion, a rollback) reruns it."""
    import mlflow

    from tabflow.tracking.store import tracking_uri

    mlflow.set_tracking_uri(tracking_uri(cfg))
    return resolve(spec, problem_model(cfg))


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
        raise ConfigError(f"cannot load {uri}: {str(err).splitlines()[0]}") from None


def problem_of(reading: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two models comparable: the same task and target, the same positive class
    (binary) or classes (multiclass), the same feature columns of the same kinds. (Not the
    file they came from: a champion trained on last month's rows competes with a model of
    this month's.)"""
    problem = reading["problem"]
    out = {
        "task": problem["task"],
        "target": problem["target"],
        "positive": problem["positive"],
        "features": {c: reading["kinds"][c] for c in reading["columns"]},
    }
    if problem["task"] == "multiclass":
        out["classes"] = list(problem["classes"])
    return out


def problem_key(reading: Mapping[str, Any]) -> str:
    """A digest of problem_of(reading): the tag `tabflow.problem` of runs and versions."""
    import hashlib
    import json

    text = json.dumps(problem_of(reading), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def problem_text(reading: Mapping[str, Any]) -> str:
    """The problem in words: 'binary: target = 1, 13 features (data/raw/heart.csv)',
    'multiclass: cultivar (3 classes), ...', 'regression: price, ...'."""
    problem = reading["problem"]
    task, target = problem["task"], problem["target"]
    if task == "binary":
        positive = problem["positive"]
        said = positive if positive.startswith("target ") else f"{target} = {positive}"
    elif task == "multiclass":
        said = f"{target} ({len(problem['classes'])} classes)"
    else:
        said = target
    n = len(reading["columns"])
    return f"{task}: {said}, {n} features ({problem['source']})"


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

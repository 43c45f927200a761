"""One model's MLflow run: its config as params, metrics, artifacts, tags and the model."""

from __future__ import annotations

import warnings
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


# What the stores say when two runs insert the same dataset at once (sqlite, PostgreSQL,
# MySQL).
_DUPLICATE = ("unique constraint", "duplicate entry")


def log_input(dataset: Any, role: str, tries: int = 3) -> None:
    """mlflow.log_input, again when a parallel job logged the same split first: MLflow looks
    for the dataset, then inserts it, so two evaluate jobs logging the training split into
    a fresh experiment can both insert it (on a tracking server, one gets a UNIQUE
    constraint error). The next try finds the dataset and only links it."""
    import time

    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(1, tries + 1):
        try:
            return mlflow.log_input(dataset, context=role)
        except MlflowException as err:
            if attempt == tries or not any(d in str(err).lower() for d in _DUPLICATE):
                raise
            time.sleep(0.1 * attempt)


def pip_requirements(target: str = "") -> list[str]:
    """Pinned requirements of a logged model, given explicitly (no slow inference): those
    of every model, and the library of its estimator (`_target_`) if not scikit-learn."""
    from importlib.metadata import packages_distributions, version

    from tabflow.models import library_of

    packages = ["scikit-learn", "skops", "pandas", "numpy"]
    if library := library_of(target):
        packages += packages_distributions().get(library, [library])[:1]  # xgboost-cpu
    return [f"{pkg}=={version(pkg)}" for pkg in packages]


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
            "skops": ["skops"],
            "pandas": ["pandas"],
            "numpy": ["numpy"],
        }


def as_doubles(frame: Any) -> Any:
    """Integer columns as doubles: the pipeline imputes missing values, which an integer
    column cannot hold (the logged datasets' schemas would hint so on every run)."""
    ints = [c for c in frame.columns if frame[c].dtype.kind in "iu"]
    return frame.astype({c: "float64" for c in ints})


def signature(problem: Mapping[str, Any]) -> Any:
    """Output only: tabflow_rows.answer_columns of the model's problem. The model reads
    raw rows itself (any table holding its feature columns; a missing one it names in its
    own words), so MLflow gets no input schema to enforce: with one, it would refuse int64
    for a double column and NaN for a long one, word a missing column its way, and fail
    every CSV sent to `mlflow models serve` whose columns are of type Any. The columns are
    in the model's metadata."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    from tabflow_rows import answer_columns

    return ModelSignature(
        outputs=Schema([ColSpec(kind, name) for name, kind in answer_columns(problem)])
    )


def code_paths(folder: Path) -> list[str]:
    """The package every logged model carries (tabflow_rows: the reading of raw rows and the
    answer), copied without caches into `folder`: what MLflow puts in the model's code/."""
    import shutil

    import tabflow_rows

    source = Path(tabflow_rows.__file__).parent
    dest = folder / source.name
    dest.mkdir(parents=True)
    for path in sorted(source.glob("*.py")):
        shutil.copyfile(path, dest / path.name)
    return [str(dest)]


def log_model_run(
    cfg: Any,
    model_name: str,
    model_file: str | Path,
    metrics: Mapping[str, float],
    artifacts: Sequence[tuple[str, str | Path]],
    datasets: Mapping[str, tuple[Any, str]],
    model_artifacts: Mapping[str, str | Path],
    experiment_id: str,
    reading: Mapping[str, Any],
    parent_run_id: str | None = None,
    backend_uri: str | None = None,
    model_key: str = "",
) -> dict[str, str]:
    """Log one model's run (a child of the workflow run); a failure inside marks it FAILED.

    datasets: {"training": (frame, source), "evaluation": ...}, logged as the run's inputs.
    reading: how the model reads a raw row (the data summary's); its problem (what it
    predicts, from which columns) is tagged and in the model's metadata. model_key: what
    the fitted model follows from (its config, training rows and code).
    The model goes in as a pyfunc "model from code" (tabflow_rows/served.py) around the
    skops file, with the tabflow_rows package: nothing pickled, and `mlflow.pyfunc` and
    `mlflow models serve` take raw rows and answer as `tabflow predict` does.
    """
    import tempfile

    import mlflow
    import mlflow.data
    import mlflow.pyfunc

    from tabflow.models import trusted_types
    from tabflow.registry import problem_key
    from tabflow.tracking.store import tracking_uri
    from tabflow_rows import served

    _skip_environment_scan()
    target = str(cfg.data.target_col)
    tags = {
        "model": model_name,
        "task": str(reading["problem"]["task"]),
        "tabflow.problem": problem_key(reading),
        "tabflow.model_key": model_key,
        "estimator": str(cfg.model["_target_"]),
        "data_md5": context.data_md5(),
        "data_file_md5": context.file_md5(cfg.data.raw_path),
        **context.git_info(),
        **context.versions(),
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=model_name, tags=tags, parent_run_id=parent_run_id
    ) as run:
        mlflow.log_params(flat_params(cfg))
        mlflow.log_metrics(dict(metrics))
        mlflow.log_dict(public_config(cfg), "config.yaml")
        for role, (frame, source) in datasets.items():
            with warnings.catch_warnings():  # "file" and "" both name MLflow's local source
                warnings.filterwarnings("ignore", message=".*interpreted in multiple ways")
                dataset = mlflow.data.from_pandas(
                    as_doubles(frame), source=str(source), targets=target, name=role
                )
            log_input(dataset, role)
        for subdir, path in artifacts:
            mlflow.log_artifact(str(path), artifact_path=subdir)
        example = datasets["training"][0].drop(columns=[target]).head(5)
        metadata = {
            "tabflow.problem": dict(reading["problem"]),
            "tabflow.columns": {c: reading["kinds"][c] for c in reading["columns"]},
        }
        with tempfile.TemporaryDirectory() as staging:
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=served.__file__,
                code_paths=code_paths(Path(staging)),
                artifacts={
                    "model": str(model_file),
                    **{k: str(v) for k, v in model_artifacts.items()},
                },
                model_config={"skops_trusted": list(trusted_types(str(cfg.model._target_)))},
                signature=signature(reading["problem"]),
                metadata=metadata,
                input_example=example,
                pip_requirements=pip_requirements(str(cfg.model._target_)),
            )
        return {
            "run_id": run.info.run_id,
            "experiment_id": experiment_id,
            "experiment_name": str(cfg.mlflow.experiment_name),
            "model_uri": info.model_uri,
            "tracking_uri": backend_uri or tracking_uri(cfg),
            "parent_run_id": parent_run_id or "",
        }

"""Rerun the model of a logged MLflow run from its recorded config and compare the metrics."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabflow import context
from tabflow.errors import ConfigError
from tabflow.metrics import ALL
from tabflow.paths import Paths
from tabflow.stages import Declared
from tabflow.tracking.model_run import flat_params
from tabflow.tracking.store import tracking_uri

SCRATCH = ".reproduce"


@dataclass
class Report:
    run_id: str
    model: str
    logged: dict[str, float]
    rerun: dict[str, float]
    differences: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """The metrics either side has."""
        return [k for k in ALL if k in self.logged or k in self.rerun]

    @property
    def metrics_match(self) -> bool:
        return bool(self.keys) and all(self.logged.get(k) == self.rerun.get(k) for k in self.keys)

    def lines(self) -> list[str]:
        out = [f"run {self.run_id} (model {self.model})"]
        for key in self.keys:
            same = "==" if self.logged.get(key) == self.rerun.get(key) else "!="
            logged, rerun = self.logged.get(key), self.rerun.get(key)
            out.append(f"  {key:9} logged {logged!r} {same} rerun {rerun!r}")
        for what, detail in self.differences.items():
            out.append(f"  differs: {what}: {detail}")
        verdict = "metrics match exactly" if self.metrics_match else "METRICS DIFFER"
        out.append(verdict)
        return out


def logged_config(run: Any, client: Any) -> dict[str, Any]:
    """The full resolved config a run logged as config.yaml, checked against the schema."""
    import yaml
    from omegaconf import OmegaConf

    from tabflow.config import Config, resolved, validate

    local = client.download_artifacts(run.info.run_id, "config.yaml")
    cfg = OmegaConf.merge(OmegaConf.structured(Config), yaml.safe_load(Path(local).read_text()))
    validate(cfg, run.data.tags.get("model", "?"))
    out = resolved(cfg)
    out.pop("notify", None)
    return out


def reproduce(run_id: str, overrides: list[str] | None = None) -> Report:
    """Recompose the run's config, rerun preprocess/train/score in a scratch folder, compare."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from tabflow.config import compose_config
    from tabflow.stages import Job
    from tabflow.stages.evaluate import score
    from tabflow.stages.preprocess import run as preprocess
    from tabflow.stages.train import fit

    current = compose_config(overrides or [], require_model=False)
    client = MlflowClient(tracking_uri=tracking_uri(current))
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise ConfigError(
            f"run {run_id!r} not found in {tracking_uri(current)}: {str(err).splitlines()[0]}"
        ) from None
    model = run.data.tags["model"]
    logged = logged_config(run, client)
    scratch = Path(Paths.from_config(current).results_dir) / SCRATCH / run_id
    shutil.rmtree(scratch, ignore_errors=True)
    cfg = Declared({**logged, "paths": {"results_dir": str(scratch)}}, rule=None)
    try:
        preprocess(Job(cfg))
        fit(cfg, model, cross_validate=False)  # the test-split metrics suffice
        *_, rerun = score(cfg, model)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    scores = {k: run.data.metrics[k] for k in ALL if k in run.data.metrics}
    report = Report(run_id, model, scores, rerun)
    report.differences = differences(run, cfg, model, overrides or [])
    return report


def differences(run: Any, cfg: Declared, model: str, overrides: list[str]) -> dict[str, str]:
    """What differs between the run's recorded context and the current one."""
    from tabflow.config import compose_config, resolved

    tags = run.data.tags
    now = {**context.git_info(), **context.versions()}
    out: dict[str, str] = {}
    if tags.get("git_commit") != now["git_commit"]:
        out["commit"] = f"run {tags.get('git_commit')}, now {now['git_commit']}"
    if tags.get("git_dirty") == "true" or now["git_dirty"] == "true":
        out["dirty tree"] = f"run {tags.get('git_dirty')}, now {now['git_dirty']}"
    data_path = Path(cfg.data.raw_path)
    data_now = context.file_md5(data_path) if data_path.is_file() else "missing"
    if tags.get("data_file_md5") != data_now:
        out["data"] = f"{data_path}: run md5 {tags.get('data_file_md5')}, now {data_now}"
    try:
        composed = compose_config(overrides, model=model)
    except ConfigError as err:
        out["config"] = f"current configs/ do not compose: {err}"
    else:
        flat_now, flat_run = flat_params(resolved(composed)), flat_params(cfg)
        flat_run["paths.results_dir"] = flat_now["paths.results_dir"]
        changed = sorted(
            k for k in flat_now.keys() | flat_run.keys() if flat_now.get(k) != flat_run.get(k)
        )
        if changed:
            out["config"] = "; ".join(
                f"{k}: run {flat_run.get(k)}, now {flat_now.get(k)}" for k in changed
            )
    versions = sorted(
        k
        for k in now
        if k.startswith(("version.", "python"))
        and tags.get(k) is not None
        and tags.get(k) != now[k]
    )
    if versions:
        out["versions"] = "; ".join(f"{k}: run {tags[k]}, now {now[k]}" for k in versions)
    return out

"""What the Snakefile needs from the config: the models, the paths, and per-rule fingerprints.

A rule's `params` carry the resolved config sections it depends on, so Snakemake's
params rerun-trigger reruns exactly the affected jobs when a YAML file changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tabflow.config import (
    ConfigError,
    available_models,
    compose_configs,
    config_dir,
    model_override,
    split_overrides,
)
from tabflow.paths import Paths


@dataclass(frozen=True)
class Plan:
    overrides: list[str]
    models: list[str]
    configs: dict[str, DictConfig]
    paths: Paths

    def _sections(self, model: str | None, *names: str) -> str:
        cfg = self.configs[model or self.models[0]]
        out = {name: OmegaConf.to_container(cfg[name], resolve=True) for name in names}
        return json.dumps(out, sort_keys=True)

    def data_fingerprint(self) -> str:
        """What preprocessing depends on."""
        return self._sections(None, "data", "training")

    def model_fingerprint(self, model: str) -> str:
        """What training a model depends on."""
        return self._sections(model, "data", "training", "model")

    def evaluate_fingerprint(self, model: str) -> str:
        """What evaluating and logging a model depends on."""
        return self._sections(model, "data", "training", "model", "mlflow")


def make_plan(overrides: Any = None, models: Any = None) -> Plan:
    """Compose the config once per model; reject a bad config or unknown model."""
    ovr = split_overrides(overrides)
    if model_override(ovr) is not None:
        raise ConfigError(
            "do not put model= in overrides; choose models with --config models=[a,b]"
        )
    known = available_models(config_dir())
    if models is None or models == "" or models == []:
        chosen = known
    else:
        chosen = [models] if isinstance(models, str) else [str(m) for m in models]
        unknown = [m for m in chosen if m not in known]
        if unknown:
            raise ConfigError(
                f"unknown model {unknown[0]!r} in --config models: configs/model/ has "
                f"{', '.join(known)}; add configs/model/{unknown[0]}.yaml or pick from those"
            )
    if not chosen:
        raise ConfigError("no models: add a YAML file to configs/model/")
    configs = compose_configs(ovr, chosen)
    return Plan(ovr, chosen, configs, Paths.from_config(configs[chosen[0]]))

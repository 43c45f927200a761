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

RESOLVED_KEY = "_tabflow_resolved"


@dataclass(frozen=True)
class Plan:
    overrides: list[str]  # what the jobs get: the user's overrides minus notify.* (secrets)
    models: list[str]
    configs: dict[str, DictConfig]
    paths: Paths

    def _sections(self, model: str | None, *keys: str) -> dict[str, Any]:
        """The resolved values of the given (dotted) keys, keys sorted at every level.

        A plain dict, so Snakemake's params trigger sees every change and report captions
        can quote values (`{{ snakemake.params.config.training.test_size }}`).
        """
        cfg = self.configs[model or self.models[0]]
        out: dict[str, Any] = {}
        for key in keys:
            value = OmegaConf.select(cfg, key)
            if isinstance(value, DictConfig):
                value = OmegaConf.to_container(value, resolve=True)
            *parents, leaf = key.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return json.loads(json.dumps(out, sort_keys=True))

    def data_fingerprint(self) -> dict[str, Any]:
        """What preprocessing depends on."""
        return self._sections(None, "data", "training", "evaluation.cv_folds")

    def model_fingerprint(self, model: str) -> dict[str, Any]:
        """What training (and cross-validating) a model depends on."""
        return self._sections(model, "data", "training", "model", "evaluation.cv_folds")

    def evaluate_fingerprint(self, model: str) -> dict[str, Any]:
        """What evaluating and logging a model depends on."""
        return self._sections(
            model,
            "data",
            "training",
            "model",
            "mlflow",
            "evaluation.primary_metric",
            "evaluation.permutation_repeats",
            "evaluation.calibration_bins",
        )

    def resolved(self) -> dict[str, dict[str, Any]]:
        """Each model's resolved config minus `notify`, for the jobs (they skip Hydra).

        Passed to the jobs in Snakemake's `config` under RESOLVED_KEY: composing with
        Hydra again costs every job about 0.6 s. Not a rerun trigger (params are).
        """
        from tabflow.tracking import public_config

        return {model: public_config(cfg) for model, cfg in self.configs.items()}

    def leaderboard_fingerprint(self) -> dict[str, Any]:
        """What ranking the models depends on (their results come in as input files)."""
        return self._sections(None, "training", "evaluation")


def make_plan(overrides: Any = None, models: Any = None, seeds: Any = None) -> Plan:
    """Compose the config once per model; reject a bad config or unknown model.

    With `seeds` (`--config seeds=[0,1,2]`), every model is trained and evaluated once per
    seed, as `<model>-seed<n>` (its `model.params.random_state` set to n, the split kept).
    """
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
    if seeds not in (None, "", []):
        configs = seeded(configs, parse_seeds(seeds))
        chosen = list(configs)
    jobs = [o for o in ovr if not o.lstrip("+~").startswith("notify.")]
    return Plan(jobs, chosen, configs, Paths.from_config(configs[chosen[0]]))


def parse_seeds(seeds: Any) -> list[int]:
    """`--config seeds=[0,1,2]` (or one number) -> [0, 1, 2]; each in [0, 2**32)."""
    values = seeds if isinstance(seeds, list | tuple) else [seeds]
    out = []
    for value in values:
        try:
            seed = int(str(value))
        except ValueError:
            seed = -1
        if not 0 <= seed < 2**32:
            raise ConfigError(
                f"--config seeds: {value!r} is not a seed; give integers in [0, 2**32), "
                f"e.g. seeds=[0,1,2]"
            )
        out.append(seed)
    if len(set(out)) != len(out):
        raise ConfigError(f"--config seeds: {out} repeats a seed; give each seed once")
    return out


def seeded(configs: dict[str, DictConfig], seeds: list[int]) -> dict[str, DictConfig]:
    """One config per (model, seed): `rf-seed3` is rf with model.params.random_state=3."""
    out: dict[str, DictConfig] = {}
    for model, cfg in configs.items():
        if "random_state" not in cfg.model.params:
            raise ConfigError(
                f"--config seeds: configs/model/{model}.yaml has no params.random_state; "
                f"add `random_state: ${{training.random_state}}` or leave out seeds"
            )
        for seed in seeds:
            copy = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
            copy.model.params.random_state = seed
            out[f"{model}-seed{seed}"] = copy
    return out

"""What the Snakefile needs from the config: the models, each model's resolved config, the
paths, and the notification URLs, composed with Hydra once per invocation.

A composed plan is cached in .snakemake/tabflow/ under a digest of everything composition
reads (the files under configs/, the overrides, the package's code, Hydra's version), so a
Snakemake start with nothing new imports neither Hydra nor OmegaConf. This module is
import-light on purpose: the Snakefile imports it on every start.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabflow.errors import ConfigError
from tabflow.paths import Paths
from tabflow.stages import Declared

CONFIG_DIR_ENV = "TABFLOW_CONFIG_DIR"
CACHE_DIR = Path(".snakemake") / "tabflow"
# Interpolations whose value depends on more than the files: never cached.
_UNCACHEABLE = re.compile(r"\$\{\s*(oc\.env|now)\s*:")


def config_dir() -> Path:
    """Absolute path of the `configs/` folder: $TABFLOW_CONFIG_DIR, else ./configs."""
    path = Path(os.environ.get(CONFIG_DIR_ENV, "configs")).resolve()
    if not (path / "config.yaml").is_file():
        raise ConfigError(
            f"{path / 'config.yaml'} not found: run from the project root "
            f"or set {CONFIG_DIR_ENV} to the configs folder"
        )
    return path


_MODEL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def available_models(cfg_dir: Path | None = None) -> list[str]:
    """Model names: the YAML files in configs/model/, sorted. A name is a wildcard value
    in every file name the model gets: letters, digits, '_' and '-' only."""
    names = sorted(p.stem for p in ((cfg_dir or config_dir()) / "model").glob("*.yaml"))
    for name in names:
        if not _MODEL_NAME.match(name):
            fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", name)
            raise ConfigError(
                f"configs/model/{name}.yaml: a model name may hold only letters, digits, "
                f"'_' and '-'; rename the file (e.g. {fixed}.yaml)"
            )
    return names


@dataclass(frozen=True)
class Plan:
    models: list[str]
    configs: dict[str, dict[str, Any]]  # per model, resolved, without `notify`
    notify_urls: list[str]  # kept apart: they may hold secrets
    from_cache: bool = False

    @property
    def paths(self) -> Paths:
        return Paths(str(self.configs[self.models[0]]["paths"]["results_dir"]))

    def cfg(self, model: str | None = None) -> Declared:
        """The whole resolved config of a model (default: the first) as a read-only view."""
        return Declared(self.configs[model or self.models[0]], rule=None)

    def select(self, model: str | None, keys: tuple[str, ...]) -> dict[str, Any]:
        """The resolved values of the given (dotted) keys, keys sorted at every level.

        What a rule's `params: config=config_of(...)` holds: canonical, so Snakemake's
        params trigger sees every change and nothing else (it compares reprs).
        """
        cfg = self.configs[model or self.models[0]]
        out: dict[str, Any] = {}
        for key in keys:
            node, target = cfg, out
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
                target = target.setdefault(part, {})
            target[leaf] = node[leaf]
        return json.loads(json.dumps(out, sort_keys=True))


def load(config: dict[str, Any]) -> Plan:
    """The plan for Snakemake's `config` (models, seeds, overrides), from the cache if it can."""
    overrides = split_overrides(config.get("overrides"))
    models, seeds = config.get("models"), config.get("seeds")
    key, cacheable = _cache_key(overrides, models, seeds)
    cached = CACHE_DIR / f"plan-{key}.json"
    if cacheable and cached.is_file():
        try:
            data = json.loads(cached.read_text())
            return Plan(data["models"], data["configs"], [], from_cache=True)
        except (OSError, ValueError, KeyError):
            pass  # a half-written or foreign file: compose
    plan = make_plan(overrides, models, seeds)
    if cacheable and not plan.notify_urls:  # never write notification URLs to disk
        _save(cached, {"models": plan.models, "configs": plan.configs})
    return plan


def _cache_key(overrides: list[str], models: Any, seeds: Any) -> tuple[str, bool]:
    """A digest of everything composition reads, and whether the result may be cached."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    cfg_dir = config_dir()
    cacheable = True
    for path in sorted(p for p in cfg_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        cacheable = cacheable and not _UNCACHEABLE.search(data.decode(errors="replace"))
        digest.update(f"{path.relative_to(cfg_dir)}\0{len(data)}\0".encode() + data)
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package)}\0".encode() + path.read_bytes())
    for dist in ("hydra-core", "omegaconf", "scikit-learn"):
        try:
            digest.update(f"{dist}={version(dist)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{dist}=absent\0".encode())
    request = {"overrides": overrides, "models": models, "seeds": seeds, "dir": str(cfg_dir)}
    digest.update(json.dumps(request, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32], cacheable


def _save(path: Path, data: dict[str, Any]) -> None:
    from tabflow.io import write_json

    try:
        for old in path.parent.glob("plan-*.json"):
            old.unlink(missing_ok=True)
        write_json(path, data)
    except OSError:
        pass  # a read-only project still runs, only slower


def split_overrides(overrides: Any) -> list[str]:
    """Accept a space-separated string (Snakemake --config) or a list (argv, or the YAML
    list form `--config "overrides=[a=1, 'b=x y']"`, which needs no shell quoting)."""
    if overrides is None or overrides == "":
        return []
    if isinstance(overrides, str):
        import shlex

        try:
            return shlex.split(overrides)
        except ValueError as err:
            raise ConfigError(
                f"--config overrides: {err} in {overrides!r}; for values with spaces or "
                f'quotes use the list form: --config "overrides=[data.raw_path=my data/x.csv, '
                f"'data.target_col=heart disease']\""
            ) from None
    return [str(o) for o in overrides]


def make_plan(overrides: list[str], models: Any = None, seeds: Any = None) -> Plan:
    """Compose the config once per model; reject a bad config or unknown model.

    With `seeds` (`--config seeds=[0,1,2]`), every model is trained and evaluated once per
    seed, as `<model>-seed<n>` (its `model.params.random_state` set to n, the split kept).
    """
    from tabflow.config import compose_configs, model_override, resolved

    if model_override(overrides) is not None:
        raise ConfigError(
            "do not put model= in overrides; choose models with --config models=[a,b]"
        )
    known = available_models()
    if models == []:
        raise ConfigError(
            "--config models=[] names no model: leave it out to train every model in "
            "configs/model/, or list some, e.g. models=[lr,rf]"
        )
    if models is None or models == "":
        chosen = known
    else:
        listed = [models] if isinstance(models, str) else [str(m) for m in models]
        chosen = list(dict.fromkeys(listed))  # each model once
        unknown = [m for m in chosen if m not in known]
        if unknown:
            raise ConfigError(
                f"unknown model {unknown[0]!r} in --config models: configs/model/ has "
                f"{', '.join(known)}; add configs/model/{unknown[0]}.yaml or pick from those"
            )
    if not chosen:
        raise ConfigError("no models: add a YAML file to configs/model/")
    configs = {m: resolved(cfg) for m, cfg in compose_configs(overrides, chosen).items()}
    urls = [str(u) for u in configs[chosen[0]]["notify"]["urls"]]
    for cfg in configs.values():
        cfg.pop("notify")
    if seeds not in (None, "", []):
        configs = seeded(configs, parse_seeds(seeds))
        chosen = list(configs)
    return Plan(chosen, configs, urls)


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


def seeded(configs: dict[str, dict], seeds: list[int]) -> dict[str, dict]:
    """One config per (model, seed): `rf-seed3` is rf with model.params.random_state=3."""
    import copy

    out: dict[str, dict] = {}
    for model, cfg in configs.items():
        if "random_state" not in cfg["model"]["params"]:
            raise ConfigError(
                f"--config seeds: configs/model/{model}.yaml has no params.random_state; "
                f"add `random_state: ${{training.random_state}}` or leave out seeds"
            )
        for seed in seeds:
            one = copy.deepcopy(cfg)
            one["model"]["params"]["random_state"] = seed
            out[f"{model}-seed{seed}"] = one
    return out

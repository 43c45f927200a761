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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabflow.catalog import (
    CACHE_DIR,
    available_models,
    config_dir,
    default_models,
    split_overrides,
    swept_models,
)
from tabflow.errors import ConfigError
from tabflow.paths import Paths
from tabflow.stages import Declared

# Interpolations whose value depends on more than the files: never cached.
_UNCACHEABLE = re.compile(r"\$\{\s*(oc\.env|now)\s*:")
# Plans kept, the most recently used: `snakemake -n`, `--config models=[lr]` and a sweep
# each have their own, and switching between them should not compose again.
_KEEP = 8


@dataclass(frozen=True)
class Plan:
    models: list[str]
    configs: dict[str, dict[str, Any]]  # per model, resolved, without `notify`
    notify_urls: list[str]  # kept apart: they may hold secrets
    from_cache: bool = False
    # --config sweep=NAME: {name, strategy, trials, shards, outer,
    #                       models: {model: {space, trials, count}}}
    sweep: dict[str, Any] | None = None
    tuned: dict[str, str] = field(default_factory=dict)  # rf-small -> rf
    # --config seeds=[...]: base model -> its per-seed models, trained in one job
    batches: dict[str, list[str]] = field(default_factory=dict)
    # The data file the task was read from, as it was: [path, size, mtime_ns]. A cached
    # plan whose file changed is composed again (the task may have changed with it).
    data_stamp: list[Any] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        """The seeds of a --config seeds=[...] run, in order (none otherwise)."""
        names = next(iter(self.batches.values()), [])
        return [int(name.rsplit("-seed", 1)[1]) for name in names]

    @property
    def single(self) -> list[str]:
        """The models that get a train and an evaluate job of their own."""
        batched = {name for names in self.batches.values() for name in names}
        return [m for m in self.models if m not in batched]

    def shard_spec(self, model: str) -> dict[str, Any]:
        """What the selection of a model's sweep needs to know: its space, how many trials
        it has, and how many shards ran them."""
        assert self.sweep is not None
        one = self.sweep["models"][model]
        keys = ("name", "strategy", "trials", "shards", "outer")
        spec = {**{k: self.sweep[k] for k in keys}, "space": one["space"], "count": one["count"]}
        return canonical(spec)

    def queue_spec(self) -> dict[str, Any]:
        """What every shard gets: the sweep, and each model's space and trials. The shards
        take the trials of every model from one queue (tabflow.stages.sweep_shard)."""
        assert self.sweep is not None
        return canonical(self.sweep)

    @property
    def task(self) -> str:
        """The run's task (tabflow.tasks.TASKS): data.task, or what auto chose."""
        return str(self.configs[self.models[0]]["task"]["name"])

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
        return canonical(out)


_SAVED = ("models", "configs", "sweep", "tuned", "batches", "data_stamp")


def canonical(value: Any) -> Any:
    """Keys sorted at every level: Snakemake compares params as text (their repr), so the
    same values must always print the same, composed or read back from the cache. Keys
    keep their type (a class_weight {0: 1, 1: 3} needs int keys; JSON would make them
    text)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=lambda k: (str(type(k)), k))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def load(config: dict[str, Any], cores: int = 1) -> Plan:
    """The plan for Snakemake's `config` (models, seeds, overrides, sweep, sweep_shards),
    from the cache if it can."""
    overrides = split_overrides(config.get("overrides"))
    request = {k: config.get(k) for k in ("models", "seeds", "sweep", "sweep_shards")}
    request["cores"] = cores if config.get("sweep") and not config.get("sweep_shards") else None
    key, cacheable = _cache_key(overrides, request)
    cached = CACHE_DIR / f"plan-{key}.yaml"
    if cacheable and cached.is_file():
        try:
            data = _yaml().load(cached.read_text(), Loader=_yaml().CSafeLoader)
            first = data["configs"][data["models"][0]]
            if data["data_stamp"] == stamp(first["data"]["raw_path"]):
                _touch(cached)
                return Plan(**{k: data[k] for k in _SAVED}, notify_urls=[], from_cache=True)
        except (OSError, ValueError, KeyError, TypeError, IndexError, _yaml().YAMLError):
            pass  # a half-written or foreign file: compose
    plan = make_plan(overrides, **request)
    if cacheable and not plan.notify_urls:  # never write notification URLs to disk
        _save(cached, {k: getattr(plan, k) for k in _SAVED})
    return plan


def stamp(path: str) -> list[Any]:
    """[absolute path, size, mtime_ns] of a data file ([] if it is not there)."""
    try:
        full = Path(path).expanduser().resolve()
        info = full.stat()
    except OSError:
        return []
    return [str(full), info.st_size, info.st_mtime_ns]


def _cache_key(overrides: list[str], request: dict[str, Any]) -> tuple[str, bool]:
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
    asked = {**request, "overrides": overrides, "dir": str(cfg_dir)}
    digest.update(json.dumps(asked, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32], cacheable


def _yaml() -> Any:
    """PyYAML (with libyaml): unlike JSON it keeps int dict keys, and floats exactly."""
    import yaml

    return yaml


def _touch(path: Path) -> None:
    """Mark a plan as just used: the _KEEP most recently used stay."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only project: nothing is pruned there either


def _save(path: Path, data: dict[str, Any]) -> None:
    from tabflow.io import write_with

    yaml = _yaml()
    text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=True)
    try:
        write_with(path, lambda p: p.write_text(text))
        by_use = sorted(path.parent.glob("plan-*"), key=lambda p: p.stat().st_mtime)
        for old in by_use[:-_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only project still runs, only slower


def make_plan(
    overrides: list[str],
    models: Any = None,
    seeds: Any = None,
    sweep: Any = None,
    sweep_shards: Any = None,
    cores: int | None = None,
) -> Plan:
    """Compose the config once per model; reject a bad config or unknown model.

    With `seeds` (`--config seeds=[0,1,2]`), every model is trained and evaluated once per
    seed, as `<model>-seed<n>` (its `model.params.random_state` set to n, the split kept).
    With `sweep` (`--config sweep=small`), the models of configs/sweep/small.yaml are
    searched too and their selected configurations trained as `<model>-small`.
    """
    from tabflow.config import compose_configs, model_override, resolved

    if model_override(overrides) is not None:
        raise ConfigError(
            "do not put model= in overrides; choose models with --config models=[a,b]"
        )
    known = available_models()
    if models == []:
        raise ConfigError(
            "--config models=[] names no model: leave it out to train the default ones in "
            "configs/model/, or list some, e.g. models=[lr,rf]"
        )
    if models is None or models == "":
        chosen = default_models()
        if sweep:  # and the models its space names
            chosen += [m for m in swept_models(str(sweep)) if m in known and m not in chosen]
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
    data = stamp(configs[chosen[0]]["data"]["raw_path"])
    urls = [str(u) for u in configs[chosen[0]]["notify"]["urls"]]
    for cfg in configs.values():
        cfg.pop("notify")
    if seeds not in (None, "", []):
        if sweep:
            raise ConfigError("--config seeds and sweep go one at a time: leave one out")
        configs = seeded(configs, parse_seeds(seeds))
        batches: dict[str, list[str]] = {}
        for name in configs:
            batches.setdefault(name.rsplit("-seed", 1)[0], []).append(name)
        return Plan(list(configs), configs, urls, batches=batches, data_stamp=data)
    if not sweep:
        return Plan(chosen, configs, urls, data_stamp=data)
    plan_sweep, tuned = sweep_plan(str(sweep), sweep_shards, cores or 1, configs, known)
    for name, base in tuned.items():
        if name in known:
            raise ConfigError(
                f"--config sweep={sweep}: the tuned {base} would be named {name!r}, like "
                f"configs/model/{name}.yaml; rename the sweep or that model"
            )
        configs[name] = canonical(configs[base])  # a copy
    return Plan([*chosen, *tuned], configs, urls, sweep=plan_sweep, tuned=tuned, data_stamp=data)


def sweep_plan(
    name: str, shards: Any, cores: int, configs: dict[str, dict], known: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The sweep's models (those also chosen), their trials and shard counts."""
    import math

    from tabflow import sweep as sweeps

    targets = {m: str(cfg["model"]["_target_"]) for m, cfg in configs.items()}
    spec = sweeps.load(name, config_dir(), targets, known)
    if not spec.space:
        raise ConfigError(
            f"--config sweep={name}: configs/sweep/{name}.yaml sweeps none of the models "
            f"chosen ({', '.join(configs)})"
        )
    if shards not in (None, ""):
        try:
            asked = int(str(shards))
        except ValueError:
            asked = 0
        if asked < 1:
            raise ConfigError(f"--config sweep_shards={shards!r}: give a whole number >= 1")
    out: dict[str, Any] = {**{k: getattr(spec, k) for k in ("name", "strategy", "trials")}}
    # nested: the search runs again inside each of `outer` folds (the CV folds).
    first = next(iter(configs.values()))
    out["outer"] = int(first["evaluation"]["cv_folds"]) if spec.nested else 0
    out["models"] = {}
    total = 0
    for model, dims in spec.space.items():
        seed = int(configs[model]["training"]["random_state"])
        trials = sweeps.trials(spec, model, seed)
        count = len(trials) or spec.trials  # tpe: its slots
        total += count
        out["models"][model] = {
            "space": [d.to_dict() for d in dims],
            "trials": trials,
            "count": count,
        }
    # Shards take the trials of every model from one queue: one per core given, at least
    # 8 trials each.
    total *= 1 + out["outer"]
    fit = max(1, min(cores, math.ceil(total / 8)))
    out["shards"] = min(asked if shards not in (None, "") else fit, total)
    return out, {spec.tuned(m): m for m in spec.space}


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

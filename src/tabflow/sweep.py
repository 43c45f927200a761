"""Hyperparameter sweeps: a YAML file under configs/sweep/, in Hydra's sweep grammar.

    strategy: grid            # grid, random or tpe
    trials: 40                # random and tpe: trials per model; grid: every point
    nested: false             # true: also score the whole search by nested CV
    space:
      rf:
        model.params.n_estimators: choice(50, 100, 300)
        model.params.max_depth: choice(3, 6, null)
      lr:
        model.params.C: tag(log, interval(0.01, 10))

Grid and random trials are fixed when the plan is made (a random trial i is drawn from
its own seed, so raising `trials` keeps the earlier ones); tpe asks Optuna as it goes.
Everything is checked here, before any job: one ConfigError line naming the file.
Import-light: only the plan imports this, and only when a sweep is asked for.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabflow.errors import ConfigError

STRATEGIES = ("grid", "random", "tpe")


def fresh_seed(seed: int) -> int:
    """The seed of the fold split a tuned model is scored on again: another split of the
    same training rows than the one its search chose on (the winner's curse)."""
    return seed + 1


PARAM_PREFIX = "model.params."
DEFAULT_MAX_GRID = 1000


@dataclass(frozen=True)
class Dimension:
    """One swept (or fixed) estimator parameter."""

    name: str  # the estimator's parameter, e.g. "n_estimators"
    kind: str  # "choice", "range", "interval" or "fixed"
    values: tuple[Any, ...] = ()  # choice and range: every value; fixed: the one value
    low: float = 0.0  # interval
    high: float = 0.0
    log: bool = False
    integer: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "values": list(self.values),
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "integer": self.integer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dimension:
        return cls(**{**data, "values": tuple(data["values"])})

    def draw(self, rng: random.Random) -> Any:
        if self.kind in ("choice", "range", "fixed"):
            return self.values[rng.randrange(len(self.values))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else value


@dataclass(frozen=True)
class Sweep:
    name: str
    strategy: str
    trials: int
    space: dict[str, list[Dimension]] = field(default_factory=dict)  # model -> dimensions
    nested: bool = False  # the whole search run again inside each outer CV fold

    def tuned(self, model: str) -> str:
        """The name under which a model's selected configuration is trained: rf-small."""
        return f"{model}-{self.name}"


def load(name: str, cfg_dir: Path, model_targets: dict[str, str], known: list[str]) -> Sweep:
    """Read and check configs/sweep/<name>.yaml. model_targets: the chosen models and their
    `_target_` (a model of configs/model/ that was not chosen is left out of the sweep)."""
    from tabflow.catalog import read_yaml

    path = cfg_dir / "sweep" / f"{name}.yaml"
    where = f"configs/sweep/{name}.yaml"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in (cfg_dir / "sweep").glob("*.yaml"))) or "none"
        raise ConfigError(
            f"--config sweep={name}: {where} not found (configs/sweep/ has: {have}); "
            f"add it or pick one of those"
        )
    raw = read_yaml(path, cfg_dir) or {}
    unknown = sorted(set(raw) - {"strategy", "trials", "space", "max_grid", "nested"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; a sweep has strategy, trials, space, "
            f"max_grid and nested"
        )
    strategy = raw.get("strategy", "grid")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}: strategy={strategy!r}; use one of {', '.join(STRATEGIES)}")
    trials = raw.get("trials", 20)
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ConfigError(f"{where}: trials={trials!r}; give a whole number of at least 1")
    nested = raw.get("nested", False)
    if not isinstance(nested, bool):
        raise ConfigError(f"{where}: nested={nested!r}; give true or false")
    space = raw.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{where}: the space is empty; list models and their parameters")
    dims: dict[str, list[Dimension]] = {}
    for model, params in space.items():
        if model not in known:
            raise ConfigError(
                f"{where}: model {model!r} is not in configs/model/ (it has {', '.join(known)})"
            )
        if model not in model_targets:
            continue
        if not isinstance(params, dict) or not params:
            raise ConfigError(f"{where}: space.{model} is empty; give it parameters to sweep")
        dims[model] = [
            _dimension(where, model, key, value, model_targets[model])
            for key, value in params.items()
        ]
    sweep = Sweep(name, strategy, trials, dims, nested)
    if strategy == "grid":
        limit = raw.get("max_grid", DEFAULT_MAX_GRID)
        for model, model_dims in dims.items():
            interval = next((d for d in model_dims if d.kind == "interval"), None)
            if interval is not None:
                raise ConfigError(
                    f"{where}: space.{model}.{PARAM_PREFIX}{interval.name} is an interval, "
                    f"which a grid cannot enumerate; use choice(...) or range(...), or "
                    f"strategy: random"
                )
            size = math.prod(len(d.values) for d in model_dims)
            if size > limit:
                raise ConfigError(
                    f"{where}: the grid of {model} has {size} points, more than max_grid="
                    f"{limit}; shrink it, raise max_grid, or use strategy: random"
                )
    return sweep


def _dimension(where: str, model: str, key: str, value: Any, target: str) -> Dimension:
    """One entry of the space, parsed with Hydra's sweep grammar, checked against the
    estimator's own parameter list and validation."""
    from tabflow.catalog import check_once

    if not key.startswith(PARAM_PREFIX):
        raise ConfigError(f"{where}: space.{model}.{key}: only model.params.<name> can be swept")
    name = key[len(PARAM_PREFIX) :]
    dim = _parse(where, model, key, name, value)
    probes = list(dim.values if dim.kind != "interval" else (dim.low, dim.high))

    def check() -> None:
        from tabflow.models import estimator_class, invalid_value, unknown_param

        cls = estimator_class(target)
        if problem := unknown_param(cls, name):
            raise ConfigError(f"{where}: space.{model}.{key}: {problem}")
        for probe in probes:
            if problem := invalid_value(cls, {name: probe}):
                raise ConfigError(f"{where}: space.{model}.{key}: {probe!r} is invalid: {problem}")

    check_once(check, "sweep", target, name, probes, where, model)
    return dim


def _parse(where: str, model: str, key: str, name: str, value: Any) -> Dimension:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    if not isinstance(value, str):  # a plain YAML value: fixed for every trial
        return Dimension(name, "fixed", (value,))
    parser = OverridesParser.create()
    text = value.strip()
    try:
        parsed = parser.parse_overrides([f"{name}={text}"])[0]
    except Exception as err:
        # Hydra's choice() refuses null; the simple form `a,b,null` means the same.
        inner = text[len("choice(") : -1] if text.startswith("choice(") else None
        try:
            if inner is None or not text.endswith(")"):
                raise err
            parsed = parser.parse_overrides([f"{name}={inner}"])[0]
        except Exception:
            first = str(err).splitlines()[0]
            raise ConfigError(
                f"{where}: space.{model}.{key}: cannot parse {value!r} ({first}); use "
                f"choice(a, b), range(start, stop, step), interval(low, high) or "
                f"tag(log, interval(low, high))"
            ) from None
    swept = parsed.value()
    if isinstance(swept, ChoiceSweep | RangeSweep):
        values = tuple(parsed.sweep_iterator())
        if not values:
            raise ConfigError(f"{where}: space.{model}.{key}: {value!r} has no values")
        kind = "choice" if isinstance(swept, ChoiceSweep) else "range"
        return Dimension(name, kind, values)
    if isinstance(swept, IntervalSweep):
        low, high = swept.start, swept.end
        if not low < high:
            raise ConfigError(f"{where}: space.{model}.{key}: {value!r} is empty (low >= high)")
        log = "log" in swept.tags
        if log and low <= 0:
            raise ConfigError(f"{where}: space.{model}.{key}: a log interval needs low > 0")
        integer = isinstance(low, int) and isinstance(high, int)
        return Dimension(name, "interval", low=low, high=high, log=log, integer=integer)
    return Dimension(name, "fixed", (swept,))


def trials(sweep: Sweep, model: str, seed: int) -> list[dict[str, Any]]:
    """The trials of a model, in order: every grid point, or `trials` random draws
    (trial i from its own seed: raising `trials` keeps the earlier ones). tpe: none
    (Optuna proposes them while the shard jobs run)."""
    dims = sweep.space[model]
    if sweep.strategy == "grid":
        names = [d.name for d in dims]
        return [
            dict(zip(names, point, strict=True))
            for point in itertools.product(*(d.values for d in dims))
        ]
    if sweep.strategy == "random":
        out = []
        for i in range(sweep.trials):
            rng = random.Random(f"{seed}:{model}:{i}")
            out.append({d.name: d.draw(rng) for d in dims})
        return out
    return []


def distributions(dims: list[Dimension]) -> dict[str, Any]:
    """The space as Optuna distributions (tpe)."""
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for d in dims:
        if d.kind == "interval":
            if d.integer:
                out[d.name] = od.IntDistribution(int(d.low), int(d.high), log=d.log)
            else:
                out[d.name] = od.FloatDistribution(float(d.low), float(d.high), log=d.log)
        else:
            out[d.name] = od.CategoricalDistribution(list(d.values))
    return out


def trial_key(**parts: Any) -> str:
    """A digest of everything a trial's CV scores depend on (its cache key)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]

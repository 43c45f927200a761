"""The pipeline stages, declared once: STAGES maps a stage (= its Snakemake rule) to the
function that runs it and whether it runs once per model.

A stage function takes a `Job`. Its config holds only the keys the rule declares in its
`params: config=config_of(...)` (workflow/rules/<stage>.smk), which are also the rule's
rerun triggers: reading any other key fails at once. Each stage lives in a module of its
own, so the code fingerprint of a rule (tabflow.fingerprint) covers only what it imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tabflow.errors import ConfigError


@dataclass(frozen=True)
class Stage:
    function: str  # "module:function", imported when the stage runs
    per_model: bool
    # Its job logs to MLflow under the invocation's workflow run (model runs, sweep runs,
    # the registry's decision): an invocation with no such job sets up no MLflow.
    logs: bool = False

    @property
    def module(self) -> str:
        return self.function.split(":")[0]

    def load(self) -> Callable[[Job], Any]:
        module, name = self.function.split(":")
        return getattr(importlib.import_module(module), name)


STAGES: dict[str, Stage] = {
    "preprocess": Stage("tabflow.stages.preprocess:run", per_model=False),
    "train": Stage("tabflow.stages.train:run", per_model=True),
    "evaluate": Stage("tabflow.stages.evaluate:run", per_model=True, logs=True),
    "leaderboard": Stage("tabflow.stages.leaderboard:run", per_model=False),
    "sweep_shard": Stage("tabflow.stages.sweep_shard:run", per_model=False),
    "sweep_select": Stage("tabflow.stages.sweep_select:run", per_model=True, logs=True),
    "seed_batch": Stage("tabflow.stages.seed_batch:run", per_model=True, logs=True),
    "register": Stage("tabflow.stages.register:run", per_model=False, logs=True),
    "predict": Stage("tabflow.stages.predict:run", per_model=False),
    "front_page": Stage("tabflow.stages.front_page:run", per_model=False),
}


class UndeclaredKey(ConfigError):
    """A stage read a config key that its rule does not declare."""


class Declared(Mapping):
    """A read-only view of a job's config: a key outside what the rule declared raises.
    (rule=None: a view of a whole composed config.)

    `cfg.data.target_col` and `cfg["data"]["target_col"]` read it; so does `cfg.get(...)`,
    which, unlike a dict's, has no default for an undeclared key.
    """

    def __init__(self, data: Mapping[str, Any], rule: str | None, prefix: str = "") -> None:
        self._data = dict(data)
        self._rule = rule
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        if key not in self._data:
            full = f"{self._prefix}{key}"
            if self._rule is None:  # the whole composed config
                raise UndeclaredKey(f"the config has no key {full!r}")
            raise UndeclaredKey(
                f"rule {self._rule} reads config key {full!r}, which it does not declare: "
                f"add it to config_of(...) in workflow/rules/{self._rule}.smk"
            )
        value = self._data[key]
        if isinstance(value, Mapping):
            return Declared(value, self._rule, f"{self._prefix}{key}.")
        return value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):  # copy, pickle and friends probe for these
            raise AttributeError(key)
        return self[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain dicts and lists."""
        import copy

        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        return f"Declared({self._data!r})"


@dataclass(frozen=True)
class Job:
    """One run of a stage: its declared config, the model or models it is for, and the
    rule's other named params (a sweep shard's trials, ...)."""

    cfg: Declared
    model: str | None = None  # per-model stages
    models: tuple[str, ...] = ()  # stages over all models
    threads: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)


def with_tuned(config: Mapping[str, Any], tuned: Mapping[str, Any]) -> dict[str, Any]:
    """A model's config with the parameters a sweep selected for it (its best.json)."""
    import copy

    out = copy.deepcopy(dict(config))
    out["model"]["params"].update(tuned["params"])
    return out

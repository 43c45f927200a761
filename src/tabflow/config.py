"""Hydra config: the typed schema, composition with overrides, and validation.

Every entry point (Snakefile, scripts, CLI, tests) goes through `compose_config`, so a
bad config is rejected the same way everywhere: one `ConfigError` line naming the key,
the file it comes from and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from tabflow.catalog import available_models, config_dir, read_yaml, split_overrides
from tabflow.errors import ConfigError, DataError
from tabflow.tasks import KINDS, TASKS


@dataclass
class DataConfig:
    raw_path: str = MISSING
    target_col: str = MISSING
    positive_label: Any = 1
    positive_name: str = "positive"
    negative_name: str = "negative"
    categorical_cols: list[str] = field(default_factory=list)
    na_values: dict[str, list[Any]] = field(default_factory=dict)
    # Markers that mean "missing" in every column (besides pandas' defaults: "", NA, nan...).
    na_markers: list[str] = field(default_factory=list)
    # A column to drop before anything else (row IDs would make every row distinct).
    id_col: str | None = None
    # Other columns that look like row IDs (unique per row): an error, or dropped (true).
    drop_id_like_columns: bool = False
    # Make a multi-valued numeric target binary: positive when `<op> <number>` holds,
    # e.g. "> 0" (UCI's num 0-4: disease when num > 0). Empty: the target must be binary.
    positive_when: str = ""
    # The field separator of the CSV: one character, or comma, semicolon, tab, pipe.
    sep: str = ","
    # The file categorical_cols and na_values were written for: with another raw_path
    # they are not applied. Overriding either of them on the command line means "for
    # this raw_path". Empty: they apply to any file.
    columns_for: str | None = None
    # The problem's name: its MLflow experiment is <name>_classification (or
    # _regression) and its registered model <name>_classifier (or _regressor), unless
    # mlflow.experiment_name or registry.model_name say otherwise. Like the column
    # settings it belongs to columns_for; for another file, or another target given on
    # the command line, it is <file stem>_<target>.
    name: str | None = None
    # auto, binary, multiclass or regression (tabflow.tasks): auto decides from the target.
    task: str = "auto"

    def __post_init__(self) -> None:
        if not str(self.raw_path).strip():
            raise _range("data.raw_path", self.raw_path, "a path to a CSV file")
        if not str(self.target_col).strip():
            raise _range("data.target_col", self.target_col, "a column name")
        from tabflow.data import parse_rule

        if self.positive_when.strip() and parse_rule(self.positive_when) is None:
            raise _range(
                "data.positive_when",
                self.positive_when,
                "a rule like gt:0 (gt ge lt le eq ne, a colon and a number; or '> 0')",
            )
        if self.task not in ("auto", *TASKS):
            raise _range("data.task", self.task, f"one of auto, {', '.join(TASKS)}")
        if self.id_col is not None and self.id_col == self.target_col:
            raise _range("data.id_col", self.id_col, "a column other than data.target_col")
        from tabflow.data import SEPARATORS

        if len(self.sep) != 1 and self.sep not in SEPARATORS:
            names = ", ".join(SEPARATORS)
            raise _range("data.sep", self.sep, f"one character, or one of {names}")


@dataclass
class TrainingConfig:
    test_size: float = 0.2
    random_state: int = 42

    def __post_init__(self) -> None:
        if not 0.0 < self.test_size < 1.0:
            raise _range(
                "training.test_size", self.test_size, "a fraction strictly between 0 and 1"
            )
        if not 0 <= self.random_state < 2**32:
            raise _range("training.random_state", self.random_state, "an integer in [0, 2**32)")


@dataclass
class EstimatorConfig:
    """A model file's `classification:` or `regression:` section: the estimator it uses for
    the tasks of that kind (its params join the model's own)."""

    _target_: str = MISSING
    scale: bool | None = None  # None: the model's
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class EarlyStoppingConfig:
    """A boosting model's rounds chosen on a slice of each fit's own training rows."""

    rounds: int = 20  # stop when the slice's loss has not improved for this many rounds
    fraction: float = 0.1  # of each fit's training rows (stratified for a classifier)

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise _range("model.early_stopping.rounds", self.rounds, "a whole number >= 1")
        if not 0.0 < self.fraction < 0.5:
            raise _range(
                "model.early_stopping.fraction", self.fraction, "a fraction between 0 and 0.5"
            )


@dataclass
class ModelConfig:
    # One estimator (for the tasks of its kind), or one per kind in the sections below; a
    # _target_ of the run's kind wins over its section (model._target_=... on the
    # command line).
    _target_: str | None = None
    scale: bool = False
    # The estimator takes missing values and categorical columns itself (LightGBM, XGBoost,
    # histogram boosting): no imputation, no one-hot; categories go in as categories.
    native: bool = False
    # sigmoid or isotonic: a classifier's probabilities come from CalibratedClassifierCV
    # around it, fitted on each fit's own training rows (every CV fold, the final fit).
    calibrate: str | None = None
    # LightGBM, XGBoost, histogram boosting: the number of rounds set on a slice of each
    # fit's training rows (inside every CV fold and the final fit), logged to MLflow.
    early_stopping: EarlyStoppingConfig | None = None
    # false: trained only when named (--config models=[...]), not by a plain run.
    default: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    classification: EstimatorConfig | None = None
    regression: EstimatorConfig | None = None

    def __post_init__(self) -> None:
        from tabflow.models import ALLOWED_ESTIMATORS, CALIBRATIONS

        if self.calibrate is not None and self.calibrate not in CALIBRATIONS:
            raise _range("model.calibrate", self.calibrate, f"one of {', '.join(CALIBRATIONS)}")
        named = {"_target_": self._target_}
        for kind in KINDS:
            section = getattr(self, kind)
            if section is not None:
                named[f"{kind}._target_"] = section._target_
        for key, target in named.items():
            if target not in (None, MISSING) and target not in ALLOWED_ESTIMATORS:
                allowed = ", ".join(sorted(ALLOWED_ESTIMATORS))
                raise ConfigError(
                    f"model.{key}={target!r} is not an allowed estimator; use one of: {allowed}"
                )
            if target is not None and target != MISSING and "." in key:
                kind = key.split(".")[0]
                if ALLOWED_ESTIMATORS[target] != kind:
                    raise ConfigError(
                        f"model.{key}={target!r} is a {ALLOWED_ESTIMATORS[target]} estimator; "
                        f"the {kind} section takes a {kind} one"
                    )


@dataclass
class TaskConfig:
    """Set when the config is composed, from data.task and the target column (not a
    setting): the task, why, and the metrics that apply to it."""

    name: str | None = None
    reason: str = ""
    metrics: list[str] = field(default_factory=list)


@dataclass
class MlflowConfig:
    tracking_uri: str = "sqlite:///mlflow.db"
    # None: named after the problem (data.name).
    experiment_name: str | None = None

    def __post_init__(self) -> None:
        if self.experiment_name is not None and not self.experiment_name.strip():
            raise _range("mlflow.experiment_name", self.experiment_name, "a non-empty name")


@dataclass
class EvaluationConfig:
    cv_folds: int = 5
    primary_metric: str | None = None  # None: the task's (tabflow.tasks.TASKS)
    permutation_repeats: int = 5
    permutation_max_rows: int | None = 100_000  # None: every test row
    calibration_bins: int = 5

    def __post_init__(self) -> None:
        from tabflow.metrics import ALL

        if not 2 <= self.cv_folds <= 50:
            raise _range("evaluation.cv_folds", self.cv_folds, "an integer from 2 to 50")
        if self.primary_metric is not None and self.primary_metric not in ALL:
            raise _range(
                "evaluation.primary_metric", self.primary_metric, f"one of {', '.join(ALL)}"
            )
        if not 1 <= self.permutation_repeats <= 1000:
            raise _range(
                "evaluation.permutation_repeats", self.permutation_repeats, "from 1 to 1000"
            )
        if self.permutation_max_rows is not None and self.permutation_max_rows < 100:
            raise _range(
                "evaluation.permutation_max_rows",
                self.permutation_max_rows,
                "at least 100, or null for every row",
            )
        if not 2 <= self.calibration_bins <= 100:
            raise _range("evaluation.calibration_bins", self.calibration_bins, "from 2 to 100")


@dataclass
class RegistryConfig:
    # None: named after the problem (data.name).
    model_name: str | None = None
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.model_name is not None and not self.model_name.strip():
            raise _range("registry.model_name", self.model_name, "a non-empty name")
        if self.min_delta < 0:
            raise _range("registry.min_delta", self.min_delta, "a number >= 0")


@dataclass
class PredictConfig:
    drift_threshold: float = 0.2
    # The rows to score: their separator and ID column (kept in the output). Empty: those
    # of the training data, as the model recorded them.
    sep: str | None = None
    id_col: str | None = None

    def __post_init__(self) -> None:
        if self.drift_threshold <= 0:
            raise _range("predict.drift_threshold", self.drift_threshold, "a number > 0")
        from tabflow.data import SEPARATORS

        if self.sep is not None and len(self.sep) != 1 and self.sep not in SEPARATORS:
            names = ", ".join(SEPARATORS)
            raise _range("predict.sep", self.sep, f"one character, or one of {names}")


@dataclass
class NotifyConfig:
    """Apprise URLs (plus $APPRISE_URLS). They may hold secrets: never logged anywhere."""

    urls: list[str] = field(default_factory=list)


@dataclass
class PathsConfig:
    results_dir: str = "results"

    def __post_init__(self) -> None:
        if not self.results_dir.strip() or Path(self.results_dir).is_absolute():
            raise _range("paths.results_dir", self.results_dir, "a relative folder name")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    task: TaskConfig = field(default_factory=TaskConfig)


_SOURCES = {
    "data": "configs/data.yaml",
    "training": "configs/training.yaml",
    "model": "configs/model/<name>.yaml",
    "mlflow": "configs/config.yaml",
    "paths": "configs/config.yaml",
}


def source_file(key: str) -> str:
    """The YAML file a dotted config key is set in."""
    return _SOURCES.get(key.split(".")[0], "configs/config.yaml")


def _range(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(
        f"{key}={value!r} is invalid: expected {expected}; "
        f"fix it in {source_file(key)} or in your override"
    )


def _register_schema() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="schema", node=Config)


def model_override(overrides: Sequence[str]) -> str | None:
    """The value of a `model=<name>` override, if any."""
    return next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), None)


def compose_config(
    overrides: str | Sequence[str] | None = None,
    model: str | None = None,
    require_model: bool = True,
    need_data: bool = True,
) -> DictConfig:
    """Compose configs/ with Hydra's Compose API, validate it, and return it resolved.

    `model` wins over a `model=` override. Stages that use no model pass
    require_model=False and get the first model's config filling the `model` node.
    need_data=False (commands that train nothing: predict, leaderboard): without the data
    file, data.task=auto stays unresolved (task.name None) and so do the names that
    follow the task. Raises ConfigError with a single line on any problem.
    """
    ovr = split_overrides(overrides)
    chosen = model or model_override(ovr)
    if chosen is None and not require_model:
        chosen = next(iter(available_models()), None)
    if chosen is None:
        models = ", ".join(available_models())
        raise ConfigError(f"no model chosen: add model=<name> with one of: {models}")
    ovr = [o for o in ovr if not o.startswith("model=")]
    return compose_configs(ovr, [chosen], need_data)[chosen]


def compose_configs(
    overrides: Sequence[str], models: Sequence[str], need_data: bool = True
) -> dict[str, DictConfig]:
    """Compose and validate the config once per model, in one Hydra context; the task
    comes from data.task and the target column (see compose_config for need_data)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    cfg_dir = config_dir()
    known = available_models(cfg_dir)
    for model in models:
        if model not in known:
            raise ConfigError(
                f"unknown model {model!r}: configs/model/ has {', '.join(known)}; "
                f"add configs/model/{model}.yaml or pick one of those"
            )
    check_yaml(cfg_dir)
    _register_schema()
    GlobalHydra.instance().clear()
    params, overrides = param_overrides(overrides)
    out: dict[str, DictConfig] = {}
    detected = None
    with initialize_config_dir(config_dir=str(cfg_dir), version_base="1.3"):
        for model in models:
            try:
                cfg = compose("config", overrides=[*overrides, f"model={model}"])
            except Exception as err:  # Hydra/OmegaConf raise many types; all mean a bad config
                raise ConfigError(_hydra_message(err, model)) from None
            validate(cfg, model)
            scope_columns(cfg, overrides)
            if need_data or Path(str(cfg.data.raw_path)).is_file():
                detected = detected or detect_task(cfg)  # the same data for every model
                apply_task(cfg, detected)
                select_estimator(cfg, model)
                apply_params(cfg, params, model)
                check_estimator(cfg, model)
            name_after_data(cfg, overrides)
            out[model] = cfg
    GlobalHydra.instance().clear()
    return out


def check_yaml(cfg_dir: Path) -> None:
    """Every YAML file under configs/ parses; else one line naming the file and the line
    (Hydra's own message names neither)."""
    for path in sorted(cfg_dir.rglob("*.yaml")):
        read_yaml(path, cfg_dir)


_COLUMN_SETTINGS = ("data.categorical_cols", "data.na_values")


def scope_columns(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Column settings given on the command line are meant for the file given there."""
    keys = {o.lstrip("+~").split("=", 1)[0] for o in overrides}
    if keys & set(_COLUMN_SETTINGS) and "data.columns_for" not in keys:
        cfg.data.columns_for = cfg.data.raw_path


# What a problem is: another file, target or positive class given on the command line is
# another problem, whose runs and models must not take the demo's names.
_PROBLEM_SETTINGS = (
    "data.raw_path",
    "data.target_col",
    "data.positive_label",
    "data.positive_when",
)


_PARAMS = "model.params."


def param_overrides(overrides: Sequence[str]) -> tuple[list[Any], list[str]]:
    """(the overrides of model.params.*, parsed, the others). A model's params are set on
    the command line for the estimator of the run's task, after its model file's
    sections have been merged, so they win over both (and may name any parameter)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    mine = [o for o in overrides if o.lstrip("+~").startswith(_PARAMS)]
    if not mine:
        return [], list(overrides)
    try:
        parsed = OverridesParser.create().parse_overrides(
            [o.lstrip("+") if not o.startswith("~") else o for o in mine]
        )
    except Exception as err:
        raise ConfigError(_hydra_message(err, "<name>")) from None
    return parsed, [o for o in overrides if o not in mine]


def apply_params(cfg: DictConfig, params: Sequence[Any], model: str) -> None:
    """model.params.* from the command line onto the task's estimator's params."""
    from omegaconf import open_dict

    with open_dict(cfg.model.params):
        for override in params:
            name = override.key_or_group[len(_PARAMS) :]
            if override.is_delete():
                if name not in cfg.model.params:
                    raise ConfigError(
                        f"~{_PARAMS}{name}: configs/model/{model}.yaml gives no {name} to remove"
                    )
                del cfg.model.params[name]
            else:
                cfg.model.params[name] = override.value()


def detect_task(cfg: DictConfig) -> Any:
    """The run's task (tabflow.tasks.Detected), from data.task and the target column."""
    from tabflow.data import read_target
    from tabflow.tasks import resolve

    if cfg.task.name is not None:
        raise ConfigError(
            f"task.name={cfg.task.name!r}: the task is set from data.task (auto, binary, "
            f"multiclass or regression); set data.task instead"
        )
    data = cfg.data
    rule = str(data.positive_when or "").strip()
    values = read_target(data)
    try:
        return resolve(str(data.task), values, str(data.target_col), rule)
    except DataError as err:
        raise DataError(f"{data.raw_path}: {err}") from None


def apply_task(cfg: DictConfig, detected: Any) -> None:
    """Record the task and its metrics; the primary metric defaults to the task's and
    must be one of them."""
    from tabflow.metrics import names

    task = detected.task
    metrics = names(task, detected.has_zero)
    primary = cfg.evaluation.primary_metric
    if primary is None:
        cfg.evaluation.primary_metric = TASKS[task].primary
    elif primary not in metrics:
        raise ConfigError(
            f"evaluation.primary_metric={primary!r} is not a metric of {task} "
            f"({detected.reason.split(';')[0]}); {task}'s metrics: {', '.join(metrics)}"
        )
    cfg.task.name = task
    cfg.task.reason = detected.reason
    cfg.task.metrics = metrics


def select_estimator(cfg: DictConfig, model: str) -> None:
    """The model's estimator for the task's kind: its one `_target_` if that is of the
    kind (as `model._target_=...` on the command line makes it), else its `classification:`
    or `regression:` section, whose params join the model's. A model with neither is one
    line naming its file."""
    from tabflow.models import ALLOWED_ESTIMATORS

    node = cfg.model
    task = str(cfg.task.name)
    kind = TASKS[task].kind
    section = node[kind]
    if node._target_ is not None and ALLOWED_ESTIMATORS[node._target_] == kind:
        pass
    elif section is not None:
        node._target_ = section._target_
        if section.scale is not None:
            node.scale = section.scale
        node.params = {**node.params, **section.params}
    else:
        what = (
            f"its _target_ {node._target_} is a {ALLOWED_ESTIMATORS[node._target_]} estimator"
            if node._target_
            else f"it has no {kind}: section"
        )
        raise ConfigError(
            f"configs/model/{model}.yaml has no estimator for {task} ({cfg.task.reason}): "
            f"{what}; add a `{kind}:` section with a {kind} _target_, or leave the model out "
            f"with --config models=[...]"
        )
    for other in KINDS:
        node[other] = None


def name_after_data(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Fill in the experiment's and the registered model's names from the problem's name
    (data.name where it applies, else <file stem>_<target>), unless they are given."""
    from tabflow.data import same_file

    keys = {o.lstrip("+~").split("=", 1)[0] for o in overrides}
    data = cfg.data
    for_this_file = not data.columns_for or same_file(data.columns_for, data.raw_path)
    redirected = bool(keys & set(_PROBLEM_SETTINGS)) and "data.name" not in keys
    if not data.name or (not for_this_file and "data.name" not in keys) or redirected:
        data.name = _slug(f"{Path(str(data.raw_path)).stem}_{data.target_col}")
    if cfg.task.name is None:  # no data to tell the task: see registry.resolve
        return
    task = TASKS[str(cfg.task.name)]
    if cfg.mlflow.experiment_name is None:
        cfg.mlflow.experiment_name = f"{data.name}_{task.kind}"
    if cfg.registry.model_name is None:
        cfg.registry.model_name = f"{data.name}_{task.noun}"


def _slug(text: str) -> str:
    """A name MLflow takes everywhere: letters, digits, '_', '-' and '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "data"


def check_estimator(cfg: DictConfig, model: str) -> None:
    """The model's estimator and params, checked as models.check_params does."""
    from tabflow.catalog import check_once
    from tabflow.models import EARLY_STOPPING, TAKES_NATIVE, check_params

    target = str(cfg.model._target_)
    params = OmegaConf.to_container(cfg.model.params, resolve=True)
    source = f"configs/model/{model}.yaml"
    task = str(cfg.task.name)
    if cfg.model.native and target not in TAKES_NATIVE:
        raise ConfigError(
            f"{source}: native: true, but {target.rsplit('.', 1)[1]} takes no missing values "
            f"or categories itself; leave native out (imputation and one-hot encoding)"
        )
    if cfg.model.early_stopping is not None and target not in EARLY_STOPPING:
        raise ConfigError(
            f"{source}: early_stopping is for LightGBM, XGBoost and histogram boosting, not "
            f"{target.rsplit('.', 1)[1]}; leave it out"
        )
    calibrate = cfg.model.calibrate
    check_once(
        lambda: check_params(target, params, source, task, calibrate),
        "params",
        target,
        params,
        source,
        task,
        calibrate,
    )


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """A composed config as plain, resolved dicts and lists (the model as its task's one
    estimator: the per-kind sections are spent, once the task is known)."""
    out = OmegaConf.to_container(cfg, resolve=True)
    out["model"].pop("default", None)  # which runs train it, not how
    if cfg.task.name is not None:
        for kind in KINDS:
            out["model"].pop(kind, None)
    return out


def validate(cfg: DictConfig, model: str) -> None:
    """Resolve interpolations, check unknown keys, types and ranges."""
    try:
        OmegaConf.resolve(cfg)
    except Exception as err:
        raise ConfigError(_hydra_message(err, model)) from None
    try:
        _check_unknown_keys(cfg, Config, "")
    except ConfigError as err:
        raise ConfigError(str(err).replace("<name>", model)) from None
    try:
        OmegaConf.to_object(cfg)  # runs the dataclasses' __post_init__ range checks
    except ConfigError as err:
        raise ConfigError(str(err).replace("<name>", model)) from None
    except Exception as err:
        raise ConfigError(_hydra_message(err, model)) from None


def _check_unknown_keys(node: Any, schema: type, prefix: str) -> None:
    """`+key=value` overrides slip into typed nodes; reject any key the schema lacks."""
    from dataclasses import fields, is_dataclass

    known = {f.name: f for f in fields(schema)}
    for key in node:
        full = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(
                f"unknown config key {full!r}: {source_file(full)} has no such setting; "
                f"known keys here: {', '.join(known)}"
            )
        nested = known[key].default_factory
        if is_dataclass(nested):
            _check_unknown_keys(node[key], nested, f"{full}.")


_FULL_KEY = re.compile(r"full_key:\s*(\S+)")


def _hydra_message(err: Exception, model: str) -> str:
    """Turn a multi-line Hydra/OmegaConf error into one actionable line."""
    text = str(err)
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause):
        text = f"{text}\n{cause}"
    key_match = _FULL_KEY.search(text)
    key = key_match.group(1) if key_match else None
    unknown = re.search(r"Key '([^']+)' not in '(\w+)'", text)
    could_not = re.search(r"Could not override '([^']+)'", text)
    if unknown and (could_not or key):
        full = could_not.group(1) if could_not else key
        return (
            f"unknown config key {full!r}: {source_file(full).replace('<name>', model)} "
            f"has no such setting; check the spelling"
        )
    main = str(cause) if cause is not None and str(cause).strip() else str(err)
    first = next((line.strip() for line in main.splitlines() if line.strip()), type(err).__name__)
    if key:
        where = source_file(key).replace("<name>", model)
        return f"{key}: {first}; fix it in {where} or in your override"
    return f"bad config: {first}"

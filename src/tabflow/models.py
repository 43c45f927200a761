"""Model factory: a restricted `_target_` estimator inside a preprocessing pipeline.

A model YAML names its estimator with `_target_`; only the classes listed in
ALLOWED_ESTIMATORS can be built, so a config cannot import and run arbitrary code.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

# What a model file's _target_ may name, and the kind of task each serves.
ALLOWED_ESTIMATORS: dict[str, str] = {
    "sklearn.ensemble.RandomForestClassifier": "classification",
    "sklearn.ensemble.ExtraTreesClassifier": "classification",
    "sklearn.ensemble.GradientBoostingClassifier": "classification",
    "sklearn.ensemble.HistGradientBoostingClassifier": "classification",
    "sklearn.linear_model.LogisticRegression": "classification",
    "sklearn.svm.SVC": "classification",
    "sklearn.neighbors.KNeighborsClassifier": "classification",
    "sklearn.tree.DecisionTreeClassifier": "classification",
    "sklearn.naive_bayes.GaussianNB": "classification",
    "sklearn.ensemble.RandomForestRegressor": "regression",
    "sklearn.ensemble.ExtraTreesRegressor": "regression",
    "sklearn.ensemble.GradientBoostingRegressor": "regression",
    "sklearn.ensemble.HistGradientBoostingRegressor": "regression",
    "sklearn.linear_model.Ridge": "regression",
    "sklearn.linear_model.LinearRegression": "regression",
    "sklearn.linear_model.ElasticNet": "regression",
    "sklearn.svm.SVR": "regression",
    "sklearn.neighbors.KNeighborsRegressor": "regression",
    "sklearn.tree.DecisionTreeRegressor": "regression",
    "lightgbm.LGBMClassifier": "classification",
    "lightgbm.LGBMRegressor": "regression",
    "xgboost.XGBClassifier": "classification",
    "xgboost.XGBRegressor": "regression",
    "catboost.CatBoostClassifier": "classification",
    "catboost.CatBoostRegressor": "regression",
}
# The estimators that take missing values and categorical columns themselves (a model file's
# `native: true`: no imputation, no one-hot encoding).
TAKES_NATIVE = {
    "sklearn.ensemble.HistGradientBoostingClassifier",
    "sklearn.ensemble.HistGradientBoostingRegressor",
    "lightgbm.LGBMClassifier",
    "lightgbm.LGBMRegressor",
    "xgboost.XGBClassifier",
    "xgboost.XGBRegressor",
    "catboost.CatBoostClassifier",
    "catboost.CatBoostRegressor",
}
# What `early_stopping:` works for (the others run a fixed number of rounds or none).
EARLY_STOPPING = TAKES_NATIVE
# How a model file's `calibrate:` fits a classifier's probabilities (CalibratedClassifierCV).
CALIBRATIONS = ("sigmoid", "isotonic")
# The libraries beyond scikit-learn, and the extra of pyproject.toml that installs each.
EXTRAS = {"lightgbm": "boosting", "xgboost": "boosting", "catboost": "boosting"}
# CatBoost's categories are text, never missing: what a missing or unseen value reads as.
MISSING_CATEGORY = "__missing__"
# What a library's estimator is built with unless its params say otherwise: CatBoost
# writes a catboost_info/ folder into the working directory and talks on stderr.
LIBRARY_DEFAULTS = {"catboost": {"allow_writing_files": False, "logging_level": "Silent"}}
# The parameter that sets a library's threads, where it is not scikit-learn's n_jobs.
THREADS_PARAM = {"catboost": "thread_count"}


# Beyond skops' defaults, the types the pipelines of ALLOWED_ESTIMATORS hold (checked by
# tests/test_models.py for every allowed estimator on every task), the reader of raw rows at
# their head included. Models are saved with skops, never pickled: loading one runs no code
# from the file, and refuses any type outside these lists.
SKLEARN_TRUSTED = (
    "tabflow_rows.RawReader",
    "tabflow_rows.NativeFeatures",
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    # histogram boosting on categories: its own encoder validates with a partial of this
    "functools.partial",
    "sklearn.utils.validation.check_array",
    # `calibrate:` (CalibratedClassifierCV's fitted parts)
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    # `early_stopping:` around LightGBM and XGBoost
    "tabflow_rows.EarlyStoppedClassifier",
    "tabflow_rows.EarlyStoppedRegressor",
)
# And per library beyond scikit-learn, exactly what its estimators add.
LIBRARY_TRUSTED = {
    "lightgbm": (
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
    ),
    "xgboost": (
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.core.Booster",
    ),
    "catboost": (  # its state is the model's own bytes
        "catboost.core.CatBoostClassifier",
        "catboost.core.CatBoostRegressor",
    ),
}
SKOPS_TRUSTED = tuple(dict.fromkeys([*SKLEARN_TRUSTED, *sum(LIBRARY_TRUSTED.values(), ())]))


def trusted_types(target: str) -> tuple[str, ...]:
    """The types a model of this estimator may hold beyond skops' defaults."""
    library = target.split(".")[0]
    return SKLEARN_TRUSTED + LIBRARY_TRUSTED.get(library, ())


def save_model(pipeline: Any, path: Any) -> None:
    """Compressed: a forest is 10 times smaller, and Snakemake compares the checksums of
    inputs up to 1 MB only (a bigger model, restored by `dvc pull`, would look new)."""
    import zipfile

    import skops.io

    skops.io.dump(pipeline, str(path), compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def load_model(path: Any) -> Any:
    """A pipeline from its skops file, trusting only SKOPS_TRUSTED beyond skops' defaults."""
    import skops.io

    from tabflow.errors import DataError

    trusted = set(SKOPS_TRUSTED)
    untrusted = [t for t in skops.io.get_untrusted_types(file=str(path)) if t not in trusted]
    if untrusted:
        raise DataError(
            f"{path} holds types tabflow does not trust: {', '.join(untrusted)}; load only "
            f"model files this pipeline made (or add the type to models.SKOPS_TRUSTED)"
        )
    return skops.io.load(str(path), trusted=list(SKOPS_TRUSTED))


def estimator_class(target: str) -> type:
    """Import the estimator class named by an allowed `_target_`; a library that is not
    installed is one line naming the extra that installs it."""
    from tabflow.errors import ConfigError

    if target not in ALLOWED_ESTIMATORS:
        raise ValueError(f"model._target_={target!r} is not an allowed estimator")
    module_name, class_name = target.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        library = module_name.split(".")[0]
        if library not in EXTRAS or err.name != library:
            raise
        raise ConfigError(
            f"model._target_={target}: {library} is not installed; pip install -e "
            f"'.[{EXTRAS[library]}]' (make install does)"
        ) from None
    return getattr(module, class_name)


def library_of(target: str) -> str | None:
    """The library beyond scikit-learn an estimator comes from (its requirement), or None."""
    library = target.split(".")[0]
    return library if library in EXTRAS else None


def _defaults(cls: type) -> dict[str, Any]:
    return LIBRARY_DEFAULTS.get(cls.__module__.split(".")[0], {})


def threads_param(cls: type) -> str:
    """The name of an estimator's thread count."""
    return THREADS_PARAM.get(cls.__module__.split(".")[0], "n_jobs")


def constructor_params(cls: type) -> list[str]:
    """The names an estimator's constructor takes (CatBoost's get_params lists only those
    that were set)."""
    import inspect

    named = inspect.signature(cls.__init__).parameters
    return list(dict.fromkeys([*cls().get_params(), *(n for n in named if n != "self")]))


@functools.cache
def _library_params(cls: type) -> frozenset[str]:
    """Names a library's estimator takes beyond its constructor's: LightGBM's parameters
    and their aliases (XGBoost's are known only to a fit: see `invalid_value`). Cached: the
    table comes from LightGBM's C library, and every key of a model's params asks."""
    if not cls.__module__.startswith("lightgbm"):
        return frozenset()
    from lightgbm.basic import _ConfigAliases

    table = _ConfigAliases._get_all_param_aliases()
    return frozenset(name for key, aliases in table.items() for name in (key, *aliases))


def unknown_param(cls: type, name: str) -> str | None:
    """Why `name` is not a parameter of the estimator class (with a did-you-mean), or None.
    (XGBoost takes its own parameters beyond its constructor's: a trial fit tells which it
    does not know, see `invalid_value`.)"""

    known = constructor_params(cls)
    library = _library_params(cls)
    if name in known or name in library or cls.__module__.startswith("xgboost"):
        return None
    return _no_such(cls, name, [*known, *sorted(library)])


def _no_such(cls: type, name: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"{cls.__name__} has no parameter {name!r}; {hint}"


def _trial_fit(cls: type, params: dict[str, Any], task: str) -> tuple[str | None, list[str]]:
    """Fit a library's estimator on 40 made-up rows: (its error's first line or None, the
    names it said it did not use). What its own fit would say, after a long wait."""
    import warnings

    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    y = {"regression": X[:, 0], "multiclass": np.arange(40) % 3}.get(task, np.arange(40) % 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cls(**{**_defaults(cls), **params, threads_param(cls): 1}).fit(X, y)
        except Exception as err:  # the library's own words
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            first = re.sub(r"^\S+\.(?:cpp|h):\d+: ", "", first)  # CatBoost's source line
            return re.sub(r" at /\S+, line \d+ ?\.?$", "", first), []
    unused = []
    for warning in caught:
        if found := re.search(r"Parameters: \{(.*?)\} are not used", str(warning.message), re.S):
            unused += re.findall(r'"([^"]+)"', found.group(1))
    return None, unused


def invalid_value(cls: type, params: dict[str, Any], task: str = "binary") -> str | None:
    """The estimator's own validation of these params (what fit() would say, after a long
    wait), or None: scikit-learn's parameter validation, a library's trial fit."""
    if library_of(cls.__module__):
        problem, unused = _trial_fit(cls, params, task)
        return _no_such(cls, unused[0], constructor_params(cls)) if unused else problem
    try:
        cls(**params)._validate_params()
    except ValueError as err:
        return str(err)
    return None


def check_params(
    target: str, params: dict[str, Any], source: str, task: str, calibrate: str | None = None
) -> None:
    """A model's estimator and params, before any job: names, values, and (a classifier)
    class probabilities. One ConfigError line naming `source` (the model's YAML) and the
    key."""
    from tabflow.errors import ConfigError

    cls = estimator_class(target)
    for key in params:
        if problem := unknown_param(cls, key):
            raise ConfigError(f"{source}: model.params.{key}: {problem}")
    if problem := invalid_value(cls, params, task):
        named = [k for k in params if f"'{k}' parameter" in problem]
        named = named or [k for k in params if re.search(rf"\b{re.escape(k)}\b", problem)]
        if unknown := re.match(rf"{cls.__name__} has no parameter '([^']+)'", problem):
            raise ConfigError(f"{source}: model.params.{unknown.group(1)}: {problem}")
        shown = f"model.params.{named[0]}={params[named[0]]!r}" if named else "model.params"
        raise ConfigError(f"{source}: {shown} is invalid: {problem}")
    if task != "regression" and not calibrate and not hasattr(cls(**params), "predict_proba"):
        raise ConfigError(
            f"{source}: {cls.__name__} gives no class probabilities with these params "
            f"(ROC AUC, calibration and log loss need them); wrap it: `calibrate: sigmoid` in "
            f"the model file (CalibratedClassifierCV, fitted on each fit's training rows)"
        )


def build_pipeline(model_cfg: Any, reading: Mapping[str, Any], n_jobs: int = 1):
    """The reading of raw rows, the features (imputation + optional scaling + one-hot
    encoding; or, for a `native` model, numbers and categories as they are), then the
    estimator, as one Pipeline.

    `reading`: the params of the RawReader (tabflow_rows) that preprocess wrote into the
    data summary. Everything is fitted with the estimator, on the training rows only, and
    saved inside the model, so the saved model takes raw rows as a user holds them.
    `n_jobs`: the rule's threads, the estimator's own unless its params say otherwise.
    """
    from sklearn.pipeline import Pipeline

    from tabflow.stages import Declared
    from tabflow_rows import NativeFeatures, RawReader

    reader = RawReader(**reading)
    categorical = list(reader.categorical)
    native = bool(model_cfg["native"]) if "native" in model_cfg else False
    features = (
        NativeFeatures(categorical=categorical)
        if native
        else _encoded(reader, categorical, bool(model_cfg["scale"]))
    )
    cls = estimator_class(model_cfg["_target_"])
    params = model_cfg["params"]
    params = {**_defaults(cls), **(params.to_dict() if isinstance(params, Declared) else params)}
    known = constructor_params(cls)
    # The rule's `threads`, so that jobs x threads fit the cores: always for a library whose
    # default is every core; scikit-learn's default is one.
    threads = threads_param(cls)
    if (
        threads in known
        and threads not in params
        and (n_jobs > 1 or library_of(str(model_cfg["_target_"])))
    ):
        params[threads] = n_jobs
    if native and categorical and "enable_categorical" in known:
        params.setdefault("enable_categorical", True)  # XGBoost: take the categories
    if native and categorical and "cat_features" in known:
        params.setdefault("cat_features", tuple(categorical))  # CatBoost (a list: no clone)
        features.set_params(missing=MISSING_CATEGORY)  # CatBoost takes no NaN category
    try:
        estimator = cls(**params)
    except TypeError as err:
        raise ValueError(f"model.params: {err}; fix the params in the model YAML") from None
    stopping = model_cfg["early_stopping"] if "early_stopping" in model_cfg else None
    if stopping:
        estimator = _early_stopped(estimator, dict(stopping), params.get("random_state"))
    calibrate = model_cfg["calibrate"] if "calibrate" in model_cfg else None
    if calibrate and ALLOWED_ESTIMATORS[str(model_cfg["_target_"])] == "classification":
        from sklearn.calibration import CalibratedClassifierCV

        # Its own stratified folds of each fit's training rows: never the test split.
        estimator = CalibratedClassifierCV(estimator, method=calibrate, cv=3)
    return Pipeline([("read", reader), ("features", features), ("estimator", estimator)])


def _early_stopped(estimator: Any, stopping: dict[str, Any], seed: Any) -> Any:
    """Histogram boosting stops on its own slice of each fit's rows; LightGBM and XGBoost
    inside tabflow_rows' EarlyStopped wrapper (which the logged model carries)."""
    from sklearn.base import is_classifier

    from tabflow_rows import EarlyStoppedClassifier, EarlyStoppedRegressor

    rounds, fraction = int(stopping["rounds"]), float(stopping["fraction"])
    if type(estimator).__module__.startswith("sklearn"):
        return estimator.set_params(
            early_stopping=True, n_iter_no_change=rounds, validation_fraction=fraction
        )
    wrapper = EarlyStoppedClassifier if is_classifier(estimator) else EarlyStoppedRegressor
    return wrapper(estimator, rounds=rounds, fraction=fraction, random_state=int(seed or 0))


def threads_of(pipeline: Any) -> int | None:
    """The threads of a pipeline's estimator (inside a calibration or early-stopping
    wrapper too): its n_jobs, or for histogram boosting the OpenMP threads it will take
    (OMP_NUM_THREADS, which Snakemake sets to the rule's threads); else None."""
    step = pipeline[-1]
    while step is not None:
        threads = step.get_params(deep=False).get(threads_param(type(step)))
        if isinstance(threads, int):
            return threads
        if type(step).__name__.startswith("HistGradientBoosting"):
            from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

            return _openmp_effective_n_threads()  # what its fit uses
        step = getattr(step, "estimator", None)
    return None


def rounds_of(pipeline: Any) -> int | None:
    """The boosting rounds a fitted pipeline's early stopping chose, or None. Calibrated,
    the estimator is fitted once per calibration fold: the mean of their rounds."""
    step = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    if calibrated := getattr(step, "calibrated_classifiers_", None):
        rounds = [rounds_of(c.estimator) for c in calibrated]
        return None if None in rounds else round(sum(rounds) / len(rounds))
    if hasattr(step, "best_rounds_"):
        return int(step.best_rounds_)
    if getattr(step, "early_stopping", False) is True and hasattr(step, "n_iter_"):
        return int(step.n_iter_)
    return None


def fold_jobs(pipeline: Any, threads: int) -> int:
    """How many CV folds to fit at once with a job's `threads`: one when the estimator
    spends them itself (n_jobs), else as many as threads (folds x threads fit the cores)."""
    inner = threads_of(pipeline)
    return 1 if inner is not None and inner > 1 else threads


def _encoded(reader: Any, categorical: list[str], scale: bool) -> Any:
    """Median imputation (+ scaling) of the numbers, most-frequent imputation and one-hot
    encoding of the categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_cols = [c for c in reader.columns if c not in set(categorical)]
    numeric_steps: list = [SimpleImputer(strategy="median")]
    if scale:
        numeric_steps.append(StandardScaler())
    encoded = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [("num", make_pipeline(*numeric_steps), numeric_cols), ("cat", encoded, categorical)],
        verbose_feature_names_out=False,
    )

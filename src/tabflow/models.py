"""Model factory: a restricted `_target_` estimator inside a preprocessing pipeline.

A model YAML names its estimator with `_target_`; only the classes listed in
ALLOWED_ESTIMATORS can be built, so a config cannot import and run arbitrary code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
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
}


# Beyond skops' defaults, the types the pipelines of ALLOWED_ESTIMATORS hold (checked by
# tests/test_models.py for every allowed estimator), the reader of raw rows at their head
# included. Models are saved with skops, never
# pickled: loading one runs no code from the file, and refuses any type outside this list.
SKOPS_TRUSTED = (
    "tabflow_rows.RawReader",
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
)


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
    """Import the estimator class named by an allowed `_target_`."""
    if target not in ALLOWED_ESTIMATORS:
        raise ValueError(f"model._target_={target!r} is not an allowed estimator")
    module_name, class_name = target.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)


def unknown_param(cls: type, name: str) -> str | None:
    """Why `name` is not a parameter of the estimator class (with a did-you-mean), or None."""
    import difflib

    known = cls().get_params()
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"{cls.__name__} has no parameter {name!r}; {hint}"


def invalid_value(cls: type, params: dict[str, Any]) -> str | None:
    """The estimator's own validation of these params (what fit() would say, after a long
    wait), or None."""
    try:
        cls(**params)._validate_params()
    except ValueError as err:
        return str(err)
    return None


def check_params(target: str, params: dict[str, Any], source: str, task: str) -> None:
    """A model's estimator and params, before any job: names, values, and (a classifier)
    class probabilities. One ConfigError line naming `source` (the model's YAML) and the
    key."""
    from tabflow.errors import ConfigError

    cls = estimator_class(target)
    for key in params:
        if problem := unknown_param(cls, key):
            raise ConfigError(f"{source}: model.params.{key}: {problem}")
    if problem := invalid_value(cls, params):
        key = next((k for k in params if f"'{k}' parameter" in problem), None)
        shown = f"model.params.{key}={params[key]!r}" if key else "model.params"
        raise ConfigError(f"{source}: {shown} is invalid: {problem}")
    if task != "regression" and not hasattr(cls(**params), "predict_proba"):
        known = cls().get_params()
        hint = " set params.probability: true" if "probability" in known else ""
        raise ConfigError(
            f"{source}: {cls.__name__} gives no class probabilities with these params "
            f"(ROC AUC, calibration and log loss need them);{hint or ' pick another estimator'}"
        )


def build_pipeline(model_cfg: Any, reading: Mapping[str, Any], n_jobs: int = 1):
    """The reading of raw rows, imputation + optional scaling + one-hot encoding, then the
    estimator, as one Pipeline.

    `reading`: the params of the RawReader (tabflow_rows) that preprocess wrote into the
    data summary. Everything is fitted with the estimator, on the training rows only, and
    saved inside the model, so the saved model takes raw rows as a user holds them.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tabflow_rows import RawReader

    reader = RawReader(**reading)
    categorical_cols = list(reader.categorical)
    numeric_cols = [c for c in reader.columns if c not in set(categorical_cols)]
    numeric_steps: list = [SimpleImputer(strategy="median")]
    if model_cfg["scale"]:
        numeric_steps.append(StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    features = ColumnTransformer(
        [
            ("num", make_pipeline(*numeric_steps), numeric_cols),
            ("cat", categorical, categorical_cols),
        ],
        verbose_feature_names_out=False,
    )
    from tabflow.stages import Declared

    cls = estimator_class(model_cfg["_target_"])
    params = model_cfg["params"]
    params = params.to_dict() if isinstance(params, Declared) else dict(params)
    if n_jobs > 1 and "n_jobs" in cls().get_params() and "n_jobs" not in params:
        params["n_jobs"] = n_jobs  # the rule's `threads`
    try:
        estimator = cls(**params)
    except TypeError as err:
        raise ValueError(f"model.params: {err}; fix the params in the model YAML") from None
    return Pipeline([("read", reader), ("features", features), ("estimator", estimator)])

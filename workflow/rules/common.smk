# Composes configs/ (Hydra) once, with the overrides given as --config overrides="...".
# Everything below reads PLAN: the models, the paths, and per-rule config fingerprints.

import sys

from tabflow.config import ConfigError
from tabflow.workflow import make_plan

try:
    PLAN = make_plan(config.get("overrides"), config.get("models"))
except ConfigError as err:
    sys.exit(f"config error: {err}")

PATHS = PLAN.paths


wildcard_constraints:
    model="|".join(PLAN.models),


def all_outputs():
    """Every model's metrics and plots."""
    outs = []
    for model in PLAN.models:
        outs += [
            PATHS.metrics(model),
            PATHS.roc_plot(model),
            PATHS.confusion_plot(model),
            PATHS.mlflow_run(model),
        ]
    return outs


def model_fingerprint(wildcards):
    return PLAN.model_fingerprint(wildcards.model)


def evaluate_fingerprint(wildcards):
    return PLAN.evaluate_fingerprint(wildcards.model)

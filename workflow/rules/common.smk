# Composes configs/ (Hydra) once, with the overrides given as --config overrides="...".
# Everything below reads PLAN: the models, the paths, and per-rule config fingerprints.

import sys

from tabflow import provenance, tracking
from tabflow.config import ConfigError
from tabflow.workflow import make_plan

try:
    PLAN = make_plan(config.get("overrides"), config.get("models"))
except ConfigError as err:
    sys.exit(f"config error: {err}")

PATHS = PLAN.paths

# After `dvc pull` into a fresh clone: give Snakemake back the job records of the
# pulled results (only where the bytes match), so it reruns exactly what changed.
provenance.restore(PATHS.results_dir)


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


# The MLflow DB and experiment are created once, by the main process, before any job
# opens them: parallel first use of a new sqlite DB races. onstart takes the lock at
# once and initialises in the background while preprocess/train run; evaluate jobs wait
# on the lock. Skipped when the experiment exists; not run in dry-runs or no-op runs.
onstart:
    tracking.start_tracking_init(PLAN.configs[PLAN.models[0]], PATHS.tracking_lock)


# Keep the job records next to the results, so `dvc push` carries them along.
onsuccess:
    provenance.save(PATHS.results_dir)


onerror:
    provenance.save(PATHS.results_dir)

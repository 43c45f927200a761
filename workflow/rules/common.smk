# Composes configs/ (Hydra) once, with the overrides given as --config overrides="...".
# Everything below reads PLAN: the models, the paths, and per-rule config fingerprints.

import sys

from tabflow import provenance
from tabflow.config import ConfigError
from tabflow.hooks import Hooks
from tabflow.errors import data_file_problem
from tabflow.workflow import RESOLVED_KEY, make_plan

try:
    PLAN = make_plan(config.get("overrides"), config.get("models"), config.get("seeds"))
except ConfigError as err:
    sys.exit(f"config error: {err}")
if missing := data_file_problem(PLAN.paths.raw_data):
    sys.exit(f"data error: {missing}")

PATHS = PLAN.paths
# The jobs read their resolved config from here instead of composing it again.
config[RESOLVED_KEY] = PLAN.resolved()

# After `dvc pull` into a fresh clone: give Snakemake back the job records of the
# pulled results (only where the bytes match), so it reruns exactly what changed.
# Only in the main process: a cluster job parses this file too, while the main
# process is writing fresh records.
if workflow.is_main_process:
    provenance.restore(PATHS.results_dir)


wildcard_constraints:
    model="|".join(PLAN.models),


def all_outputs():
    """The leaderboard, and every model's metrics, figures and MLflow run."""
    outs = [PATHS.leaderboard_csv, PATHS.leaderboard_md, PATHS.leaderboard_html]
    for model in PLAN.models:
        outs += [
            PATHS.metrics(model),
            PATHS.mlflow_run(model),
            *PATHS.plots(model).values(),
        ]
    return outs


def model_fingerprint(wildcards):
    return PLAN.model_fingerprint(wildcards.model)


def evaluate_fingerprint(wildcards):
    return PLAN.evaluate_fingerprint(wildcards.model)


def figure(name, title, caption):
    """A model's figure, in the report under its model (category) and figure (subcategory)."""
    return report(
        PATHS.plots("{model}")[name],
        caption=f"../report/{caption}.rst",
        category="{model}",
        subcategory=title,
        labels={"model": "{model}", "figure": title},
    )


# Main process, around the jobs (not in dry-runs or no-op runs): the MLflow DB, experiment
# and the invocation's parent run are created once, before any job opens them (parallel
# first use of a new sqlite DB races); evaluate jobs log their runs as its children. At
# the end: job records saved next to the results (they travel with `dvc push`), the parent
# closed with the leaderboard, a summary printed and sent to the notification URLs.
HOOKS = Hooks(PLAN)


onstart:
    HOOKS.start()


onsuccess:
    HOOKS.success(log)


onerror:
    HOOKS.error(log)

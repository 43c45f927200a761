# The plan (configs/ composed with Hydra once, cached), and the two helpers every rule's
# params use: config_of(...) lists the config keys the rule's jobs read (their only config,
# and the rule's rerun triggers); code_of(stage) the package modules its jobs import.

import re
import sys
from pathlib import Path

from tabflow import plan as tabflow_plan
from tabflow import provenance
from tabflow.errors import (
    ConfigError,
    DataError,
    data_file_problem,
    predict_input_problem,
    results_dir_problem,
)
from tabflow.fingerprint import code_of
from tabflow.hooks import Hooks
from tabflow.plots import ALL_PLOTS, PLOTS
from tabflow.tracking.store import tracking_uri, unreachable

# Shards of a sweep default to the parallel jobs allowed: --cores here, --jobs on a cluster.
PARALLEL = workflow.resource_settings.cores or workflow.resource_settings.nodes or 1

try:
    PLAN = tabflow_plan.load(config, cores=int(PARALLEL))
except ConfigError as err:
    sys.exit(f"config error: {err}")
except DataError as err:  # the target column, read to know the task
    sys.exit(f"data error: {err}")
if missing := data_file_problem(PLAN.cfg().data.raw_path):
    sys.exit(f"data error: {missing}")

PATHS = PLAN.paths
# The run's task (tabflow.tasks: data.task, or what auto chose): its figures are the
# evaluate jobs' outputs.
FIGURES = list(PLOTS[PLAN.task])
ENV = "../envs/tabflow.yaml"


def pinned(cfg, spec):
    from tabflow.registry import pinned as pin  # MLflow: only for `snakemake predict`

    return pin(cfg, spec)


# `snakemake -j 3 predict --config predict_input=new.csv`: the rows to score, and the
# model an alias names now (a moved alias changes the rule's params: its job reruns).
PREDICT_INPUT = str(config.get("predict_input") or "")
PREDICT_OUTPUT = PATHS.new_predictions(PREDICT_INPUT or "none")
PREDICT_MODEL = None
# (The targets are not known while the Snakefile is read: the command line is.)
if workflow.is_main_process and "predict" in sys.argv[1:] and not PREDICT_INPUT:
    sys.exit(
        "config error: snakemake predict needs the rows: --config predict_input=new.csv"
    )
if PREDICT_INPUT and workflow.is_main_process:
    if problem := predict_input_problem(PREDICT_INPUT, PATHS.results_dir):
        sys.exit(f"config error: {problem}")
    try:
        PREDICT_MODEL = pinned(PLAN.cfg(), str(config.get("predict_model", "champion")))
    except ConfigError as err:
        sys.exit(f"config error: {err}")

# Before a real run starts any job: a results folder it cannot write, a tracking server
# that does not answer.
if workflow.is_main_process and not workflow.dryrun:
    if problem := results_dir_problem(PATHS.results_dir):
        sys.exit(f"config error: {problem}")
    if problem := unreachable(tracking_uri(PLAN.cfg())):
        sys.exit(f"config error: {problem}")

# After `dvc pull` into a fresh clone: give Snakemake back the job records of the
# pulled results (only where the bytes match), so it reruns exactly what changed.
# Only in the main process: a cluster job parses this file too, while the main
# process is writing fresh records.
if workflow.is_main_process:
    provenance.restore(PATHS.results_dir)


wildcard_constraints:
    model="|".join(map(re.escape, PLAN.single)) or "(?!)",
    base="|".join(map(re.escape, PLAN.batches)) or "(?!)",
    sweep=re.escape(PLAN.sweep["name"]) if PLAN.sweep else "(?!)",
    shard=r"\d+",


# The keys a cross-validated fit reads (train, and every trial of a sweep shard).
FIT_KEYS = (
    "task",
    "data.target_col",
    "training.random_state",
    "model",
    "evaluation.cv_folds",
    "evaluation.primary_metric",
    "paths",
)
# The keys an evaluate job reads: the whole config but notify (its MLflow run records it).
EVALUATE_KEYS = ("task", "data", "training", "model", "evaluation", "mlflow", "paths")


def config_of(*keys):
    """The resolved values of these dotted config keys, for a rule's params (per model)."""
    return lambda wildcards: PLAN.select(wildcards.get("model"), keys)


def tuned_input(wildcards):
    """A model a sweep tuned gets the selected parameters (best.json) as input `tuned`."""
    base = PLAN.tuned.get(wildcards.model)
    return {"tuned": PATHS.sweep_best(PLAN.sweep["name"], base)} if base else {}


def sweep_shards(wildcards):
    """The shard files of the sweep (any of them may have run a trial of any model)."""
    return [PATHS.sweep_shard(wildcards.sweep, i) for i in range(PLAN.sweep["shards"])]


def sweep_outputs():
    """What a sweep shows: each model's trials and its figure (none without a sweep)."""
    if not PLAN.sweep:
        return []
    name = PLAN.sweep["name"]
    return [
        path(name, model)
        for model in PLAN.sweep["models"]
        for path in (PATHS.sweep_trials, PATHS.sweep_plot)
    ]


def figure(name, model="{model}"):
    """A model's figure (tabflow.plots.PLOTS), in the report under its model and title."""
    title = ALL_PLOTS[name].title
    return report(
        PATHS.plot(model, ALL_PLOTS[name].file),
        caption=f"../report/{name}.rst",
        category=model,
        subcategory=title,
        labels={"model": model, "figure": title},
    )


def seeded(path, *args):
    """One output per seed of the batch's model (`{base}` stays a wildcard)."""
    return [path(f"{{base}}-seed{seed}", *args) for seed in PLAN.seeds]


def seeded_figures():
    """Every seed's figures, in the report under that seed's model."""
    names = [f"{{base}}-seed{seed}" for seed in PLAN.seeds]
    return [figure(name, model) for model in names for name in FIGURES]


# Main process, around the jobs (not in dry-runs or no-op runs): the MLflow DB, experiment
# and the invocation's parent run are created once, before any job opens them (parallel
# first use of a new sqlite DB races), once preprocess (if it runs) has read the data;
# evaluate jobs log their runs as its children. At
# the end: job records saved next to the results (they travel with `dvc push`), the parent
# closed with the leaderboard, a summary printed and sent to the notification URLs.
HOOKS = Hooks(PLAN)


onstart:
    HOOKS.start({job.rule.name for job in workflow.dag.needrun_jobs()})


onsuccess:
    HOOKS.success(log)


onerror:
    HOOKS.error(log)

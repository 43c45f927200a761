"""The baseline `make bench` compares with: the pipeline's work in one Python process.

    python benchmarks/one_process.py [--models lr,rf] [--seeds 0,1] [--sweep NAME] [overrides]

Run from a project root. Same stages, same config, same MLflow logging (the models too,
and the registration) as `snakemake -j 3`, one after the other in this process: imports
happen once, nothing runs in parallel, there is no DAG and no rerun logic. With --sweep:
the sweep's trials in a plain loop (the same trials, the same CV with n_jobs=2, each
logged as an MLflow child run; the time of the loop printed as `trials: <start> <end>`),
then each model's best scored again by CV on a fresh fold
split, refit, scored once on the test split and logged with its model; no default models,
no trial cache.
"""

from __future__ import annotations

import argparse

from tabflow.plan import make_plan
from tabflow.runner import usage
from tabflow.stages import STAGES, Job


def main() -> None:
    import time

    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated (default: all)")
    parser.add_argument("--seeds", default="", help="comma-separated seeds (--config seeds)")
    parser.add_argument("--sweep", default="", help="a configs/sweep/ name")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else None
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    if args.sweep:
        sweep(make_plan(args.overrides, models, sweep=args.sweep, sweep_shards=1))
    else:
        plan = make_plan(args.overrides, models, seeds)
        names = tuple(plan.models)
        for stage in ("preprocess", "train", "evaluate", "leaderboard", "register", "front_page"):
            run = STAGES[stage].load()
            for model in names if STAGES[stage].per_model else (None,):
                run(Job(plan.cfg(model), model=model, models=names))
    print(usage(started))


def sweep(plan) -> None:
    import time

    import pandas as pd

    from tabflow import metrics
    from tabflow.data import xy
    from tabflow.io import read_json
    from tabflow.metrics import nested_cv
    from tabflow.models import build_pipeline
    from tabflow.paths import Paths
    from tabflow.stages import Declared, preprocess, train, with_tuned
    from tabflow.stages import evaluate as evaluate_stage
    from tabflow.stages.sweep_select import rescore, select
    from tabflow.stages.sweep_shard import row
    from tabflow.tracking import store, sweep_run

    first = plan.cfg()
    preprocess.run(Job(first))
    paths = Paths.from_config(first)
    summary = read_json(paths.data_summary)
    X, y = xy(pd.read_parquet(paths.train_data), first.data.target_col)
    metric = str(first.evaluation.primary_metric)
    rows: dict[str, list] = {model: [] for model in plan.sweep["models"]}
    began = time.time()
    for model in plan.sweep["models"]:
        cfg = plan.cfg(model)
        for index, params in enumerate(plan.sweep["models"][model]["trials"]):
            model_cfg = cfg.model.to_dict()
            model_cfg["params"].update(params)
            pipeline = build_pipeline(model_cfg, summary["reading"])
            start = time.perf_counter()
            cv = metrics.cross_validate(
                pipeline,
                X,
                y,
                int(cfg.evaluation.cv_folds),
                int(cfg.training.random_state),
                str(cfg.task.name),
                list(cfg.task.metrics),
                n_jobs=2,
                primary=metric,
                log_folds=False,
            )
            result = {"cv": cv, "fit_seconds": time.perf_counter() - start, "cached": False}
            rows[model].append(row(index, params, result, list(cfg.task.metrics)))
    print(f"trials: {began:.3f} {time.time():.3f}")  # make bench reads the trial phase
    for model, found in rows.items():
        cfg = plan.cfg(model)
        best = select(found, metric)
        experiment_id, parent = store.connect(cfg, paths)
        name = plan.sweep["name"]
        sweep_run.log_sweep(cfg, model, name, found, best, [], experiment_id, parent, "")
        tuned = f"{model}-{name}"
        fresh, seed = rescore(Job(cfg, model=model, threads=2), best, "")
        chosen = {"cv": nested_cv(best), "fresh_cv": fresh, "fresh_seed": seed}
        tuned_cfg = Declared(with_tuned(plan.configs[model], best), rule=None)
        train.fit(tuned_cfg, tuned, threads=2, tuned=chosen)
        evaluate_stage.run(Job(tuned_cfg, model=tuned))


if __name__ == "__main__":
    main()

"""The baseline `make bench` compares with: the pipeline's work in one Python process.

    python benchmarks/one_process.py [--models lr,rf] [hydra overrides ...]

Run from a project root. Same stages, same config, same MLflow logging (the models too)
as `snakemake -j 3`, one after the other in this process: imports happen once, nothing
runs in parallel, there is no DAG and no rerun logic.
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
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    plan = make_plan(args.overrides, args.models.split(",") if args.models else None)
    models = tuple(plan.models)
    for stage in ("preprocess", "train", "evaluate", "leaderboard"):
        run = STAGES[stage].load()
        for model in models if STAGES[stage].per_model else (None,):
            run(Job(plan.cfg(model), model=model, models=models))
    print(usage(started))


if __name__ == "__main__":
    main()

"""The baseline `make bench` compares with: the pipeline's work in one Python process.

    python benchmarks/one_process.py [--models lr,rf] [hydra overrides ...]

Run from a project root. Same stages, same config, same MLflow logging (the models too)
as `snakemake -j 3`, one after the other in this process: imports happen once, nothing
runs in parallel, there is no DAG and no rerun logic.
"""

from __future__ import annotations

import argparse

from tabflow import stages
from tabflow.config import available_models, compose_configs
from tabflow.runner import usage


def main() -> None:
    import time

    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated (default: all)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else available_models()
    configs = compose_configs(args.overrides, models)
    first = configs[models[0]]
    stages.preprocess(first)
    for model in models:
        stages.train(configs[model], model)
    for model in models:
        stages.evaluate(configs[model], model)
    stages.leaderboard(first, models)
    print(usage(started))


if __name__ == "__main__":
    main()

"""`tabflow` command line: small helpers around the workflow.

tabflow run STAGE [model=NAME] [overrides...]  run one stage by hand (preprocess, train, ...)
tabflow leaderboard [overrides...]         print results/leaderboard.csv as a table
tabflow config [overrides...]              print the composed, validated config
tabflow track                              dvc add results/ + dvc push (data and results)
tabflow reproduce RUN_ID [overrides...]    rerun an MLflow run's model, compare metrics
tabflow predict [MODEL] IN.csv OUT.csv     score new rows: MODEL is champion (the default),
                                           another alias, a models:/ URI or a run id
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tabflow.errors import ConfigError, DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tabflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("leaderboard", "config", "track"):
        cmd = sub.add_parser(name)
        cmd.add_argument("overrides", nargs="*", help="Hydra overrides")
    run = sub.add_parser("run")
    run.add_argument("stage")
    run.add_argument("overrides", nargs="*", help="model=NAME and Hydra overrides")
    pred = sub.add_parser("predict")
    pred.add_argument("args", nargs="+", metavar="[MODEL] IN.csv OUT.csv")
    pred.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="a Hydra override (repeatable), e.g. --set predict.id_col=patient_id",
    )
    rep = sub.add_parser("reproduce")
    rep.add_argument("run_id")
    rep.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _config(args: argparse.Namespace, need_data: bool = True):
    from tabflow.config import compose_config

    return compose_config(args.overrides, require_model=False, need_data=need_data)


def cmd_run(args: argparse.Namespace) -> int:
    """One stage by hand, with the whole composed config (a job gets only its rule's keys)."""
    from tabflow.catalog import available_models
    from tabflow.config import compose_config, model_override, resolved
    from tabflow.runner import execute
    from tabflow.stages import STAGES, Declared, Job

    if args.stage not in STAGES:
        raise ConfigError(f"unknown stage {args.stage!r}: one of {', '.join(STAGES)}")
    per_model = STAGES[args.stage].per_model
    cfg = compose_config(args.overrides, require_model=per_model)
    job = Job(
        cfg=Declared(resolved(cfg), rule=None),
        model=model_override(args.overrides) if per_model else None,
        models=() if per_model else tuple(available_models()),
    )
    execute(args.stage, job)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    print(OmegaConf.to_yaml(_config(args)), end="")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from tabflow.leaderboard import format_table, read_csv
    from tabflow.paths import Paths

    path = Path(Paths.from_config(_config(args, need_data=False)).leaderboard_csv)
    print(format_table(read_csv(path) if path.is_file() else []))
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    """Track results/ with DVC (results.dvc) and push data and results to the default remote."""
    from tabflow import provenance
    from tabflow.paths import Paths

    results = Paths.from_config(_config(args, need_data=False)).results_dir
    if not Path(results).is_dir():
        raise ConfigError(f"{results}/ does not exist: run `snakemake -j 3` first")
    provenance.save(results)
    for cmd in (["dvc", "add", results], ["dvc", "push"]):
        print("+", " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode != 0:
            print(f"error: `{' '.join(cmd)}` failed", file=sys.stderr)
            return 1
    print(
        f"tracked {results}/ in {results}.dvc and pushed; commit it:\n"
        f"  git add {results}.dvc && git commit -m 'results'"
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Exit 0 when the rerun gives exactly the logged metrics, 1 otherwise."""
    from tabflow.reproduce import reproduce

    report = reproduce(args.run_id, args.overrides)
    print("\n".join(report.lines()))
    return 0 if report.metrics_match else 1


# How a row is read and named: fixed in each model when it is trained (tabflow_rows).
_FIXED_IN_THE_MODEL = {
    f"data.{key}"
    for key in (
        "sep",
        "id_col",
        "na_values",
        "na_markers",
        "categorical_cols",
        "columns_for",
        "positive_name",
        "negative_name",
        "drop_id_like_columns",
    )
}


def cmd_predict(args: argparse.Namespace) -> int:
    """Score the rows of IN.csv into OUT.csv (and OUT.drift.csv); never loads a pickle."""
    import logging

    import mlflow

    from tabflow.config import resolved
    from tabflow.predict import predict
    from tabflow.stages import Declared
    from tabflow.tracking.store import tracking_uri

    if len(args.args) not in (2, 3):
        raise ConfigError("usage: tabflow predict [MODEL] IN.csv OUT.csv")
    spec, source, out = ["champion", *args.args] if len(args.args) == 2 else args.args
    given = [o.lstrip("+~").split("=", 1)[0] for o in args.overrides]
    if fixed := [key for key in given if key in _FIXED_IN_THE_MODEL]:
        leaf = fixed[0].split(".")[-1]
        hint = (
            f"; for the rows' own {leaf}, set predict.{leaf}" if leaf in ("sep", "id_col") else ""
        )
        raise ConfigError(
            f"--set {fixed[0]}: the model reads rows as it was trained to (how a row is read "
            f"is fixed in the model){hint}"
        )
    # force: a second call in one process (tests) writes to the stderr of now, not of then
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", force=True)
    cfg = Declared(resolved(_config(args, need_data=False)), rule=None)
    mlflow.set_tracking_uri(tracking_uri(cfg))
    done = predict(cfg, spec, source, out)
    print(f"{done['rows']} rows scored with {done['model']} -> {out}")
    return 0


COMMANDS = {
    "predict": cmd_predict,
    "run": cmd_run,
    "config": cmd_config,
    "leaderboard": cmd_leaderboard,
    "track": cmd_track,
    "reproduce": cmd_reproduce,
}


if __name__ == "__main__":
    sys.exit(main())

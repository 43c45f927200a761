"""`tabflow` command line: small helpers around the workflow.

tabflow leaderboard [hydra overrides...]   print the models ranked by ROC AUC
tabflow config [hydra overrides...]        print the composed, validated config
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabflow.config import ConfigError, compose_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tabflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["leaderboard", "config"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. training.test_size=0.3")
    args = parser.parse_args(argv)
    try:
        cfg = compose_config(args.overrides, require_model=False)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 1
    if args.command == "config":
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(cfg), end="")
        return 0
    from tabflow.leaderboard import collect, format_table
    from tabflow.paths import Paths

    metrics_dir = Path(Paths.from_config(cfg).metrics("x")).parent
    print(format_table(collect(metrics_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

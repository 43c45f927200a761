"""Entry point shared by the thin scripts in workflow/scripts/.

Under Snakemake a script gets the `snakemake` object; run by hand it gets argv:
    python workflow/scripts/train.py model=lr training.test_size=0.3
Either way it composes configs/ with the same overrides and calls one stage.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from typing import Any

from tabflow.config import ConfigError, compose_config, model_override

STAGES_WITH_MODEL = {"train", "evaluate"}


def _setup_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        from pathlib import Path

        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def skip_exit_gc() -> None:
    """Spare the interpreter's last garbage collections once a process's work is done.

    With scikit-learn, MLflow, matplotlib (jobs) or SQLAlchemy, Flask and Snakemake (the
    main process) loaded, the collections at shutdown walk millions of objects: 1-5 s
    after the last line. Freezing moves them out of the collector's view; nothing left
    needs finalising (files are closed, runs are ended).
    """
    gc.freeze()


def usage(started: float) -> str:
    """'done: 5.1 s wall, 4.8 s CPU, peak RSS 310 MB' for this process (benchmarks read it)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (
        f"done: {_age(started):.2f} s wall, "
        f"{ru.ru_utime + ru.ru_stime:.2f} s CPU, peak RSS {ru.ru_maxrss / 1024:.0f} MB"
    )


def _age(started: float) -> float:
    """Seconds since this process started (imports included; Linux), else since `started`."""
    import os

    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - started


def run(stage: str, smk: Any | None = None, argv: list[str] | None = None) -> None:
    """Compose the config and run `stage`; any bad input exits non-zero with one line."""
    from tabflow import stages
    from tabflow.errors import DataError

    resolved: dict[str, Any] = {}
    if smk is not None:
        from tabflow.workflow import RESOLVED_KEY

        resolved = dict(smk.config).get(RESOLVED_KEY) or {}
        overrides = list(smk.params.overrides)
        model = dict(smk.wildcards).get("model")
        models = list(getattr(smk.params, "models", []))
        threads = int(smk.threads)
        log_file = smk.log[0] if smk.log else None
    else:
        overrides = list(sys.argv[1:] if argv is None else argv)
        model, models, threads, log_file = None, [], 1, None
    _setup_logging(log_file)
    logger = logging.getLogger(f"tabflow.{stage}")
    started = time.perf_counter()
    try:
        if resolved:  # composed and validated once by the Snakefile
            from omegaconf import OmegaConf

            cfg = OmegaConf.create(resolved[model or next(iter(resolved))])
        else:
            cfg = compose_config(overrides, model=model, require_model=stage in STAGES_WITH_MODEL)
        model = model or model_override(overrides)
        if stage == "preprocess":
            stages.preprocess(cfg)
        elif stage == "train":
            stages.train(cfg, model, threads=threads)
        elif stage == "evaluate":
            stages.evaluate(cfg, model)
        elif stage == "leaderboard":
            from tabflow.config import available_models

            stages.leaderboard(cfg, models or available_models())
        else:
            raise ValueError(f"unknown stage {stage!r}")
        logger.info("%s", usage(started))
        skip_exit_gc()
    except (ConfigError, DataError) as err:
        logger.error("%s", err)
        sys.exit(1)
    except Exception:
        # Anything else is a bug or a bad hyperparameter value: keep the traceback in the
        # job's log file too, where Snakemake (and the failure notification) points.
        logger.exception("%s failed", stage)
        sys.exit(1)

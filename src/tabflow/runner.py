"""Runs one stage in this process: as a Snakemake job (`run_job`, from the script
workflow/scripts/stage.py), or by hand (`tabflow run`, which composes the config first).

A job's config is its rule's `params.config`, nothing else (see tabflow.stages). Any bad
input ends the process with one line and exit 1; anything else keeps its traceback in the
job's log, where Snakemake and the failure notification point.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from typing import Any

from tabflow.errors import ConfigError, DataError
from tabflow.stages import STAGES, Declared, Job, with_tuned


def run_job(smk: Any) -> None:
    """The job Snakemake hands to the script: the stage is the rule's name. A model a
    sweep tuned has its selected parameters as input `tuned`."""
    stage = smk.rule
    config = smk.params.get("config") or {}  # a batch carries one config per model
    params = {k: v for k, v in smk.params.items() if k not in ("config", "models")}
    if "tuned" in smk.input.keys():
        import json
        from pathlib import Path

        tuned = json.loads(Path(smk.input.tuned).read_text())
        config = with_tuned(config, tuned)
        params["tuned"] = tuned  # train reads the selection's CV from it
    job = Job(
        cfg=Declared(config, stage),
        model=dict(smk.wildcards).get("model"),
        models=tuple(getattr(smk.params, "models", ())),
        threads=int(smk.threads),
        params=params,
    )
    execute(stage, job, smk.log[0] if smk.log else None)


def execute(stage: str, job: Job, log_file: str | None = None) -> None:
    _setup_logging(log_file)
    logger = logging.getLogger(f"tabflow.{stage}")
    started = time.perf_counter()
    try:
        STAGES[stage].load()(job)
        logger.info("%s", usage(started))
        skip_exit_gc()
    except (ConfigError, DataError) as err:
        logger.error("%s", err)
        sys.exit(1)
    except Exception:
        # Anything else is a bug or a bad hyperparameter value: keep the traceback in the
        # job's log file too.
        logger.exception("%s failed", stage)
        sys.exit(1)


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

"""Stage 'predict': `snakemake -j 3 predict --config predict_input=new.csv` scores the rows
of new.csv with the registered champion (or --config predict_model=...) into
results/predictions/new/new.csv, with a drift table beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabflow.paths import Paths
from tabflow.stages import Job


def run(job: Job) -> dict[str, Any]:
    from tabflow.predict import predict
    from tabflow.tracking import store

    paths = Paths.from_config(job.cfg)
    source = Path(job.params["input"])
    store.connect(job.cfg, paths)  # the registry, through the workflow's store server
    return predict(job.cfg, str(job.params["model"]), source, paths.new_predictions(source.stem))

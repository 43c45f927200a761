"""Stage 'predict': `snakemake -j 3 predict --config predict_input=new.csv` scores the rows
of new.csv with the model the alias (`predict_model`, default champion) named when the
workflow started, pinned in the rule's params, into results/predictions/new/, with a drift
table beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabflow.paths import Paths
from tabflow.stages import Job


def run(job: Job) -> dict[str, Any]:
    from tabflow.predict import predict
    from tabflow.registry import Resolved
    from tabflow.tracking import store

    paths = Paths.from_config(job.cfg)
    source = Path(job.params["input"])
    store.connect(job.cfg, paths)  # the registry, through the workflow's store server
    model = Resolved(str(job.params["model"]), source=str(job.params["logged_model"]))
    return predict(job.cfg, model.uri, source, paths.new_predictions(str(source)), model)

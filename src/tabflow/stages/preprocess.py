"""Stage 'preprocess': the raw CSV -> deduplicated train/test parquet (the split stratified
for classes) + summary."""

from __future__ import annotations

from typing import Any

from tabflow.io import write_json, write_with
from tabflow.paths import Paths
from tabflow.stages import Job


def run(job: Job) -> dict[str, Any]:
    from tabflow.data import prepare
    from tabflow.drift import profile

    paths = Paths.from_config(job.cfg)
    train, test, summary = prepare(job.cfg)
    write_with(paths.train_data, lambda p: train.to_parquet(p, index=False))
    write_with(paths.test_data, lambda p: test.to_parquet(p, index=False))
    write_json(paths.data_summary, summary)
    features = profile(train, summary["numeric_cols"], summary["categorical_cols"])
    write_json(paths.data_profile, features)
    return summary

"""Stage 'seed_batch': train and evaluate one model under several seeds in one process
(`--config seeds=[...]`), each seed with its own files, MLflow run and leaderboard row.

One process per seed paid its imports (scikit-learn, MLflow, matplotlib: 3-5 s) once per
seed and per stage; a batch pays them once per model.
"""

from __future__ import annotations

from tabflow.stages import Declared, Job


def run(job: Job) -> None:
    from tabflow.stages import evaluate, train

    for name, config in job.params["batch"].items():
        one = Job(cfg=Declared(config, "seed_batch"), model=name, threads=job.threads)
        train.run(one)
        evaluate.run(one)

"""One trial of a sweep as a Hydra app, for `make bench` to run under Hydra's multirun
with the basic launcher (the trials one after the other, in one process):

    python benchmarks/hydra_trial.py -m model=rf sweep_name=wide 'trial=range(0,40)'

Each trial composes the config (Hydra does), scores the sweep's trial `trial` of `model` by
the same CV as a shard job, and logs it as an MLflow run. Run from a project root after
preprocess (it reads results/data/).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from tabflow.config import Config


@dataclass
class TrialConfig(Config):
    sweep_name: str = "wide"  # (not `sweep`: configs/sweep/ is a config group to Hydra)
    trial: int = 0


# configs/config.yaml's defaults list names the schema: here, with the two keys above.
ConfigStore.instance().store(name="schema", node=TrialConfig)


@hydra.main(config_path="../configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from pathlib import Path

    import pandas as pd
    from hydra.core.hydra_config import HydraConfig
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from tabflow import metrics, sweep
    from tabflow.catalog import available_models, config_dir
    from tabflow.config import apply_task, detect_task, select_estimator
    from tabflow.data import xy
    from tabflow.io import read_json
    from tabflow.models import build_pipeline
    from tabflow.tracking import store

    model = HydraConfig.get().runtime.choices["model"]
    apply_task(cfg, detect_task(cfg))  # as the plan does: the task, its estimator
    select_estimator(cfg, model)
    spec = sweep.load(
        str(cfg.sweep_name), config_dir(), {model: str(cfg.model._target_)}, available_models()
    )
    params = sweep.trials(spec, model, int(cfg.training.random_state))[int(cfg.trial)]
    root = Path(HydraConfig.get().runtime.cwd) / str(cfg.paths.results_dir)
    summary = read_json(root / "data/summary.json")
    X, y = xy(pd.read_parquet(root / "data/train.parquet"), str(cfg.data.target_col))
    model_cfg = {"_target_": str(cfg.model._target_), "scale": bool(cfg.model.scale)}
    model_cfg["params"] = {**dict(cfg.model.params), **params}
    pipeline = build_pipeline(model_cfg, summary["reading"])
    cv = metrics.cross_validate(
        pipeline,
        X,
        y,
        int(cfg.evaluation.cv_folds),
        int(cfg.training.random_state),
        str(cfg.task.name),
        list(cfg.task.metrics),
        log_folds=False,
    )
    experiment_id = store.create_experiment(
        cfg, f"sqlite:///{Path(HydraConfig.get().runtime.cwd) / 'mlflow.db'}"
    )
    client = MlflowClient()
    run = client.create_run(experiment_id, run_name=f"{model} trial {cfg.trial} (hydra)")
    now = int(time.time() * 1000)
    scores = [Metric(k, float(v), now, 0) for k, v in metrics.flat_cv(cv).items()]
    client.log_batch(
        run.info.run_id, metrics=scores, params=[Param(k, str(v)) for k, v in params.items()]
    )
    client.set_terminated(run.info.run_id)


if __name__ == "__main__":
    main()

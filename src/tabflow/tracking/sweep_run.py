"""A model's sweep in MLflow: one run (a child of the workflow run) with a child run per
trial, logged in batches; the selected trial is tagged. No model is logged here: only
the selected configuration's train/evaluate logs one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def log_sweep(
    cfg: Any,
    model: str,
    sweep: str,
    rows: Sequence[dict[str, Any]],
    best: dict[str, Any],
    artifacts: Sequence[str],
    experiment_id: str,
    parent_run_id: str | None,
    backend_uri: str,
) -> dict[str, str]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from tabflow.metrics import ALL, cv_keys

    client = MlflowClient()
    now = int(time.time() * 1000)
    tags = {"tabflow.role": "sweep", "tabflow.sweep": sweep, "tabflow.sweep_model": model}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id, run_name=f"sweep {sweep}: {model}", tags=tags)
    run_id = run.info.run_id
    keys = [k for k in cv_keys(list(ALL)) if k in best]
    for row in rows:
        selected = row is best
        child_tags = {
            "mlflow.parentRunId": run_id,
            "tabflow.role": "trial",
            "tabflow.trial": str(row["trial"]),
            "tabflow.selected": str(selected).lower(),
        }
        if row.get("error"):  # refused by the estimator at fit: no scores, the reason
            child_tags["tabflow.error"] = str(row["error"])[:5000]
        child = client.create_run(
            experiment_id, run_name=f"{model} trial {row['trial']}", tags=child_tags
        )
        metrics = [] if row.get("error") else [Metric(k, float(row[k]), now, 0) for k in keys]
        metrics.append(Metric("fit_seconds", float(row["fit_seconds"]), now, 0))
        params = [Param(k, str(v)) for k, v in sorted(row["params"].items())]
        client.log_batch(child.info.run_id, metrics=metrics, params=params)
        client.set_terminated(child.info.run_id, "FAILED" if row.get("error") else "FINISHED")
    best_metrics = [Metric(f"best_{k}", float(best[k]), now, 0) for k in keys]
    best_params = [Param(f"best.{k}", str(v)) for k, v in sorted(best["params"].items())]
    failed = sum(1 for row in rows if row.get("error"))
    client.log_batch(
        run_id,
        metrics=best_metrics,
        params=[Param("n_trials", str(len(rows))), Param("n_failed", str(failed)), *best_params],
        tags=[RunTag("tabflow.selected_trial", str(best["trial"]))],
    )
    for path in artifacts:
        client.log_artifact(run_id, path)
    client.set_terminated(run_id, "FINISHED")
    return {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "parent_run_id": parent_run_id or "",
        "tracking_uri": backend_uri,
        "selected_trial": str(best["trial"]),
    }

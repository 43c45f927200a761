"""Stage 'evaluate': score a trained model on the test split, draw its figures, log its run."""

from __future__ import annotations

import logging
from typing import Any

from tabflow.io import read_json, write_json, write_with
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)


def score(cfg: Any, model_name: str):
    """Load the saved model, predict the test split: (model, X, y, responses, metrics)."""
    import pandas as pd

    from tabflow.data import xy
    from tabflow.metrics import responses, score_all
    from tabflow.models import load_model

    paths = Paths.from_config(cfg)
    task, metrics = str(cfg.task.name), list(cfg.task.metrics)
    model = load_model(paths.model_file(model_name))
    X, y = xy(pd.read_parquet(paths.test_data), cfg.data.target_col)
    said = responses(model, X, task)
    return model, X, y, said, score_all(y.to_numpy(), said, task, metrics)


def predictions(y: Any, said: Any, task: str, classes: list[str]) -> Any:
    """The test rows' answers: y_true, y_pred, and binary y_score (the positive class's
    probability) or multiclass probability_<class>."""
    import pandas as pd

    table = {"y_true": y.to_numpy(), "y_pred": said.label}
    if task == "binary":
        table["y_score"] = said.score
    elif task == "multiclass":
        table.update({f"probability_{c}": said.proba[:, i] for i, c in enumerate(classes)})
    return pd.DataFrame(table, index=y.index)


def run(job: Job) -> dict[str, float]:
    import pandas as pd

    from tabflow.importance import permutation_importance
    from tabflow.metrics import flat_cv
    from tabflow.plots import PLOTS, Evidence
    from tabflow.tracking import model_run, store

    cfg, name = job.cfg, job.model
    assert name is not None
    paths = Paths.from_config(cfg)
    task = str(cfg.task.name)
    model, X, y, said, metrics = score(cfg, name)
    log.info("%s: %s", name, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

    evaluation = cfg.evaluation
    metric = str(evaluation.primary_metric)
    seed = int(cfg.training.random_state)
    importance = permutation_importance(
        model,
        X,
        y,
        task,
        metric,
        int(evaluation.permutation_repeats),
        seed,
        evaluation.permutation_max_rows,
    )
    reading = read_json(paths.data_summary)["reading"]
    classes = list(reading["problem"]["classes"])
    evidence = Evidence(
        model=name,
        y_true=y.to_numpy(),
        y_pred=said.label,
        y_score=said.score,
        importance=importance,
        metric=metric,
        calibration_bins=int(evaluation.calibration_bins),
        labels=classes,
        proba=said.proba,
    )
    figures = PLOTS[task]
    plots = {key: paths.plot(name, plot.file) for key, plot in figures.items()}
    for key, plot in figures.items():
        write_with(plots[key], lambda p, draw=plot.draw: draw(evidence, p))
    write_with(paths.importance(name), lambda p: importance.to_csv(p, index=False))
    answers = predictions(y, said, task, classes)
    write_with(paths.predictions(name), lambda p: answers.to_csv(p, index=False))
    write_json(paths.metrics(name), metrics)

    backend = store.tracking_uri(cfg)  # before connect() may switch to the main's server
    experiment_id, parent_run_id = store.connect(cfg, paths)
    fit = read_json(paths.train_info(name))
    cv = read_json(paths.cv(name))
    cv_metrics = flat_cv(cv)
    for beside in ("search", "fresh"):  # a tuned model: its search's best, its fresh CV
        if beside in cv:
            cv_metrics.update({f"{beside}_{k}": v for k, v in flat_cv(cv[beside]).items()})
    train = pd.read_parquet(paths.train_data)
    test = pd.concat([X, y], axis=1)
    run = model_run.log_model_run(
        cfg,
        name,
        paths.model_file(name),
        {
            **metrics,
            **cv_metrics,
            "fit_seconds": fit["fit_seconds"],
            "n_train": fit["n_train"],
            **({"boosting_rounds": fit["boosting_rounds"]} if "boosting_rounds" in fit else {}),
            "n_test": len(X),
        },
        [
            *(("plots", path) for path in plots.values()),
            ("metrics", paths.metrics(name)),
            ("metrics", paths.cv(name)),
            ("metrics", paths.importance(name)),
            ("data", paths.data_summary),
        ],
        datasets={"training": (train, paths.train_data), "evaluation": (test, paths.test_data)},
        model_artifacts={"profile": paths.data_profile},
        experiment_id=experiment_id,
        reading=reading,
        parent_run_id=parent_run_id,
        backend_uri=backend,
        model_key=fit.get("model_key", ""),
    )
    write_json(paths.mlflow_run(name), run)
    log.info("%s: MLflow run %s (%s)", name, run["run_id"], run["model_uri"])
    return metrics

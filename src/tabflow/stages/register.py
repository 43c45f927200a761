"""Stage 'register': the run's best model (by CV, the leaderboard's first row) becomes a
new version of the registered model; it takes the alias `champion` only when its CV score
beats the current champion's on the same training rows by at least registry.min_delta,
else `challenger`. The first version is champion.

"The same rows": a champion whose training split (and CV folds and seed) differ from
today's is cross-validated again, from its logged config, on today's training part. Both
test scores are reported too (the champion's on today's test split), never compared.
"""

from __future__ import annotations

import logging
from typing import Any

from tabflow.io import file_digest, read_json, write_json
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)


def run(job: Job) -> dict[str, Any]:
    from mlflow import MlflowClient

    from tabflow import registry
    from tabflow.leaderboard import read_csv
    from tabflow.metrics import better_first
    from tabflow.tracking import store

    cfg = job.cfg
    paths = Paths.from_config(cfg)
    metric = str(cfg.evaluation.primary_metric)
    name = str(cfg.registry.model_name)
    delta = float(cfg.registry.min_delta)
    best = read_csv(paths.leaderboard_csv)[0]
    record = read_json(paths.mlflow_run(best["model"]))
    same_rows = _rows_key(cfg, paths)
    store.connect(cfg, paths)
    client = MlflowClient()
    tags = client.get_run(record["run_id"]).data.tags
    champion = registry.alias(client, name, registry.CHAMPION)
    version = registry.register(
        name,
        record["model_uri"],
        {
            "model": best["model"],
            "run_id": record["run_id"],
            "data_md5": tags.get("data_file_md5", "unknown"),
            "git_commit": tags.get("git_commit", "unknown"),
            "tabflow.rows": same_rows,
        },
    )
    new = {
        "version": int(version.version),
        "model": best["model"],
        "run_id": record["run_id"],
        "cv": read_json(paths.cv(best["model"]))[metric]["mean"],
        "test": read_json(paths.metrics(best["model"]))[metric],
    }
    decision: dict[str, Any] = {"registered_model": name, "metric": metric, "min_delta": delta}
    if champion is None:
        promoted, why = True, "the first version"
        decision["champion"] = None
    else:
        held = _champion_scores(client, champion, cfg, paths, metric, same_rows)
        decision["champion"] = held
        if held["cv"] is None:
            promoted = True
            why = f"the champion cannot be scored on these rows ({held['problem']})"
        else:
            margin = better_first(metric, held["cv"]) - better_first(metric, new["cv"])
            promoted = margin >= delta
            verb = "is" if promoted else "is not"
            why = (
                f"CV {metric} {new['cv']:.4f} {verb} at least min_delta={delta:g} better than "
                f"champion v{held['version']} ({held['model']}) {held['cv']:.4f}"
            )
    which = registry.CHAMPION if promoted else registry.CHALLENGER
    client.set_registered_model_alias(name, which, version.version)
    decision.update(new=new, alias=which, promoted=promoted, reason=why)
    decision["text"] = (
        f"registry: {name} v{new['version']} ({new['model']}) is {which}: {why}"
        + _tests(decision, metric)
    )
    log.info("%s", decision["text"])
    write_json(paths.registry, decision)
    return decision


def _tests(decision: dict[str, Any], metric: str) -> str:
    held = decision.get("champion") or {}
    text = f"; test {metric} {decision['new']['test']:.4f}"
    if held.get("test") is not None:
        text += f" (champion {held['test']:.4f})"
    return text


def _rows_key(cfg: Any, paths: Paths) -> str:
    """What makes two CV scores comparable: the training rows, the folds and the seed."""
    digest = file_digest(paths.train_data, "sha256")[:16]
    return f"{digest}:{int(cfg.evaluation.cv_folds)}:{int(cfg.training.random_state)}"


def _champion_scores(
    client: Any, champion: Any, cfg: Any, paths: Paths, metric: str, rows: str
) -> dict[str, Any]:
    """The champion's CV score on today's training rows (logged, or computed again) and
    its score on today's test split."""
    import pandas as pd

    from tabflow import registry
    from tabflow.data import xy
    from tabflow.metrics import METRICS, cv_key

    held: dict[str, Any] = {
        "version": int(champion.version),
        "model": champion.tags.get("model", "?"),
        "cv": None,
        "test": None,
        "cv_recomputed": False,
    }
    run = client.get_run(champion.run_id)
    try:
        pipeline, _ = registry.load(champion.source)
        X, y = xy(pd.read_parquet(paths.test_data), str(cfg.data.target_col))
        spec = METRICS[metric]
        scores = pipeline.predict_proba(X)[:, 1] if spec.uses_scores else pipeline.predict(X)
        held["test"] = spec.score(y.to_numpy(), scores)
        if champion.tags.get("tabflow.rows") == rows:
            held["cv"] = float(run.data.metrics[cv_key(metric, "mean")])
        else:
            held["cv"] = _cross_validate_again(client, champion.run_id, cfg, paths, metric)
            held["cv_recomputed"] = True
    except Exception as err:  # another schema, a model tabflow cannot read: say so
        held["problem"] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    return held


def _cross_validate_again(client: Any, run_id: str, cfg: Any, paths: Paths, metric: str) -> float:
    """The champion's logged config, cross-validated on today's training part."""
    from pathlib import Path

    import pandas as pd
    import yaml

    from tabflow import metrics
    from tabflow.data import xy
    from tabflow.models import build_pipeline

    logged = yaml.safe_load(Path(client.download_artifacts(run_id, "config.yaml")).read_text())
    summary = read_json(paths.data_summary)
    pipeline = build_pipeline(logged["model"], summary["numeric_cols"], summary["categorical_cols"])
    X, y = xy(pd.read_parquet(paths.train_data), str(cfg.data.target_col))
    folds, seed = int(cfg.evaluation.cv_folds), int(cfg.training.random_state)
    cv = metrics.cross_validate(pipeline, X, y, folds, seed, primary=metric, log_folds=False)
    return float(cv[metric]["mean"])

"""Stage 'register': the run's best model (by CV, the leaderboard's first row) becomes a
new version of the registered model, unless it is one already; it takes the alias
`champion` only when its CV score beats the current champion's on the same training rows
by more than registry.min_delta, else `challenger`. The first version is champion.

A registered model holds one problem (task, target, positive class, feature columns and
their kinds: registry.problem_of), recorded as its tag `tabflow.problem`: a model of
another problem is refused with one line, never compared, never champion. A model is
known by its key (what it follows from: config, training rows, code; stages/train.py),
so training it again, by `--forceall` or after `make clean`, registers nothing new.

"The same rows": a champion whose training split (and CV folds and seed) differ from
today's is cross-validated again, as it is (its own reading of rows and estimator), on
today's training part. Both test scores are reported too (the champion's on today's test
split), never compared. A champion that cannot be scored is never a reason to promote.
"""

from __future__ import annotations

import logging
from typing import Any

from tabflow.errors import ConfigError
from tabflow.io import file_digest, read_json, write_json
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)

PROBLEM, PROBLEM_TEXT, MODEL_KEY, ROWS = (
    "tabflow.problem",
    "tabflow.problem_text",
    "tabflow.model_key",
    "tabflow.rows",
)


def run(job: Job) -> dict[str, Any]:
    from mlflow import MlflowClient

    from tabflow import registry
    from tabflow.leaderboard import read_csv
    from tabflow.tracking import store

    cfg = job.cfg
    paths = Paths.from_config(cfg)
    metric = str(cfg.evaluation.primary_metric)
    name = str(cfg.registry.model_name)
    best = read_csv(paths.leaderboard_csv)[0]
    record = read_json(paths.mlflow_run(best["model"]))
    reading = read_json(paths.data_summary)["reading"]
    problem = registry.problem_key(reading)
    same_rows = _rows_key(cfg, paths)
    store.connect(cfg, paths)
    client = MlflowClient()
    tags = client.get_run(record["run_id"]).data.tags
    new = {
        "model": best["model"],
        "run_id": record["run_id"],
        "cv": read_json(paths.cv(best["model"]))[metric]["mean"],
        "test": read_json(paths.metrics(best["model"]))[metric],
    }
    decision: dict[str, Any] = {
        "registered_model": name,
        "metric": metric,
        "min_delta": float(cfg.registry.min_delta),
        "problem": registry.problem_text(reading),
    }
    held_problem = _held_problem(client, name)
    if held_problem is not None and held_problem != problem:
        raise ConfigError(
            f"registry.model_name={name!r} holds models of another problem "
            f"({_problem_text(client, name)}), not of this run's "
            f"({registry.problem_text(reading)}); register this one under another name: "
            f"--config overrides='registry.model_name=...' (or data.name)"
        )
    key = tags.get(MODEL_KEY, "")
    existing = _existing(client, name, record["run_id"], key)
    if existing is not None:
        decision.update(_already(client, name, existing, new))
    else:
        problem_tags = {PROBLEM: problem, PROBLEM_TEXT: registry.problem_text(reading)}
        decision.update(_new_version(client, cfg, paths, name, new, tags, same_rows, problem_tags))
        if held_problem is None:
            client.set_registered_model_tag(name, PROBLEM, problem)
            client.set_registered_model_tag(name, PROBLEM_TEXT, registry.problem_text(reading))
    decision["text"] = (
        f"registry: {name} v{decision['new']['version']} ({new['model']}) is "
        f"{decision['alias']}: {decision['reason']}" + _tests(decision, metric)
    )
    log.info("%s", decision["text"])
    write_json(paths.registry, decision)
    return decision


def _held_problem(client: Any, name: str) -> str | None:
    """The problem the registered model `name` holds (None: no such model yet). One made
    by an older tabflow, without the tag, holds a problem no run can prove it shares."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    return model.tags.get(PROBLEM, "unknown (registered before tabflow recorded problems)")


def _problem_text(client: Any, name: str) -> str:
    return client.get_registered_model(name).tags.get(PROBLEM_TEXT, "not recorded")


def _existing(client: Any, name: str, run_id: str, key: str) -> Any | None:
    """The version that already is this model: logged by the same run, or with the same
    model key (the same config, training rows and code)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    for version in sorted(versions, key=lambda v: int(v.version)):
        same_key = key and version.tags.get(MODEL_KEY) == key
        if version.run_id == run_id or version.tags.get("run_id") == run_id or same_key:
            return version
    return None


def _already(client: Any, name: str, version: Any, new: dict[str, Any]) -> dict[str, Any]:
    aliases = client.get_registered_model(name).aliases or {}
    held = sorted(a for a, v in aliases.items() if str(v) == str(version.version))
    return {
        "new": {**new, "version": int(version.version)},
        "alias": ", ".join(held) or "without an alias",
        "promoted": False,
        "registered": False,
        "champion": None,
        "reason": "already registered (the same run, or the same config, training rows and "
        "code): no new version",
    }


def _new_version(
    client: Any,
    cfg: Any,
    paths: Paths,
    name: str,
    new: dict[str, Any],
    tags: dict[str, str],
    same_rows: str,
    problem: dict[str, str],
) -> dict[str, Any]:
    """Register the model as a new version and decide its alias."""
    from tabflow import registry

    champion = registry.alias(client, name, registry.CHAMPION)
    metric = str(cfg.evaluation.primary_metric)
    delta = float(cfg.registry.min_delta)
    if champion is None:
        promoted, why, held = True, "the first version", None
    else:
        held = _champion_scores(client, champion, cfg, paths, metric, same_rows)
        promoted, why = gate(metric, new["cv"], held, delta)
    version = registry.register(
        name,
        read_json(paths.mlflow_run(new["model"]))["model_uri"],
        {
            "model": new["model"],
            "run_id": new["run_id"],
            "data_md5": tags.get("data_file_md5", "unknown"),
            "git_commit": tags.get("git_commit", "unknown"),
            ROWS: same_rows,
            **problem,
            MODEL_KEY: tags.get(MODEL_KEY, ""),
        },
    )
    which = registry.CHAMPION if promoted else registry.CHALLENGER
    client.set_registered_model_alias(name, which, version.version)
    return {
        "new": {**new, "version": int(version.version)},
        "alias": which,
        "promoted": promoted,
        "registered": True,
        "champion": held,
        "reason": why,
    }


def gate(metric: str, cv: float, held: dict[str, Any], delta: float) -> tuple[bool, str]:
    """(promoted, why): champion only when `cv` beats the champion's CV on the same rows by
    more than `delta`; a tie, or a champion that could not be scored, is not a win."""
    from tabflow.metrics import better_first

    against = f"champion v{held['version']} ({held['model']})"
    if held.get("cv") is None:
        return False, f"{against} could not be scored ({held.get('problem')}): not compared"
    margin = better_first(metric, held["cv"]) - better_first(metric, cv)
    scores = f"CV {metric} {cv:.4f} against {against} {held['cv']:.4f}"
    if margin <= 0:
        return False, f"{scores}: not better"
    if margin <= delta:
        return False, f"{scores}: better by {margin:.4g}, not by more than min_delta={delta:g}"
    return True, f"{scores}: better by {margin:.4g}, more than min_delta={delta:g}"


def _tests(decision: dict[str, Any], metric: str) -> str:
    held = decision.get("champion") or {}
    text = f"; test {metric} {decision['new']['test']:.4f}"
    if held.get("test") is not None:
        text += f" (champion {held['test']:.4f})"
    return text


def _rows_key(cfg: Any, paths: Paths) -> str:
    """What makes two CV scores comparable, and two test scores: the training and test
    rows, the folds and the seed."""
    train = file_digest(paths.train_data, "sha256")[:16]
    test = file_digest(paths.test_data, "sha256")[:16]
    return f"{train}:{test}:{int(cfg.evaluation.cv_folds)}:{int(cfg.training.random_state)}"


def _champion_scores(
    client: Any, champion: Any, cfg: Any, paths: Paths, metric: str, rows: str
) -> dict[str, Any]:
    """The champion's CV score on today's training rows and its score on today's test
    split: those it logged when it was trained on these very rows; else the champion
    loaded, scored on the test split and cross-validated again."""
    from tabflow.metrics import cv_key

    held: dict[str, Any] = {
        "version": int(champion.version),
        "model": champion.tags.get("model", "?"),
        "cv": None,
        "test": None,
        "cv_recomputed": False,
    }
    try:
        run = client.get_run(champion.run_id)
        if champion.tags.get(ROWS) == rows:
            held["cv"] = float(run.data.metrics[cv_key(metric, "mean")])
            held["test"] = float(run.data.metrics[metric])
        else:
            held.update(_scored_again(champion, cfg, paths, metric))
    except Exception as err:  # a model tabflow cannot read, a store that fails: say so
        held["problem"] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    return held


def _scored_again(champion: Any, cfg: Any, paths: Paths, metric: str) -> dict[str, Any]:
    """A champion trained on other rows, as it is (its reading of rows, its estimator's
    params): scored on today's test split, and unfitted and cross-validated on today's
    training part."""
    import pandas as pd
    from sklearn.base import clone

    from tabflow import metrics, registry
    from tabflow.data import xy

    pipeline, _ = registry.load(champion.source)
    target, task = str(cfg.data.target_col), str(cfg.task.name)
    X, y = xy(pd.read_parquet(paths.test_data), target)
    test = metrics.score_fitted(pipeline, X, y.to_numpy(), task, [metric])[metric]
    X, y = xy(pd.read_parquet(paths.train_data), target)
    folds, seed = int(cfg.evaluation.cv_folds), int(cfg.training.random_state)
    cv = metrics.cross_validate(clone(pipeline), X, y, folds, seed, task, [metric], log_folds=False)
    return {"test": test, "cv": float(cv[metric]["mean"]), "cv_recomputed": True}

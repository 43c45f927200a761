"""Stage 'sweep_select': gather a model's trials, pick the best by its CV score on the
training part, draw the score against each parameter, log the sweep to MLflow.

The selected parameters (best.json) are an input of the tuned model's train and evaluate
jobs, which score it on the test split once: the test split takes no part in the choice.
"""

from __future__ import annotations

import logging
from typing import Any

from tabflow.errors import DataError
from tabflow.io import read_json, write_json, write_with
from tabflow.paths import Paths
from tabflow.stages import Job

log = logging.getLogger(__name__)


def gather(
    paths: Paths, spec: dict[str, Any], model: str, metrics: list[str], outer: int | None = None
) -> list[dict[str, Any]]:
    """Every trial of a model's search (`outer` k: of its copy inside outer fold k): from
    the shards (whichever took it; a shard that ran again after a Ctrl-C read the others'
    back), or (tpe) from the shared study."""
    from tabflow.stages.sweep_shard import DONE, row, search_label

    search = search_label(model, outer)
    shards = [read_json(paths.sweep_shard(spec["name"], i)) for i in range(spec["shards"])]
    if spec["strategy"] != "tpe":
        found: dict[int, dict[str, Any]] = {}
        for shard in shards:
            for r in shard["trials"]:
                if r["model"] == model and r.get("outer") == outer:
                    found.setdefault(r["trial"], _trial_row(r))
        if missing := sorted(set(range(spec["count"])) - set(found)):
            raise DataError(
                f"sweep {spec['name']} of {search}: no shard ran trial(s) {missing[:5]}; "
                f"run the sweep again (snakemake --forcerun sweep_shard)"
            )
        return [found[i] for i in sorted(found) if i < spec["count"]]
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(paths.optuna_journal(spec["name"], model)))
    name = next(s["studies"][search] for s in shards if search in s["studies"])
    study = optuna.load_study(study_name=name, storage=storage)
    states = tuple(getattr(optuna.trial.TrialState, state) for state in DONE)
    done = study.get_trials(deepcopy=False, states=states)
    return [
        row(t.number, t.params, t.user_attrs["result"], metrics)
        for t in done
        if "result" in t.user_attrs and t.user_attrs.get("slot", 0) < spec["count"]
    ]


def _trial_row(shard_row: dict[str, Any]) -> dict[str, Any]:
    """A trial as trials.csv has it: without the model, outer fold and wall-clock times."""
    drop = ("model", "outer", "started", "ended")
    return {k: v for k, v in shard_row.items() if k not in drop}


def _flat(row: dict[str, Any], selected: bool) -> dict[str, Any]:
    """A trials.csv line: the parameters as param.<name> columns."""
    params = {f"param.{k}": v for k, v in row["params"].items()}
    rest = {k: v for k, v in row.items() if k not in ("trial", "params")}
    return {"trial": row["trial"], **params, **rest, "selected": selected}


def draw_sweep(rows: list[dict], best: dict, metric: str, model: str, path: Any) -> None:
    """CV score (mean ± std over the folds) against each swept parameter, as PNG; the
    selected trial in red. Text and None values are shown as categories."""
    from tabflow.metrics import cv_key
    from tabflow.plots import _figure, _save

    names = list(best["params"])
    fig = _figure(4.2 * len(names), 3.8)
    mean, std = cv_key(metric, "mean"), cv_key(metric, "std")
    for i, name in enumerate(names, 1):
        ax = fig.add_subplot(1, len(names), i)
        values = [r["params"][name] for r in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            xs = values
        else:
            levels = sorted({str(v) for v in values})
            xs = [levels.index(str(v)) for v in values]
            ax.set_xticks(range(len(levels)), levels)
        ax.errorbar(
            xs,
            [r[mean] for r in rows],
            yerr=[r[std] for r in rows],
            fmt="o",
            color="C0",
            alpha=0.6,
            markersize=4,
        )
        picked = xs[rows.index(best)]
        ax.plot([picked], [best[mean]], "o", color="C3", markersize=8, label="selected")
        ax.set(xlabel=name, ylabel=f"CV {metric}" if i == 1 else "")
        if numeric and min(values) > 0 and max(values) / min(values) >= 100:
            ax.set_xscale("log")
    fig.axes[0].legend(loc="best")
    fig.suptitle(f"Sweep of {model}: CV {metric} by parameter")
    _save(fig, path)


def select(rows: list[dict[str, Any]], metric: str, label: str = "") -> dict[str, Any]:
    """The best trial by CV mean of `metric` (ties: the smaller std, then the first) of
    those that did not fail; if every trial failed, one line with the first error."""
    from tabflow.metrics import better_first, cv_key

    mean, std = cv_key(metric, "mean"), cv_key(metric, "std")
    scored = [r for r in rows if not r.get("error")]
    if not scored:
        first = min(rows, key=lambda r: r["trial"])
        raise DataError(
            f"{label}every one of the {len(rows)} trials failed; the first, trial "
            f"{first['trial']} {first['params']}: {first['error']}; change the sweep's space"
        )
    return min(scored, key=lambda r: (better_first(metric, r[mean]), r[std], r["trial"]))


def rescore(job: Job, best: dict[str, Any], label: str) -> tuple[dict[str, Any], int]:
    """The selected parameters scored again by CV on another fold split of the same
    training rows (a score the selection did not see; cached like a trial), and its seed."""
    from tabflow.stages.sweep_shard import Trials
    from tabflow.sweep import fresh_seed

    seed = fresh_seed(int(job.cfg.training.random_state))
    result = Trials(job, seed=seed).score(best["params"])
    if result.get("error"):
        raise DataError(
            f"{label}the selected trial {best['trial']} {best['params']} failed on a fresh "
            f"fold split (seed {seed}): {result['error']}"
        )
    return result["cv"], seed


def nested(job: Job, spec: dict[str, Any], metric: str, label: str) -> dict[str, Any]:
    """Nested CV of the whole search: in each outer fold, the trials its copy of the search
    scored on the rows outside the fold, the best of them by that CV, fitted there and
    scored on the fold. {"cv": mean and std over the outer folds, "folds": each fold's
    choice and scores}: an estimate of what searching gives, which no choice has seen."""
    from tabflow.metrics import summarize
    from tabflow.stages.sweep_shard import Trials

    paths, model = Paths.from_config(job.cfg), str(job.model)
    names = list(job.cfg.task.metrics)
    data = None
    folds = []
    for k in range(int(spec["outer"])):
        rows = gather(paths, spec, model, names, outer=k)
        best = select(rows, metric, f"{label}outer fold {k}: ")
        trials = Trials(job, data=data, outer=k)
        data = trials.data  # the training rows, read once
        scores = trials.held_out(best["params"])
        if scores.get("error"):
            raise DataError(
                f"{label}outer fold {k}: its selected trial {best['trial']} "
                f"{best['params']} failed on the rows outside the fold: {scores['error']}"
            )
        folds.append({"outer": k, "trial": best["trial"], "params": best["params"], **scores})
    return {"cv": summarize(folds, names), "folds": folds}


def run(job: Job) -> dict[str, Any]:
    import pandas as pd

    from tabflow.metrics import cv_key, flat_cv, nested_cv
    from tabflow.tracking import store, sweep_run

    spec, model, cfg = job.params["sweep"], str(job.model), job.cfg
    paths = Paths.from_config(cfg)
    metric = str(cfg.evaluation.primary_metric)
    rows = gather(paths, spec, model, list(cfg.task.metrics))
    best = select(rows, metric, f"sweep {spec['name']} of {model}: ")
    failed = [r for r in rows if r.get("error")]
    if failed:
        log.warning(
            "%s: %d of %d trials failed (trials.csv names why), e.g. trial %d: %s",
            model,
            len(failed),
            len(rows),
            failed[0]["trial"],
            failed[0]["error"],
        )
    log.info(
        "%s: %d trials, best by CV %s: trial %d %s (%.4f ± %.4f)",
        model,
        len(rows),
        metric,
        best["trial"],
        best["params"],
        best[cv_key(metric, "mean")],
        best[cv_key(metric, "std")],
    )
    fresh, seed = rescore(job, best, f"sweep {spec['name']} of {model}: ")
    log.info(
        "%s: the selected trial on a fresh fold split (seed %d): %s %.4f ± %.4f (the "
        "search's best, on the folds it chose on: %.4f)",
        model,
        seed,
        metric,
        fresh[metric]["mean"],
        fresh[metric]["std"],
        best[cv_key(metric, "mean")],
    )
    again = {f"fresh_{k}": v for k, v in flat_cv(fresh).items()}
    estimate = None
    if spec["outer"]:
        estimate = nested(job, spec, metric, f"sweep {spec['name']} of {model}: ")
        log.info(
            "%s: nested CV of the whole search (%d outer folds): %s %.4f ± %.4f",
            model,
            estimate["cv"]["folds"],
            metric,
            estimate["cv"][metric]["mean"],
            estimate["cv"][metric]["std"],
        )
        again.update({f"nested_{k}": v for k, v in flat_cv(estimate["cv"]).items()})
    table = pd.DataFrame(  # ints stay ints
        [{**_flat(r, r is best), **(again if r is best else {})} for r in rows], dtype=object
    )
    name = spec["name"]
    write_with(paths.sweep_trials(name, model), lambda p: table.to_csv(p, index=False))
    scored = [r for r in rows if not r.get("error")]
    write_with(paths.sweep_plot(name, model), lambda p: draw_sweep(scored, best, metric, model, p))
    chosen = {
        "sweep": name,
        "strategy": spec["strategy"],
        "trial": best["trial"],
        "params": best["params"],
        "n_trials": len(rows),
        "cv": nested_cv(best),
        "fresh_cv": fresh,
        "fresh_seed": seed,
        **({"nested": estimate} if estimate is not None else {}),
    }
    backend = store.tracking_uri(cfg)
    experiment_id, parent_run_id = store.connect(cfg, paths)
    record = sweep_run.log_sweep(
        cfg,
        model,
        name,
        rows,
        best,
        [paths.sweep_trials(name, model), paths.sweep_plot(name, model)],
        experiment_id,
        parent_run_id,
        backend,
    )
    write_json(paths.sweep_run(name, model), record)
    write_json(paths.sweep_best(name, model), chosen)
    return chosen

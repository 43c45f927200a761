"""`make bench`: the pipeline against the alternatives a user would pick, on this machine.

    python -m benchmarks.bench [--quick] [--reps N] [--rows N] [--cases a,b] [--out FILE]

Everything runs in a temporary copy of the repository (as a fresh clone has it) with the
demo data. Figures that are compared are taken in the same repetition, alternating, and
reported as medians of `--reps` repetitions (this machine is shared and noisy):

  cold         `snakemake -j 3` from an empty state vs benchmarks/one_process.py
  noop         `snakemake -j 3` with everything up to date, against the same Snakemake's
               no-op on a one-rule Snakefile (with a param, and without), alternating
  incremental  one model YAML edited, then `snakemake -j 3`, as a fraction of the cold run
  dvc_repro    the same scripts as stages of a generated dvc.yaml, `dvc repro -f`
  large        a make_classification CSV (--rows rows, 20 features) through the pipeline
               and through one_process.py: wall time, and each stage's peak RSS
               (from the "done: ..." line every job writes to its log)
  many         every model x 10 seeds (`--config seeds=[0,...,9]`): time to build the DAG
               (a dry run), wall time of the run against the same work in one process
               (one_process.py --seeds), and that every MLflow run is there
  sweep        configs/sweep/wide.yaml (3 models x 40 random trials, 5-fold CV, each trial
               an MLflow child run, then each best refit and tested): snakemake -j 3
               against (a) one process in a plain loop (one_process.py --sweep, CV with
               n_jobs=2), (c) Hydra multirun with the basic launcher over
               benchmarks/hydra_trial.py (trials only)
  skewed       SKEWED (120 grid points; an rf or gb trial costs many lr trials): the sweep
               against the plain loop as in sweep, alternating (trial phase, busy cores)
  extension    a 24-point grid, then grown to 36 points: trials fitted and wall time
  boosting     a 1,000,000-row, 20-feature make_classification CSV, and the same in
               regression (make_regression), through lgbm, xgb, catboost, hgb, gb and rf:
               each job's
               wall, CPU and peak RSS and each model's CV score, and the workflow against
               one_process.py on the same work (2-fold CV, one permutation repeat). gb and rf
               fit a tenth of their files' trees (--sklearn-trees-fraction; 1 for all):
               at full size their fits take hours on 2 cores (the table scales them up)
  threads      the boosting libraries on the binary CSV (--threads-rows), the rule's
               threads (ours: one per job, four jobs at -j 3) against what a user who
               sets every core gets (n_jobs = every core in every job: oversubscribed)
  huge         5,000,000 rows (binary) through the fastest (least CPU) of the boosting
               case's models (or --huge-model), as a user runs one model on this machine
               (train's threads = every core, 5-fold CV, permutation importance): each
               job's peak memory, and where the time goes
  slurm        only where a SLURM answers (tools/slurm/up.sh): a cold run through
               workflow/profiles/slurm vs a cold `snakemake -j 3`, alternating; and once
               each, the profile before its tuning for short jobs (the plugin's status-check
               intervals, no groups) and with the intervals tuned but no groups

--quick (the smoke test): one repetition, model lr only, 2,000 rows (3,000 for huge),
2 seeds.
Writes a JSON file (default: benchmarks/results.json) and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALL_CASES = (
    "cold",
    "noop",
    "incremental",
    "dvc_repro",
    "large",
    "many",
    "sweep",
    "extension",
    "skewed",
    "boosting",
    "threads",
    "huge",
    "slurm",
)
BOOSTING_MODELS = ("lgbm", "xgb", "catboost", "hgb", "gb", "rf")
# Their thread counts: a parameter (what the oversubscribed run sets to every core), or
# None: histogram boosting's OpenMP takes OMP_NUM_THREADS, which Snakemake sets per job.
THREADED_MODELS = {"lgbm": "n_jobs", "xgb": "n_jobs", "catboost": "thread_count", "hgb": None}
BUDGET = {  # issue 6, on this 2-core machine
    "cold_ratio": 1.1,  # issue 14 (issue 6: 1.0)
    "noop_ratio": 1.15,  # issue 12: against a bare Snakemake's no-op in the same run
    "incremental_fraction": 0.4,
    "dvc_ratio": 0.6,
    "large_wall_ratio": 1.2,
    "large_memory_ratio": 1.5,
    "many_dag_seconds": 3.0,
    "many_ratio": 1.5,  # issue 14: seeds against the same work in one process
    "sweep_vs_loop": 1.3,  # (a), issue 23: the whole run
    "sweep_trial_phase": 1.1,  # issue 23: first trial started to last ended
    "boosting_wall_ratio": 1.2,  # issue 22: the workflow against one process
    "huge_peak_mb": 24 * 1024,  # issue 22: 5,000,000 rows within the machine's memory
}
# workflow/profiles/slurm before its tuning for short jobs (issue 16): the plugin's own
# status checks, one SLURM job per rule; today's resources, nothing that kept it from
# starting (mandatory envvars, CHANGE-ME account and partition, 4 threads on 2 cores).
UNTUNED_SLURM_PROFILE = """\
executor: slurm
jobs: 50
latency-wait: 60
rerun-incomplete: true
set-resources:
  preprocess: {mem_mb: 2000, runtime: 10}
  train: {mem_mb: 4000, runtime: 30}
  evaluate: {mem_mb: 4000, runtime: 20}
"""
DONE = re.compile(r"done: ([\d.]+) s wall, ([\d.]+) s CPU, peak RSS (\d+) MB")


class Bench:
    def __init__(self, work: Path, models: list[str], reps: int) -> None:
        self.work = work
        self.models = models
        self.reps = reps
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TABFLOW_"))},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "DVC_NO_ANALYTICS": "1",
        }
        self.model_arg = ["--config", f"models=[{','.join(models)}]"]
        self.current = False  # did the last command leave the results up to date?
        self.last_output = ""

    def time(self, *cmd: str) -> float:
        """Wall seconds of one command (its output is kept in self.last_output)."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            cwd=self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out, _ = proc.communicate()
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{out[-3000:]}")
        self.last_output = out
        return seconds

    def clean(self) -> None:
        self.current = False
        for name in ("results", "mlflow.db", "mlruns", ".snakemake", "dvc.lock"):
            path = self.work / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def snakemake(self, overrides: str = "") -> float:
        args = ["snakemake", "-j", "3", *self.model_arg]
        if overrides:
            args.append(f"overrides={overrides}")
        seconds = self.time(*args)
        self.current = not overrides
        return seconds

    def one_process(
        self, overrides: str = "", *extra: str, models: list[str] | None = None
    ) -> float:
        """benchmarks/one_process.py on `models` (default: the bench's), with `extra`
        options (--seeds, --sweep) and Hydra overrides."""
        self.current = False
        args = [sys.executable, str(ROOT / "benchmarks/one_process.py")]
        args += ["--models", ",".join(models or self.models), *extra, *overrides.split()]
        return self.time(*args)


def alternate(b: Bench, **runs: Callable[[], float]) -> dict[str, list[float]]:
    """Each run b.reps times from an empty state, alternating which goes first (this
    machine is shared and noisy)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for rep in range(b.reps):
        for name in names[::-1] if rep % 2 == 0 else names:
            b.clean()
            times[name].append(runs[name]())
    return times


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def paired(ours: str, theirs: str, t: dict[str, list[float]]) -> dict:
    """The times of two alternated commands, their medians and ours / theirs."""
    return {
        **{f"{name}_s": t[name] for name in (ours, theirs)},
        **{f"{name}_median_s": median(t[name]) for name in (ours, theirs)},
        "ratio": round(median(t[ours]) / median(t[theirs]), 2),
    }


def case_cold(b: Bench, out: dict) -> None:
    out["cold"] = paired(
        "snakemake", "one_process", alternate(b, snakemake=b.snakemake, one_process=b.one_process)
    )


def _current(b: Bench) -> None:
    """Bring the results up to date with snakemake unless its last run just did."""
    if not b.current:
        b.snakemake()


# A one-rule Snakefile, with and without a param: Snakemake imports pandas (0.2-0.5 s)
# to compare params as soon as a job has any, and every rule of this workflow has them.
BARE = {
    "bare": 'rule a:\n    output:\n        "a.txt",\n    shell:\n        "touch {output}"\n',
    "bare_param": (
        'rule a:\n    output:\n        "a.txt",\n    params:\n        x="y",\n'
        '    shell:\n        "touch {output}"\n'
    ),
}


def case_noop(b: Bench, out: dict) -> None:
    _current(b)
    bare = {}
    for name, text in BARE.items():
        folder = b.work.parent / name
        folder.mkdir(exist_ok=True)
        (folder / "Snakefile").write_text(text)
        bare[name] = Bench(folder, b.models, b.reps)
        bare[name].time("snakemake", "-j", "3")  # make a.txt: later runs are no-ops
    times: dict[str, list[float]] = {"project": [], **{name: [] for name in BARE}}
    for rep in range(b.reps):
        order = ["project", *BARE] if rep % 2 == 0 else [*BARE, "project"]
        for name in order:
            # The project's no-op repeats the cold run's --config: other arguments are
            # another plan, composed once and cached (1-1.5 s on its first no-op).
            args = b.model_arg if name == "project" else []
            bench = b if name == "project" else bare[name]
            times[name].append(bench.time("snakemake", "-j", "3", *args))
            assert "Nothing to be done" in bench.last_output, bench.last_output[-2000:]
    out["noop"] = {
        "seconds": times["project"],
        "median_s": median(times["project"]),
        **{f"{name}_s": times[name] for name in BARE},
        **{f"{name}_median_s": median(times[name]) for name in BARE},
        "ratio": round(median(times["project"]) / median(times["bare_param"]), 2),
        "ratio_bare_no_param": round(median(times["project"]) / median(times["bare"]), 2),
    }


def case_incremental(b: Bench, out: dict) -> None:
    """Edit one hyperparameter of the last model, rerun; against the cold run's median."""
    if "cold" not in out:
        case_cold(b, out)
    model = b.models[-1]
    yaml_path = b.work / "configs" / "model" / f"{model}.yaml"
    original = yaml_path.read_text()
    _current(b)
    rerun = []
    try:
        for rep in range(b.reps):
            yaml_path.write_text(_edit_model(original, rep))
            rerun.append(b.snakemake())
    finally:
        yaml_path.write_text(original)
        b.current = False
    cold = out["cold"]["snakemake_median_s"]
    out["incremental"] = {
        "model": model,
        "rerun_s": rerun,
        "rerun_median_s": median(rerun),
        "fraction_of_cold": round(median(rerun) / cold, 2),
    }


def _edit_model(text: str, rep: int) -> str:
    """Change one hyperparameter so that only this model's jobs rerun."""
    for key, values in (("n_estimators:", ("101", "99")), ("C:", ("0.99", "1.01"))):
        for line in text.splitlines():
            if line.strip().startswith(key):
                indent = line[: len(line) - len(line.lstrip())]
                return text.replace(line, f"{indent}{key} {values[rep % 2]}")
    raise SystemExit("bench: no n_estimators or C to edit in the model YAML")


def dvc_yaml(models: list[str]) -> str:
    """The same three stages (plus the leaderboard) for `dvc repro`, calling the scripts;
    the files are tabflow.paths' (the demo's results_dir)."""
    from tabflow.paths import Paths

    p = Paths("results")

    def outs(*files: str) -> list[dict]:
        return [{f: {"cache": False}} for f in files]

    stages = {
        "preprocess": {
            "cmd": "python workflow/scripts/stage.py preprocess",
            "deps": ["data/raw/heart.csv", "configs"],
            "outs": outs(p.train_data, p.test_data),
        }
    }
    for m in models:
        stages[f"train_{m}"] = {
            "cmd": f"python workflow/scripts/stage.py train model={m}",
            "deps": [p.train_data],
            "outs": outs(p.model_file(m), p.cv(m)),
        }
        stages[f"evaluate_{m}"] = {
            "cmd": f"python workflow/scripts/stage.py evaluate model={m}",
            "deps": [p.model_file(m), p.test_data],
            "outs": outs(p.metrics(m)),
        }
    stages["leaderboard"] = {
        "cmd": "python workflow/scripts/stage.py leaderboard",
        "deps": [p.metrics(m) for m in models],
        "outs": outs(p.leaderboard_csv),
    }
    return json.dumps({"stages": stages}, indent=2)


def case_dvc_repro(b: Bench, out: dict) -> None:
    (b.work / "dvc.yaml").write_text(dvc_yaml(b.models))
    try:
        t = alternate(
            b, snakemake=b.snakemake, dvc_repro=lambda: b.time("dvc", "repro", "-f", "-q")
        )
    finally:
        (b.work / "dvc.yaml").unlink()
        b.clean()
    out["dvc_repro"] = paired("snakemake", "dvc_repro", t)


def make_large_csv(path: Path, rows: int, task: str = "binary") -> None:
    """20 features (8 informative), target y: make_classification, or make_regression."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv
    from sklearn.datasets import make_classification, make_regression

    if task == "regression":
        X, y = make_regression(
            n_samples=rows, n_features=20, n_informative=8, noise=10.0, random_state=0
        )
        y = np.round(y, 4)
    else:
        X, y = make_classification(
            n_samples=rows, n_features=20, n_informative=8, random_state=0, flip_y=0.05
        )
    columns = {f"x{i}": np.round(X[:, i], 6) for i in range(20)}
    del X
    pyarrow.csv.write_csv(pa.table({**columns, "y": y}), path)  # 10x pandas' to_csv


def stage_usage(results: Path) -> dict[str, dict[str, float]]:
    """Each job's 'done:' line from its log: wall s, CPU s, peak RSS MB."""
    out = {}
    for log in sorted((results / "logs").rglob("*.log")):
        if m := DONE.search(log.read_text()):
            name = f"{log.parent.name}/{log.stem}" if log.parent.name != log.stem else log.stem
            out[name] = {"wall_s": float(m[1]), "cpu_s": float(m[2]), "peak_mb": int(m[3])}
    return out


def case_large(b: Bench, out: dict, rows: int, large_models: list[str]) -> None:
    csv = b.work.parent / f"large-{rows}.csv"
    start = time.perf_counter()
    make_large_csv(csv, rows)
    made = time.perf_counter() - start
    # Two folds and one permutation repeat: the same work in both, at a size that ends.
    overrides = (
        f"data.raw_path={csv} data.target_col=y data.categorical_cols=[] "
        "evaluation.cv_folds=2 evaluation.permutation_repeats=1"
    )
    models, b.model_arg = b.model_arg, ["--config", f"models=[{','.join(large_models)}]"]
    b.clean()
    try:
        smk = b.snakemake(overrides)
    finally:
        b.model_arg = models
    stages = stage_usage(b.work / "results")
    b.clean()
    script = b.one_process(overrides, models=large_models)
    m = DONE.search(b.last_output)
    script_peak = int(m[3]) if m else 0
    smk_peak = max(s["peak_mb"] for s in stages.values())
    out["large"] = {
        "rows": rows,
        "models": large_models,
        "csv_mb": round(csv.stat().st_size / 2**20, 1),
        "csv_seconds_to_make": round(made, 1),
        "snakemake_s": round(smk, 2),
        "one_process_s": round(script, 2),
        "wall_ratio": round(smk / script, 2),
        "stages": stages,
        "snakemake_peak_mb": smk_peak,
        "one_process_peak_mb": script_peak,
        "memory_ratio": round(smk_peak / script_peak, 2) if script_peak else None,
    }
    csv.unlink()
    b.clean()


def _paths():
    from tabflow.paths import Paths

    return Paths("results")


def _cv_scores(results: Path, models: list[str]) -> dict[str, dict[str, float]]:
    """Each model's CV scores (mean of the folds), from results/cv/<model>.json."""
    scores = {}
    for model in models:
        cv = json.loads((results.parent / _paths().cv(model)).read_text())
        scores[model] = {k: round(v["mean"], 4) for k, v in cv.items() if isinstance(v, dict)}
    return scores


def _scale_trees(b: Bench, fraction: float) -> dict[Path, str]:
    """gb's and rf's model files with a fraction of their trees; the originals, to restore."""
    originals = {}
    for model in ("gb", "rf"):
        path = b.work / "configs" / "model" / f"{model}.yaml"
        if fraction == 1 or not path.exists():
            continue
        originals[path] = text = path.read_text()
        trees = int(re.search(r"(?m)^  n_estimators: (\d+)$", text)[1])
        fewer = f"  n_estimators: {max(1, round(trees * fraction))}"
        path.write_text(re.sub(r"(?m)^  n_estimators: \d+$", fewer, text))
    return originals


def _large_overrides(csv: Path, quick_folds: bool = True) -> str:
    extra = " evaluation.cv_folds=2 evaluation.permutation_repeats=1" if quick_folds else ""
    return f"data.raw_path={csv} data.target_col=y data.categorical_cols=[]{extra}"


def _models_run(b: Bench, models: list[str], overrides: str, extra: list[str] = ()) -> float:
    """`snakemake -j 3` on these models (and `extra` arguments before --config)."""
    saved, b.model_arg = b.model_arg, [*extra, "--config", f"models=[{','.join(models)}]"]
    try:
        return b.snakemake(overrides)
    finally:
        b.model_arg = saved


@contextlib.contextmanager
def model_files(work: Path, models: tuple[str, ...]):
    """The repository's files of these models in the copy while a case runs; a model is its
    YAML file, and the other cases (a leaderboard run by hand) see only theirs."""
    added = []
    for model in models:
        path = work / "configs" / "model" / f"{model}.yaml"
        if not path.exists():
            shutil.copy(ROOT / "configs" / "model" / f"{model}.yaml", path)
            added.append(path)
    try:
        yield
    finally:
        for path in added:
            path.unlink()


def _csv_path(b: Bench, task: str, rows: int) -> Path:
    return b.work.parent / f"boosting-{task}-{rows}.csv"


def case_boosting(b: Bench, out: dict, rows: int, fraction: float) -> None:
    """Every boosting model and scikit-learn's gb and rf on `rows` rows, binary and
    regression: through the workflow, then the same work in one process."""
    models = list(BOOSTING_MODELS)
    originals = _scale_trees(b, fraction)
    result: dict = {"rows": rows, "models": models, "sklearn_trees_fraction": fraction}
    try:
        for task in ("binary", "regression"):
            csv = _csv_path(b, task, rows)
            start = time.perf_counter()
            make_large_csv(csv, rows, task)
            made = round(time.perf_counter() - start, 1)
            overrides = _large_overrides(csv)
            b.clean()
            smk = _models_run(b, models, overrides)
            stages = stage_usage(b.work / "results")
            cv = _cv_scores(b.work / "results", models)
            b.clean()
            script = b.one_process(overrides, models=models)
            m = DONE.search(b.last_output)
            one = {"wall_s": float(m[1]), "cpu_s": float(m[2]), "peak_mb": int(m[3])}
            result[task] = {
                "csv_mb": round(csv.stat().st_size / 2**20, 1),
                "csv_seconds_to_make": made,
                "snakemake_s": round(smk, 2),
                "one_process_s": round(script, 2),
                "wall_ratio": round(smk / script, 2),
                "one_process": one,
                "same_cv_in_one_process": _cv_scores(b.work / "results", models) == cv,
                "models": {model: _per_model(stages, model, cv[model]) for model in models},
                "preprocess": stages.get("preprocess"),
            }
            b.clean()
    finally:
        for path, text in originals.items():
            path.write_text(text)
    out["boosting"] = result


def _per_model(stages: dict, model: str, cv: dict[str, float]) -> dict:
    """A model's train and evaluate jobs: wall, CPU, peak RSS; its CV score."""
    train, evaluate = stages[f"train/{model}"], stages[f"evaluate/{model}"]
    return {
        "train": train,
        "evaluate": evaluate,
        "wall_s": round(train["wall_s"] + evaluate["wall_s"], 2),
        "cpu_s": round(train["cpu_s"] + evaluate["cpu_s"], 2),
        "peak_mb": max(train["peak_mb"], evaluate["peak_mb"]),
        "cv": cv,
    }


def case_threads(b: Bench, out: dict, rows: int) -> None:
    """The libraries at the rule's threads (one per job here) against their own defaults,
    every core in every job: `snakemake -j 3` on the same CSV, alternating."""
    csv = _csv_path(b, "binary", rows)  # the boosting case's, if it made one of this size
    if not csv.exists():
        make_large_csv(csv, rows)
    models = list(THREADED_MODELS)
    overrides = _large_overrides(csv)
    every_core = os.cpu_count() or 1
    files = {
        b.work / "configs" / "model" / f"{m}.yaml": param
        for m, param in THREADED_MODELS.items()
        if param
    }
    originals = {path: path.read_text() for path in files}
    usage: dict[str, list[dict]] = {"capped": [], "oversubscribed": []}
    cv: dict[str, dict] = {}

    def run(name: str) -> float:
        for path, text in originals.items():
            if name == "oversubscribed":
                every = f"\nparams:\n  {files[path]}: {every_core}\n"
                text = text.replace("\nparams:\n", every, 1)
            path.write_text(text)
        seconds = _models_run(b, models, overrides)
        stages = stage_usage(b.work / "results")
        usage[name].append(
            {
                "wall_s": round(seconds, 2),
                "cpu_s": round(sum(u["cpu_s"] for u in stages.values()), 2),
                "train_wall_s": {m: stages[f"train/{m}"]["wall_s"] for m in models},
            }
        )
        cv[name] = _cv_scores(b.work / "results", models)
        return seconds

    try:
        t = alternate(b, capped=lambda: run("capped"), oversubscribed=lambda: run("oversubscribed"))
    finally:
        for path, text in originals.items():
            path.write_text(text)
        b.clean()
    out["threads"] = {
        "rows": rows,
        "models": models,
        "every_core": every_core,
        **paired("capped", "oversubscribed", t),
        "usage": usage,
        "same_cv": cv["capped"] == cv["oversubscribed"],
    }


def case_huge(b: Bench, out: dict, rows: int, model: str) -> None:
    """`rows` rows (binary) through one model (default: the one of the boosting case that
    took the least CPU), as a user runs one model here (train's threads: every core):
    each job's wall, CPU and peak memory, and the final fit apart from the CV."""
    if not model and (boosting := out.get("boosting")):
        cpu = {m: u["cpu_s"] for m, u in boosting["binary"]["models"].items()}
        model = min(cpu, key=cpu.get)
    model = model or "hgb"
    csv = b.work.parent / f"huge-{rows}.csv"
    start = time.perf_counter()
    make_large_csv(csv, rows)
    made = round(time.perf_counter() - start, 1)
    b.clean()
    try:
        every_core = ["--set-threads", f"train={os.cpu_count() or 1}"]
        seconds = _models_run(b, [model], _large_overrides(csv, quick_folds=False), every_core)
        results = b.work / "results"
        info = json.loads((b.work / _paths().train_info(model)).read_text())
        out["huge"] = {
            "rows": rows,
            "model": model,
            "csv_mb": round(csv.stat().st_size / 2**20, 1),
            "csv_seconds_to_make": made,
            "snakemake_s": round(seconds, 2),
            "stages": stage_usage(results),
            "final_fit_s": round(info["fit_seconds"], 2),
            "cv": _cv_scores(results, [model])[model],
        }
    finally:
        csv.unlink()
        b.clean()
    out["huge"]["peak_mb"] = max(u["peak_mb"] for u in out["huge"]["stages"].values())


def case_many(b: Bench, out: dict, n_seeds: int) -> None:
    import sqlite3

    seeds = ",".join(map(str, range(n_seeds)))
    config = [*b.model_arg, f"seeds=[{seeds}]"]
    b.clean()
    dag = [b.time("snakemake", "-j", "3", "-n", *config) for _ in range(b.reps)]
    total = b.time("snakemake", "-j", "3", *config)
    problems = [
        line
        for line in b.last_output.splitlines()
        if re.search(r"OperationalError|database is locked|MlflowException|Traceback", line)
    ]
    with sqlite3.connect(b.work / "mlflow.db") as db:
        finished = db.execute(
            "SELECT COUNT(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "AND t.key = 'model' AND t.value LIKE '%-seed%' WHERE r.status = 'FINISHED'"
        ).fetchone()[0]
    b.clean()
    loop = b.one_process("", "--seeds", seeds)
    out["many"] = {
        "pairs": len(b.models) * n_seeds,
        "dag_s": dag,
        "dag_median_s": median(dag),
        "total_s": round(total, 2),
        "one_process_s": round(loop, 2),
        "ratio": round(total / loop, 2),
        "mlflow_runs_finished": finished,
        "mlflow_or_sqlite_errors": problems,
    }
    b.clean()


# The issue 23 space: one model's trials cost many times another's (a 120-point grid).
LR_C = [str(c * 10.0**e) for e in range(-3, 4) for c in (1, 2, 5)][:20]
SKEWED = f"""\
strategy: grid
space:
  rf:
    model.params.n_estimators: choice(50, 100, 200, 300)
    model.params.max_depth: choice(2, 4, 6, 8, null)
    model.params.min_samples_leaf: choice(1, 3)
  lr:
    model.params.C: choice({", ".join(LR_C)})
    model.params.fit_intercept: choice(true, false)
  gb:
    model.params.n_estimators: choice(50, 100, 150, 200)
    model.params.max_depth: choice(2, 3, 4, 5, 6)
    model.params.learning_rate: choice(0.05, 0.1)
"""


QUICK_SKEWED = """\
strategy: grid
space:
  lr:
    model.params.C: choice(0.1, 1, 10)
"""


class CpuSampler:
    """The machine's busy CPU time, sampled from /proc/stat every quarter second, to tell
    how busy the cores were in a window (the sweep's trial phase)."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, int, int]] = []  # (time, busy jiffies, all jiffies)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            with open("/proc/stat") as fh:
                values = [int(v) for v in fh.readline().split()[1:]]
            idle = values[3] + values[4]  # idle + iowait
            self.samples.append((time.time(), sum(values) - idle, sum(values)))
            self.stop.wait(0.25)

    def busy(self, start: float, end: float) -> float | None:
        """The fraction of all cores busy between two wall-clock times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return None
        (_, busy0, all0), (_, busy1, all1) = inside[0], inside[-1]
        return round((busy1 - busy0) / (all1 - all0), 3) if all1 > all0 else None


def _trial_phase(results: Path, name: str) -> tuple[float, float] | None:
    """(first trial started, last trial ended), wall clock, over the shards' fitted trials."""
    rows = [
        r
        for path in (results / "sweeps" / name).glob("shard-*.json")
        for r in json.loads(path.read_text())["trials"]
        if not r["cached"]
    ]
    return (min(r["started"] for r in rows), max(r["ended"] for r in rows)) if rows else None


def _fitted(results: Path) -> tuple[int, int]:
    """(trials fitted, read from the cache) over the shard logs of the last run."""
    fitted = cached = 0
    for log in (results / "logs" / "sweep_shard").glob("*.log"):
        if m := re.search(r"(\d+) fitted, (\d+) read from", log.read_text()):
            fitted, cached = fitted + int(m[1]), cached + int(m[2])
    return fitted, cached


def case_sweep(b: Bench, out: dict, name: str, key: str = "sweep", more: bool = True) -> None:
    """The sweep's trials and tuned models (no default models) against the plain loop,
    alternating: the whole run, and the trial phase (first trial started to last ended)
    with how busy the cores were in it. `more`: also (c) Hydra's multirun."""
    import yaml

    space = yaml.safe_load((b.work / "configs" / "sweep" / f"{name}.yaml").read_text())
    swept = [m for m in space["space"] if m in b.models]
    targets = [f"results/metrics/{m}-{name}.json" for m in swept]
    targets += [f"results/sweeps/{name}/{m}/trials.csv" for m in swept]
    config = ["--config", f"sweep={name}", f"models=[{','.join(b.models)}]"]
    counts = {m: 0 for m in swept}
    fitted = 0
    phases: dict[str, list[dict]] = {"ours": [], "loop": []}
    sampler = CpuSampler()

    def phase(who: str, window: tuple[float, float] | None, started: float) -> None:
        if window:
            phases[who].append(
                {
                    "trials_s": round(window[1] - window[0], 2),
                    "busy": sampler.busy(*window),
                    "after_trials_s": round(time.time() - window[1], 2),
                    "before_trials_s": round(window[0] - started, 2),
                }
            )

    def sweep() -> float:
        nonlocal fitted
        started = time.time()
        seconds = b.time("snakemake", "-j", "3", *targets, *config)
        fitted, _ = _fitted(b.work / "results")
        counts.update(dict.fromkeys(swept, 0))
        for path in (b.work / "results" / "sweeps" / name).glob("shard-*.json"):
            for r in json.loads(path.read_text())["trials"]:
                counts[r["model"]] += 1
        phase("ours", _trial_phase(b.work / "results", name), started)
        return seconds

    def loop() -> float:
        started = time.time()
        seconds = b.one_process("", "--sweep", name)
        found = re.search(r"trials: ([\d.]+) ([\d.]+)", b.last_output)
        phase("loop", (float(found[1]), float(found[2])) if found else None, started)
        return seconds

    try:
        t = alternate(b, ours=sweep, loop=loop)
    finally:
        sampler.stop.set()
    ours, loop_s = t["ours"], t["loop"]
    trials = sum(counts.values())
    trial_s = {who: median([p["trials_s"] for p in got]) for who, got in phases.items()}
    result = {
        "sweep": name,
        "trials": trials,
        "fitted": fitted,
        "snakemake_s": ours,
        "one_process_s": loop_s,
        "snakemake_median_s": median(ours),
        "one_process_median_s": median(loop_s),
        "vs_loop": round(median(ours) / median(loop_s), 2),
        "phases": phases,
        "trial_phase_s": trial_s,
        "trial_phase_vs_loop": round(trial_s["ours"] / trial_s["loop"], 2),
        "busy": {who: median([p["busy"] or 0 for p in got]) for who, got in phases.items()},
        "after_trials_s": median([p["after_trials_s"] for p in phases["ours"]]),
    }
    b.clean()
    if not more:
        out[key] = result
        return
    # (c): the trials under Hydra's multirun, after the same preprocessing. (A job per trial
    # is no longer measured: with one queue, sweep_shards=120 starts 120 shards of which
    # the first few take every trial and the rest find the queue empty.)
    b.time("snakemake", "-j", "1", _paths().train_data, _paths().data_summary)
    hydra = 0.0
    for model in swept:
        n = counts[model]
        hydra += b.time(
            sys.executable,
            str(ROOT / "benchmarks/hydra_trial.py"),
            "-m",
            f"model={model}",
            f"sweep_name={name}",
            f"trial=range(0,{n})",
        )
    b.clean()
    out[key] = {
        **result,
        "hydra_multirun_trials_only_s": round(hydra, 2),
    }


# 4 x 3 x 2 = 24 points; the first parameter then gets 2 more values: 36.
GRID_24 = {
    "rf": (
        "model.params.n_estimators: choice(20, 40, 60, 80)",
        "model.params.max_depth: choice(2, 4, null)",
        "model.params.min_samples_leaf: choice(1, 3)",
        "choice(20, 40, 60, 80, 100, 120)",
    ),
    "lr": (
        "model.params.C: choice(0.01, 0.1, 1, 10)",
        "model.params.tol: choice(0.0001, 0.001, 0.01)",
        "model.params.fit_intercept: choice(true, false)",
        "choice(0.01, 0.1, 1, 10, 100, 1000)",
    ),
}


def case_extension(b: Bench, out: dict) -> None:
    """24 grid points, then 36 (two more values of one parameter): only 12 are fitted."""
    model = "rf" if "rf" in b.models else b.models[0]
    *lines, grown_values = GRID_24[model]
    grid = "strategy: grid\nspace:\n  " + model + ":\n" + "".join(f"    {x}\n" for x in lines)
    path = b.work / "configs" / "sweep" / "grid24.yaml"
    path.write_text(grid)
    config = ["--config", "sweep=grid24", f"models=[{model}]"]
    targets = [f"results/sweeps/grid24/{model}/trials.csv"]
    b.clean()
    first = b.time("snakemake", "-j", "3", *targets, *config)
    first_fitted = _fitted(b.work / "results")
    first_values = lines[0].split(": ", 1)[1]
    path.write_text(grid.replace(first_values, grown_values))
    grown = b.time("snakemake", "-j", "3", *targets, *config)
    fitted, cached = _fitted(b.work / "results")
    path.unlink()
    b.clean()
    out["extension"] = {
        "model": model,
        "points": [24, 36],
        "first_s": round(first, 2),
        "first_fitted": first_fitted[0],
        "grown_s": round(grown, 2),
        "grown_fitted": fitted,
        "grown_cached": cached,
    }


def case_slurm(b: Bench, out: dict) -> None:
    """Cold runs through SLURM against local ones; where no SLURM answers, say so."""
    from tests.slurm_cluster import slurm_problem

    if problem := slurm_problem():
        out["slurm"] = {"skipped": f"no SLURM here: {problem} (tools/slurm/up.sh, as root)"}
        print(f"bench: slurm skipped: {out['slurm']['skipped']}", file=sys.stderr)
        return
    profiles = b.work / "bench-profiles"
    tuned = b.work / "workflow/profiles/slurm/config.yaml"
    variants = {
        "untuned": UNTUNED_SLURM_PROFILE,
        # The tuned profile without its groups: what the status-check intervals alone give.
        "intervals_only": re.sub(r"(?m)^groups:\n(?:  .*\n)+", "", tuned.read_text()),
    }
    for name, text in variants.items():
        (profiles / name).mkdir(parents=True, exist_ok=True)
        (profiles / name / "config.yaml").write_text(text)

    def through(profile: Path) -> float:
        return b.time("snakemake", "--workflow-profile", str(profile), *b.model_arg)

    t = alternate(b, local=b.snakemake, slurm=lambda: through(tuned.parent))  # cleans first
    once = {}
    for name in variants:
        b.clean()
        once[name] = round(through(profiles / name), 2)
    shutil.rmtree(profiles)
    b.clean()
    out["slurm"] = {
        **paired("slurm", "local", t),
        "untuned_s": once["untuned"],
        "untuned_ratio": round(once["untuned"] / median(t["local"]), 2),
        "intervals_only_s": once["intervals_only"],
    }


def table(out: dict) -> str:
    rows = []
    if c := out.get("cold"):
        rows.append(
            (
                "1 cold run / one process",
                f"{c['snakemake_median_s']} s / {c['one_process_median_s']} s",
                c["ratio"],
                BUDGET["cold_ratio"],
            )
        )
    if c := out.get("noop"):
        rows.append(
            (
                "2 no-op / bare Snakemake no-op",
                f"{c['median_s']} s / {c['bare_param_median_s']} s",
                c["ratio"],
                BUDGET["noop_ratio"],
            )
        )
        rows.append(
            (
                "2 (bare rule without params)",
                f"{c['median_s']} s / {c['bare_median_s']} s",
                c["ratio_bare_no_param"],
                None,
            )
        )
    if c := out.get("incremental"):
        rows.append(
            (
                f"3 {c['model']} edited / cold",
                f"{c['rerun_median_s']} s",
                c["fraction_of_cold"],
                BUDGET["incremental_fraction"],
            )
        )
    if c := out.get("dvc_repro"):
        rows.append(
            (
                "4 snakemake / dvc repro",
                f"{median(c['snakemake_s'])} s / {median(c['dvc_repro_s'])} s",
                c["ratio"],
                BUDGET["dvc_ratio"],
            )
        )
    if c := out.get("large"):
        rows.append(
            (
                f"5 {c['rows']:,} rows: wall",
                f"{c['snakemake_s']} s / {c['one_process_s']} s",
                c["wall_ratio"],
                BUDGET["large_wall_ratio"],
            )
        )
        rows.append(
            (
                f"5 {c['rows']:,} rows: peak memory",
                f"{c['snakemake_peak_mb']} MB / {c['one_process_peak_mb']} MB",
                c["memory_ratio"],
                BUDGET["large_memory_ratio"],
            )
        )
    if c := out.get("many"):
        rows.append(
            (
                f"6 {c['pairs']} pairs: DAG (dry run)",
                f"runs {c['mlflow_runs_finished']}/{c['pairs']}",
                c["dag_median_s"],
                BUDGET["many_dag_seconds"],
            )
        )
        rows.append(
            (
                f"6 {c['pairs']} pairs / one process",
                f"{c['total_s']} s / {c['one_process_s']} s",
                c["ratio"],
                BUDGET["many_ratio"],
            )
        )
    if c := out.get("sweep"):
        rows.append(
            (
                f"7 sweep {c['trials']} trials / loop",
                f"{c['snakemake_median_s']} s / {c['one_process_median_s']} s",
                c["vs_loop"],
                BUDGET["sweep_vs_loop"],
            )
        )
        rows.append(
            (
                "7 Hydra multirun (trials only)",
                f"{c['hydra_multirun_trials_only_s']} s",
                None,
                None,
            )
        )
    for key, label in (("sweep", "7"), ("skewed", "7s")):
        if c := out.get(key):
            rows.append(
                (
                    f"{label} trial phase / loop's",
                    f"{c['trial_phase_s']['ours']} s / {c['trial_phase_s']['loop']} s",
                    c["trial_phase_vs_loop"],
                    BUDGET["sweep_trial_phase"],
                )
            )
            busy = c["busy"]
            rows.append(
                (
                    f"{label} cores busy in it: ours, loop",
                    f"{busy['ours']}, {busy['loop']}",
                    None,
                    None,
                )
            )
            if key == "skewed":
                rows.append(
                    (
                        f"7s skewed {c['trials']} trials / loop",
                        f"{c['snakemake_median_s']} s / {c['one_process_median_s']} s",
                        c["vs_loop"],
                        BUDGET["sweep_vs_loop"],
                    )
                )
            rows.append((f"{label} after the last trial", f"{c['after_trials_s']} s", None, None))
    if c := out.get("extension"):
        rows.append(
            (
                "8 grid 24 -> 36: fitted, s",
                f"{c['first_fitted']}: {c['first_s']} s; {c['grown_fitted']}: {c['grown_s']} s",
                c["grown_fitted"],
                12,
            )
        )
    if c := out.get("boosting"):
        for task in ("binary", "regression"):
            rows.append(
                (
                    f"10 {c['rows']:,} rows, {task}: wall",
                    f"{c[task]['snakemake_s']} s / {c[task]['one_process_s']} s",
                    c[task]["wall_ratio"],
                    BUDGET["boosting_wall_ratio"],
                )
            )
    if c := out.get("threads"):
        rows.append(
            (
                "11 threads: capped / every core",
                f"{c['capped_median_s']} s / {c['oversubscribed_median_s']} s",
                c["ratio"],
                None,
            )
        )
    if c := out.get("huge"):
        rows.append(
            (
                f"12 {c['rows']:,} rows ({c['model']}): peak",
                f"{c['snakemake_s']} s wall",
                c["peak_mb"],
                BUDGET["huge_peak_mb"],
            )
        )
    if c := out.get("slurm"):
        if "skipped" in c:
            rows.append(("9 SLURM: skipped", c["skipped"], None, None))
        else:
            figures = f"{c['slurm_median_s']} s / {c['local_median_s']} s"
            rows.append(("9 SLURM cold / local cold", figures, c["ratio"], None))
            figures = f"{c['untuned_s']} s (no groups: {c['intervals_only_s']} s)"
            rows.append(("9 SLURM untuned (once) / local", figures, c["untuned_ratio"], None))
    lines = [f"{'measure':34} {'figures':26} {'value':>7} {'budget':>7}  met"]
    for name, figures, value, budget in rows:
        met = "-" if budget is None else "yes" if value is not None and value <= budget else "NO"
        shown = ["-" if x is None else str(x) for x in (value, budget)]
        lines.append(f"{name:34} {figures:26} {shown[0]:>7} {shown[1]:>7}  {met}")
    if c := out.get("large"):
        lines.append("")
        lines.append("large data, per stage (snakemake jobs):")
        lines += [_usage_line(stage, u) for stage, u in c["stages"].items()]
    if c := out.get("boosting"):
        lines += ["", _boosting_table(c)]
    if c := out.get("huge"):
        head = f"{c['rows']:,} rows, {c['model']}, per job (final fit {c['final_fit_s']} s):"
        lines += ["", head]
        lines += [_usage_line(stage, u) for stage, u in c["stages"].items()]
    return "\n".join(lines)


def _usage_line(stage: str, u: dict) -> str:
    return (
        f"  {stage:22} {u['wall_s']:8.2f} s wall {u['cpu_s']:8.2f} s CPU {u['peak_mb']:6d} MB peak"
    )


def _boosting_table(c: dict) -> str:
    """Per model and task: train and evaluate jobs together, and the CV score."""
    from tabflow.tasks import TASKS

    scaled = c["sklearn_trees_fraction"]
    lines = [f"{c['rows']:,} rows per model (train + evaluate jobs; gb, rf: x{scaled} trees):"]
    lines.append(f"  {'task':11} {'model':6} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}  CV")
    for task in ("binary", "regression"):
        for model, u in c[task]["models"].items():
            primary = TASKS[task].primary
            score = u["cv"][primary]
            lines.append(
                f"  {task:11} {model:6} {u['wall_s']:8.1f} {u['cpu_s']:8.1f} "
                f"{u['peak_mb']:8d}  {primary} {score}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny and fast")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    # A forest of 100 unpruned trees or 100 boosting stages on 800,000 rows takes many
    # minutes per fit on 2 cores, three fits each (2-fold CV + the fit): lr by default.
    parser.add_argument("--large-models", default="lr")
    parser.add_argument("--boosting-rows", type=int, default=1_000_000)
    parser.add_argument("--huge-rows", type=int, default=5_000_000)
    parser.add_argument("--huge-model", default="")
    parser.add_argument("--threads-rows", type=int, default=0, help="default: --boosting-rows")
    parser.add_argument("--sklearn-trees-fraction", type=float, default=0.1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(ALL_CASES)
    if unknown:
        raise SystemExit(f"bench: unknown case(s) {sorted(unknown)}; known: {ALL_CASES}")
    models = ["lr"] if args.quick else ["gb", "lr", "rf"]
    reps = 1 if args.quick else args.reps
    rows = 2_000 if args.quick else args.rows
    boosting_rows = 2_000 if args.quick else args.boosting_rows

    out: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "quick": args.quick,
        "reps": reps,
        "models": models,
        "budget": BUDGET,
    }
    with tempfile.TemporaryDirectory(prefix="tabflow-bench-") as tmp:
        work = Path(tmp) / "repo"
        work.mkdir()
        sys.path.insert(0, str(ROOT))
        from tests.conftest import DEMO_CSV, copy_project

        copy_project(work)
        (work / "data" / "raw").mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_CSV, work / "data" / "raw" / "heart.csv")
        for extra in (work / "configs" / "model").glob("*.yaml"):
            if extra.stem not in models:  # a model is its YAML file: fewer files, fewer models
                extra.unlink()
        b = Bench(work, models, reps)
        for case in cases:
            print(f"bench: {case} ...", file=sys.stderr, flush=True)
            if case == "large":
                case_large(b, out, rows, args.large_models.split(","))
            elif case == "many":
                case_many(b, out, 2 if args.quick else 10)
            elif case == "sweep":
                if args.quick:  # the demo sweeps name models the quick copy does not have
                    quick = (
                        "strategy: grid\nspace:\n  lr:\n    model.params.C: choice(0.1, 1, 10)\n"
                    )
                    (work / "configs" / "sweep" / "quick.yaml").write_text(quick)
                case_sweep(b, out, "quick" if args.quick else "wide")
            elif case == "extension":
                case_extension(b, out)
            elif case == "skewed":
                (work / "configs" / "sweep" / "skewed.yaml").write_text(
                    QUICK_SKEWED if args.quick else SKEWED
                )
                case_sweep(b, out, "skewed", key="skewed", more=False)
            elif case in ("boosting", "threads", "huge"):
                with model_files(work, BOOSTING_MODELS):  # only while they run
                    if case == "boosting":
                        case_boosting(b, out, boosting_rows, args.sklearn_trees_fraction)
                    elif case == "threads":
                        threads_rows = 2_000 if args.quick else args.threads_rows or boosting_rows
                        case_threads(b, out, threads_rows)
                    else:
                        case_huge(b, out, 3_000 if args.quick else args.huge_rows, args.huge_model)
            else:
                globals()[f"case_{case}"](b, out)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(table(out))
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()

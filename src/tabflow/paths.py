"""Every file the pipeline writes, under `paths.results_dir`.

The rules and the stages both call these, so no path is written twice. (The input CSV is
`data.raw_path`; the figures' file names are in tabflow.plots.PLOTS.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Paths:
    """Paths relative to the project root (the working directory)."""

    results_dir: str

    @classmethod
    def from_config(cls, cfg: Any) -> Paths:
        return cls(results_dir=str(cfg.paths.results_dir))

    def _r(self, *parts: str) -> str:
        return str(Path(self.results_dir, *parts))

    # preprocess
    @property
    def train_data(self) -> str:
        return self._r("data", "train.parquet")

    @property
    def test_data(self) -> str:
        return self._r("data", "test.parquet")

    @property
    def data_summary(self) -> str:
        return self._r("data", "summary.json")

    @property
    def data_profile(self) -> str:
        """Each feature's distribution in the training split (drift checks at prediction)."""
        return self._r("data", "profile.json")

    # tracking
    @property
    def tracking_lock(self) -> str:
        """Serialises first use of the MLflow DB across processes."""
        return self._r(".mlflow.lock")

    @property
    def parent_run(self) -> str:
        """The MLflow parent run of the workflow invocation in progress (removed at its end)."""
        return self._r(".mlflow-parent.json")

    # train
    def model_file(self, model: str) -> str:
        """The fitted pipeline, in skops' format (never a pickle)."""
        return self._r("models", f"{model}.skops")

    def train_info(self, model: str) -> str:
        return self._r("models", f"{model}.train.json")

    def cv(self, model: str) -> str:
        """Cross-validated metrics on the training part (mean and std over the folds)."""
        return self._r("cv", f"{model}.json")

    # evaluate
    def metrics(self, model: str) -> str:
        return self._r("metrics", f"{model}.json")

    def predictions(self, model: str) -> str:
        return self._r("predictions", f"{model}.csv")

    def importance(self, model: str) -> str:
        """Permutation feature importance on the test split, one row per raw feature."""
        return self._r("importance", f"{model}.csv")

    def plot(self, model: str, file: str) -> str:
        """A figure of a model (file names: tabflow.plots.PLOTS)."""
        return self._r("plots", model, file)

    def mlflow_run(self, model: str) -> str:
        return self._r("mlflow", f"{model}.json")

    # leaderboard
    @property
    def leaderboard_csv(self) -> str:
        return self._r("leaderboard.csv")

    @property
    def leaderboard_md(self) -> str:
        return self._r("leaderboard.md")

    @property
    def leaderboard_html(self) -> str:
        """The leaderboard as the Snakemake report shows it."""
        return self._r("leaderboard.html")

    # sweeps
    def _sweep(self, sweep: str, model: str, file: str) -> str:
        return self._r("sweeps", sweep, model, file)

    def sweep_shard(self, sweep: str, shard: int | str) -> str:
        """The trials (of any model) one shard job ran or read from the trial cache."""
        return self._r("sweeps", sweep, f"shard-{shard}.json")

    def sweep_queue(self, sweep: str) -> str:
        """The trials the shards of this invocation took, one empty file each (emptied as
        the invocation starts)."""
        return self._r("sweeps", sweep, "queue")

    def sweep_trials(self, sweep: str, model: str) -> str:
        return self._sweep(sweep, model, "trials.csv")

    def sweep_best(self, sweep: str, model: str) -> str:
        """The selected trial's parameters (input of the tuned model's train/evaluate)."""
        return self._sweep(sweep, model, "best.json")

    def sweep_plot(self, sweep: str, model: str) -> str:
        return self._sweep(sweep, model, "cv_by_param.png")

    def sweep_run(self, sweep: str, model: str) -> str:
        return self._sweep(sweep, model, "mlflow.json")

    def optuna_journal(self, sweep: str, model: str) -> str:
        """The Optuna study every tpe shard of a model shares (one machine)."""
        return self._sweep(sweep, model, "optuna.journal")

    def trial_cache(self, model: str, key: str) -> str:
        """One trial's CV scores, under a digest of all they depend on: a trial is fitted
        once, whichever sweep or shard asks for it again."""
        return self._r(".trials", model, f"{key}.json")

    # registry and prediction
    @property
    def registry(self) -> str:
        """The registration of this run's best model and the champion decision."""
        return self._r("registry.json")

    @property
    def front_page(self) -> str:
        """The report's front page: the answer, before any figure."""
        return self._r("summary.rst")

    def new_predictions(self, source: str) -> str:
        """`snakemake predict`'s answers for the rows of `source`, named by its stem and a
        digest of its whole path: two inputs never share an output."""
        import hashlib

        path = str(Path(source).expanduser().resolve())
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        return self._r("predictions", "new", f"{Path(source).stem}-{digest}.csv")

    @staticmethod
    def drift_table(predictions: str | Path) -> str:
        """The drift table written beside a file of predictions."""
        out = Path(predictions)
        return str(out.with_name(f"{out.stem}.drift.csv"))

    def log(self, rule: str, model: str | None = None) -> str:
        return self._r("logs", rule, f"{model}.log" if model else f"{rule}.log")

"""Every file the pipeline reads or writes, derived from the composed config.

The Snakefile and the scripts both call these, so no path is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Paths:
    """Paths relative to the project root (the working directory)."""

    raw_data: str
    results_dir: str

    @classmethod
    def from_config(cls, cfg: Any) -> Paths:
        return cls(raw_data=str(cfg.data.raw_path), results_dir=str(cfg.paths.results_dir))

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

    # tracking
    @property
    def tracking_lock(self) -> str:
        """Serialises first use of the MLflow DB across processes."""
        return self._r(".mlflow.lock")

    @property
    def parent_run(self) -> str:
        """The MLflow parent run of the workflow invocation in progress (removed at its end)."""
        return self._r(".mlflow-parent.json")

    # per model
    def model_file(self, model: str) -> str:
        return self._r("models", f"{model}.joblib")

    def train_info(self, model: str) -> str:
        return self._r("models", f"{model}.train.json")

    def cv(self, model: str) -> str:
        """Cross-validated metrics on the training part (mean and std over the folds)."""
        return self._r("cv", f"{model}.json")

    @property
    def metrics_dir(self) -> str:
        return self._r("metrics")

    def metrics(self, model: str) -> str:
        return str(Path(self.metrics_dir, f"{model}.json"))

    def predictions(self, model: str) -> str:
        return self._r("predictions", f"{model}.csv")

    def roc_plot(self, model: str) -> str:
        return self._r("plots", model, "roc_curve.png")

    def confusion_plot(self, model: str) -> str:
        return self._r("plots", model, "confusion_matrix.png")

    def pr_plot(self, model: str) -> str:
        return self._r("plots", model, "precision_recall.png")

    def calibration_plot(self, model: str) -> str:
        return self._r("plots", model, "calibration.png")

    def importance_plot(self, model: str) -> str:
        return self._r("plots", model, "permutation_importance.png")

    def importance(self, model: str) -> str:
        """Permutation feature importance on the test split, one row per raw feature."""
        return self._r("importance", f"{model}.csv")

    def plots(self, model: str) -> dict[str, str]:
        """Every figure of a model, by name."""
        return {
            "roc": self.roc_plot(model),
            "precision_recall": self.pr_plot(model),
            "confusion": self.confusion_plot(model),
            "calibration": self.calibration_plot(model),
            "importance": self.importance_plot(model),
        }

    # all models
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

    def mlflow_run(self, model: str) -> str:
        return self._r("mlflow", f"{model}.json")

    def log(self, rule: str, model: str | None = None) -> str:
        return self._r("logs", rule, f"{model}.log" if model else f"{rule}.log")

"""The figures of a model, declared once per task: PLOTS[task] gives each its file, report
title and draw function; the paths, the evaluate stage and the report's rule all read it.
The report caption of figure `name` is workflow/report/<name>.rst.

Plots use matplotlib's object API (Figure + Agg canvas), not pyplot: importing pyplot
costs about a second in every evaluate job. Import-light: the Snakefile reads PLOTS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Evidence:
    """What the figures of one model are drawn from (the test split)."""

    model: str
    y_true: np.ndarray  # the target (classes as codes)
    y_pred: np.ndarray  # the predicted label (or value)
    y_score: np.ndarray | None  # binary: the positive class's probability
    importance: pd.DataFrame
    metric: str  # the metric of the permutation importance
    calibration_bins: int
    labels: list[str]  # class names by code (binary: negative, positive); none: regression
    proba: np.ndarray | None = None  # classification: every class's probability


@dataclass(frozen=True)
class Plot:
    file: str  # under results/plots/<model>/
    title: str  # the figure's name in the report
    draw: Callable[[Evidence, Path], None]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _finish_unit_square(ax: Any, path: Path, legend: str, **labels: str) -> None:
    """Axes from 0 to 1 both ways (ROC, precision-recall, calibration), legend, save."""
    ax.set(xlim=(0, 1), ylim=(0, 1.01), aspect="equal", **labels)
    ax.legend(loc=legend)
    _save(ax.figure, path)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def draw_roc(ev: Evidence, path: Path) -> None:
    """ROC curve with its AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(ev.y_true, ev.y_score)
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    auc = roc_auc_score(ev.y_true, ev.y_score)
    ax.plot(fpr, tpr, label=f"{ev.model} (AUC = {auc:.3f})")
    _finish_roc(ax, path, f"ROC curve: {ev.model}")


def _finish_roc(ax: Any, path: Path, title: str) -> None:
    """The chance line, the axes and the title of a ROC figure, saved to `path`."""
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    _finish_unit_square(
        ax,
        path,
        "lower right",
        xlabel="False positive rate",
        ylabel="True positive rate",
        title=title,
    )


def draw_precision_recall(ev: Evidence, path: Path) -> None:
    """Precision-recall curve with its average precision and the no-skill line."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(ev.y_true, ev.y_score)
    ap = average_precision_score(ev.y_true, ev.y_score)
    prevalence = float((ev.y_true == 1).mean())
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.step(recall, precision, where="post", label=f"{ev.model} (AP = {ap:.3f})")
    ax.axhline(prevalence, linestyle="--", color="grey", linewidth=1, label="no skill")
    _finish_unit_square(
        ax,
        path,
        "lower left",
        xlabel="Recall",
        ylabel="Precision",
        title=f"Precision-recall: {ev.model}",
    )


def _matrix(ax: Any, cm: Any, labels: list[str], title: str, text: Any) -> None:
    """A confusion matrix on `ax` (rows: true class, columns: predicted), cells `text`."""
    import numpy as np

    ax.imshow(cm, cmap="Blues", vmin=0)
    size = 14 if len(labels) <= 4 else 9
    for (i, j), value in np.ndenumerate(cm):
        color = "white" if value > cm.max() / 2 else "black"
        ax.text(j, i, text(value), ha="center", va="center", color=color, fontsize=size)
    ticks = list(range(len(labels)))
    ax.set(
        xticks=ticks,
        yticks=ticks,
        xlabel="Predicted",
        ylabel="True",
        title=title,
    )
    ax.set_xticklabels(labels, rotation=45 if len(labels) > 4 else 0, ha="right")
    ax.set_yticklabels(labels)


def draw_confusion(ev: Evidence, path: Path) -> None:
    """Confusion matrix (rows: true class, columns: predicted)."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(ev.y_true, ev.y_pred, labels=[0, 1])
    fig = _figure(5, 4.5)
    _matrix(fig.add_subplot(), cm, ev.labels, f"Confusion matrix: {ev.model}", str)
    _save(fig, path)


def draw_confusions(ev: Evidence, path: Path) -> None:
    """Confusion matrix of every class: counts, and each true class's row as shares."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    codes = list(range(len(ev.labels)))
    cm = confusion_matrix(ev.y_true, ev.y_pred, labels=codes)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    side = 3 + 0.5 * len(codes)
    fig = _figure(2 * side, side)
    _matrix(fig.add_subplot(1, 2, 1), cm, ev.labels, "counts", str)
    _matrix(
        fig.add_subplot(1, 2, 2), shares, ev.labels, "share of each true class", "{:.2f}".format
    )
    fig.suptitle(f"Confusion matrix: {ev.model}")
    _save(fig, path)


def draw_roc_per_class(ev: Evidence, path: Path) -> None:
    """One-vs-rest ROC curve of every class, with its AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(5.5, 5)
    ax = fig.add_subplot()
    for code, name in enumerate(ev.labels):
        truth = (ev.y_true == code).astype(int)
        if truth.min() == truth.max():  # a class absent from the test rows has no curve
            continue
        fpr, tpr, _ = roc_curve(truth, ev.proba[:, code])
        auc = roc_auc_score(truth, ev.proba[:, code])
        ax.plot(fpr, tpr, label=f"{name} (AUC = {auc:.3f})")
    _finish_roc(ax, path, f"ROC, each class against the rest: {ev.model}")


def draw_predicted_actual(ev: Evidence, path: Path) -> None:
    """Predicted against actual values, with the line where they are equal."""
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.scatter(ev.y_true, ev.y_pred, s=12, alpha=0.6, color="C0", label=ev.model)
    low = float(min(ev.y_true.min(), ev.y_pred.min()))
    high = float(max(ev.y_true.max(), ev.y_pred.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1, label="exact")
    ax.set(xlabel="Actual", ylabel="Predicted", title=f"Predicted against actual: {ev.model}")
    ax.legend(loc="upper left")
    _save(fig, path)


def draw_residuals(ev: Evidence, path: Path) -> None:
    """Residuals (actual - predicted) against the prediction: a pattern is something the
    model missed."""
    fig = _figure(6, 4.5)
    ax = fig.add_subplot()
    ax.scatter(ev.y_pred, ev.y_true - ev.y_pred, s=12, alpha=0.6, color="C0")
    ax.axhline(0, linestyle="--", color="grey", linewidth=1)
    ax.set(
        xlabel="Predicted",
        ylabel="Residual (actual - predicted)",
        title=f"Residuals: {ev.model}",
    )
    _save(fig, path)


def draw_residual_distribution(ev: Evidence, path: Path) -> None:
    """How the residuals are spread: a histogram, with their mean."""
    residuals = ev.y_true - ev.y_pred
    fig = _figure(6, 4.5)
    ax = fig.add_subplot()
    ax.hist(residuals, bins=min(30, max(5, len(residuals) // 5)), color="C0", alpha=0.8)
    ax.axvline(0, linestyle="--", color="grey", linewidth=1)
    ax.axvline(float(residuals.mean()), color="C3", linewidth=1, label="mean")
    ax.set(
        xlabel="Residual (actual - predicted)",
        ylabel="Test rows",
        title=f"Residual distribution: {ev.model}",
    )
    ax.legend(loc="upper right")
    _save(fig, path)


def draw_calibration(ev: Evidence, path: Path) -> None:
    """Reliability diagram: observed positive rate per bin of predicted probability."""
    from sklearn.calibration import calibration_curve

    bins = ev.calibration_bins
    observed, predicted = calibration_curve(ev.y_true, ev.y_score, n_bins=bins, strategy="uniform")
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label=ev.model)
    _finish_unit_square(
        ax,
        path,
        "upper left",
        xlabel="Mean predicted probability",
        ylabel="Observed fraction of positives",
        title=f"Calibration ({bins} bins): {ev.model}",
    )


def draw_importance(ev: Evidence, path: Path) -> None:
    """Permutation importance: mean and std of how much the metric worsens, as bars."""
    shown = ev.importance.iloc[::-1]
    fig = _figure(6, max(3.0, 0.35 * len(shown) + 1.2))
    ax = fig.add_subplot()
    ax.barh(shown["feature"], shown["importance_mean"], xerr=shown["importance_std"], color="C0")
    ax.axvline(0, color="grey", linewidth=1)
    ax.set(
        xlabel=f"How much {ev.metric} worsens when shuffled",
        title=f"Permutation importance: {ev.model}",
    )
    _save(fig, path)


_IMPORTANCE = Plot("permutation_importance.png", "permutation importance", draw_importance)
PLOTS: dict[str, dict[str, Plot]] = {
    "binary": {
        "roc": Plot("roc_curve.png", "ROC curve", draw_roc),
        "precision_recall": Plot(
            "precision_recall.png", "precision-recall curve", draw_precision_recall
        ),
        "confusion": Plot("confusion_matrix.png", "confusion matrix", draw_confusion),
        "calibration": Plot("calibration.png", "calibration curve", draw_calibration),
        "importance": _IMPORTANCE,
    },
    "multiclass": {
        "confusions": Plot("confusion_matrix.png", "confusion matrix", draw_confusions),
        "roc_per_class": Plot("roc_per_class.png", "ROC per class", draw_roc_per_class),
        "importance": _IMPORTANCE,
    },
    "regression": {
        "predicted_actual": Plot(
            "predicted_actual.png", "predicted against actual", draw_predicted_actual
        ),
        "residuals": Plot("residuals.png", "residuals", draw_residuals),
        "residual_distribution": Plot(
            "residual_distribution.png", "residual distribution", draw_residual_distribution
        ),
        "importance": _IMPORTANCE,
    },
}
# Every figure of every task, by name (its report caption is workflow/report/<name>.rst).
ALL_PLOTS: dict[str, Plot] = {name: p for task in PLOTS.values() for name, p in task.items()}

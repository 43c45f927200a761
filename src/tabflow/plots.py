"""The figures of a model, declared once: PLOTS gives each its file, report title and draw
function; the paths, the evaluate stage and the report's rule all read it. The report
caption of figure `name` is workflow/report/<name>.rst.

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
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray
    importance: pd.DataFrame
    metric: str  # the metric of the permutation importance
    calibration_bins: int
    labels: list[str]  # class names: negative, positive


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
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    _finish_unit_square(
        ax,
        path,
        "lower right",
        xlabel="False positive rate",
        ylabel="True positive rate",
        title=f"ROC curve: {ev.model}",
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


def draw_confusion(ev: Evidence, path: Path) -> None:
    """Confusion matrix (rows: true class, columns: predicted)."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(ev.y_true, ev.y_pred, labels=[0, 1])
    fig = _figure(5, 4.5)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        color = "white" if count > cm.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=14)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=ev.labels,
        yticklabels=ev.labels,
        xlabel="Predicted",
        ylabel="True",
        title=f"Confusion matrix: {ev.model}",
    )
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


PLOTS: dict[str, Plot] = {
    "roc": Plot("roc_curve.png", "ROC curve", draw_roc),
    "precision_recall": Plot(
        "precision_recall.png", "precision-recall curve", draw_precision_recall
    ),
    "confusion": Plot("confusion_matrix.png", "confusion matrix", draw_confusion),
    "calibration": Plot("calibration.png", "calibration curve", draw_calibration),
    "importance": Plot("permutation_importance.png", "permutation importance", draw_importance),
}

"""Test-split metrics and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 and ROC AUC of the positive class (label 1)."""
    from sklearn import metrics

    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float(metrics.roc_auc_score(y_true, y_score)),
    }


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(y_true: np.ndarray, y_score: np.ndarray, title: str, path: Path) -> None:
    """ROC curve with its AUC, saved as PNG."""
    from sklearn.metrics import RocCurveDisplay

    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    RocCurveDisplay.from_predictions(y_true, y_score, ax=ax, name=title)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_title(f"ROC curve: {title}")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], title: str, path: Path
) -> None:
    """Confusion matrix (rows: true class, columns: predicted), saved as PNG."""
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=[0, 1], display_labels=labels, ax=ax, colorbar=False
    )
    ax.set_title(f"Confusion matrix: {title}")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)

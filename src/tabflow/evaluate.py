"""Metrics (test split and cross-validation), permutation importance and plots.

Plots use matplotlib's object API (Figure + Agg canvas), not pyplot: importing pyplot
costs about a second in every evaluate job. numpy and sklearn are imported inside the
functions: the Snakefile imports this module (for METRICS) while it parses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Metric names are also sklearn scorer names (the positive class is label 1).
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


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


def cross_validate(
    pipeline: Any, X: pd.DataFrame, y: pd.Series, folds: int, seed: int, n_jobs: int = 1
) -> dict[str, Any]:
    """Stratified k-fold CV of an unfitted pipeline: mean and std (ddof 0) of each metric."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold
    from sklearn.model_selection import cross_validate as sk_cross_validate

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = sk_cross_validate(
        pipeline, X, y, cv=cv, scoring=list(METRICS), n_jobs=n_jobs, error_score="raise"
    )
    out: dict[str, Any] = {"folds": folds}
    for name in METRICS:
        values = np.asarray(scores[f"test_{name}"], dtype=float)
        out[name] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def permutation_importance(
    model: Any, X: pd.DataFrame, y: pd.Series, metric: str, repeats: int, seed: int
) -> pd.DataFrame:
    """Drop in `metric` when one raw feature column is shuffled, most important first.

    Same definition as sklearn.inspection.permutation_importance, but the `repeats`
    shuffled copies of a column are scored with one predict call on the stacked rows:
    a 300-tree forest pays its per-call overhead 13 times here instead of 130.
    """
    import numpy as np
    import pandas as pd
    from sklearn.metrics import get_scorer

    score = get_scorer(metric)._score_func
    proba = metric == "roc_auc"
    y_true = np.asarray(y)
    n = len(X)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(frame)[:, 1] if proba else model.predict(frame)

    def metric_of(pred: np.ndarray) -> float:
        if metric in ("precision", "recall", "f1"):
            return float(score(y_true, pred, zero_division=0))
        return float(score(y_true, pred))

    baseline = metric_of(predict(X))
    rng = np.random.RandomState(seed)
    means, stds = [], []
    for column in X.columns:
        stacked = pd.concat([X] * repeats, ignore_index=True)
        values = X[column].to_numpy()
        stacked[column] = np.concatenate([values[rng.permutation(n)] for _ in range(repeats)])
        pred = predict(stacked)
        drops = [baseline - metric_of(pred[r * n : (r + 1) * n]) for r in range(repeats)]
        means.append(float(np.mean(drops)))
        stds.append(float(np.std(drops)))
    table = pd.DataFrame(
        {"feature": list(X.columns), "importance_mean": means, "importance_std": stds}
    )
    return table.sort_values(
        ["importance_mean", "feature"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


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


def plot_roc(y_true: np.ndarray, y_score: np.ndarray, title: str, path: Path) -> None:
    """ROC curve with its AUC, saved as PNG."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y_true, y_score)
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, label=f"{title} (AUC = {roc_auc_score(y_true, y_score):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    _finish_unit_square(
        ax,
        path,
        "lower right",
        xlabel="False positive rate",
        ylabel="True positive rate",
        title=f"ROC curve: {title}",
    )


def plot_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], title: str, path: Path
) -> None:
    """Confusion matrix (rows: true class, columns: predicted), saved as PNG."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=[0, 1])
    fig = _figure(5, 4.5)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        color = "white" if count > cm.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=14)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=labels,
        yticklabels=labels,
        xlabel="Predicted",
        ylabel="True",
        title=f"Confusion matrix: {title}",
    )
    _save(fig, path)


def plot_precision_recall(y_true: np.ndarray, y_score: np.ndarray, title: str, path: Path) -> None:
    """Precision-recall curve with its average precision and the no-skill line, as PNG."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, y_score)
    ap = average_precision_score(y_true, y_score)
    prevalence = float((y_true == 1).mean())
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.step(recall, precision, where="post", label=f"{title} (AP = {ap:.3f})")
    ax.axhline(prevalence, linestyle="--", color="grey", linewidth=1, label="no skill")
    _finish_unit_square(
        ax,
        path,
        "lower left",
        xlabel="Recall",
        ylabel="Precision",
        title=f"Precision-recall: {title}",
    )


def plot_calibration(
    y_true: np.ndarray, y_score: np.ndarray, bins: int, title: str, path: Path
) -> None:
    """Reliability diagram: observed positive rate per bin of predicted probability, as PNG."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y_true, y_score, n_bins=bins, strategy="uniform")
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label=title)
    _finish_unit_square(
        ax,
        path,
        "upper left",
        xlabel="Mean predicted probability",
        ylabel="Observed fraction of positives",
        title=f"Calibration ({bins} bins): {title}",
    )


def plot_importance(table: pd.DataFrame, metric: str, title: str, path: Path) -> None:
    """Permutation importance (mean and std of the drop in `metric`), as a bar chart PNG."""
    shown = table.iloc[::-1]
    fig = _figure(6, max(3.0, 0.35 * len(shown) + 1.2))
    ax = fig.add_subplot()
    ax.barh(shown["feature"], shown["importance_mean"], xerr=shown["importance_std"], color="C0")
    ax.axvline(0, color="grey", linewidth=1)
    ax.set(xlabel=f"Drop in {metric} when shuffled", title=f"Permutation importance: {title}")
    _save(fig, path)

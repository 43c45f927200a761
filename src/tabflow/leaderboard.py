"""Compare the models: one row per model from results/metrics/*.json."""

from __future__ import annotations

from pathlib import Path

from tabflow.evaluate import METRICS
from tabflow.io import read_json

# Table columns: the ranking metric first.
COLUMNS = ("roc_auc", *(m for m in METRICS if m != "roc_auc"))


def collect(metrics_dir: str | Path) -> list[dict[str, float | str]]:
    """Rows {model, metric...}, best ROC AUC first (ties broken by name)."""
    rows = []
    for path in sorted(Path(metrics_dir).glob("*.json")):
        rows.append({"model": path.stem, **read_json(path)})
    return sorted(rows, key=lambda r: (-float(r["roc_auc"]), str(r["model"])))


def format_table(rows: list[dict[str, float | str]]) -> str:
    """A plain-text table; the first row is the best model."""
    if not rows:
        return "no results yet: run `snakemake -j 3` first"
    header = ["model", *COLUMNS]
    lines = ["  ".join(f"{h:>9}" for h in header)]
    for row in rows:
        lines.append("  ".join([f"{row['model']:>9}", *(f"{row[m]:9.4f}" for m in COLUMNS)]))
    lines.append(f"best by roc_auc: {rows[0]['model']}")
    return "\n".join(lines)

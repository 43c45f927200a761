"""Errors that end a run with one clear line (no traceback). Import-light on purpose."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line that names key, file and fix."""


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, the column and the fix."""


def data_file_problem(path: str | Path, role: str = "data.raw_path") -> str | None:
    """Why a CSV cannot be read at all, with the fix; None if it is a file. `role` names
    it: data.raw_path, or another input (the rows to predict), whose fix is its path.

    Checked by the Snakefile before any job (Snakemake's own error names no fix) and by
    the loader when a stage runs by hand.
    """
    raw = Path(path)
    if raw.is_file():
        return None
    training = role == "data.raw_path"
    if raw.exists():
        fix = "point data.raw_path at a CSV file" if training else "give a CSV file"
        return f"{raw} is not a file ({role}): {fix}"
    fix = (
        "run `dvc pull` to fetch the demo data, or point data.raw_path at your CSV"
        if training
        else "check the path"
    )
    return f"{raw} not found ({role}): {fix}"


def predict_input_problem(path: str | Path, results_dir: str | Path) -> str | None:
    """Why `snakemake predict` cannot take these rows, with the fix; None if it can. The
    rows must not lie under the folder the workflow writes (Snakemake would delete an input
    that is an output before the job runs)."""
    if problem := data_file_problem(path, "predict_input"):
        return problem
    rows, results = Path(path).resolve(), Path(results_dir).resolve()
    if rows == results or results in rows.parents:
        return (
            f"predict_input={path} lies under {results_dir}/ (paths.results_dir), which the "
            f"workflow writes and may delete; copy the rows elsewhere first"
        )
    return None


def results_dir_problem(path: str | Path) -> str | None:
    """Why nothing can be written under paths.results_dir, with the fix; None if it can.

    Checked before any job: otherwise the first job to write fails with a long stack, the
    other models' old files stay beside the new ones, and the MLflow run stays open.
    """
    import os
    import tempfile

    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return (
            f"{folder} cannot be written (paths.results_dir): {err.strerror or err}; fix its "
            f"permissions or set paths.results_dir to a folder you can write"
        )
    return None

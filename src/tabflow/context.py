"""What a run was made from, besides its config: git commit, package versions, data md5.

Recorded as MLflow tags, and compared by `tabflow reproduce`. No MLflow here.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from tabflow.io import file_digest

DVC_FILE = "data.dvc"


def git_info() -> dict[str, str]:
    """Commit of the working tree and whether it has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def data_md5(dvc_file: str | Path = DVC_FILE) -> str:
    """The md5 that data.dvc records for the tracked data, or 'untracked'."""
    import yaml

    path = Path(dvc_file)
    if not path.is_file():
        return "untracked"
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "untracked"))


def file_md5(path: str | Path) -> str:
    return file_digest(path, "md5")


def versions() -> dict[str, str]:
    """Python and key package versions, as tags."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python_version": platform.python_version()}
    for pkg in ("scikit-learn", "pandas", "numpy", "mlflow", "hydra-core", "snakemake", "dvc"):
        try:
            out[f"version.{pkg}"] = version(pkg)
        except PackageNotFoundError:
            out[f"version.{pkg}"] = "absent"
    return out

"""Shared fixtures: the repo root, the demo data, and a fresh copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Three test workers share two cores: an OpenMP team (histogram boosting, LightGBM, XGBoost
# in this process) must sleep when it waits, not spin. Spinning teams of two runtimes
# (scikit-learn's and a library's own libgomp) took 105 s of CPU for a 5 s test.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def demo_object() -> Path:
    """The demo CSV as the repository ships it: its object in the in-repo DVC remote."""
    import json

    import yaml

    store = ROOT / "dvc-storage" / "files" / "md5"
    manifest = yaml.safe_load((ROOT / "data.dvc").read_text())["outs"][0]["md5"]
    (entry,) = json.loads((store / manifest[:2] / manifest[2:]).read_text())
    return store / entry["md5"][:2] / entry["md5"][2:]


DEMO_CSV = demo_object()


def reading_for(X, categorical=(), task="binary", classes=("no", "yes"), **data):
    """The reading of rows like X's (what preprocess writes into the data summary), with
    neutral data settings unless `data` gives some (na_values, na_markers, ...)."""
    from types import SimpleNamespace

    from tabflow.data import reading

    settings = {
        "target_col": "target",
        "raw_path": "rows.csv",
        "columns_for": None,
        "categorical_cols": list(categorical),
        "na_values": {},
        "na_markers": [],
        "positive_label": 1,
        "positive_when": "",
        "positive_name": "yes",
        "negative_name": "no",
        "id_col": None,
        "sep": ",",
        **data,
    }
    names = [] if task == "regression" else list(classes)
    return reading(SimpleNamespace(**settings), X, list(categorical), task, names)


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run with the repo root as working directory (where configs/ lives)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("TABFLOW_CONFIG_DIR", raising=False)
    return ROOT


def tool_env(home: Path) -> dict[str, str]:
    """Environment for the real tools: the venv first on PATH, no network chatter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TABFLOW_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(home / "dvc-site-cache"),
        CI="true",
        GIT_AUTHOR_NAME="tabflow tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="tabflow tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
    )
    return env


def copy_project(dest: Path) -> Path:
    """Copy the repo as a fresh clone has it (tracked + new unignored files), as a git repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_symlink():  # `profiles` -> workflow/profiles
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dest / rel)
        elif src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    env = tool_env(dest.parent)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A", "-f", "."],
        ["git", "commit", "-q", "-m", "test copy"],
    ):
        subprocess.run(cmd, cwd=dest, env=env, check=True, capture_output=True)
    return dest


def _clones_folder(config: pytest.Config) -> Path:
    """Where the cold clones live: one folder for the whole session (every xdist worker)."""
    base = config._tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "cold-clones"


# The order the tests start in, tier by tier (pytest-randomly shuffles within each): those
# that need no cold clone run while the clones are made, then those that need clone b
# (forks of it: ready first), the ones marked `long` first, then those that need both
# clones. With two workers, a long test started last would run alone at the end.
def _tier(item: pytest.Item) -> tuple[int, int]:
    names = set(getattr(item, "fixturenames", ()))
    long = 0 if item.get_closest_marker("long") else 1
    if not names & {"clones", "clone_b"}:
        return 0, long
    return (2 if "clones" in names else 1), long


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_tier)


def pytest_collection_finish(session: pytest.Session) -> None:
    """If any selected test needs the cold clones, start making them now, while the tests
    that do not need them run."""
    if any(
        {"clones", "clone_b"} & set(getattr(item, "fixturenames", ())) for item in session.items
    ):
        from .e2e import ColdBuild

        ColdBuild.start(_clones_folder(session.config))


@pytest.fixture(scope="session")
def clones(request):
    """Two fresh clones after the alternating cold runs of `make soak` (TABFLOW_COLD_RUNS;
    shared by every xdist worker; read them, change only forks). Its tests are marked
    `soak`: `make test` makes clone b's one cold run only."""
    from .e2e import ColdBuild

    folder = _clones_folder(request.config)
    ColdBuild.start(folder)
    return ColdBuild.wait(folder)


@pytest.fixture(scope="session")
def clone_b(request):
    """Clone b after its last cold run, and its cold runs (read it, change only forks): ready
    before clone a's cold runs end."""
    from .e2e import ColdBuild

    folder = _clones_folder(request.config)
    ColdBuild.start(folder)
    return ColdBuild.wait(folder, "b.pickle")


@pytest.fixture
def forked(clone_b, tmp_path):
    """A copy of clone b's state after its cold run, for a test that changes it."""
    from .e2e import fork

    return fork(clone_b.project, tmp_path / "p")


@pytest.fixture
def a(clone_b, tmp_path):
    """A copy of clone b after its last cold run, with a DVC remote of its own (committed)."""
    from .e2e import fork

    proj = fork(clone_b.project, tmp_path / "a")
    proj.run("dvc", "remote", "add", "-d", "-f", "shared", str(tmp_path / "dvc-remote"))
    proj.run("git", "commit", "-q", "-am", "use a shared DVC remote")
    return proj


@pytest.fixture
def tracked(a):
    """That copy with its results tracked by DVC, pushed and committed (`tabflow track`)."""
    res = a.run("tabflow", "track")
    assert (a.path / "results.dvc").is_file(), res.stdout
    a.run("git", "add", "results.dvc", ".gitignore")
    a.run("git", "commit", "-q", "-m", "results of the cold run")
    return a

"""A rule's code fingerprint covers the package modules its jobs import, and only those."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tabflow.fingerprint import code_of, package_dir


def modules(stage: str) -> set[str]:
    return {entry.split()[0] for entry in code_of(stage)}


def test_each_stage_covers_what_it_imports_and_nothing_else():
    every = {"tabflow", "tabflow.runner", "tabflow.stages", "tabflow.errors", "tabflow.paths"}
    for stage in ("preprocess", "train", "evaluate", "leaderboard"):
        assert every | {f"tabflow.stages.{stage}"} <= modules(stage), stage
    assert "tabflow.plots" in modules("evaluate")
    assert {"tabflow.tracking.model_run", "tabflow.tracking.store"} <= modules("evaluate")
    for stage in ("preprocess", "train", "leaderboard"):
        assert "tabflow.plots" not in modules(stage), stage
        assert not any(m.startswith("tabflow.tracking") for m in modules(stage)), stage
    assert "tabflow.metrics" in modules("train") and "tabflow.metrics" not in modules("preprocess")
    assert "tabflow.data" in modules("preprocess") & modules("train") & modules("evaluate")
    assert "tabflow.data" not in modules("leaderboard")
    # The reading of raw rows travels in every model: its edit refits them; the served
    # wrapper is logged with each model by evaluate.
    assert "tabflow_rows" in modules("train") & modules("evaluate") & modules("predict")
    assert "tabflow_rows.served" in modules("evaluate")
    assert "tabflow_rows.served" not in modules("train") | modules("predict")
    for stage in ("preprocess", "train", "evaluate", "leaderboard"):
        # The main process's modules: what happens around the jobs, not in them.
        for outside in ("tabflow.notify", "tabflow.hooks", "tabflow.plan", "tabflow.config"):
            assert outside not in modules(stage), (stage, outside)


def test_the_digest_follows_the_content_of_the_imported_copy(tmp_path):
    """Read from where the interpreter imports tabflow: here, a copy put first on the path."""
    shutil.copytree(package_dir(), tmp_path / "tabflow")
    show = "from tabflow.fingerprint import code_of; print(repr(code_of('evaluate')))"

    def fingerprint() -> list[str]:
        env = {"PYTHONPATH": str(tmp_path)}
        out = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return eval(out.stdout)

    before = fingerprint()
    assert before == code_of("evaluate"), "same bytes, same fingerprint, wherever they live"
    plots = tmp_path / "tabflow" / "plots.py"
    plots.write_text(plots.read_text() + "\n# a change\n")
    after = fingerprint()
    changed = sorted(set(before) ^ set(after))
    assert [entry.split()[0] for entry in changed] == ["tabflow.plots", "tabflow.plots"]

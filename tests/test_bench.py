"""`make bench` runs in its quick mode and reports every figure it is asked for."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import BIN, ROOT

pytestmark = pytest.mark.e2e


def test_make_bench_quick_writes_the_json_and_the_table(tmp_path):
    out = tmp_path / "bench.json"
    stamp = tmp_path / "installed.stamp"  # the running venv is installed: skip that step
    stamp.touch()
    res = subprocess.run(
        [
            "make",
            "bench",
            "QUICK=1",
            f"VIRTUAL_ENV={BIN.parent}",
            f"STAMP={stamp}",
            f"BENCH_ARGS=--cases cold,noop --out {out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "DVC_NO_ANALYTICS": "1"},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["models"] == ["lr"]
    assert data["cold"]["snakemake_median_s"] > data["noop"]["median_s"] > 0
    assert data["noop"]["bare_param_median_s"] > 0 and data["noop"]["ratio"] > 0
    assert data["cold"]["one_process_median_s"] > 0
    assert "1 cold run / one process" in res.stdout
    assert "2 no-op / bare Snakemake no-op" in res.stdout

"""`make bench` runs every case in its quick mode and reports every figure it is asked for.

Outside `make test` (it takes about 12 minutes): `make test-bench`, which CI runs."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import BIN, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.bench]


def test_make_bench_quick_runs_every_case_and_reports_it(tmp_path):
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
            f"BENCH_ARGS=--out {out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "DVC_NO_ANALYTICS": "1"},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["models"] == ["lr"]

    cold, noop = data["cold"], data["noop"]
    assert cold["snakemake_median_s"] > noop["median_s"] > 0
    assert cold["one_process_median_s"] > 0 and noop["bare_param_median_s"] > 0
    assert data["incremental"]["model"] == "lr" and data["incremental"]["rerun_median_s"] > 0
    assert (
        data["dvc_repro"]["snakemake_median_s"] > 0 and data["dvc_repro"]["dvc_repro_median_s"] > 0
    )
    large = data["large"]
    assert large["rows"] == 2_000 and large["snakemake_peak_mb"] > 0 < large["one_process_peak_mb"]
    many = data["many"]
    assert (
        many["mlflow_runs_finished"] == many["pairs"] == 2 and many["mlflow_or_sqlite_errors"] == []
    )
    sweep = data["sweep"]
    assert sweep["trials"] == sweep["fitted"] == 3
    assert sweep["one_process_median_s"] > 0 and sweep["hydra_multirun_trials_only_s"] > 0
    for key in ("sweep", "skewed"):  # the trial phase, side by side with the loop's
        phase = data[key]
        assert phase["trial_phase_s"]["ours"] > 0 < phase["trial_phase_s"]["loop"], phase
        assert 0 < phase["busy"]["ours"] <= 1 and phase["after_trials_s"] > 0, phase
    assert data["skewed"]["trials"] == data["skewed"]["fitted"] == 3
    extension = data["extension"]  # the grid grown from 24 to 36 points fits only the 12 new
    assert (extension["first_fitted"], extension["grown_fitted"], extension["grown_cached"]) == (
        24,
        12,
        24,
    )
    boosting = data["boosting"]  # every boosting model and gb, rf, on both tasks, two ways
    for task, primary in (("binary", "roc_auc"), ("regression", "rmse")):
        part = boosting[task]
        assert set(part["models"]) == {"lgbm", "xgb", "catboost", "hgb", "gb", "rf"}
        assert part["same_cv_in_one_process"] is True, "the same work, the same scores"
        for usage in part["models"].values():
            assert usage["cpu_s"] > 0 < usage["peak_mb"] and primary in usage["cv"], usage
        assert part["snakemake_s"] > 0 < part["one_process_s"]
    threads = data["threads"]
    assert threads["models"] == ["lgbm", "xgb", "catboost", "hgb"] and threads["same_cv"] is True
    assert threads["capped_median_s"] > 0 < threads["oversubscribed_median_s"]
    huge = data["huge"]
    assert huge["rows"] == 3_000 and huge["model"] in boosting["binary"]["models"]
    assert f"train/{huge['model']}" in huge["stages"] and huge["peak_mb"] > 0, huge
    slurm = data["slurm"]
    assert "skipped" in slurm or slurm["slurm_median_s"] > 0, slurm

    for line in (
        "1 cold run / one process",
        "2 no-op / bare Snakemake no-op",
        "3 lr edited / cold",
        "4 snakemake / dvc repro",
        "5 2,000 rows: wall",
        "6 2 pairs / one process",
        "7 sweep 3 trials / loop",
        "7 trial phase / loop's",
        "7s skewed 3 trials / loop",
        "8 grid 24 -> 36: fitted, s",
        "10 2,000 rows, binary: wall",
        "10 2,000 rows, regression: wall",
        "11 threads: capped / every core",
        "12 3,000 rows",
        "9 SLURM",
    ):
        assert line in res.stdout, (line, res.stdout[-3000:])

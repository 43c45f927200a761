"""Runs left RUNNING by a Snakemake killed as a whole are closed by the next workflow."""

from __future__ import annotations

import inspect
import os
import re
import socket
import subprocess
import sys

from tabflow.tracking.workflow_run import close_abandoned


def test_runs_of_a_dead_workflow_on_this_host_are_marked_killed(tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("x", artifact_location=str(tmp_path / "mlruns"))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = socket.gethostname()

    def workflow(pid: str, on: str = host) -> str:
        tags = {"tabflow.role": "workflow", "tabflow.host": on, "tabflow.pid": pid}
        return client.create_run(experiment, tags=tags).info.run_id

    dead, alive, elsewhere = workflow(gone), workflow(str(os.getpid())), workflow(gone, "node7")
    open_child = client.create_run(experiment, tags={"mlflow.parentRunId": dead}).info.run_id
    done_child = client.create_run(experiment, tags={"mlflow.parentRunId": dead}).info.run_id
    client.set_terminated(done_child, "FINISHED")

    assert close_abandoned(client, experiment) == [dead]
    status = {r: client.get_run(r).info.status for r in (dead, alive, elsewhere)}
    assert status == {dead: "KILLED", alive: "RUNNING", elsewhere: "RUNNING"}
    assert client.get_run(open_child).info.status == "KILLED"
    assert client.get_run(done_child).info.status == "FINISHED"
    assert close_abandoned(client, experiment) == []


def test_mlflow_telemetry_is_off_outside_ci_too():
    """Its thread edits os.environ under the job's REST calls (a KeyError in a 30-job run)."""
    from mlflow.telemetry import utils

    # MLflow's own off-switches (CI, PYTEST_CURRENT_TEST, ...) are not set in a user's shell.
    markers = set(re.findall(r'"([A-Z_]+)"', inspect.getsource(utils._is_ci_env_or_testing)))
    assert {"CI", "PYTEST_CURRENT_TEST"} <= markers
    env = {k: v for k, v in os.environ.items() if k not in markers | {"MLFLOW_DISABLE_TELEMETRY"}}
    code = (
        "import tabflow\n"
        "from mlflow.telemetry.utils import is_telemetry_disabled\n"
        "assert is_telemetry_disabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def test_a_lost_tracking_server_fails_a_call_in_seconds():
    """tabflow sets MLflow's retries short: two, a second apart (MLflow's default waits
    about 8 minutes). A closed port on loopback stands for the lost server."""
    code = (
        "import tabflow, mlflow\n"
        "mlflow.set_tracking_uri('http://127.0.0.1:9')\n"
        "try:\n"
        "    mlflow.MlflowClient().search_experiments()\n"
        "except Exception as err:\n"
        "    print(type(err).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP")}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90
    )
    assert res.stdout.strip() == "MlflowException", res.stderr[-2000:]


def test_a_dataset_logged_first_by_a_parallel_job_is_linked_on_the_next_try(tmp_path, monkeypatch):
    """Two evaluate jobs that log the training split into a fresh experiment at once can both
    insert it: the loser's store answers with a UNIQUE constraint error (seen in CI with a
    tracking server). The run must still get its input; other errors are not retried."""
    import mlflow
    import mlflow.data
    import pandas as pd
    import pytest
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from tabflow.tracking import model_run

    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)  # restored after the test
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    real, calls = mlflow.log_input, []

    def first_loses_the_race(dataset, context=None):
        calls.append(context)
        if len(calls) == 1:  # the other job's insert won: what the store answered in CI
            raise MlflowException(
                "BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint failed: "
                "datasets.experiment_id, datasets.name, datasets.digest"
            )
        return real(dataset, context=context)

    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0.0, 1.0]})
    dataset = mlflow.data.from_pandas(frame, source="train.parquet", targets="y", name="training")
    monkeypatch.setattr(mlflow, "log_input", first_loses_the_race)
    with mlflow.start_run() as run:
        model_run.log_input(dataset, "training")
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["training"] and calls == ["training"] * 2

    def refused(dataset, context=None):
        calls.append(context)
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: run gone")

    monkeypatch.setattr(mlflow, "log_input", refused)
    calls.clear()
    with pytest.raises(MlflowException, match="run gone"), mlflow.start_run():
        model_run.log_input(dataset, "training")
    assert calls == ["training"]

"""tabflow: a reproducible, parallel scikit-learn pipeline for tabular data."""

import os

# MLflow 3's telemetry thread sets and deletes an environment variable
# (_MLFLOW_TELEMETRY_SESSION_ID) while the job's own thread may be iterating os.environ
# (requests does, for proxies, on every REST call): `KeyError: '_MLFLOW_TELEMETRY_SESSION_ID'`
# failed an evaluate job in a 30-job run. It also phones home. Off unless the user chose;
# MLflow itself turns it off when CI=true, which is why the test suite never saw it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# A tracking server lost mid-run should fail a job in seconds, not after MLflow's default
# backoff (about 8 minutes): two retries, one second apart and growing.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")

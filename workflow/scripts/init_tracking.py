"""Stage 'init_tracking': create the MLflow DB and experiment once, before parallel jobs.
The logic lives in tabflow.stages.init_tracking.
"""

from tabflow.runner import run

run("init_tracking", globals().get("snakemake"))

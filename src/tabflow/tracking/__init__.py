"""MLflow tracking, by concern: `store` (where runs go, its lock, the workflow's loopback
server), `workflow_run` (the parent run of a workflow invocation), `model_run` (one
model's run). Run context without MLflow (git, versions, data) is in tabflow.context.
"""

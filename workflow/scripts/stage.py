"""Runs one pipeline stage (tabflow.stages): under Snakemake, the stage of the rule that
calls it; by hand, from the project root, the one named first:
    python workflow/scripts/stage.py train model=rf model.params.n_estimators=50
"""

import sys

if "snakemake" in globals():
    from tabflow.runner import run_job

    run_job(snakemake)  # noqa: F821 (Snakemake's script object)
else:
    from tabflow.cli import main

    sys.exit(main(["run", *sys.argv[1:]]))

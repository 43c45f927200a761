"""Stage 'preprocess': a Snakemake script that also runs alone, from the project root:
    python workflow/scripts/preprocess.py [overrides...]
The logic lives in tabflow.stages.preprocess.
"""

from tabflow.runner import run

run("preprocess", globals().get("snakemake"))

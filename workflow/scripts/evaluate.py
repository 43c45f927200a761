"""Stage 'evaluate': a Snakemake script that also runs alone, from the project root:
    python workflow/scripts/evaluate.py model=rf [overrides...]
The logic lives in tabflow.stages.evaluate.
"""

from tabflow.runner import run

run("evaluate", globals().get("snakemake"))

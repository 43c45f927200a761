"""Stage 'train': a Snakemake script that also runs alone, from the project root:
    python workflow/scripts/train.py model=rf [overrides...]
The logic lives in tabflow.stages.train.
"""

from tabflow.runner import run

run("train", globals().get("snakemake"))

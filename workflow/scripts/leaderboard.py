"""Stage 'leaderboard': a Snakemake script that also runs alone, from the project root:
    python workflow/scripts/leaderboard.py [overrides...]
The logic lives in tabflow.stages.leaderboard.
"""

from tabflow.runner import run

run("leaderboard", globals().get("snakemake"))

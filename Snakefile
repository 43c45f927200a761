# preprocess -> train -> evaluate, one train/evaluate job per model in configs/model/,
# then the leaderboard.
#   snakemake -j 3
#   snakemake -j 3 --config models=[lr,rf] overrides="training.test_size=0.3"
# All knobs live in configs/ (Hydra); see README.md.

from snakemake.utils import min_version

min_version("9.27")


include: "workflow/rules/common.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/leaderboard.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/seeds.smk"
include: "workflow/rules/register.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/front_page.smk"


# The report opens on the answer (written by rule front_page).
report: PATHS.front_page


rule all:
    default_target: True
    input:
        rules.leaderboard.output,
        rules.register.output,
        rules.front_page.output,
        expand(rules.evaluate.output, model=PLAN.models),
        sweep_outputs(),

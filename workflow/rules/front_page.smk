# The report's front page (Snakemake's workflow description, see `report:` in the
# Snakefile): the best model, the leaderboard, the data and the champion decision.
localrules:
    front_page,


rule front_page:
    input:
        leaderboard=PATHS.leaderboard_csv,
        summary=PATHS.data_summary,
        registry=PATHS.registry,
    output:
        PATHS.front_page,
    log:
        PATHS.log("front_page"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        *code_of("front_page"),
        config=config_of("paths"),
    script:
        "../scripts/stage.py"

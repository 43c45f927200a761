# Seconds of work: not worth a cluster queue.
localrules:
    leaderboard,


rule leaderboard:
    input:
        metrics=expand(PATHS.metrics("{model}"), model=PLAN.models),
        cv=expand(PATHS.cv("{model}"), model=PLAN.models),
    output:
        csv=PATHS.leaderboard_csv,
        md=PATHS.leaderboard_md,
        html=report(
            PATHS.leaderboard_html,
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"table": "leaderboard"},
        ),
    log:
        PATHS.log("leaderboard"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        *code_of("leaderboard"),
        models=PLAN.models,
        config=config_of("task", "training", "evaluation", "paths"),
    script:
        "../scripts/stage.py"

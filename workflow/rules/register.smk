# The run's best model (by CV) becomes a new version of the registered model: `champion`
# if it beats the current one on the same training rows, else `challenger`.
localrules:
    register,


rule register:
    input:
        leaderboard=PATHS.leaderboard_csv,
        runs=expand(PATHS.mlflow_run("{model}"), model=PLAN.models),
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
    output:
        PATHS.registry,
    log:
        PATHS.log("register"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        *code_of("register"),
        config=config_of(
            "task",
            "registry",
            "mlflow",
            "evaluation.primary_metric",
            "evaluation.cv_folds",
            "training.random_state",
            "data.target_col",
            "data.raw_path",
            "paths",
        ),
    script:
        "../scripts/stage.py"

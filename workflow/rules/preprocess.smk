rule preprocess:
    input:
        PLAN.cfg().data.raw_path,
    output:
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
        profile=PATHS.data_profile,
    log:
        PATHS.log("preprocess"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        *code_of("preprocess"),
        config=config_of("task", "data", "training", "evaluation.cv_folds", "paths"),
    script:
        "../scripts/stage.py"

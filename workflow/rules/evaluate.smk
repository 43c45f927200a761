rule evaluate:
    input:
        unpack(tuned_input),
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
        cv=PATHS.cv("{model}"),
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
        profile=PATHS.data_profile,
    output:
        **{name: figure(name) for name in FIGURES},
        metrics=PATHS.metrics("{model}"),
        predictions=PATHS.predictions("{model}"),
        importance_table=PATHS.importance("{model}"),
        run=PATHS.mlflow_run("{model}"),
    log:
        PATHS.log("evaluate", "{model}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        *code_of("evaluate"),
        config=config_of(*EVALUATE_KEYS),
    script:
        "../scripts/stage.py"

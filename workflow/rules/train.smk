rule train:
    input:
        unpack(tuned_input),
        train=PATHS.train_data,
        summary=PATHS.data_summary,
    output:
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
        cv=PATHS.cv("{model}"),
    log:
        PATHS.log("train", "{model}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        *code_of("train"),
        config=config_of(*FIT_KEYS),
    script:
        "../scripts/stage.py"

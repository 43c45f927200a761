rule train:
    input:
        PATHS.train_data,
    output:
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
        cv=PATHS.cv("{model}"),
    log:
        PATHS.log("train", "{model}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        overrides=PLAN.overrides,
        config=model_fingerprint,
    script:
        "../scripts/train.py"

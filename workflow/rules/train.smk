rule train:
    input:
        PATHS.train_data,
    output:
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
    params:
        overrides=PLAN.overrides,
        config=model_fingerprint,
    threads: 1
    log:
        PATHS.log("train", "{model}"),
    script:
        "../scripts/train.py"

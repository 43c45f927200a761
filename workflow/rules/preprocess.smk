rule preprocess:
    input:
        PATHS.raw_data,
    output:
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
    log:
        PATHS.log("preprocess"),
    params:
        overrides=PLAN.overrides,
        config=PLAN.data_fingerprint(),
    script:
        "../scripts/preprocess.py"

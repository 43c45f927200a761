rule preprocess:
    input:
        PATHS.raw_data,
    output:
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
    params:
        overrides=PLAN.overrides,
        config=PLAN.data_fingerprint(),
    log:
        PATHS.log("preprocess"),
    script:
        "../scripts/preprocess.py"

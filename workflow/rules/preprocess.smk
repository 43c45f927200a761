rule preprocess:
    input:
        PATHS.raw_data,
    output:
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
    log:
        PATHS.log("preprocess"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        overrides=PLAN.overrides,
        config=PLAN.data_fingerprint(),
    script:
        "../scripts/preprocess.py"

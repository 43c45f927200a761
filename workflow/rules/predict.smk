# snakemake -j 3 predict --config predict_input=new.csv [predict_model=champion]: the rows
# of new.csv scored by the model the alias names now (the registered champion by default),
# into results/predictions/new/new-<digest of the input's path>.csv, with a drift table.
localrules:
    predict,


rule predict:
    input:
        PREDICT_INPUT or [],
    output:
        scored=PREDICT_OUTPUT,
        drift=PATHS.drift_table(PREDICT_OUTPUT),
    log:
        PATHS.log("predict", Path(PREDICT_OUTPUT).stem),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        *code_of("predict"),
        config=config_of("registry", "predict", "mlflow", "paths"),
        input=PREDICT_INPUT,
        model=PREDICT_MODEL.uri if PREDICT_MODEL else "",
        logged_model=PREDICT_MODEL.source if PREDICT_MODEL else "",
    script:
        "../scripts/stage.py"

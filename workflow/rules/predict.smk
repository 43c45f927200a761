# snakemake -j 3 predict --config predict_input=new.csv [predict_model=champion]: the rows
# of new.csv scored by the registered champion, into results/predictions/new/new.csv.
localrules:
    predict,


rule predict:
    input:
        PREDICT_INPUT or [],
    output:
        PATHS.new_predictions(PREDICT_NAME),
    log:
        PATHS.log("predict", PREDICT_NAME),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        *code_of("predict"),
        config=config_of("data", "registry", "predict", "mlflow", "paths"),
        input=PREDICT_INPUT,
        model=config.get("predict_model", "champion"),
    script:
        "../scripts/stage.py"

localrules:
    init_tracking,


# Creates the MLflow DB and experiment once per invocation, before any evaluate job:
# parallel first use of a new sqlite DB races. temp(): it reruns only when an evaluate does.
rule init_tracking:
    output:
        temp(PATHS.tracking_ready),
    params:
        overrides=PLAN.overrides,
        config=PLAN.tracking_fingerprint(),
    log:
        PATHS.log("init_tracking"),
    script:
        "../scripts/init_tracking.py"


rule evaluate:
    input:
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
        test=PATHS.test_data,
        summary=PATHS.data_summary,
        tracking=PATHS.tracking_ready,
    output:
        metrics=PATHS.metrics("{model}"),
        predictions=PATHS.predictions("{model}"),
        roc=report(
            PATHS.roc_plot("{model}"),
            caption="../report/roc.rst",
            category="ROC curve",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "ROC curve"},
        ),
        confusion=report(
            PATHS.confusion_plot("{model}"),
            caption="../report/confusion.rst",
            category="Confusion matrix",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "confusion matrix"},
        ),
        run=PATHS.mlflow_run("{model}"),
    params:
        overrides=PLAN.overrides,
        config=evaluate_fingerprint,
    threads: 1
    log:
        PATHS.log("evaluate", "{model}"),
    script:
        "../scripts/evaluate.py"

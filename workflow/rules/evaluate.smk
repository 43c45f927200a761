rule evaluate:
    input:
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
        test=PATHS.test_data,
        summary=PATHS.data_summary,
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
    log:
        PATHS.log("evaluate", "{model}"),
    threads: 1
    params:
        overrides=PLAN.overrides,
        config=evaluate_fingerprint,
    script:
        "../scripts/evaluate.py"

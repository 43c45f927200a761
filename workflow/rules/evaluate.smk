rule evaluate:
    input:
        model=PATHS.model_file("{model}"),
        info=PATHS.train_info("{model}"),
        cv=PATHS.cv("{model}"),
        test=PATHS.test_data,
        summary=PATHS.data_summary,
    output:
        metrics=PATHS.metrics("{model}"),
        predictions=PATHS.predictions("{model}"),
        importance=PATHS.importance("{model}"),
        roc=figure("roc", "ROC curve", "roc"),
        precision_recall=figure(
            "precision_recall", "precision-recall curve", "precision_recall"
        ),
        confusion=figure("confusion", "confusion matrix", "confusion"),
        calibration=figure("calibration", "calibration curve", "calibration"),
        importance_plot=figure("importance", "permutation importance", "importance"),
        run=PATHS.mlflow_run("{model}"),
    log:
        PATHS.log("evaluate", "{model}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        overrides=PLAN.overrides,
        config=evaluate_fingerprint,
    script:
        "../scripts/evaluate.py"


# Seconds of work: not worth a cluster queue.
localrules:
    leaderboard,


rule leaderboard:
    input:
        metrics=expand(PATHS.metrics("{model}"), model=PLAN.models),
        cv=expand(PATHS.cv("{model}"), model=PLAN.models),
    output:
        csv=PATHS.leaderboard_csv,
        md=PATHS.leaderboard_md,
        html=report(
            PATHS.leaderboard_html,
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"table": "leaderboard"},
        ),
    log:
        PATHS.log("leaderboard"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        overrides=PLAN.overrides,
        models=PLAN.models,
        config=PLAN.leaderboard_fingerprint(),
    script:
        "../scripts/leaderboard.py"

# --config sweep=NAME: shard jobs that take the trials of every model of
# configs/sweep/NAME.yaml from one queue until none is left (each scored by CV on the
# training part: the test split is no input here), then per model a selection job whose
# best.json (the selected trial, scored again by CV on a fresh fold
# split) is an input of the tuned model's train and evaluate.


rule sweep_shard:
    input:
        train=PATHS.train_data,
        summary=PATHS.data_summary,
    output:
        PATHS.sweep_shard("{sweep}", "{shard}"),
    log:
        PATHS.log("sweep_shard", "{sweep}-{shard}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        *code_of("sweep_shard"),
        config=config_of("data.target_col", "paths"),
        # What a fit reads, per swept model; the sweep with every model's trials.
        configs=lambda wildcards: {
            model: PLAN.select(model, FIT_KEYS) for model in PLAN.sweep["models"]
        },
        sweep=lambda wildcards: PLAN.queue_spec(),
        shard=lambda wildcards: int(wildcards.shard),
    script:
        "../scripts/stage.py"


rule sweep_select:
    input:
        shards=sweep_shards,
        train=PATHS.train_data,
        summary=PATHS.data_summary,
    output:
        trials=PATHS.sweep_trials("{sweep}", "{model}"),
        best=PATHS.sweep_best("{sweep}", "{model}"),
        plot=report(
            PATHS.sweep_plot("{sweep}", "{model}"),
            caption="../report/sweep.rst",
            category="Sweep {sweep}",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "CV score by parameter"},
        ),
        run=PATHS.sweep_run("{sweep}", "{model}"),
    log:
        PATHS.log("sweep_select", "{sweep}-{model}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        *code_of("sweep_select"),
        # The selected trial is scored again on fresh folds: what a fit reads.
        config=config_of(*FIT_KEYS, "mlflow"),
        sweep=lambda wildcards: PLAN.shard_spec(wildcards.model),
    script:
        "../scripts/stage.py"

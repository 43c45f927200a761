# --config seeds=[...]: one job per model trains and evaluates it under every seed, writing
# what a train and an evaluate job would write for each `<model>-seed<n>`.


rule seed_batch:
    input:
        train=PATHS.train_data,
        test=PATHS.test_data,
        summary=PATHS.data_summary,
        profile=PATHS.data_profile,
    output:
        *seeded(PATHS.model_file),
        *seeded(PATHS.train_info),
        *seeded(PATHS.cv),
        *seeded(PATHS.metrics),
        *seeded(PATHS.predictions),
        *seeded(PATHS.importance),
        *seeded(PATHS.mlflow_run),
        *seeded_figures(),
    log:
        PATHS.log("seed_batch", "{base}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        *code_of("seed_batch"),
        # Every seed's whole config (minus notify): its MLflow run records it.
        batch=lambda wildcards: {
            name: PLAN.select(name, EVALUATE_KEYS)
            for name in PLAN.batches[wildcards.base]
        },
    script:
        "../scripts/stage.py"

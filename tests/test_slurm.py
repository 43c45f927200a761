"""Why SLURM ended a job, from `sacct` output captured on the single-node SLURM of
tools/slurm/up.sh (tests/data/sacct/*.txt) and Snakemake's log of those runs."""

from __future__ import annotations

from pathlib import Path

from tabflow import notify, slurm

DATA = Path(__file__).parent / "data"
GROUP_LOG = "/w/.snakemake/slurm_logs/group_model_evaluate_train/{}.log"


def sacct(name: str) -> str:
    return (DATA / "sacct" / f"{name}.txt").read_text()


def test_the_submitted_jobs_are_read_from_snakemakes_log():
    jobs = slurm.submitted_jobs([DATA / "snakemake-group-oom.log", DATA / "missing.log"])
    assert jobs == {
        "23": "/tmp/sl/base/.snakemake/slurm_logs/rule_preprocess/23.log",
        "24": "/tmp/sl/base/.snakemake/slurm_logs/group_model_evaluate_train/24.log",
    }


def test_a_step_killed_over_its_mem_names_the_rule_and_mem_mb():
    # JobAcctGatherParams=OverMemoryKill: the step is killed (signal 9), the job FAILED.
    [failure] = slurm.explain(sacct("oom-killed-group"), {"24": GROUP_LOG.format(24)})
    assert (failure.kind, failure.rule, failure.wildcards) == ("memory", "train", "model=lr")
    assert failure.message() == (
        "rule train (model=lr) ran out of memory: SLURM job 24 FAILED, step 24.0 killed at "
        "386 MB, over its --mem 250 MB; raise mem_mb for train under set-resources in "
        "workflow/profiles/slurm/config.yaml (or --set-resources train:mem_mb=...)"
    )


def test_out_of_memory_where_cgroups_enforce_mem():
    # The shape of sacct on a cluster with task/cgroup (ConstrainRAMSpace=yes).
    text = (
        "57|OUT_OF_MEMORY|0:125|4000M||00:01:02|00:50:00|sbatch --parsable --job-name x\n"
        "57.batch|OUT_OF_MEMORY|0:125||4012M|00:01:02||\n"
        "57.0|OUT_OF_MEMORY|0:125||4096000K|00:01:01||srun -n1 --cpu-bind=q "
        "--cpus-per-task=1 --nodes=1 python -m snakemake --target-jobs evaluate:model=rf "
        "--allowed-rules evaluate --cores all\n"
    )
    [failure] = slurm.explain(text, {"57": GROUP_LOG.format(57)})
    assert failure.message().startswith(
        "rule evaluate (model=rf) ran out of memory: SLURM job 57 OUT_OF_MEMORY, over its "
        "--mem 4000 MB; raise mem_mb for evaluate under set-resources"
    )


def test_timeout_names_the_running_rule_and_runtime():
    [failure] = slurm.explain(sacct("timeout-group"), {"28": GROUP_LOG.format(28)})
    assert (failure.kind, failure.state, failure.rule) == ("time", "TIMEOUT", "train")
    assert failure.message().startswith("rule train (model=rf) ran out of time: SLURM job 28 ")
    assert failure.message().endswith(
        "; raise runtime (minutes) for train under set-resources in "
        "workflow/profiles/slurm/config.yaml (or --set-resources train:runtime=...)"
    )


def test_a_job_that_overran_before_slurm_timed_it_out_is_out_of_time():
    # train finished just past the limit; srun then refused evaluate's step: FAILED 1:0.
    [failure] = slurm.explain(sacct("overran-group"), {"26": GROUP_LOG.format(26)})
    assert failure.message() == (
        "a job (group job model_evaluate_train) ran out of time: SLURM job 26 FAILED after "
        "00:02:19, over its --time 00:02:00; raise runtime (minutes) under set-resources in "
        "workflow/profiles/slurm/config.yaml"
    )


def test_scancel_is_reported_with_the_rule_that_was_running():
    [failure] = slurm.explain(sacct("cancelled-group"), {"45": GROUP_LOG.format(45)})
    assert (failure.kind, failure.rule, failure.wildcards) == ("cancelled", "train", "model=rf")
    assert failure.message() == "rule train (model=rf) was cancelled: SLURM job 45 CANCELLED by 0"


def test_completed_failed_and_foreign_jobs_say_nothing():
    text = (
        "5|COMPLETED|0:0|2000M||00:00:06|00:10:00|sbatch x\n"
        "6|FAILED|1:0|4000M||00:00:04|00:30:00|sbatch x\n"  # the rule's own error: its log says
        "7|TIMEOUT|0:0|4000M||00:31:00|00:30:00|sbatch x\n"  # not a job of this run
    )
    assert slurm.explain(text, {"5": "a/5.log", "6": "a/6.log"}) == []


def test_a_job_without_steps_is_named_from_the_plugins_log_path():
    text = "9|CANCELLED by 1000|0:0|2000M||00:00:00|00:10:00|sbatch x\n"
    log = "/w/.snakemake/slurm_logs/rule_preprocess/9.log"
    [failure] = slurm.explain(text, {"9": log})
    assert failure.message() == "rule preprocess was cancelled: SLURM job 9 CANCELLED by 1000"


def test_no_slurm_jobs_in_the_log_means_no_sacct_call(tmp_path):
    log = tmp_path / "main.log"
    log.write_text("Error in rule train:\n    jobid: 1\n")
    assert slurm.failures([log]) == []


def test_the_rules_of_a_failed_group_job_are_found_in_snakemakes_log():
    jobs = notify.failed_jobs([DATA / "snakemake-group-oom.log"])
    assert [(j["rule"], j["log"].split(" (")[0]) for j in jobs] == [
        ("evaluate", "results/logs/evaluate/lr.log"),
        ("train", "results/logs/train/lr.log"),
    ]

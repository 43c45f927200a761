"""End-of-run messages: parsing Snakemake's log, URLs, delivery that never fails the run."""

from __future__ import annotations

from tabflow import notify

from .e2e import Receiver, free_port

MAIN_LOG = """\
[Sat Nov 28 08:18:01 2026]
Error in rule train:
    message: None
    jobid: 8
    input: results/data/train.parquet
    output: results/models/rf.skops, results/models/rf.train.json, results/cv/rf.json
    log: {log} (check log file(s) for error details)
Shutting down, this might take some time.
Exiting because a job execution failed. Look above for error messages
"""


def test_failure_message_names_the_rule_the_model_and_the_log_tail(tmp_path):
    job_log = tmp_path / "logs" / "train" / "rf.log"
    job_log.parent.mkdir(parents=True)
    lines = [f"line {i}" for i in range(50)] + ["ValueError: bad n_estimators"]
    job_log.write_text("\n".join(lines) + "\n")
    main = tmp_path / "main.log"
    main.write_text(MAIN_LOG.format(log=job_log))
    title, body = notify.failure_message([str(main)])
    assert title == "tabflow: workflow FAILED in rule train"
    lines = body.splitlines()
    assert lines[0] == "rule train (model=rf) failed"
    assert lines[1] == f"last lines of {job_log}:"
    assert lines[-1] == "ValueError: bad n_estimators"
    assert len(lines) == 2 + notify.LOG_TAIL_LINES


def test_failure_without_a_failed_job_shows_the_main_log(tmp_path):
    main = tmp_path / "main.log"
    main.write_text("Building DAG of jobs...\nMissingInputException: data/raw/heart.csv\n")
    title, body = notify.failure_message([str(main)])
    assert title == "tabflow: workflow FAILED"
    assert body.endswith("MissingInputException: data/raw/heart.csv")


def test_urls_come_from_config_and_environment(monkeypatch):
    cfg = ["json://a/x"]
    monkeypatch.setenv("APPRISE_URLS", "json://b/y, ntfy://topic json://a/x")
    assert notify.urls(cfg) == ["json://a/x", "json://b/y", "ntfy://topic"]
    monkeypatch.delenv("APPRISE_URLS")
    assert notify.urls(cfg) == ["json://a/x"]


def test_undeliverable_and_invalid_urls_are_reported_without_their_secrets():
    hook = Receiver()
    try:
        dead = f"json://127.0.0.1:{free_port()}/token/SECRET"
        problems = notify.send("t", "b", [hook.url("ok/SECRET"), dead, "nonsense://SECRET"])
        assert hook.messages("ok/SECRET") == [
            {"version": "1.0", "title": "t", "message": "b", "attachments": [], "type": "success"}
        ]
    finally:
        hook.close()
    assert problems == [
        "notification to json://127.0.0.1/... could not be delivered",
        "notification URL #3 is not a valid Apprise URL",
    ]
    assert notify.send("t", "b", []) == []

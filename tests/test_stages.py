"""A job sees only the config keys its rule declares; the stages are one table."""

from __future__ import annotations

import pytest

from tabflow.runner import execute
from tabflow.stages import STAGES, Declared, Job, UndeclaredKey

from .conftest import DEMO_CSV


def test_reading_an_undeclared_key_fails_at_once_naming_the_rule_file():
    cfg = Declared({"data": {"target_col": "y"}, "paths": {"results_dir": "r"}}, "train")
    assert cfg.data.target_col == "y" and cfg["paths"]["results_dir"] == "r"
    message = (
        "rule train reads config key 'data.raw_path', which it does not declare: "
        "add it to config_of(...) in workflow/rules/train.smk"
    )
    for read in (
        lambda: cfg.data.raw_path,
        lambda: cfg["data"]["raw_path"],
        lambda: cfg.data.get("raw_path", "fallback"),  # no silent default either
    ):
        with pytest.raises(UndeclaredKey) as err:
            read()
        assert str(err.value) == message
    with pytest.raises(UndeclaredKey, match="'evaluation'"):
        _ = cfg.evaluation


def test_a_stage_reading_beyond_its_rule_exits_with_one_line(tmp_path, capsys):
    """preprocess, given everything but `evaluation` (it checks the split against cv_folds)."""
    from tabflow.plan import make_plan

    full = make_plan([f"data.raw_path={DEMO_CSV}"], ["lr"]).configs["lr"]
    declared = {"task": full["task"], "data": full["data"], "training": full["training"]}
    declared["paths"] = {"results_dir": str(tmp_path / "results")}
    with pytest.raises(SystemExit) as ended:
        execute("preprocess", Job(Declared(declared, "preprocess")))
    assert ended.value.code == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if " ERROR " in line]
    assert line.endswith(
        "ERROR tabflow.preprocess: rule preprocess reads config key 'evaluation', which it "
        "does not declare: add it to config_of(...) in workflow/rules/preprocess.smk"
    )
    assert "Traceback" not in err
    assert not (tmp_path / "results/data/train.parquet").exists()


def test_every_stage_is_a_rule_and_every_rule_a_stage():
    import re

    from .conftest import ROOT

    rules = set()
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        rules |= set(re.findall(r"(?m)^rule (\w+):", smk.read_text()))
    assert rules == set(STAGES)
    for name, stage in STAGES.items():
        assert callable(stage.load()), name
        assert stage.module == f"tabflow.stages.{name}"

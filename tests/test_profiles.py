"""The executor profiles use only options Snakemake (or the named executor plugin) knows."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tabflow.stages import STAGES

from .conftest import BIN, ROOT

PROFILES = sorted(p.parent.name for p in (ROOT / "workflow/profiles").glob("*/config.yaml"))
# Options that belong to an executor plugin not installed by `.[dev]`.
PLUGIN_PREFIXES = ("slurm-", "kubernetes-")


@pytest.fixture(scope="module")
def snakemake_options() -> set[str]:
    res = subprocess.run(
        [str(BIN / "snakemake"), "--help"], capture_output=True, text=True, check=True
    )
    return set(re.findall(r"--([a-z][a-z0-9-]+)", res.stdout))


def test_the_local_profile_is_found_by_snakemake_itself():
    assert (ROOT / "profiles").resolve() == (ROOT / "workflow/profiles").resolve()
    assert {"default", "slurm", "kubernetes", "cluster-generic"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_keys_are_snakemake_options(name, snakemake_options):
    profile = yaml.safe_load((ROOT / "workflow/profiles" / name / "config.yaml").read_text())
    unknown = [
        key
        for key in profile
        if key not in snakemake_options and not key.startswith(PLUGIN_PREFIXES)
    ]
    assert unknown == [], f"workflow/profiles/{name}: unknown options {unknown}"
    for rule in [*profile.get("set-threads", {}), *profile.get("set-resources", {})]:
        assert rule in STAGES, rule


def test_every_rule_declares_threads_and_resources():
    checked = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule )", smk.read_text()):
            if block.startswith("rule "):
                name = block.split(":", 1)[0].removeprefix("rule ")
                assert "threads:" in block and "mem_mb=" in block and "runtime=" in block, name
                checked.append(name)
    assert sorted(checked) == sorted(STAGES)


def test_the_slurm_profile_starts_for_anyone_on_a_small_node():
    """No mandatory variable (envvars), no placeholder account or partition, no request for
    more threads than a 2-core node has: such a job stays PENDING forever."""
    text = (ROOT / "workflow/profiles/slurm/config.yaml").read_text()
    profile = yaml.safe_load(text)
    assert "envvars" not in profile
    assert "CHANGE-ME" not in text
    assert all(n <= 2 for n in (profile.get("set-threads") or {}).values())
    resources = profile.get("default-resources") or {}
    assert not {"slurm_account", "slurm_partition"} & set(resources)

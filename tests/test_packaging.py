"""environment.yml lists the same packages as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import ROOT

# A PyPI name whose conda-forge package is named otherwise.
CONDA_NAMES = {"xgboost-cpu": "py-xgboost-cpu"}


def _name(spec: str) -> str:
    name = re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")
    return CONDA_NAMES.get(name, name)


def _conda_packages(path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    specs = [d for d in env["dependencies"] if isinstance(d, str)]
    return {_name(s): s.replace(" ", "") for s in specs if _name(s) not in {"python", "pip"}}


def test_the_rules_conda_environment_lists_the_same_packages():
    """`--software-deployment-method conda` builds workflow/envs/tabflow.yaml for the jobs."""
    jobs = ROOT / "workflow" / "envs" / "tabflow.yaml"
    assert _conda_packages(jobs) == _conda_packages(ROOT / "environment.yml")
    pip = next(d for d in yaml.safe_load(jobs.read_text())["dependencies"] if isinstance(d, dict))
    assert pip == {"pip": ["-e ../.."]}, "conda runs pip in .snakemake/conda/: the project root"
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        assert text.count("conda:") == len(re.findall(r"(?m)^rule ", text)), smk


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    py_specs = project["dependencies"] + [
        spec for extra in project["optional-dependencies"].values() for spec in extra
    ]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_specs = [d for d in env["dependencies"] if isinstance(d, str)]
    conda = {_name(s): s.replace(" ", "") for s in conda_specs if _name(s) not in {"python", "pip"}}
    pip = {
        _name(s): s.replace(" ", "").replace("[server]", "").replace(n, CONDA_NAMES.get(n, n))
        for s in py_specs
        for n in [re.split(r"[<>=!~\[ ]", s, maxsplit=1)[0]]
    }
    assert conda == pip

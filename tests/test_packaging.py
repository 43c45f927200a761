"""environment.yml lists the same packages as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    py_specs = project["dependencies"] + [
        spec for extra in project["optional-dependencies"].values() for spec in extra
    ]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_specs = [d for d in env["dependencies"] if isinstance(d, str)]
    conda = {_name(s): s.replace(" ", "") for s in conda_specs if _name(s) not in {"python", "pip"}}
    pip = {_name(s): s.replace(" ", "").replace("[server]", "") for s in py_specs}
    assert conda == pip

"""Helpers for end-to-end tests: run the real tools in a copy of the project."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import copy_project, tool_env


@dataclass
class Project:
    """A fresh copy of the repo with its own git, DVC cache, MLflow DB and results."""

    path: Path
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls, dest: Path) -> Project:
        copy_project(dest)
        return cls(dest, tool_env(dest.parent))

    def run(self, *cmd: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        start = time.perf_counter()
        res = subprocess.run(
            list(cmd), cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        self.timings.setdefault(" ".join(cmd), time.perf_counter() - start)
        if check and res.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {res.returncode}\n--- stdout\n{res.stdout[-4000:]}"
                f"\n--- stderr\n{res.stderr[-4000:]}"
            )
        return res

    def snakemake(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("snakemake", *args, check=check)

    def planned_jobs(self, *args: str) -> set[tuple[str, str | None]]:
        """(rule, model) of every job a dry run would execute, `all` excluded."""
        res = self.snakemake("-j", "3", "-n", *args)
        return parse_jobs(res.stdout + res.stderr)

    def read_json(self, rel: str) -> dict:
        return json.loads((self.path / rel).read_text())

    def tracking_uri(self) -> str:
        return f"sqlite:///{self.path / 'mlflow.db'}"

    def clean(self) -> None:
        """Back to a fresh clone after `dvc pull`: no results, no MLflow, no metadata."""
        self.run("rm", "-rf", "results", "mlflow.db", "mlruns", ".snakemake")


_RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_WILDCARDS = re.compile(r"^\s*wildcards: (.*)$")


def parse_jobs(output: str) -> set[tuple[str, str | None]]:
    jobs: list[list] = []
    for line in output.splitlines():
        if m := _RULE.match(line):
            jobs.append([m.group(1), None])
        elif (m := _WILDCARDS.match(line)) and jobs:
            wc = dict(part.split("=", 1) for part in m.group(1).split(", "))
            jobs[-1][1] = wc.get("model")
    return {(rule, model) for rule, model in jobs if rule != "all"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

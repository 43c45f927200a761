"""Helpers for end-to-end tests: run the real tools in a copy of the project."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import BIN, copy_project, tool_env


@dataclass
class Project:
    """A fresh copy of the repo with its own git, DVC cache, MLflow DB and results."""

    path: Path
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    demo_output: str = ""
    own_csv_overrides: str = ""  # set by the own-CSV test, reused by the failure test

    @classmethod
    def create(cls, dest: Path) -> Project:
        copy_project(dest)
        return cls(dest, tool_env(dest.parent))

    def run(
        self, *cmd: str, check: bool = True, timeout: int = 600, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        start = time.perf_counter()
        res = subprocess.run(
            list(cmd),
            cwd=self.path,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings.setdefault(" ".join(cmd), time.perf_counter() - start)
        if check and res.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {res.returncode}\n--- stdout\n{res.stdout[-4000:]}"
                f"\n--- stderr\n{res.stderr[-4000:]}"
            )
        return res

    def snakemake(
        self, *args: str, check: bool = True, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        return self.run("snakemake", *args, check=check, env=env)

    def planned_jobs(self, *args: str) -> set[tuple[str, str | None]]:
        """(rule, model) of every job a dry run would execute, `all` excluded."""
        res = self.snakemake("-j", "3", "-n", *args)
        return parse_jobs(res.stdout + res.stderr)

    def read_json(self, rel: str) -> dict:
        return json.loads((self.path / rel).read_text())

    def tracking_uri(self) -> str:
        return f"sqlite:///{self.path / 'mlflow.db'}"

    def results_mtimes(self) -> list[int]:
        """mtimes of everything under results/, to show that nothing was touched."""
        return sorted(p.stat().st_mtime_ns for p in (self.path / "results").rglob("*"))

    def clean(self) -> None:
        """Back to a fresh clone after `dvc pull`: no results, no MLflow, no metadata."""
        self.run("rm", "-rf", "results", "mlflow.db", "mlruns", ".snakemake")


def edit_file(path: Path, old: str, new: str) -> str:
    """Replace `old` (which must be there) by `new` in a file; return the original text."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text


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


class Receiver:
    """A webhook on loopback that keeps every POST (path, JSON body): Apprise's json:// target."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def messages(self, path: str) -> list[dict]:
        return [body for p, body in self.received if p == f"/{path}"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ColdRun:
    clone: str
    returncode: int
    stderr_tail: str
    mlflow_rows: list[tuple[str, str]]
    metrics: dict[str, bytes]
    predictions: dict[str, bytes]


@dataclass
class ColdClones:
    """Two fresh clones (a, b) after ten alternating cold runs of `snakemake -j 3`."""

    a: Project
    b: Project
    data_in_git: bool
    runs: list[ColdRun]


MODELS = ["gb", "lr", "rf"]


def mlflow_rows(project: Project) -> list[tuple[str, str]]:
    """(model tag, status) of every run, read with sqlite3 (MLflow caches engines per URI)."""
    import sqlite3

    with sqlite3.connect(project.path / "mlflow.db") as db:
        return db.execute(
            "SELECT t.value, r.status FROM runs r JOIN tags t "
            "ON t.run_uuid = r.run_uuid AND t.key = 'model' ORDER BY t.value"
        ).fetchall()


def cold_clones(root: Path, n_runs: int = 10) -> ColdClones:
    a = Project.create(root / "a")
    b = Project.create(root / "b")
    data_in_git = (a.path / "data").exists() or (b.path / "data").exists()
    b.run("dvc", "pull")
    # Cold run 1 is the README's quickstart, `make demo` (dvc pull + snakemake + leaderboard),
    # in the venv running the tests (its install step is marked done by a fresh stamp file).
    stamp = root / "installed.stamp"
    stamp.touch()
    demo = ("make", "demo", f"VIRTUAL_ENV={BIN.parent}", f"STAMP={stamp}")
    runs = []
    for i in range(n_runs):
        name, proj = (("a", a), ("b", b))[i % 2]
        proj.clean()
        res = proj.run(*demo, check=False) if i == 0 else proj.snakemake("-j", "3", check=False)
        if i == 0:
            a.demo_output = res.stdout
        ok = res.returncode == 0
        runs.append(
            ColdRun(
                clone=name,
                returncode=res.returncode,
                stderr_tail=res.stderr[-3000:],
                mlflow_rows=mlflow_rows(proj) if ok else [],
                metrics={
                    m: proj.path.joinpath(f"results/metrics/{m}.json").read_bytes() for m in MODELS
                }
                if ok
                else {},
                predictions={
                    m: proj.path.joinpath(f"results/predictions/{m}.csv").read_bytes()
                    for m in MODELS
                }
                if ok
                else {},
            )
        )
    return ColdClones(a, b, data_in_git, runs)

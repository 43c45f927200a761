"""Helpers for end-to-end tests: run the real tools in a copy of the project."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
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

    def planned_jobs(self, *args: str, env: dict | None = None) -> set[tuple[str, str | None]]:
        """(rule, model) of every job a dry run would execute, `all` excluded: a `snakemake
        -n` process when `env` is given (the jobs' code comes from where it says), else
        Snakemake's own command line in this process (the same code, the same Snakefile,
        without paying Snakemake's imports for every dry run)."""
        if env is not None:
            res = self.snakemake("-j", "3", "-n", *args, env=env)
            return parse_jobs(res.stdout + res.stderr)
        code, output = self.snakemake_here("-j", "3", "-n", *args)
        assert code == 0, output[-3000:]
        return parse_jobs(output)

    def snakemake_here(self, *args: str) -> tuple[int, str]:
        """(exit status, output) of `snakemake ARGS` run by Snakemake's own command line
        (`snakemake.cli.main`) in this process, in the project with its environment."""
        import contextlib
        import io

        from snakemake.cli import main

        out = io.StringIO()
        cwd, environ = os.getcwd(), dict(os.environ)
        os.chdir(self.path)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    main(list(args))
                    code = 0
                except SystemExit as end:
                    if isinstance(end.code, str):
                        print(end.code, file=out)
                    code = 1 if isinstance(end.code, str) else int(end.code or 0)
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(environ)
        return code, out.getvalue()

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


def fork(project: Project, dest: Path) -> Project:
    """A copy of a project's whole state (git, DVC cache, results, Snakemake's records, the
    MLflow store) for a test that changes it, so that tests run alone and in any order.

    MLflow's sqlite store holds absolute artifact paths: the copy's are moved with it.
    Snakemake's locks stay behind (a dry run in the original may hold them right now).
    """
    import sqlite3

    def locks(folder: str, names: list[str]) -> list[str]:
        return ["locks"] if Path(folder).name == ".snakemake" and "locks" in names else []

    shutil.copytree(project.path, dest, symlinks=True, ignore=locks)
    db = dest / "mlflow.db"
    if db.exists():
        old, new = str(project.path), str(dest)
        with sqlite3.connect(db) as conn:
            tables = [
                t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                for _, column, kind, *_ in conn.execute(f'PRAGMA table_info("{table}")'):
                    if kind.upper().startswith(("TEXT", "VARCHAR")):
                        conn.execute(
                            f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                            f'WHERE instr("{column}", ?) > 0',
                            (old, new, old),
                        )
    return Project(dest, tool_env(dest.parent))


@dataclass
class Probed:
    """A `snakemake -j 3` during which the workflow's loopback store server was asked
    without a token, with a wrong one, and with the one its jobs have."""

    returncode: int
    output: str
    answers: dict[str, int]
    token: str | None


def run_probing_the_store(project: Project, *args: str) -> Probed:
    """`snakemake -j 3 ARGS`, asking its store server meanwhile."""
    import urllib.error
    import urllib.request

    parent_file = project.path / "results/.mlflow-parent.json"
    out_file = project.path.parent / "run.out"
    with open(out_file, "w") as out:
        proc = subprocess.Popen(
            ["snakemake", "-j", "3", *args],
            cwd=project.path,
            env=project.env,
            stdout=out,
            stderr=out,
        )
        answers: dict[str, int] = {}
        token = None
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline and len(answers) < 3:
            if token is None:
                token = _job_token(project.path)
            if parent_file.is_file() and token and "server" in parent_file.read_text():
                url = json.loads(parent_file.read_text())["server"]
                search = f"{url}/api/2.0/mlflow/experiments/search?max_results=5"
                for name, secret in (("none", None), ("wrong", "not-the-token"), ("job", token)):
                    request = urllib.request.Request(search)
                    if secret:
                        request.add_header("Authorization", f"Bearer {secret}")
                    try:
                        with urllib.request.urlopen(request, timeout=5) as resp:
                            answers[name] = resp.status
                    except urllib.error.HTTPError as err:
                        answers[name] = err.code
            time.sleep(0.05)
        returncode = proc.wait(timeout=600)
    return Probed(returncode, out_file.read_text(), answers, token)


REGISTERED = "heart_disease_classifier"  # the demo's registered model


def registry_versions(project: Project, name: str = REGISTERED) -> dict[int, dict[str, str]]:
    """Each version of a registered model: its tags and aliases (read with sqlite3)."""
    import sqlite3

    with sqlite3.connect(project.path / "mlflow.db") as conn:
        versions = [
            int(v)
            for (v,) in conn.execute(
                "SELECT version FROM model_versions WHERE name=? ORDER BY version", (name,)
            )
        ]
        out = {}
        for v in versions:
            tags = dict(
                conn.execute(
                    "SELECT key, value FROM model_version_tags WHERE name=? AND version=?",
                    (name, v),
                )
            )
            aliases = conn.execute(
                "SELECT alias FROM registered_model_aliases WHERE name=? AND version=?", (name, v)
            )
            out[v] = {**tags, "aliases": ",".join(a for (a,) in aliases)}
    return out


def raw_rows(project: Project, path: Path, n: int = 40) -> Path:
    """Rows as a user holds them: sampled from the demo CSV with its target, an ID column
    and a column the model does not use; the missing-value codes (ca=4, thal=0), pandas'
    markers (NA, n/a), an empty field, a chest-pain code never seen in training, and an
    int where training saw floats (oldpeak)."""
    lines = (project.path / "data/raw/heart.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in random.Random(0).sample(lines[1:], n)]
    col = header.index
    edits = [
        (0, "ca", "4"),
        (1, "thal", "0"),
        (2, "chol", "NA"),
        (3, "trestbps", "n/a"),
        (4, "thalach", ""),
        (5, "cp", "9"),
        (6, "oldpeak", "2"),
    ]
    for row, name, value in edits:
        rows[row][col(name)] = value
    text = [",".join(["pid", *header, "notes"])]
    text += [",".join([f"P{i}", *row, "x"]) for i, row in enumerate(rows)]
    path.write_text("\n".join(text) + "\n")
    return path


def registry_aliases(project: Project) -> dict[str, dict[int, str]]:
    """{registered model: {version: its aliases}}, read with sqlite3."""
    import sqlite3

    with sqlite3.connect(project.path / "mlflow.db") as conn:
        out: dict[str, dict[int, str]] = {}
        for name, version in conn.execute("SELECT name, version FROM model_versions"):
            out.setdefault(name, {})[int(version)] = ""
        for name, alias, version in conn.execute(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY alias"
        ):
            out[name][int(version)] = ",".join(filter(None, [out[name][int(version)], alias]))
    return out


def _job_token(project: Path) -> str | None:
    """The store token in the environment of a running job of this project (root may read
    /proc/<pid>/environ; another user may not)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if str(project) not in os.readlink(proc / "cwd"):
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"TABFLOW_STORE_TOKEN="):
                return item.split(b"=", 1)[1].decode()
    return None


DVC_IGNORED = {".mlflow.lock", ".mlflow-parent.json"}  # see .dvcignore


def tree_digest(root: Path) -> dict[str, str]:
    """md5 of every DVC-tracked file under root, by relative path."""
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in DVC_IGNORED
    }


def stored_files(project: Project) -> list[Path]:
    """Every file a run leaves: the MLflow DB and artifacts, the results, Snakemake's
    records and the report (where a secret must never be)."""
    places = [project.path / "mlflow.db", project.path / "report.html"]
    for folder in ("mlruns", "results", ".snakemake"):
        places += [p for p in (project.path / folder).rglob("*") if p.is_file()]
    return places


def edit_file(path: Path, old: str, new: str) -> str:
    """Replace `old` (which must be there) by `new` in a file; return the original text."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text


_RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_FIELD = re.compile(r"^\s+(input|output|wildcards): (.*)$")


def job_blocks(output: str) -> list[dict[str, str]]:
    """Each job a (dry) run prints: its rule, and its input, output and wildcards lines."""
    jobs: list[dict[str, str]] = []
    for line in output.splitlines():
        if m := _RULE.match(line):
            jobs.append({"rule": m.group(1)})
        elif jobs and (m := _FIELD.match(line)):
            jobs[-1].setdefault(m.group(1), m.group(2))
    return jobs


def parse_jobs(output: str) -> set[tuple[str, str | None]]:
    """{(rule, model or None)} of the jobs a (dry) run prints, rule all left out."""
    jobs = set()
    for job in job_blocks(output):
        wildcards = job.get("wildcards")
        wc = dict(part.split("=", 1) for part in wildcards.split(", ")) if wildcards else {}
        jobs.add((job["rule"], wc.get("model") or wc.get("base")))
    return jobs - {("all", None)}


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
class Killed:
    """The first attempt of a cold run in which one job got SIGKILL halfway through."""

    rule: str
    model: str
    returncode: int
    output: str
    rows: list[tuple[str, str]]  # (model, status) of every model run after the attempt
    parents: list[str]  # status of every workflow (parent) run after the attempt
    temp_files: list[str]  # .*.tmp files under results/ after the attempt


@dataclass
class ColdRun:
    clone: str
    variant: str
    returncode: int
    seconds: float
    output: str
    stderr_tail: str
    mlflow_rows: list[tuple[str, str]]
    metrics: dict[str, bytes]
    predictions: dict[str, bytes]
    kills: list[Killed] = field(default_factory=list)  # the attempts a SIGKILL ended
    local_store: list[str] = field(default_factory=list)  # mlflow.db, mlruns/ if made


@dataclass
class ColdClones:
    """Two fresh clones (a, b) after N_COLD_RUNS cold runs, from an empty state."""

    a: Project
    b: Project
    data_in_git: bool
    runs: list[ColdRun]
    server_dir: Path  # the shared tracking server's DB and artifacts (run "tracking server")


MODELS = ["gb", "lr", "rf"]
# What reruns after any model's results change: the leaderboard, then the registration
# of its best model and the report's front page.
FINAL = {("leaderboard", None), ("register", None), ("front_page", None)}
# Every job of a cold run of the demo models.
EVERYTHING = (
    {("preprocess", None)} | FINAL | {(rule, m) for rule in ("train", "evaluate") for m in MODELS}
)
# The demo CSV's md5 (data.dvc and the DVC remote name it).
DEMO_MD5 = "4ee20893ad7e2ff8ff5ed8dd0e7f37bc"
# One cold run in `make test` (clone b's, which every fork starts from), twenty in `make
# soak` (alternating between two clones; CI runs both).
N_COLD_RUNS = int(os.environ.get("TABFLOW_COLD_RUNS", "1"))
# The cold runs in order, each in clone a or b: these get there another way, the rest are a
# plain `snakemake -j 3` (alternating), and all must give the same bytes. Clone b's last
# run uses its local sqlite store: later tests build on it.
VARIANTS = [
    # SIGKILL to `train rf` mid-training, then `snakemake -j 3` finishes it.
    ("b", "killed"),
    # The README's quickstart (dvc pull + snakemake + leaderboard) in a clone not pulled
    # yet, logging to a shared `mlflow server --serve-artifacts` (MLFLOW_TRACKING_URI).
    ("a", "make demo"),
]


def variant(i: int) -> tuple[str, str]:
    """(clone, variant) of cold run i."""
    return VARIANTS[i] if i < len(VARIANTS) else ("ab"[i % 2], "plain")


SUBMIT = "tests/scheduler/submit.sh"
# Jobs through a scheduler's submit command. Snakemake asks the "scheduler" every 10 s by
# default; every second here.
CLUSTER_GENERIC = (
    "--executor",
    "cluster-generic",
    "--cluster-generic-submit-cmd",
    SUBMIT,
    "--seconds-between-status-checks",
    "1",
)


def mlflow_rows(project: Project, db: Path | None = None) -> list[tuple[str, str]]:
    """(model tag, status) of every run, read with sqlite3 (MLflow caches engines per URI)."""
    import sqlite3

    with sqlite3.connect(db or project.path / "mlflow.db") as conn:
        return conn.execute(
            "SELECT t.value, r.status FROM runs r JOIN tags t "
            "ON t.run_uuid = r.run_uuid AND t.key = 'model' ORDER BY t.value, r.status"
        ).fetchall()


def _parent_statuses(project: Project) -> list[str]:
    import sqlite3

    with sqlite3.connect(project.path / "mlflow.db") as conn:
        return [
            status
            for (status,) in conn.execute(
                "SELECT r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "AND t.key = 'tabflow.role' AND t.value = 'workflow' ORDER BY r.start_time"
            )
        ]


def _pid_with_open(path: Path) -> int | None:
    """The process that has `path` open (a job holds its own log file open), Linux /proc."""
    target = str(path.resolve())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def _training_started(project: Project, model: str) -> bool:
    log = project.path / f"results/logs/train/{model}.log"
    return log.is_file() and f"{model}: training on" in log.read_text()


def _run_open(project: Project, model: str) -> bool:
    """Is the model's MLflow run RUNNING (its evaluate job is logging)?"""
    import sqlite3

    if not (project.path / "mlflow.db").is_file():
        return False
    try:
        return (model, "RUNNING") in mlflow_rows(project)
    except sqlite3.Error:  # the main process is creating the DB right now
        return False


def kill_mid_job(project: Project, rule: str, model: str, *args: str) -> Killed:
    """Run `snakemake -j 3 [args]`; SIGKILL the `rule` job of `model` when it is halfway
    through."""
    ready = {"train": _training_started, "evaluate": _run_open}[rule]
    out = project.path.parent / f"killed-{rule}.out"
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            ["snakemake", "-j", "3", *args],
            cwd=project.path,
            env=project.env,
            stdout=fh,
            stderr=fh,
        )
        deadline = time.monotonic() + 300
        killed = False
        while proc.poll() is None and time.monotonic() < deadline and not killed:
            if ready(project, model):
                pid = _pid_with_open(project.path / f"results/logs/{rule}/{model}.log")
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
            time.sleep(0.05)
        returncode = proc.wait(timeout=600)
    output = out.read_text()
    assert killed, f"{rule} {model} was not caught halfway (exit {returncode}):\n{output[-3000:]}"
    return Killed(
        rule=rule,
        model=model,
        returncode=returncode,
        output=output,
        rows=mlflow_rows(project),
        parents=_parent_statuses(project),
        temp_files=[str(p) for p in (project.path / "results").rglob(".*.tmp")],
    )


def start_tracking_server(
    root: Path, env: dict[str, str], backend_uri: str | None = None
) -> tuple[subprocess.Popen, str]:
    """A real `mlflow server` on a free loopback port, logging to root/server.log.

    By default with its own sqlite DB in `root`, storing artifacts itself
    (--serve-artifacts); with `backend_uri`, serving that store (read-only use).
    """
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    store = ["--backend-store-uri", backend_uri or f"sqlite:///{root / 'mlflow.db'}"]
    if backend_uri is None:
        store += ["--serve-artifacts", "--artifacts-destination", str(root / "artifacts")]
    server = subprocess.Popen(
        ["mlflow", "server", *store, "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", "1"],
        cwd=root,
        # No background job runner (a huey consumer pool, ~10 s of CPU at start-up).
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=open(root / "server.log", "w"),  # closed when the test process ends
        start_new_session=True,
    )
    return server, f"http://127.0.0.1:{port}"


def wait_until_up(server: subprocess.Popen, url: str, seconds: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert server.poll() is None, f"mlflow server exited {server.returncode}, see server.log"
        assert time.monotonic() < deadline, f"mlflow server did not answer in {seconds} s"
        time.sleep(0.5)


def serve(project: Project, model: str, log: Path, port: int) -> subprocess.Popen:
    """`mlflow models serve` of a model URI of the project's store, once it answers."""
    import urllib.request

    env = {
        **project.env,
        "MLFLOW_TRACKING_URI": project.tracking_uri(),
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    }
    cmd = ["mlflow", "models", "serve", "-m", model, "--env-manager", "local"]
    server = subprocess.Popen(
        [*cmd, "-h", "127.0.0.1", "-p", str(port)],
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return server
        except OSError:
            assert server.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.5)


def post(port: int, body: str, kind: str = "application/json") -> tuple[int, str]:
    """(status, body) of a request to a scoring server's /invocations."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body.encode(), headers={"Content-Type": kind}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def dataframe_split(frame) -> str:
    """A table as the scoring server's JSON input."""
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))})


def served_answer(project: Project, uri: str, frame, log: Path):
    """The answer of `mlflow models serve` (pickle off) to a table sent as JSON."""
    import pandas as pd

    port = free_port()
    server = serve(project, uri, log, port)
    try:
        status, body = post(port, dataframe_split(frame))
    finally:
        stop(server)
    assert status == 200, body
    return pd.DataFrame(json.loads(body)["predictions"])


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGKILL)  # a graceful stop takes ~6 s; nothing to keep
    server.wait(timeout=30)


def _cold_run(kind: str, proj: Project, demo: tuple[str, ...], server_url: str) -> tuple:
    """One cold run of a variant: (result, the attempts a SIGKILL ended)."""
    if kind == "make demo":
        return proj.run(*demo, check=False, env={"MLFLOW_TRACKING_URI": server_url}), []
    if kind == "killed":
        kills = [kill_mid_job(proj, "train", "rf")]
        return proj.snakemake("-j", "3", check=False), kills
    return proj.snakemake("-j", "3", check=False), []


@dataclass
class CloneB:
    """Clone b after its last cold run, and its cold runs: every test that forks a cold
    run forks this one (ready before clone a's runs end)."""

    project: Project
    runs: list[ColdRun]
    data_in_git: bool  # data/ came with the clone (it must come from DVC)


def cold_clones(
    root: Path, n_runs: int = N_COLD_RUNS, b_done: Callable[[CloneB], None] | None = None
) -> ColdClones:
    """The cold runs in two fresh clones; `b_done` gets clone b as soon as its last cold run
    is over."""
    last_b = max(i for i in range(n_runs) if variant(i)[0] == "b")
    b = Project.create(root / "b")
    in_git = [(b.path / "data").exists()]
    b.run("dvc", "pull")
    clones: dict[str, Project] = {"b": b}
    server_dir = root / "tracking-server"
    server = server_url = None
    # `make demo` in the venv running the tests (its install step is marked done by a fresh
    # stamp file).
    stamp = root / "installed.stamp"
    stamp.touch()
    demo = ("make", "demo", f"VIRTUAL_ENV={BIN.parent}", f"STAMP={stamp}")
    runs = []
    try:
        for i in range(n_runs):
            name, kind = variant(i)
            if name not in clones:  # clone a: made once clone b's first runs are over
                clones[name] = Project.create(root / name)
                in_git.append((clones[name].path / "data").exists())
            proj = clones[name]
            proj.clean()
            if kind == "make demo":
                if server is None:
                    server, server_url = start_tracking_server(server_dir, b.env)
                wait_until_up(server, server_url)
            start = time.perf_counter()
            res, kills = _cold_run(kind, proj, demo, server_url or "")
            seconds = time.perf_counter() - start
            if kind == "make demo":
                proj.demo_output = res.stdout
            ok = res.returncode == 0
            db = server_dir / "mlflow.db" if kind == "make demo" else None
            runs.append(
                ColdRun(
                    clone=name,
                    variant=kind,
                    returncode=res.returncode,
                    seconds=seconds,
                    output=res.stdout + res.stderr,
                    stderr_tail=res.stderr[-3000:],
                    mlflow_rows=mlflow_rows(proj, db) if ok else [],
                    metrics=_read_all(proj, "results/metrics/{}.json") if ok else {},
                    predictions=_read_all(proj, "results/predictions/{}.csv") if ok else {},
                    kills=kills,
                    local_store=[n for n in ("mlflow.db", "mlruns") if (proj.path / n).exists()],
                )
            )
            if i == last_b and b_done is not None:
                b_done(CloneB(b, [r for r in runs if r.clone == "b"], in_git[0]))
    finally:
        if server is not None:
            stop(server)
    return ColdClones(clones.get("a", b), b, any(in_git), runs, server_dir)


def _read_all(project: Project, pattern: str) -> dict[str, bytes]:
    return {m: project.path.joinpath(pattern.format(m)).read_bytes() for m in MODELS}


class ColdBuild:
    """The session's cold clones, made once for every pytest-xdist worker, in the
    background from collection on (the other tests run meanwhile): the first process to
    create `started` in the shared folder builds them in a thread and pickles clone b as
    soon as its cold runs are over (`b.pickle`: what forks start from), then both clones
    (`clones.pickle`); every process's fixtures wait for the pickle they need."""

    @staticmethod
    def start(folder: Path) -> None:
        import threading

        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(folder / "started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # another worker builds them
        threading.Thread(target=ColdBuild._build, args=(folder,), name="cold-clones").start()

    @staticmethod
    def _build(folder: Path) -> None:
        import traceback

        try:
            clones = cold_clones(
                folder / "root", b_done=lambda b: ColdBuild._save(folder / "b.pickle", b)
            )
            ColdBuild._save(folder / "clones.pickle", clones)
        except BaseException:
            (folder / "failed").write_text(traceback.format_exc())

    @staticmethod
    def _save(path: Path, value: object) -> None:
        import pickle

        path.with_suffix(".tmp").write_bytes(pickle.dumps(value))
        os.replace(path.with_suffix(".tmp"), path)

    @staticmethod
    def wait(folder: Path, name: str = "clones.pickle", seconds: float = 3600):
        """The pickled ColdClones (or, name="b.pickle", the CloneB), once it is there."""
        import pickle

        deadline = time.monotonic() + seconds
        while not (folder / name).is_file():
            if (folder / "failed").is_file():
                raise AssertionError(f"the cold runs failed:\n{(folder / 'failed').read_text()}")
            assert time.monotonic() < deadline, f"no cold clones after {seconds} s"
            time.sleep(0.5)
        return pickle.loads((folder / name).read_bytes())

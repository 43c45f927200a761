"""Why a SLURM job of the workflow failed, in one line: its state in `sacct`, the rule, the fix.

The SLURM executor plugin writes `Job <id> has been submitted with SLURM jobid <N> (log: ...)`
to Snakemake's main log. After a failed run `sacct` gives each of those jobs' final state,
and for each job step the rule it ran (the step's `srun ... --target-jobs rule:wildcards`),
its peak memory and how it ended. A job that ran out of memory (OUT_OF_MEMORY where cgroups
enforce --mem; a step killed over its --mem where SLURM's accounting poller does it,
JobAcctGatherParams=OverMemoryKill) or out of time (TIMEOUT) gets a line that names the
rule and the resource to raise in the SLURM profile; a cancelled job (scancel) says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROFILE = "workflow/profiles/slurm/config.yaml"
FIELDS = ("JobID", "State", "ExitCode", "ReqMem", "MaxRSS", "Elapsed", "Timelimit", "SubmitLine")
# Final states that say why a job ended; FAILED alone is the rule's own error (its log says).
ENDED = {"OUT_OF_MEMORY", "TIMEOUT", "DEADLINE", "CANCELLED", "NODE_FAIL", "BOOT_FAIL"}

_SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+(?:_\d+)?) \(log: (.+?)\)\.?$")
_TARGET = re.compile(r"--target-jobs\s+'?(\w+):([^'\s]*)")
_LOG_DIR = re.compile(r"/rule_(\w+?)/([^/]+)/[^/]+$|/rule_(\w+?)/[^/]+$")
_GROUP_DIR = re.compile(r"/group_([^/]+)/[^/]+$")
_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


@dataclass
class Row:
    """One line of `sacct -P`: a job (`57`) or one of its steps (`57.batch`, `57.0`)."""

    job_id: str
    state: str
    exit_code: str
    req_mem: str
    max_rss: str
    elapsed: str
    time_limit: str
    submit_line: str

    @property
    def base_state(self) -> str:
        return self.state.split()[0] if self.state else ""

    @property
    def signal(self) -> int:
        """The signal that ended it (ExitCode is `code:signal`), 0 if none."""
        signal = self.exit_code.partition(":")[2]
        return int(signal) if signal.isdigit() else 0

    @property
    def target(self) -> tuple[str, str] | None:
        """(rule, wildcards) of a step that ran one Snakemake job."""
        m = _TARGET.search(self.submit_line)
        return (m.group(1), m.group(2).replace(",", ", ")) if m else None


@dataclass
class Failure:
    job_id: str
    state: str  # the job's state as sacct prints it, e.g. "TIMEOUT", "CANCELLED by 0"
    kind: str  # "memory", "time", "cancelled" or "ended"
    rule: str | None
    wildcards: str
    detail: str

    def message(self) -> str:
        who = f"rule {self.rule}" if self.rule else "a job"
        if self.wildcards:
            who += f" ({self.wildcards})"
        what = {
            "memory": "ran out of memory",
            "time": "ran out of time",
            "cancelled": "was cancelled",
        }.get(self.kind, "ended")
        line = f"{who} {what}: SLURM job {self.job_id} {self.state}{self.detail}"
        resource = {"memory": "mem_mb", "time": "runtime (minutes)"}.get(self.kind)
        if resource and self.rule:
            key = resource.split()[0]
            line += (
                f"; raise {resource} for {self.rule} under set-resources in {PROFILE}"
                f" (or --set-resources {self.rule}:{key}=...)"
            )
        elif resource:
            line += f"; raise {resource} under set-resources in {PROFILE}"
        return line


def submitted_jobs(main_logs: Sequence[str | Path]) -> dict[str, str]:
    """SLURM job id -> the plugin's log file of that job, from Snakemake's main log."""
    jobs: dict[str, str] = {}
    for log in main_logs:
        path = Path(log)
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                if m := _SUBMITTED.search(line):
                    jobs[m.group(1)] = m.group(2)
    return jobs


def parse_sacct(text: str) -> dict[str, list[Row]]:
    """`sacct -P --noheader -o <FIELDS>` output -> job id -> [the job's row, its steps]."""
    jobs: dict[str, list[Row]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        # SubmitLine comes last: it may itself hold a "|".
        values = line.split("|", len(FIELDS) - 1)
        values += [""] * (len(FIELDS) - len(values))
        row = Row(*values)
        jobs.setdefault(row.job_id.split(".")[0], []).append(row)
    return jobs


def _mb(value: str) -> float | None:
    """sacct memory (`250M`, `394960K`, `1.5G`, `4000Mn`) in MiB, None if empty."""
    m = re.match(r"^([\d.]+)([KMGT]?)", value.strip())
    if not m:
        return None
    return float(m.group(1)) * _UNITS.get(m.group(2) or "M", 1)


def _seconds(value: str) -> int | None:
    """sacct duration (`[D-]HH:MM:SS`, `MM:SS`) in seconds; None for UNLIMITED and the like."""
    m = re.match(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$", value.strip())
    if not m:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _overran(job: Row) -> bool:
    """Ended past its time limit (a step refused as the limit hit, before the TIMEOUT)."""
    elapsed, limit = _seconds(job.elapsed), _seconds(job.time_limit)
    return elapsed is not None and limit is not None and elapsed >= limit


def _from_log_path(slurm_log: str) -> tuple[str | None, str]:
    """(rule, what) from the plugin's log path: .../rule_<rule>[/<wildcard values>]/<id>.log,
    or .../group_<group and rules>/<id>.log for a group job."""
    if m := _LOG_DIR.search(slurm_log):
        return (m.group(1), m.group(2)) if m.group(1) else (m.group(3), "")
    if m := _GROUP_DIR.search(slurm_log):
        return None, f"group job {m.group(1)}"
    return None, ""


def explain(sacct_text: str, submitted: dict[str, str]) -> list[Failure]:
    """One Failure per submitted job that SLURM ended (memory, time, cancel, node)."""
    failures = []
    for job_id, rows in parse_sacct(sacct_text).items():
        if job_id not in submitted:
            continue
        job = next((r for r in rows if r.job_id == job_id), rows[0])
        steps = [r for r in rows if r is not job]
        req = _mb(job.req_mem)
        over = [
            s
            for s in steps
            if s.base_state == "OUT_OF_MEMORY"
            or (s.signal == 9 and req is not None and (_mb(s.max_rss) or 0) > req)
        ]
        if job.base_state == "OUT_OF_MEMORY" or over:
            kind = "memory"
        elif job.base_state in ("TIMEOUT", "DEADLINE") or _overran(job):
            kind = "time"
        elif job.base_state == "CANCELLED":
            kind = "cancelled"
        elif job.base_state in ENDED:
            kind = "ended"
        else:
            continue
        # The rule: the step that was killed (or the last one that did not complete).
        culprits = over or [s for s in steps if s.target and s.base_state != "COMPLETED"]
        target = next((s.target for s in reversed(culprits) if s.target), None)
        rule, wildcards = target or _from_log_path(submitted[job_id])
        detail = ""
        if kind == "memory":
            detail = f", over its --mem {req:.0f} MB" if req else ""
            peak = next((_mb(s.max_rss) for s in over if s.max_rss), None)
            if peak and job.base_state != "OUT_OF_MEMORY":
                step = next(s.job_id for s in over if s.max_rss)
                detail = f", step {step} killed at {peak:.0f} MB" + detail
        elif kind == "time":
            detail = f" after {job.elapsed}, over its --time {job.time_limit}"
        elif kind == "ended":
            detail = f", exit code {job.exit_code}"
        failures.append(Failure(job_id, job.state, kind, rule, wildcards, detail))
    return failures


def failures(main_logs: Sequence[str | Path]) -> list[Failure]:
    """The SLURM jobs of this run that SLURM ended, asked of `sacct` (none without SLURM)."""
    submitted = submitted_jobs(main_logs)
    if not submitted or shutil.which("sacct") is None:
        return []
    cmd = ["sacct", "--parsable2", "--noheader", "--format", ",".join(FIELDS)]
    cmd += ["--jobs", ",".join(submitted)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    if res.returncode != 0:
        return []
    try:
        return explain(res.stdout, submitted)
    except ValueError as err:  # an sacct format this does not know: the message goes on without
        print(f"warning: could not read sacct's answer: {err}", file=sys.stderr)
        return []

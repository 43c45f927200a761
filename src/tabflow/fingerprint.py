"""The code of a stage as a rerun trigger: every module of this package that the stage's
job imports, directly or through other package modules, with a digest of its source.

Snakemake reruns a rule when its script changes, not when a module the script imports
does. Each rule carries `code_of(stage)` in its params, so editing a module reruns exactly
the jobs whose code imports it, by content (a touch, a checkout or an undone edit reruns
nothing). The sources are read where this interpreter imports `tabflow` from (a checkout
installed editable, or site-packages), which is where the jobs import it from.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

# The project's packages: tabflow, and tabflow_rows (the code every logged model carries).
PACKAGES = ("tabflow", "tabflow_rows")
# Every job enters through the runner; its own stage module is the other root.
ENTRY = "tabflow.runner"


@cache
def package_dir(package: str = "tabflow") -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, package
    return Path(spec.origin).parent


@cache
def _file(module: str) -> Path | None:
    """The source file of a module of the project's packages, or None if there is none."""
    top, *rest = module.split(".")
    if top not in PACKAGES:
        return None
    base = package_dir(top) / Path(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_package(module: str) -> bool:
    found = _file(module)
    return found is not None and found.name == "__init__.py"


def _with_parents(module: str) -> set[str]:
    """A module and the packages whose __init__ runs when it is imported."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@cache
def imports(module: str) -> frozenset[str]:
    """The project's modules `module` imports anywhere in its source (functions included)."""
    path = _file(module)
    if path is None:
        return set()
    here = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            # `from tabflow.x import y`: y may be a module of its own, or a name in x.
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES and _file(name) is not None:
                found |= {m for m in _with_parents(name) if _file(m) is not None}
    return frozenset(found)


@cache
def closure(*roots: str) -> tuple[str, ...]:
    """Every package module reachable from `roots` by imports, sorted."""
    seen: set[str] = set()
    todo = [m for root in roots for m in _with_parents(root)]
    while todo:
        module = todo.pop()
        if module in seen or _file(module) is None:
            continue
        seen.add(module)
        todo.extend(imports(module) - seen)
    return tuple(sorted(seen))


@cache
def digest(module: str) -> str:
    path = _file(module)
    assert path is not None, module
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def code_of(stage: str) -> list[str]:
    """['tabflow.data 3f2a...', ...]: the modules a stage's job runs, each with its digest.

    One string per module, so that `snakemake -n -r` names the module that changed
    ("Params have changed ... before: 'tabflow.plots 1a2b...' now: 'tabflow.plots 9f8e...'").
    """
    from tabflow.stages import STAGES

    return [f"{m} {digest(m)}" for m in closure(STAGES[stage].module, ENTRY)]

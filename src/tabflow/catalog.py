"""What configs/ holds, read without composing: the folder, its model files, its YAML,
the overrides as given, and the estimator checks that passed. The bottom layer of the
configuration: `config` (composition) and `sweep` (search spaces) build on it, and `plan`
(what the Snakefile runs) on both. Import-light: the Snakefile imports it on every start.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from tabflow.errors import ConfigError

CONFIG_DIR_ENV = "TABFLOW_CONFIG_DIR"
CACHE_DIR = Path(".snakemake") / "tabflow"
# The libraries whose versions an estimator check depends on.
ESTIMATOR_LIBRARIES = ("scikit-learn", "lightgbm", "xgboost-cpu")


def config_dir() -> Path:
    """Absolute path of the `configs/` folder: $TABFLOW_CONFIG_DIR, else ./configs."""
    path = Path(os.environ.get(CONFIG_DIR_ENV, "configs")).resolve()
    if not (path / "config.yaml").is_file():
        raise ConfigError(
            f"{path / 'config.yaml'} not found: run from the project root "
            f"or set {CONFIG_DIR_ENV} to the configs folder"
        )
    return path


_MODEL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def available_models(cfg_dir: Path | None = None) -> list[str]:
    """Model names: the YAML files in configs/model/, sorted. A name is a wildcard value
    in every file name the model gets: letters, digits, '_' and '-' only."""
    names = sorted(p.stem for p in ((cfg_dir or config_dir()) / "model").glob("*.yaml"))
    for name in names:
        if not _MODEL_NAME.match(name):
            fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", name)
            raise ConfigError(
                f"configs/model/{name}.yaml: a model name may hold only letters, digits, "
                f"'_' and '-'; rename the file (e.g. {fixed}.yaml)"
            )
    return names


def default_models(cfg_dir: Path | None = None) -> list[str]:
    """The models a plain run trains: every model file but those saying `default: false`
    (trained when named: --config models=[...], or by a sweep that names them)."""
    folder = cfg_dir or config_dir()
    files = {m: _mapping(folder / "model" / f"{m}.yaml", folder) for m in available_models(folder)}
    return [m for m, data in files.items() if data.get("default") is not False]


def swept_models(name: str, cfg_dir: Path | None = None) -> list[str]:
    """The models configs/sweep/<name>.yaml names in its space ([] if there is no such
    file: the sweep's own check says so)."""
    folder = cfg_dir or config_dir()
    space = _mapping(folder / "sweep" / f"{name}.yaml", folder).get("space")
    return [str(m) for m in space] if isinstance(space, dict) else []


def _mapping(path: Path, cfg_dir: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = read_yaml(path, cfg_dir)
    return data if isinstance(data, dict) else {}


def read_yaml(path: Path, cfg_dir: Path) -> Any:
    """A YAML file of configs/, parsed; a syntax error is one ConfigError line naming the
    file, the line and the column."""
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        hint = "; indent with spaces, YAML allows no tabs" if "\\t" in problem else ""
        rel = path.relative_to(cfg_dir.parent) if cfg_dir.name == "configs" else path
        raise ConfigError(f"{rel}{where}: YAML syntax error: {problem}{hint}") from None


def split_overrides(overrides: Any) -> list[str]:
    """Accept a space-separated string (Snakemake --config) or a list (argv, or the YAML
    list form `--config "overrides=[a=1, 'b=x y']"`, which needs no shell quoting)."""
    if overrides is None or overrides == "":
        return []
    if isinstance(overrides, str):
        import shlex

        try:
            return shlex.split(overrides)
        except ValueError as err:
            raise ConfigError(
                f"--config overrides: {err} in {overrides!r}; for values with spaces or "
                f'quotes use the list form: --config "overrides=[data.raw_path=my data/x.csv, '
                f"'data.target_col=heart disease']\""
            ) from None
    return [str(o) for o in overrides]


def check_once(check: Any, *what: Any) -> None:
    """Run `check()` (an estimator check: it raises ConfigError) unless the same check of
    the same `what` passed in this project before. A check imports the estimator's library
    (about 2.5 s for scikit-learn), and every Snakemake start after a config edit would pay
    it for models whose estimator and params did not change. The key covers the library
    versions and the checking code."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=repr).encode())
    digest.update((Path(__file__).parent / "models.py").read_bytes())
    for dist in ESTIMATOR_LIBRARIES:
        try:
            digest.update(f"{dist}={version(dist)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{dist}=absent\0".encode())
    key = digest.hexdigest()[:32]
    memo = CACHE_DIR / "checked"
    try:
        if key in memo.read_text().split():
            return
    except OSError:
        pass
    check()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        with open(memo, "a") as fh:  # one short line: appends from two starts do not mix
            fh.write(key + "\n")
    except OSError:
        pass  # a read-only project checks every time

"""Keep Snakemake's job records with the results, so they survive `dvc push` / `dvc pull`.

Snakemake decides what to rerun from `.snakemake/metadata/` (params, code, input
checksums of each output). A fresh clone has none, and `dvc pull` gives every file a
fresh mtime, so without the records Snakemake would either rerun everything (mtimes) or
miss real changes (no params to compare). We copy the records of the files under
`results/` into `results/.snakemake-metadata/` after every workflow run, each with the
sha256 of the output it describes, and put a record back into `.snakemake/metadata/`
only when the output on disk has exactly those bytes.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from pathlib import Path

from tabflow.io import file_digest, write_json, write_with

SNAKEMAKE_METADATA = Path(".snakemake") / "metadata"
PROVENANCE_DIRNAME = ".snakemake-metadata"


def _sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def _read(path: Path):
    """A JSON file's content, or None when it is unreadable or half written."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _decode(key: Path) -> str:
    """Snakemake's record file name -> the output path it describes."""
    b64 = "".join(part.removeprefix("@") for part in key.parts)
    return urlsafe_b64decode(b64.encode()).decode()


def _records(metadata_dir: Path) -> dict[Path, Path]:
    """{record key (relative path) -> record file} in a Snakemake metadata folder."""
    if not metadata_dir.is_dir():
        return {}
    return {p.relative_to(metadata_dir): p for p in metadata_dir.rglob("*") if p.is_file()}


def save(results_dir: str | Path, metadata_dir: Path = SNAKEMAKE_METADATA) -> int:
    """Copy the records of existing outputs under results_dir next to them; return how many."""
    results = Path(results_dir)
    store = results / PROVENANCE_DIRNAME
    saved = 0
    for key, record_file in _records(metadata_dir).items():
        try:
            output = Path(_decode(key))
        except (ValueError, UnicodeDecodeError):
            continue
        if results not in output.parents or not output.is_file():
            continue
        record = _read(record_file)
        if record is None:
            continue
        target = store / f"{key}.json"
        entry = {"output": str(output), "sha256": _sha256(output), "record": record}
        if target.is_file() and _read(target) == entry:
            continue
        write_json(target, entry)
        saved += 1
    return saved


def restore(results_dir: str | Path, metadata_dir: Path = SNAKEMAKE_METADATA) -> int:
    """Put saved records back where Snakemake reads them, for outputs whose bytes match."""
    store = Path(results_dir) / PROVENANCE_DIRNAME
    restored = 0
    for entry_file in sorted(store.rglob("*.json")) if store.is_dir() else []:
        entry = _read(entry_file)
        if not isinstance(entry, dict) or not {"output", "sha256", "record"} <= entry.keys():
            continue  # unreadable entry: Snakemake just has no record for that output
        key = entry_file.relative_to(store).with_suffix("")
        local = metadata_dir / key
        if local.is_file() and _read(local) == entry["record"]:
            continue
        output = Path(entry["output"])
        if not output.is_file() or _sha256(output) != entry["sha256"]:
            continue
        text = json.dumps(entry["record"])
        write_with(local, lambda p, text=text: p.write_text(text))
        restored += 1
    if restored:
        # Snakemake takes metadata/ without incomplete/ for an old layout to migrate.
        (metadata_dir.parent / "incomplete").mkdir(parents=True, exist_ok=True)
    return restored

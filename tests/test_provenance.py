"""Snakemake job records saved next to the results and put back only for matching bytes."""

from __future__ import annotations

import json
from base64 import urlsafe_b64encode

from tabflow import provenance


def _record(metadata, output: str, params: str) -> None:
    key = urlsafe_b64encode(output.encode()).decode()
    (metadata / key).write_text(json.dumps({"rule": "train", "params": [params]}))


def test_records_round_trip_only_for_identical_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metadata = tmp_path / ".snakemake" / "metadata"
    metadata.mkdir(parents=True)
    (tmp_path / "results").mkdir()
    (tmp_path / "results/a.txt").write_text("a")
    (tmp_path / "results/b.txt").write_text("b")
    _record(metadata, "results/a.txt", "p1")
    _record(metadata, "results/b.txt", "p1")
    _record(metadata, "elsewhere/c.txt", "p1")
    assert provenance.save("results", metadata) == 2
    assert provenance.save("results", metadata) == 0, "unchanged records are not rewritten"

    fresh = tmp_path / "clone" / ".snakemake" / "metadata"
    (tmp_path / "results/b.txt").write_text("changed")  # b no longer matches its record
    assert provenance.restore("results", fresh) == 1
    restored = {p.name for p in fresh.iterdir()}
    assert restored == {urlsafe_b64encode(b"results/a.txt").decode()}
    assert (fresh.parent / "incomplete").is_dir()
    assert provenance.restore("results", fresh) == 0


def test_unreadable_entries_are_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "results" / provenance.PROVENANCE_DIRNAME
    store.mkdir(parents=True)
    (store / "broken.json").write_text('{"output": "results/a.t')
    (store / "partial.json").write_text('{"output": "results/a.txt"}')
    metadata = tmp_path / ".snakemake" / "metadata"
    assert provenance.restore("results", metadata) == 0
    metadata.mkdir(parents=True)
    (metadata / urlsafe_b64encode(b"results/x").decode()).write_text("not json")
    (tmp_path / "results/x").write_text("x")
    assert provenance.save("results", metadata) == 0

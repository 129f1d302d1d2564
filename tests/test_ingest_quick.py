"""The quick no-op ingest (``engine/ingest/quick.py``): when every run of a file is stored with the
same results, its summary is the one the ordinary path gives; anything else is left to it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine

from triagehub.config import Settings
from triagehub.engine.ingest import ingest_files
from triagehub.engine.ingest.quick import already_ingested
from triagehub.sources import get_format
from triagehub.store.db import open_database

EVENT = {
    "repository": "acme/api",
    "check": "tests / test_login",
    "message": "AssertionError: expected 200, got 500",
    "at": "2026-11-20T06:30:00Z",
}
RUN = {
    "repository": "acme/web",
    "source": "ci",
    "run": {"id": "4711", "attempt": 2},
    "results": [
        {"check": "unit / a", "status": "fail", "message": "boom token=ghp_" + "x" * 36},
        {"check": "unit / b", "status": "pass"},
        {"check": "unit / b", "status": "fail", "message": "flip"},
    ],
}


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    return url, open_database(url)


def write(path: Path, *events: object) -> Path:
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def test_a_file_ingested_again_gives_the_ordinary_summary(
    tmp_path: Path, sqlite_engine: tuple[str, Engine]
) -> None:
    url, engine = sqlite_engine
    first = write(tmp_path / "a.jsonl", EVENT, RUN, RUN)  # (a run twice in one file)
    second = write(tmp_path / "b.jsonl", {**EVENT, "check": "tests / other"})
    assert ingest_files(engine, [first, second], Settings()).runs == 3
    quick = already_ingested(url, [first, second])
    ordinary = ingest_files(engine, [first, second], Settings())
    assert quick is not None
    assert quick.as_dict() == ordinary.as_dict()
    assert quick.duplicate_runs == 4 and quick.files == 2
    fmt = get_format("event")
    assert already_ingested(url, [first], fmt=fmt).as_dict() == (  # type: ignore[union-attr]
        ingest_files(engine, [first], Settings(), fmt=fmt).as_dict()
    )


def test_anything_to_do_or_tell_is_left_to_the_ordinary_path(
    tmp_path: Path, sqlite_engine: tuple[str, Engine]
) -> None:
    url, engine = sqlite_engine
    stored = write(tmp_path / "a.jsonl", EVENT, RUN)
    assert ingest_files(engine, [stored], Settings()).runs == 2
    assert already_ingested(url, [stored]) is not None
    # A new run after stored ones; a stored run sent with other results (the ordinary path warns).
    new = write(tmp_path / "n.jsonl", EVENT, {**RUN, "run": {"id": "4712"}})
    changed = write(tmp_path / "c.jsonl", {**RUN, "results": RUN["results"][:1]})  # type: ignore[index]
    bad = write(tmp_path / "bad.jsonl", {"repository": "acme/api"})
    assert already_ingested(url, [new]) is None
    assert already_ingested(url, [stored, changed]) is None
    assert already_ingested(url, [bad]) is None
    assert already_ingested(url, [tmp_path / "missing.jsonl"]) is None
    assert ingest_files(engine, [changed], Settings()).warnings  # (what the quick path leaves)
    # Another backend, a database that does not exist, one at an older schema.
    assert already_ingested("postgresql+psycopg://u@127.0.0.1/none", [stored]) is None
    assert already_ingested(f"sqlite:///{tmp_path / 'none.db'}", [stored]) is None
    assert not (tmp_path / "none.db").exists()
    with sqlite3.connect(tmp_path / "q.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert already_ingested(url, [stored]) is None

"""The bulk writes of a table with triggers (``issues``, ``checks``: their search index on SQLite)
go a few hundred rows a statement on SQLite, not one statement run per row (each run of a
triggered statement opens a statement journal, and FTS5 writes its pending index out at each):
rows, ids, the search index and ``BulkWriter.update``'s counters come out as row by row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from test_bulk import parents
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter, data_columns
from triagehub.store.fulltext import ISSUES, candidates

COLUMNS = data_columns(t.issues)
MUTABLE = ("title", "state", "severity")


def issue_values(session: Session, n: int, word: str) -> list[list[Any]]:
    """``n`` copies of the stored issue, each with its own fingerprint and a title holding
    ``word`` and its number."""
    row = session.execute(select(t.issues)).mappings().one()
    return [
        [{**row, "fingerprint": f"{word}-{i}", "title": f"{word} number {i}"}[c] for c in COLUMNS]
        for i in range(n)
    ]


@contextmanager
def statement_runs(session: Session) -> Iterator[list[tuple[str, int]]]:
    """Each statement run through the connection: its SQL, and how many runs of it the driver
    makes (``executemany``: one per row)."""
    runs: list[tuple[str, int]] = []

    def seen(*args: Any) -> None:
        statement, parameters, many = args[2], args[3], args[5]
        runs.append((statement, len(parameters) if many else 1))

    conn = session.connection()
    event.listen(conn, "before_cursor_execute", seen)
    try:
        yield runs
    finally:
        event.remove(conn, "before_cursor_execute", seen)


def test_issues_are_inserted_some_hundreds_a_statement(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's statements")
    with Session(engine) as session, session.begin():
        parents(session)
        values = issue_values(session, 1200, "bulk")
        bulk = BulkWriter(session)
        with statement_runs(session) as runs:
            ids = bulk.insert_returning_ids(t.issues, COLUMNS, values)
        writes = [n for sql, n in runs if sql.startswith("INSERT INTO issues")]
        assert writes == [1, 1, 1]  # 500 + 500 + 200 rows, one statement each
        found = dict(session.execute(select(t.issues.c.id, t.issues.c.title)).all())
        assert [found[pk] for pk in ids] == [f"bulk number {i}" for i in range(1200)]
        # A table without triggers keeps the driver's executemany.
        assert not bulk._has_triggers(t.occurrences) and bulk._has_triggers(t.issues)


def test_updates_of_issues_add_up_and_follow_the_rows(engine: Engine) -> None:
    """``update`` sets the columns and adds to the counters as one ``UPDATE`` per row would,
    a key given twice included (added twice)."""
    with Session(engine) as session, session.begin():
        parents(session)
        bulk = BulkWriter(session)
        ids = bulk.insert_returning_ids(t.issues, COLUMNS, issue_values(session, 700, "old"))
        before = dict(session.execute(select(t.issues.c.id, t.issues.c.occurrences)).all())
        rows = [[f"new {pk}", "closed", "high", pk % 7, pk] for pk in ids[:650]]
        bulk.update(t.issues, MUTABLE, "id", rows, added=("occurrences",))
        bulk.update(t.issues, MUTABLE, "id", [rows[0], rows[0]], added=("occurrences",))
        got = {
            r.id: r
            for r in session.execute(
                select(t.issues.c.id, *(t.issues.c[c] for c in (*MUTABLE, "occurrences")))
            )
        }
        first = ids[0]
        assert got[first].occurrences == before[first] + 3 * (first % 7)
        for pk in ids[1:650]:
            assert tuple(got[pk])[1:] == (f"new {pk}", "closed", "high", before[pk] + pk % 7)
        for pk in ids[650:]:
            assert got[pk].title.startswith("old number ")
            assert got[pk].occurrences == before[pk]


def test_the_search_index_follows_the_bulk_writes(engine: Engine) -> None:
    """SQLite: FTS5's own check of the index against the table, and the titles found by the
    index after an insert and an update of hundreds of issues (PostgreSQL: its trigram index)."""
    with Session(engine) as session, session.begin():
        parents(session)
        bulk = BulkWriter(session)
        ids = bulk.insert_returning_ids(t.issues, COLUMNS, issue_values(session, 600, "zebra"))
        rows = [[f"okapi {pk}", "open", "low", 1, pk] for pk in ids[::2]]
        bulk.update(t.issues, MUTABLE, "id", rows, added=("occurrences",))
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql(
                "INSERT INTO issues_fts (issues_fts) VALUES ('integrity-check')"
            )
        assert sorted(candidates(session, ISSUES, "okapi") or []) == ids[::2]
        assert sorted(candidates(session, ISSUES, "zebra number") or []) == ids[1::2]


def test_a_low_parameter_limit_takes_smaller_statements(engine: Engine) -> None:
    """SQLite built with a low limit of parameters a statement: fewer rows a statement."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's limit")
    with Session(engine) as session, session.begin():
        parents(session)
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        limit = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 200)
        try:
            bulk = BulkWriter(session)
            with statement_runs(session) as runs:
                ids = bulk.insert_returning_ids(t.issues, COLUMNS, issue_values(session, 9, "few"))
                rows = [["x", "open", "low", 1, pk] for pk in ids]
                bulk.update(t.issues, MUTABLE, "id", rows, added=("occurrences",))
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        per_insert = 200 // (len(COLUMNS) + 1)
        inserts = [n for sql, n in runs if sql.startswith("INSERT INTO issues")]
        assert inserts == [1] * -(-9 // per_insert)
        updates = [n for sql, n in runs if "UPDATE issues" in sql]
        assert updates == [1] * -(-9 // (200 // 5))
        titles = session.execute(select(t.issues.c.title).where(t.issues.c.id.in_(ids)))
        assert sorted(titles.scalars()) == ["x"] * 9

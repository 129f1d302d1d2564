"""Creating rows by a key of several columns (``BulkWriter.insert_ignoring_returning``: the
ingest's checks) and reading by pairs (``grouping.issue_checks_present``) or by many values in
one condition (``dialect.any_of``): on PostgreSQL one statement each, the same rows as before on
both backends, and race-free (a check another transaction creates first is its row)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session

from test_bulk import T0, parents, stored
from triagehub.config import Settings
from triagehub.engine.ingest.runs import Catalog
from triagehub.store import grouping
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter
from triagehub.store.dialect import any_of

COLUMNS = ("repository_id", "key", "created_at")
KEY = ("repository_id", "key")
RETURNING = ("repository_id", "key", "id")
T1 = T0 + timedelta(hours=1)


class Sent:
    """The statements a session's connection sends."""

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()
        self.sql: list[str] = []
        event.listen(self.conn, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        self.sql.append(sql)

    def close(self) -> None:
        event.remove(self.conn, "before_cursor_execute", self._seen)


@pytest.fixture
def repo(engine: Engine) -> int:
    """A committed repository."""
    with Session(engine) as session, session.begin():
        return int(
            session.execute(
                insert(t.repositories).returning(t.repositories.c.id),
                {"name": "acme/app", "priority_level": "medium", "created_at": T0},
            ).scalar_one()
        )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session, session.begin():
        yield session


def _checks(session: Session) -> dict[str, tuple[int, Any]]:
    c = t.checks.c
    rows = session.execute(select(c.key, c.id, c.created_at).order_by(c.id))
    return {key: (pk, at) for key, pk, at in rows}


def test_rows_keyed_by_several_columns_are_created_in_order(session: Session, repo: int) -> None:
    """A key of several columns: the rows whose key is free (not taken before, nor by an earlier
    row of the call) are inserted in the order given, their ids ascending in that order, the
    returned columns as a tuple per row; stored as SQLAlchemy stores them; on PostgreSQL in one
    statement."""
    session.execute(insert(t.checks), [{"repository_id": repo, "key": "taken", "created_at": T0}])
    core = session.execute(
        insert(t.checks).returning(t.checks.c.id),
        [{"repository_id": repo, "key": "core", "created_at": T1}],
    ).scalar_one()
    keys = ["b", "taken", "a", "b", "c"]
    sent = Sent(session)
    try:
        bulk = BulkWriter(session)
        got = bulk.insert_ignoring_returning(
            t.checks, COLUMNS, [(repo, k, T1) for k in keys], KEY, RETURNING
        )
    finally:
        sent.close()
    assert [(r, k) for r, k, _ in got] == [(repo, "b"), (repo, "a"), (repo, "c")]
    ids = [pk for _, _, pk in got]
    assert ids == sorted(ids) and len(set(ids)) == 3
    if bulk.postgres:
        assert len(sent.sql) == 1 and "json_to_recordset" in sent.sql[0]
    stored_checks = _checks(session)
    assert {k: stored_checks[k][0] for k in ("b", "a", "c")} == {k: pk for _, k, pk in got}
    assert stored_checks["taken"][1] == stored_checks["core"][1] - timedelta(hours=1)
    # every column but the key and the id as SQLAlchemy's insert stores it
    names = [c.name for c in t.checks.columns if c.name != "id"]
    skip = names.index("key")
    expect = [r[:skip] + r[skip + 1 :] for r in stored(session, t.checks, [core], "id")]
    assert [r[:skip] + r[skip + 1 :] for r in stored(session, t.checks, ids, "id")] == expect * 3


def test_one_returned_column_still_comes_as_values(session: Session, repo: int) -> None:
    got = BulkWriter(session).insert_ignoring_returning(
        t.checks, COLUMNS, [(repo, "x", T0), (repo, "y", T0)], KEY, "key"
    )
    assert got == ["x", "y"]


def test_an_insert_racing_another_transaction_leaves_it_the_row(engine: Engine, repo: int) -> None:
    """Two connections insert overlapping checks: the second waits for the first's transaction,
    then inserts only the check the first did not create (``ON CONFLICT DO NOTHING``); the
    shared check keeps the first's values."""
    result: dict[str, Any] = {}

    def second() -> None:
        try:
            with Session(engine) as other, other.begin():
                result["got"] = BulkWriter(other).insert_ignoring_returning(
                    t.checks, COLUMNS, [(repo, "b", T1), (repo, "c", T1)], KEY, RETURNING
                )
        except BaseException as exc:  # reported to the test
            result["error"] = exc

    with Session(engine) as first:
        first.begin()
        mine = BulkWriter(first).insert_ignoring_returning(
            t.checks, COLUMNS, [(repo, "a", T0), (repo, "b", T0)], KEY, RETURNING
        )
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first transaction
        first.commit()
    thread.join(60)
    assert not thread.is_alive() and "error" not in result, result
    assert [k for _, k, _ in mine] == ["a", "b"]
    assert [k for _, k, _ in result["got"]] == ["c"]
    with Session(engine) as session:
        found = _checks(session)
    assert set(found) == {"a", "b", "c"}
    assert found["b"][0] == mine[1][2] and found["b"][1] == found["a"][1]
    assert found["c"][1] == found["b"][1] + timedelta(hours=1)


def test_checks_another_transaction_creates_meanwhile_are_its_rows(
    engine: Engine, repo: int
) -> None:
    """``Catalog.ensure_checks`` racing another transaction that creates some of its checks
    first: it waits, creates the others, and gives the other's ids for the shared ones.
    (PostgreSQL: SQLite's ingest holds the database write lock before it reads, so no other
    transaction creates a check in between.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the ingest's write lock comes first (lock_repositories)")
    result: dict[str, Any] = {}

    def second() -> None:
        try:
            with Session(engine) as other, other.begin():
                catalog = Catalog(other, Settings())
                result["got"] = catalog.ensure_checks({(repo, "b"), (repo, "c")}, T1)
        except BaseException as exc:  # reported to the test
            result["error"] = exc

    with Session(engine) as first:
        first.begin()
        mine = Catalog(first, Settings()).ensure_checks({(repo, "a"), (repo, "b")}, T0)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()
        first.commit()
    thread.join(60)
    assert not thread.is_alive() and "error" not in result, result
    with Session(engine) as session:
        found = {k: pk for k, (pk, _) in _checks(session).items()}
    assert mine == {(repo, "a"): found["a"], (repo, "b"): found["b"]}
    assert result["got"] == {(repo, "b"): found["b"], (repo, "c"): found["c"]}


def test_the_stored_pairs_of_issues_and_checks_are_found(session: Session) -> None:
    """``issue_checks_present``: the pairs stored, whatever their number (PostgreSQL: one
    statement; SQLite: a few hundred pairs a statement)."""
    made = parents(session)
    issue, checks = made["issue"], made["checks"]
    ic = t.issue_checks.c
    stored_pairs = {(i, c) for i, c in session.execute(select(ic.issue_id, ic.check_id))}
    assert stored_pairs and all(i == issue for i, _ in stored_pairs)
    pairs = [(issue, c) for c in checks] + [(issue + 1, c) for c in checks]
    pairs += [(issue + 2 + n, checks[0]) for n in range(1200)]  # past one SQLite slice
    sent = Sent(session)
    try:
        found = grouping.issue_checks_present(session=session, pairs=pairs)
        assert grouping.issue_checks_present(session=session, pairs=[]) == set()
    finally:
        sent.close()
    assert found == stored_pairs
    assert len(sent.sql) == (1 if session.get_bind().dialect.name == "postgresql" else 3)


def test_any_of_is_one_condition_for_many_values(session: Session) -> None:
    made = parents(session)
    runs = list(made["runs"])
    wanted = [runs[0], runs[-1], *range(10_000, 13_000)]
    c = t.runs.c
    sent = Sent(session)
    try:
        got = session.execute(
            select(c.id).where(any_of(session, c.id, wanted)).order_by(c.id)
        ).scalars()
        assert list(got) == [runs[0], runs[-1]]
    finally:
        sent.close()
    if session.get_bind().dialect.name == "postgresql":
        assert len(sent.sql) == 1 and "ANY" in sent.sql[0] and len(sent.sql[0]) < 500

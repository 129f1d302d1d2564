"""What differs between SQLite and PostgreSQL on the concurrent write paths.

- ``one_of``: ``column IN (values)`` for many values, as the database takes it best
  (``any_of``: the same as one condition).
- ``insert_ignoring``: ``INSERT ... ON CONFLICT DO NOTHING`` (race-free creation: insert, then
  select what another transaction created first).
- ``greatest`` / ``least``: the two-argument SQL max/min (``greatest`` on PostgreSQL, the scalar
  ``max`` on SQLite), so that a time moves only one way inside the ``UPDATE`` itself.
- ``lock_repositories``: the per-repository write lock every ingest takes, in id order, before it
  reads what it is going to change (runs, checks, their history, issues).
- ``sqlite_write_lock``: SQLite's database write lock, taken before reading (a prune's batch).
- ``bounded_lock_wait``: a short lock wait for requests that must answer quickly.
- ``is_transient``: a deadlock, a serialization failure or a SQLite lock wait that ran out: the
  transaction may simply be run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.functions import Function

from triagehub.store import tables as t

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# PostgreSQL SQLSTATEs worth one more try: serialization_failure, deadlock_detected,
# lock_not_available.
_TRANSIENT_PG = frozenset({"40001", "40P01", "55P03"})


def dialect_name(session: Session | Connection) -> str:
    """The database's dialect (``sqlite``, ``postgresql``) under a session or a connection."""
    if isinstance(session, Connection):
        return session.dialect.name
    return session.get_bind().dialect.name


def one_of(
    session: Session, column: Any, values: Sequence[Any], size: int = 500
) -> Iterator[ColumnElement[bool]]:
    """``column IN values`` in slices of ``size`` values, one condition per statement to run
    (within every database's parameter limit; the rows come slice by slice, as callers' orders
    expect). PostgreSQL: ``column = ANY(array)``, one parameter per slice instead of one
    placeholder per value, so the driver parses no list of hundreds of placeholders and the
    server parses and plans one short statement."""
    postgres = dialect_name(session) == "postgresql"
    for i in range(0, len(values), size):
        chunk = values[i : i + size]
        yield _any_of(column, chunk) if postgres else column.in_(chunk)


def any_of(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` as one condition whatever the number of values (a caller whose
    rows must come from one statement): on PostgreSQL ``column = ANY(array)``, as ``one_of``'s
    (the same plan as ``IN``: the server rewrites that to ``= ANY``)."""
    return _any_of(column, values) if dialect_name(session) == "postgresql" else column.in_(values)


def _any_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """PostgreSQL: ``column = ANY(%s)``, the values as one array parameter."""
    from sqlalchemy.dialects.postgresql import ARRAY

    condition: ColumnElement[bool] = column == any_(
        bindparam(None, list(values), type_=ARRAY(column.type))
    )
    return condition


def insert_ignoring(session: Session, table: Table, *index_elements: str) -> Any:
    """``INSERT INTO table ... ON CONFLICT (index_elements) DO NOTHING`` for the session's
    database (chain ``.returning(...)`` and execute with rows)."""
    # (imported here: a process loads only its own database's dialect)
    index = list(index_elements) or None
    if dialect_name(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=index)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=index)


def greatest(session: Session, *args: Any) -> Function[Any]:
    return (func.greatest if dialect_name(session) == "postgresql" else func.max)(*args)


def least(session: Session, *args: Any) -> Function[Any]:
    return (func.least if dialect_name(session) == "postgresql" else func.min)(*args)


def lock_repositories(session: Session, ids: Iterable[int]) -> None:
    """Hold the write lock of these repositories until the transaction ends.

    PostgreSQL: ``SELECT ... FOR NO KEY UPDATE`` on their rows, in id order (so that two
    ingests never wait on each other in a cycle; foreign keys to the rows still go through).
    SQLite: the database write lock (a write statement), taken before anything is read, so that
    the read-then-write of an ingest never interleaves with another writer's and a waiting writer
    waits (``busy_timeout``) instead of failing on a stale snapshot.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return
    if dialect_name(session) == "postgresql":
        session.execute(
            select(t.repositories.c.id)
            .where(t.repositories.c.id.in_(wanted))
            .order_by(t.repositories.c.id)
            .with_for_update(key_share=True)
        ).all()
    else:
        sqlite_write_lock(session)


def sqlite_write_lock(session: Session) -> None:
    """SQLite: take the database write lock now (a write statement that changes nothing), so
    that what the transaction reads next is not overtaken by another writer before it writes.
    PostgreSQL: nothing (its writers lock rows)."""
    if dialect_name(session) == "sqlite":
        session.execute(update(t.repositories).where(false()).values(name=t.repositories.c.name))


def is_transient(exc: BaseException) -> bool:
    """A failure that running the same transaction again may not meet."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _TRANSIENT_PG:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text


@contextmanager
def bounded_lock_wait(session: Session, seconds: float = 5.0) -> Iterator[None]:
    """Inside this block, a statement waits at most ``seconds`` for a lock another transaction
    holds, then fails with a transient error (``is_transient``): for requests that must answer
    quickly (a webhook: GitHub gives up after 10 s). PostgreSQL: ``SET LOCAL lock_timeout``;
    SQLite: the connection's ``busy_timeout``, put back afterwards."""
    ms = max(int(seconds * 1000), 1)
    if dialect_name(session) == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = {ms}"))
        yield
        return
    conn = session.connection()
    before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 30000)}")

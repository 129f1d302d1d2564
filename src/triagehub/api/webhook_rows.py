"""The database side of the delivery writer (:mod:`triagehub.api.webhook_batch`): its own
connection, the transaction a batch is recorded in, and the batch's rows.

The writer thread keeps one connection while it runs (returned to the pool when the thread ends)
and records a batch with as few statements as it can: on SQLite ``BEGIN IMMEDIATE`` (the write
lock, before anything is read, waiting at most the connection's ``busy_timeout``, set once), the
read of the deliveries stored already, one insert per table and the commit. Each statement
releases the GIL, and taking it back waits for the event loop's thread (up to the interpreter's
switch interval, 5 ms) while requests keep it busy: fewer statements per batch answer sooner.
PostgreSQL: ``SET LOCAL lock_timeout`` in each transaction, no ping at each check-out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Dialect, Engine, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.types import TypeDecorator

from triagehub.api.webhook_delivery import Outcome, delivery_row
from triagehub.engine.ingest_jobs import INGEST_WEBHOOK
from triagehub.engine.jobs import PENDING
from triagehub.store import tables as t

_COLUMN = t.webhook_deliveries.c.delivery_id
_STORED = select(_COLUMN).where(_COLUMN.in_(bindparam("ids", expanding=True)))
_DEFAULT_BUSY_MS = 30000  # the connections' own (store.db)


def stored_deliveries(conn: Connection, ids: list[str]) -> set[str]:
    """Which of the delivery ids ``ids`` are recorded already."""
    return set(conn.execute(_STORED, {"ids": ids}).scalars())


class WriterConnection:
    """The writer thread's connection and the transactions it records batches in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._busy_ms: int | None = None  # SQLite: the busy_timeout set on it
        self._restore_ms = _DEFAULT_BUSY_MS

    @contextmanager
    def transaction(self, wait: float) -> Iterator[Connection]:
        """A write transaction that waits at most ``wait`` seconds for a lock (then fails with
        a transient error, :func:`~triagehub.store.dialect.is_transient`); committed at the end
        of the block, rolled back on an error."""
        conn = self._open()
        ms = max(int(wait * 1000), 1)
        sqlite = conn.dialect.name == "sqlite"
        with conn.begin():
            if sqlite:
                if ms != self._busy_ms:  # the same from one batch to the next, but the last
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
                    self._busy_ms = ms
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
            yield conn

    def _open(self) -> Connection:
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            conn = self.engine.connect()
            if conn.dialect.name == "sqlite":
                before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                self._restore_ms = int(before or _DEFAULT_BUSY_MS)
                conn.rollback()  # (the statement began SQLAlchemy's transaction)
            self._conn, self._busy_ms = conn, None
        return self._conn

    def close(self) -> None:
        """Back to the pool, as it was taken (SQLite: its ``busy_timeout``)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._busy_ms is not None and not conn.invalidated:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {self._restore_ms}")
                conn.rollback()
        finally:
            conn.close()

    def drop(self) -> None:
        """After an error the connection may not survive: closed, a new one taken next time."""
        with suppress(Exception):
            self.close()


class _SerializedJSON(TypeDecorator[Any]):
    """A JSON column's value serialized already (by orjson, compact): bound as it is."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


_INSERTS: dict[str, tuple[Any, Any]] = {}


def _inserts(dialect: str) -> tuple[Any, Any]:
    """The batch's two inserts (jobs, deliveries), built once per database kind: the jobs'
    ``ON CONFLICT (key) DO NOTHING`` as :func:`~triagehub.engine.jobs.enqueue` writes them,
    their data serialized by orjson (a tenth of the standard library's time on a payload)."""
    if dialect not in _INSERTS:
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        jobs = (
            build(t.jobs)
            .on_conflict_do_nothing(index_elements=["key"])
            .values(data=bindparam("data", type_=_SerializedJSON()))
        )
        _INSERTS[dialect] = (jobs, insert(t.webhook_deliveries))
    return _INSERTS[dialect]


@dataclass(slots=True)
class BatchRows:
    """The rows of a batch, written by one statement per table (an ``executemany``: one round
    trip on PostgreSQL where each row took one)."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def job(self, key: str, data: dict[str, Any], now: datetime) -> None:
        self.jobs.append(
            {
                "kind": INGEST_WEBHOOK,
                "key": key,
                "data": orjson.dumps(data).decode(),
                "status": PENDING,
                "attempts": 0,
                "next_try_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )

    def delivery(
        self, event: str, delivery: str, action: str | None, outcome: Outcome, at: datetime
    ) -> None:
        self.deliveries.append(delivery_row(event, delivery, action, outcome, at))

    def write(self, conn: Connection) -> None:
        jobs, deliveries = _inserts(conn.dialect.name)
        if self.jobs:
            conn.execute(jobs, self.jobs)
        if self.deliveries:
            conn.execute(deliveries, self.deliveries)

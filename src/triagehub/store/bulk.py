"""Bulk writes for the ingest's volume tables (runs, issues, occurrences, timeline, history).

SQLAlchemy processes every parameter of every row (a ``TypeDecorator`` per time, a JSON
encoder per document) and, for ``INSERT ... RETURNING`` of many rows, writes one long
multi-VALUES statement that psycopg parses anew each batch. Here each value is encoded once,
into what the store keeps (``BulkWriter.row``: times as ``UTCDateTime`` binds them, JSON as
text), and the rows go to the driver as they are:

- PostgreSQL: ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``); ids a caller needs are
  taken from the table's sequence first (one ``nextval`` query), then copied with the rows.
- SQLite: the driver's ``executemany`` (one prepared statement, run over the rows in C); rows
  whose ids a caller needs are given the ids SQLite would give them (the largest id + 1, + 2,
  ...), read first under the database write lock.
- Updates and upserts: one statement with positional parameters, run by the driver's
  ``executemany`` (psycopg pipelines them: one round trip).

Stored values are exactly the ones SQLAlchemy would store (``tests/test_bulk.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from triagehub.store.dialect import sqlite_write_lock
from triagehub.store.tables import UTCDateTime, as_utc, sqlite_time

Encoder = Callable[[Any], Any] | None
_MAX_ROWID = 2**63 - 1  # SQLite's largest rowid


class _Times(dict[Any, Any]):
    """Each distinct time encoded once: a batch repeats its times (a run's, the batch's ``now``).
    Its ``__getitem__`` is the encoder (a lookup in C for a time seen before, and for ``None``).
    Times equal as instants encode alike, so they may share an entry."""

    def __init__(self, convert: Callable[[datetime], Any]) -> None:
        super().__init__({None: None})
        self.convert = convert

    def __missing__(self, value: datetime) -> Any:
        found = self[value] = self.convert(value)
        return found


def _time_encoder(postgres: bool) -> Callable[[datetime | None], Any]:
    """Times as ``UTCDateTime`` binds them (aware UTC on PostgreSQL, SQLite's text)."""
    return _Times(as_utc if postgres else sqlite_time).__getitem__


def _json_encoder(none_as_null: bool) -> Callable[[Any], str | None]:
    """JSON as text: ``json.dumps`` with its defaults, SQLAlchemy's and psycopg's serialiser
    alike (``None`` is SQL NULL only where the column says ``none_as_null``)."""
    dumps = json.dumps

    def encode(value: Any) -> str | None:
        if value is None and none_as_null:
            return None
        if not value:  # the documents most rows hold, without encoding them
            if type(value) is list:
                return "[]"
            if type(value) is dict:
                return "{}"
        return dumps(value)

    return encode


def data_columns(table: Table) -> tuple[str, ...]:
    """The table's columns but its ``id``, in the table's order (the order rows are given in)."""
    return tuple(c.name for c in table.columns if c.name != "id")


class BulkWriter:
    """Writes rows of the session's database without SQLAlchemy's per-row processing."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect
        self.postgres = self.dialect.name == "postgresql"
        self._quote = self.dialect.identifier_preparer.quote

    # -- statements --------------------------------------------------------------------------

    def name(self, identifier: str) -> str:
        """An identifier, quoted where the database needs it."""
        return self._quote(identifier)

    def marks(self, n: int) -> str:
        """``n`` positional parameter markers, comma separated."""
        return ", ".join(["%s" if self.postgres else "?"] * n)

    def encoders(self, table: Table, columns: Sequence[str]) -> list[Encoder]:
        """How each column's value is encoded (None: as it is)."""
        found: list[Encoder] = []
        for name in columns:
            kind = table.c[name].type
            if isinstance(kind, UTCDateTime):
                found.append(_time_encoder(self.postgres))
            elif isinstance(kind, JSON):
                found.append(_json_encoder(kind.none_as_null))
            else:
                found.append(None)
        return found

    def rows(
        self, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """The rows as the database stores them, each value encoded once."""
        encoders = [(i, e) for i, e in enumerate(self.encoders(table, columns)) if e is not None]
        if not encoders:
            return [tuple(v) for v in values]
        rows: list[tuple[Any, ...]] = []
        for v in values:
            row = list(v)
            for i, encode in encoders:
                row[i] = encode(row[i])
            rows.append(tuple(row))
        return rows

    # -- writes -------------------------------------------------------------------------------

    def insert(self, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]) -> int:
        """Insert the rows (values in ``columns`` order); returns how many."""
        rows = self.rows(table, columns, values)
        if not rows:
            return 0
        if self.postgres:
            self._copy(table, columns, rows)
        else:
            self.executemany(self._insert_sql(table, columns), rows)
        return len(rows)

    def insert_returning_ids(
        self, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]
    ) -> list[int]:
        """Insert the rows; their new ids (``id`` column), in the order given."""
        rows = self.rows(table, columns, values)
        if not rows:
            return []
        if self.postgres:
            ids = self._next_ids(table, len(rows))
            with_ids = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
            self._copy(table, ["id", *columns], with_ids)
            return ids
        # SQLite gives a row inserted without an id the table's largest id + 1 (no table here
        # has AUTOINCREMENT: ``tests/test_bulk.py``). Read under the database write lock (taken
        # first, if the transaction does not hold it yet: no other writer comes in between),
        # those are the ids the rows would get one by one: given up front, the driver inserts
        # them all in one ``executemany``.
        sqlite_write_lock(self.session)
        conn = self.session.connection()
        top = conn.exec_driver_sql(f"SELECT max(id) FROM {self.name(table.name)}").scalar()
        first = int(top or 0) + 1
        if first + len(rows) > _MAX_ROWID:  # SQLite would pick free ids at random
            return self._insert_one_by_one(table, columns, rows)
        ids = list(range(first, first + len(rows)))
        self.executemany(
            self._insert_sql(table, ["id", *columns]),
            [(pk, *row) for pk, row in zip(ids, rows, strict=True)],
        )
        return ids

    def _insert_one_by_one(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> list[int]:
        """SQLite: each row inserted on its own, its id read back (``lastrowid``)."""
        raw = self.session.connection().connection.driver_connection
        assert raw is not None
        sql = self._insert_sql(table, columns)
        found: list[int] = []
        with self._driver_errors(sql):
            cursor = raw.cursor()
            try:
                for row in rows:
                    cursor.execute(sql, row)
                    found.append(int(cursor.lastrowid))
            finally:
                cursor.close()
        return found

    def insert_ignoring_returning(
        self,
        table: Table,
        columns: Sequence[str],
        values: Iterable[Sequence[Any]],
        key: str,
        returning: str,
    ) -> list[Any]:
        """PostgreSQL: insert the rows in the order given, but those whose ``key`` is taken
        (``ON CONFLICT (key) DO NOTHING``, rows of this call included); ``returning`` of the rows
        inserted. One statement whatever the number of rows: a column's values are one array
        parameter (``INSERT ... SELECT FROM unnest(...) WITH ORDINALITY``, in the order given,
        so ids follow it), instead of a multi-VALUES statement with a placeholder per value."""
        assert self.postgres, "insert_ignoring_returning is PostgreSQL's"
        rows = self.rows(table, columns, values)
        if not rows:
            return []
        names = ", ".join(self.name(c) for c in columns)
        compiled = [table.c[c].type.compile(dialect=self.dialect) for c in columns]
        arrays = ", ".join(f"%s::{kind}[]" for kind in compiled)
        fields = ", ".join(f"v{i}" for i in range(len(columns)))
        sql = (
            f"INSERT INTO {self.name(table.name)} ({names}) SELECT {fields} "
            f"FROM unnest({arrays}) WITH ORDINALITY AS v({fields}, n) ORDER BY n "
            f"ON CONFLICT ({self.name(key)}) DO NOTHING RETURNING {self.name(returning)}"
        )
        params = [list(column) for column in zip(*rows, strict=True)]
        result = self.session.connection().exec_driver_sql(sql, tuple(params))
        return [r[0] for r in result]

    def update_by_key(
        self, table: Table, key: str, columns: Sequence[str], values: Iterable[Sequence[Any]]
    ) -> int:
        """Set ``columns`` of the rows whose ``key`` is each value's last item (values in
        ``[*columns, key]`` order, one per row, keys distinct); returns how many were given.

        PostgreSQL: one statement whatever the number of rows, ``UPDATE ... FROM
        json_to_recordset(%s)``: the rows go as one JSON document (written by orjson, in C),
        so the server parses, plans and runs one statement instead of one per row, and the
        driver adapts one parameter instead of one per value. A JSON column's value travels as
        its text (what ``rows`` encoded) and is cast back, so the stored text is the one the
        other writes store. SQLite: one prepared ``UPDATE ... WHERE key = ?`` run over the rows
        by the driver (in C)."""
        fields = [*columns, key]
        rows = self.rows(table, fields, values)
        if not rows:
            return 0
        name = self.name(table.name)
        if not self.postgres:
            sets = ", ".join(f"{self.name(c)} = ?" for c in columns)
            self.executemany(f"UPDATE {name} SET {sets} WHERE {self.name(key)} = ?", rows)
            return len(rows)
        import orjson

        kinds = [table.c[c].type for c in fields]
        declared = ", ".join(
            f"v{i} {'text' if isinstance(k, JSON) else k.compile(dialect=self.dialect)}"
            for i, k in enumerate(kinds)
        )
        sets = ", ".join(
            f"{self.name(c)} = v.v{i}" + ("::json" if isinstance(kinds[i], JSON) else "")
            for i, c in enumerate(columns)
        )
        sql = (
            f"UPDATE {name} SET {sets} FROM json_to_recordset(%s::json) AS v({declared}) "
            f"WHERE {name}.{self.name(key)} = v.v{len(columns)}"
        )
        names = [f"v{i}" for i in range(len(fields))]
        document = orjson.dumps([dict(zip(names, row, strict=True)) for row in rows])
        self.session.connection().exec_driver_sql(sql, (document.decode(),))
        return len(rows)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement with positional parameters (``marks``) over the rows."""
        if rows:
            self.session.connection().exec_driver_sql(sql, rows)

    def _insert_sql(self, table: Table, columns: Sequence[str]) -> str:
        names = ", ".join(self.name(c) for c in columns)
        return f"INSERT INTO {self.name(table.name)} ({names}) VALUES ({self.marks(len(columns))})"

    def _next_ids(self, table: Table, n: int) -> list[int]:
        """``n`` ids from the table's sequence (PostgreSQL), ascending."""
        rows = (
            self.session.connection()
            .exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                (table.name, n),
            )
            .all()
        )
        return sorted(int(r[0]) for r in rows)

    def _copy(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        raw = self.session.connection().connection.driver_connection
        assert raw is not None
        names = ", ".join(self.name(c) for c in columns)
        sql = f"COPY {self.name(table.name)} ({names}) FROM STDIN"
        with self._driver_errors(sql), raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def _driver_errors(self, statement: str) -> Iterator[None]:
        """The driver's errors as SQLAlchemy's (``DataError``, ``IntegrityError``, a deadlock's
        ``OperationalError``...), as statements run through SQLAlchemy raise them: the ingest
        tells a refused value from a crash, and runs a transaction that hit a deadlock again."""
        dbapi = self.dialect.loaded_dbapi
        try:
            yield
        except dbapi.Error as exc:
            raise DBAPIError.instance(
                statement, None, exc, dbapi.Error, dialect=self.dialect
            ) from exc

"""Bulk writes for the ingest's volume tables (runs, issues, occurrences, timeline, history).

SQLAlchemy processes every parameter of every row (a ``TypeDecorator`` per time, a JSON
encoder per document) and, for ``INSERT ... RETURNING`` of many rows, writes one long
multi-VALUES statement that psycopg parses anew each batch. Here each value is encoded once,
into what the store keeps (``BulkWriter.row``: times as ``UTCDateTime`` binds them, JSON as
text), and the rows go to the driver as they are:

- PostgreSQL: ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``; its binary format where the
  values allow it: ``copy_binary``); ids a caller needs are taken from the table's sequence
  first (one ``nextval`` query), then copied with the rows.
- SQLite: the driver's ``executemany`` (one prepared statement, run over the rows in C); rows
  whose ids a caller needs are given the ids SQLite would give them (the largest id + 1, + 2,
  ...), read first under the database write lock.
- Updates and upserts: one statement with positional parameters, run by the driver's
  ``executemany`` (psycopg pipelines them: one round trip).
- SQLite, a table with triggers (``issues`` and ``checks``: their search index, migration
  0019): a statement whose row fires a trigger writes more than one row, so each run of it
  opens a statement journal (a copy of every page it changes), and FTS5 writes the index it
  holds in memory out as a new segment at each statement's start (merged with the others
  later). ``executemany`` runs its statement once per row: most of an issue's insert went
  there, more than to indexing its text. Their inserts are multi-row ``VALUES`` statements
  and their updates (``update``) ``UPDATE ... FROM (VALUES ...)``, a few hundred rows a
  statement: one journal and one segment each. The rows stored are the same; the index
  finds the same rows (its segments are cut differently).

Stored values are exactly the ones SQLAlchemy would store (``tests/test_bulk.py``).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import JSON, String, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from triagehub.store.copy_binary import binary_types
from triagehub.store.dialect import sqlite_write_lock
from triagehub.store.tables import UTCDateTime, as_utc, sqlite_time

Encoder = Callable[[Any], Any] | None
RowsEncoder = Callable[[Iterable[Any]], list[tuple[Any, ...]]]
_MAX_ROWID = 2**63 - 1  # SQLite's largest rowid
_MAX_ROWS = 500  # rows in one multi-row statement (SQLite, tables with triggers)
_MAX_TIMES = 1 << 16  # distinct times a writer keeps encoded
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)  # SQLite's UPDATE ... FROM


class _Times(dict[Any, Any]):
    """Each distinct time encoded once: a batch repeats its times (a run's, the batch's ``now``).
    Its ``__getitem__`` is the encoder (a lookup in C for a time seen before, and for ``None``).
    Times equal as instants encode alike, so they may share an entry. One per writer, for all
    its columns and calls; emptied past :data:`_MAX_TIMES` entries (memory stays bounded)."""

    def __init__(self, convert: Callable[[datetime], Any]) -> None:
        super().__init__({None: None})
        self.convert = convert

    def __missing__(self, value: datetime) -> Any:
        if len(self) > _MAX_TIMES:
            self.clear()
            self[None] = None
        found = self[value] = self.convert(value)
        return found


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


def _rows_encoder(encoders: Sequence[Encoder], with_ids: bool) -> RowsEncoder:
    """A function encoding rows of ``len(encoders)`` values (pairs of an id and such a row
    where ``with_ids``), made once per table and columns: only the columns with an encoder are
    touched, and a row with none is taken as it is. A row of another width raises
    ``ValueError``."""
    width = len(encoders)
    active = [(i, e) for i, e in enumerate(encoders) if e is not None]

    def encode_row(row: Sequence[Any]) -> tuple[Any, ...]:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} values for {width} columns")
        if not active:
            return tuple(row)
        values = list(row)
        for i, encode in active:
            values[i] = encode(values[i])
        return tuple(values)

    if with_ids:
        return lambda rows: [(pk, *encode_row(row)) for pk, row in rows]
    return lambda rows: [encode_row(row) for row in rows]


def _json_exact(rows: Iterable[Sequence[Any]]) -> bool:
    """Whether JSON spells every value of the rows: not a float NaN or infinity (orjson
    writes those as ``null``)."""
    isfinite = math.isfinite
    return all(isfinite(v) for row in rows for v in row if type(v) is float)


def _json_document(rows: Iterable[Sequence[Any]]) -> str:
    """The rows as one JSON array of objects (``v0``, ``v1``, ... by position), written by
    orjson: times as RFC 3339 with their offset and microseconds, floats in the shortest text
    that reads back as the same float (PostgreSQL's ``float8in`` reads it exactly)."""
    import orjson

    listed = rows if isinstance(rows, list) else list(rows)
    if not listed:
        return "[]"
    names = [f"v{i}" for i in range(len(listed[0]))]
    return orjson.dumps([dict(zip(names, row, strict=True)) for row in listed]).decode()


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
        self._triggered: dict[str, bool] = {}
        self._times = _Times(as_utc if self.postgres else sqlite_time)
        self._encoders: dict[tuple[str, tuple[str, ...]], tuple[Encoder, ...]] = {}
        self._row_encoders: dict[tuple[str, tuple[str, ...], bool], RowsEncoder] = {}

    # -- statements --------------------------------------------------------------------------

    def name(self, identifier: str) -> str:
        """An identifier, quoted where the database needs it."""
        return self._quote(identifier)

    def marks(self, n: int) -> str:
        """``n`` positional parameter markers, comma separated."""
        return ", ".join(["%s" if self.postgres else "?"] * n)

    def encoders(self, table: Table, columns: Sequence[str]) -> tuple[Encoder, ...]:
        """How each column's value is encoded (None: as it is, ints and text being final),
        worked out once per table and columns. Times share the writer's cache of encoded
        times (:class:`_Times`)."""
        key = (table.name, tuple(columns))
        found = self._encoders.get(key)
        if found is None:
            found = self._encoders[key] = tuple(self._encoder(table, c) for c in columns)
        return found

    def _encoder(self, table: Table, name: str) -> Encoder:
        kind = table.c[name].type
        if isinstance(kind, UTCDateTime):
            return self._times.__getitem__
        if isinstance(kind, JSON):
            return _json_encoder(kind.none_as_null)
        return None

    def rows(
        self, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """The rows as the database stores them, each value encoded once."""
        return self._rows(table, columns, values)

    def _rows(
        self,
        table: Table,
        columns: Sequence[str],
        values: Iterable[Sequence[Any]],
        ids: Iterable[int] | None = None,
    ) -> list[tuple[Any, ...]]:
        """``rows``, each led by its id where ``ids`` are given (one per row)."""
        key = (table.name, tuple(columns), ids is not None)
        encode = self._row_encoders.get(key)
        if encode is None:
            encode = self._row_encoders[key] = _rows_encoder(
                self.encoders(table, columns), ids is not None
            )
        return encode(values) if ids is None else encode(zip(ids, values, strict=True))

    # -- writes -------------------------------------------------------------------------------

    def insert(self, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]) -> int:
        """Insert the rows (values in ``columns`` order); returns how many."""
        return self.insert_encoded(table, columns, self.rows(table, columns, values))

    def insert_encoded(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> int:
        """``insert`` of rows already encoded, each value what :meth:`rows` would make of it
        (a caller building its rows encodes their values in the same pass: ``encoders``)."""
        if not rows:
            return 0
        if self.postgres:
            self._copy(table, columns, rows)
        else:
            self._sqlite_insert(table, columns, rows)
        return len(rows)

    def insert_returning_ids(
        self, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]
    ) -> list[int]:
        """Insert the rows; their new ids (``id`` column), in the order given."""
        listed = values if isinstance(values, list) else list(values)
        if not listed:
            return []
        if self.postgres:
            ids = self._next_ids(table, len(listed))
            self._copy(table, ["id", *columns], self._rows(table, columns, listed, ids))
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
        if first + len(listed) > _MAX_ROWID:  # SQLite would pick free ids at random
            return self._insert_one_by_one(table, columns, self.rows(table, columns, listed))
        ids = list(range(first, first + len(listed)))
        self._sqlite_insert(table, ["id", *columns], self._rows(table, columns, listed, ids))
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
        key: str | Sequence[str],
        returning: str | Sequence[str],
    ) -> list[Any]:
        """Insert the rows in the order given, but those whose ``key`` is taken (``ON CONFLICT
        (key) DO NOTHING``, rows of this call included; a key of several columns as a sequence
        of their names); ``returning`` of the rows inserted (a column's values, or for a
        sequence of columns a tuple of their values per row).
        PostgreSQL: one statement whatever the number of rows, from one JSON document
        (``INSERT ... SELECT FROM ROWS FROM (json_to_recordset(...)) WITH ORDINALITY``, in the
        order given, so ids follow it; orjson writes it, where the driver would adapt each
        element of an array parameter per column in Python), or, for a float JSON cannot
        spell, a column's values as one array parameter (``unnest``). SQLite: multi-row
        ``VALUES`` statements of a few hundred rows (inserted in the order given, so their ids
        are the ones one statement per row gives)."""
        rows = self.rows(table, columns, values)
        if not rows:
            return []
        tail = self._ignoring_tail(key, returning)
        found = (
            self._postgres_insert_ignoring(table, columns, rows, tail)
            if self.postgres
            else self._sqlite_insert_ignoring(table, columns, rows, tail)
        )
        if isinstance(returning, str):
            return [r[0] for r in found]
        return [tuple(r) for r in found]

    def _ignoring_tail(self, key: str | Sequence[str], returning: str | Sequence[str]) -> str:
        """``ON CONFLICT (key) DO NOTHING RETURNING returning``."""
        keys = [key] if isinstance(key, str) else key
        out = [returning] if isinstance(returning, str) else returning
        return (
            f"ON CONFLICT ({', '.join(self.name(k) for k in keys)}) DO NOTHING "
            f"RETURNING {', '.join(self.name(c) for c in out)}"
        )

    def _postgres_insert_ignoring(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], tail: str
    ) -> list[Any]:
        """PostgreSQL: ``insert_ignoring_returning``'s one statement; the rows it returned."""
        names = ", ".join(self.name(c) for c in columns)
        compiled = [table.c[c].type.compile(dialect=self.dialect) for c in columns]
        if _json_exact(rows):
            # Text read as text, then cast as the arrays' elements are (an explicit cast).
            kinds = [table.c[c].type for c in columns]
            declared = ", ".join(
                f"v{i} {'text' if isinstance(k, JSON | String) else compiled[i]}"
                for i, k in enumerate(kinds)
            )
            cast = ", ".join(f"v{i}::{kind}" for i, kind in enumerate(compiled))
            fields = ", ".join(f"v{i}" for i in range(len(columns)))
            found = self.session.connection().exec_driver_sql(
                f"INSERT INTO {self.name(table.name)} ({names}) SELECT {cast} "
                f"FROM ROWS FROM (json_to_recordset(%s::json) AS ({declared})) "
                f"WITH ORDINALITY AS v({fields}, n) ORDER BY n {tail}",
                (_json_document(rows),),
            )
            return list(found)
        arrays = ", ".join(f"%s::{kind}[]" for kind in compiled)
        fields = ", ".join(f"v{i}" for i in range(len(columns)))
        sql = (
            f"INSERT INTO {self.name(table.name)} ({names}) SELECT {fields} "
            f"FROM unnest({arrays}) WITH ORDINALITY AS v({fields}, n) ORDER BY n {tail}"
        )
        params = [list(column) for column in zip(*rows, strict=True)]
        return list(self.session.connection().exec_driver_sql(sql, tuple(params)))

    def _sqlite_insert_ignoring(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], tail: str
    ) -> list[Any]:
        names = ", ".join(self.name(c) for c in columns)
        marks = f"({self.marks(len(columns))})"
        conn = self.session.connection()
        found: list[Any] = []
        for chunk in self._chunks(rows, len(columns)):
            sql = (
                f"INSERT INTO {self.name(table.name)} ({names}) VALUES "
                + ", ".join([marks] * len(chunk))
                + f" {tail}"
            )
            found.extend(conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk))))
        return found

    def update(
        self,
        table: Table,
        columns: Sequence[str],
        key: str,
        values: Iterable[Sequence[Any]],
        *,
        added: Sequence[str] = (),
    ) -> int:
        """Update rows by ``key``: each row of ``values`` holds the new values of ``columns``,
        then the amounts to add to ``added`` (deltas in SQL, never a value read earlier), then
        its key; returns how many rows were given.

        With distinct keys the rows go set-wise: on PostgreSQL one ``UPDATE ... FROM
        json_to_recordset(%s)`` whatever their number (one JSON document written by orjson:
        the server plans one statement, the driver adapts one parameter, instead of a bind and
        an execute per row); on SQLite, a table with triggers a few hundred rows a statement.
        Otherwise (or on PostgreSQL a float JSON cannot spell: NaN, infinities) one prepared
        statement run over the rows by the driver (a key given twice is updated twice)."""
        names = [*columns, *added, key]
        rows = self.rows(table, names, values)
        if not rows:
            return 0
        distinct = len({row[-1] for row in rows}) == len(rows)
        if distinct and self.postgres and _json_exact(rows):
            self._postgres_update_json(table, columns, key, rows, added)
        elif distinct and not self.postgres and _UPDATE_FROM and self._has_triggers(table):
            self._sqlite_update_from(table, columns, key, rows, added)
        else:
            mark = self.marks(1)
            sets = [f"{self.name(c)} = {mark}" for c in columns]
            sets += [f"{self.name(c)} = {self.name(c)} + {mark}" for c in added]
            self.executemany(
                f"UPDATE {self.name(table.name)} SET {', '.join(sets)} "
                f"WHERE {self.name(key)} = {mark}",
                rows,
            )
        return len(rows)

    def _postgres_update_json(
        self,
        table: Table,
        columns: Sequence[str],
        key: str,
        rows: list[tuple[Any, ...]],
        added: Sequence[str] = (),
    ) -> None:
        """PostgreSQL: ``update``'s rows in one statement from one JSON document (``added``
        as deltas on the row's own value). A JSON column's value travels as its text (what
        ``rows`` encoded) and is cast back, so the stored text is the one the other writes
        store."""
        name = self.name(table.name)
        fields = [*columns, *added, key]
        declared, cast = self._recordset(table, fields)
        sets = [f"{self.name(c)} = {cast[i]}" for i, c in enumerate(columns)]
        sets += [
            f"{self.name(c)} = {name}.{self.name(c)} + {cast[i]}"
            for i, c in enumerate(added, start=len(columns))
        ]
        sql = (
            f"UPDATE {name} SET {', '.join(sets)} FROM json_to_recordset(%s::json) AS "
            f"v({declared}) WHERE {name}.{self.name(key)} = {cast[-1]}"
        )
        self.session.connection().exec_driver_sql(sql, (_json_document(rows),))

    def _recordset(self, table: Table, fields: Sequence[str]) -> tuple[str, list[str]]:
        """PostgreSQL: the column list of ``json_to_recordset(...) AS v(...)`` for ``fields``
        (``v0``, ``v1``, ...: JSON columns as text) and each field's value as SQL (``v.v0``,
        JSON cast back from its text)."""
        kinds = [table.c[c].type for c in fields]
        declared = ", ".join(
            f"v{i} {'text' if isinstance(k, JSON) else k.compile(dialect=self.dialect)}"
            for i, k in enumerate(kinds)
        )
        cast = [f"v.v{i}" + ("::json" if isinstance(k, JSON) else "") for i, k in enumerate(kinds)]
        return declared, cast

    def upsert(
        self,
        table: Table,
        columns: Sequence[str],
        keys: Sequence[str],
        conflict: str,
        values: Iterable[Sequence[Any]],
    ) -> int:
        """Insert the rows (values in ``columns`` order), a row whose ``keys`` are taken doing
        ``conflict`` instead (``ON CONFLICT (keys) ...``: SQL that may name ``excluded`` and
        the table); returns how many rows were given. On PostgreSQL, rows with distinct keys
        go in one ``INSERT ... SELECT FROM json_to_recordset(%s)`` (a row is inserted or
        updated once either way: the same rows result); otherwise one prepared statement run
        over the rows by the driver, in their order."""
        rows = self.rows(table, columns, values)
        if not rows:
            return 0
        names = ", ".join(self.name(c) for c in columns)
        target = f"{self.name(table.name)} ({names})"
        on_conflict = f"ON CONFLICT ({', '.join(self.name(k) for k in keys)}) {conflict}"
        at = [columns.index(k) for k in keys]
        distinct = len({tuple(row[i] for i in at) for row in rows}) == len(rows)
        if self.postgres and distinct and _json_exact(rows):
            declared, cast = self._recordset(table, columns)
            self.session.connection().exec_driver_sql(
                f"INSERT INTO {target} SELECT {', '.join(cast)} FROM json_to_recordset(%s::json)"
                f" AS v({declared}) {on_conflict}",
                (_json_document(rows),),
            )
        else:
            self.executemany(
                f"INSERT INTO {target} VALUES ({self.marks(len(columns))}) {on_conflict}", rows
            )
        return len(rows)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement with positional parameters (``marks``) over the rows."""
        if rows:
            self.session.connection().exec_driver_sql(sql, rows)

    def _has_triggers(self, table: Table) -> bool:
        """SQLite: whether a trigger fires on a write of ``table`` (read once per writer)."""
        found = self._triggered.get(table.name)
        if found is None:
            row = (
                self.session.connection()
                .exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                    (table.name,),
                )
                .first()
            )
            found = self._triggered[table.name] = row is not None
        return found

    def _sqlite_insert(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """SQLite: one prepared statement over the rows, or for a table with triggers
        multi-row statements (one statement journal per statement, not per row)."""
        if not self._has_triggers(table):
            self.executemany(self._insert_sql(table, columns), rows)
            return
        names = ", ".join(self.name(c) for c in columns)
        row_marks = f"({self.marks(len(columns))})"
        conn = self.session.connection()
        for chunk in self._chunks(rows, len(columns)):
            conn.exec_driver_sql(
                f"INSERT INTO {self.name(table.name)} ({names}) VALUES "
                + ", ".join([row_marks] * len(chunk)),
                tuple(chain.from_iterable(chunk)),
            )

    def _sqlite_update_from(
        self,
        table: Table,
        columns: Sequence[str],
        key: str,
        rows: list[tuple[Any, ...]],
        added: Sequence[str],
    ) -> None:
        """SQLite: ``update``'s rows a few hundred a statement, joined from ``VALUES`` (a
        row's values in the columns ``v0``, ``v1``, ... of ``v``, in the order ``update``
        takes them). The keys must be distinct: a row is updated once, from one row of ``v``."""
        width = len(columns) + len(added) + 1
        fields = [f"v{i}" for i in range(width)]
        target = self.name(table.name)
        sets = [f"{self.name(c)} = v.{f}" for c, f in zip(columns, fields, strict=False)]
        sets += [
            f"{self.name(c)} = {target}.{self.name(c)} + v.{f}"
            for c, f in zip(added, fields[len(columns) :], strict=False)
        ]
        row_marks = f"({self.marks(width)})"
        conn = self.session.connection()
        for chunk in self._chunks(rows, width):
            conn.exec_driver_sql(
                f"WITH v({', '.join(fields)}) AS (VALUES "
                + ", ".join([row_marks] * len(chunk))
                + f") UPDATE {target} SET {', '.join(sets)} FROM v "
                f"WHERE {target}.{self.name(key)} = v.{fields[-1]}",
                tuple(chain.from_iterable(chunk)),
            )

    def _chunks(self, rows: list[tuple[Any, ...]], width: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows in slices of at most :data:`_MAX_ROWS`, within SQLite's limit of
        parameters in one statement."""
        raw = self.session.connection().connection.driver_connection
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if raw is not None else 999
        size = max(1, min(_MAX_ROWS, limit // width))
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    def _insert_sql(self, table: Table, columns: Sequence[str]) -> str:
        names = ", ".join(self.name(c) for c in columns)
        return f"INSERT INTO {self.name(table.name)} ({names}) VALUES ({self.marks(len(columns))})"

    def _next_ids(self, table: Table, n: int) -> list[int]:
        """``n`` ids from the table's sequence (PostgreSQL), ascending: the sequence looked up
        once (a subquery: not per row, as a function of the row's arguments would be), the ids
        sent back as one array."""
        found = (
            self.session.connection()
            .exec_driver_sql(
                "SELECT array_agg(nextval((SELECT pg_get_serial_sequence(%s, 'id'))::regclass)) "
                "FROM generate_series(1, %s)",
                (table.name, n),
            )
            .scalar_one()
        )
        return sorted(int(pk) for pk in found)

    def _copy(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        raw = self.session.connection().connection.driver_connection
        assert raw is not None
        names = ", ".join(self.name(c) for c in columns)
        # The binary format where every value allows it (``copy_binary``), else text.
        kinds = binary_types(table, columns, rows, self.dialect)
        sql = f"COPY {self.name(table.name)} ({names}) FROM STDIN"
        if kinds is not None:
            sql += " (FORMAT BINARY)"
        with self._driver_errors(sql), raw.cursor() as cursor, cursor.copy(sql) as copy:
            if kinds is not None:
                copy.set_types(kinds)
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

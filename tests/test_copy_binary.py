"""PostgreSQL's binary ``COPY`` (``store/copy_binary.py``): taken only for values whose binary
form is their column's value, and storing, column for column, the text the text format stores."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from triagehub.store.bulk import BulkWriter
from triagehub.store.copy_binary import binary_types
from triagehub.store.tables import UTCDateTime

PG = postgresql.dialect()  # type: ignore[no-untyped-call]
META = MetaData()
SAMPLE = Table(
    "copy_sample",
    META,
    Column("id", Integer, primary_key=True),
    Column("small", SmallInteger),
    Column("number", Integer),
    Column("big", BigInteger),
    Column("ratio", Float),
    Column("flag", Boolean),
    Column("at", UTCDateTime),
    Column("label", String(40)),
    Column("body", Text),
    Column("doc", JSON),
)
COLUMNS = [c.name for c in SAMPLE.columns if c.name != "id"]
PLUS_TWO = timezone(timedelta(hours=2))
MINUS_HALF = timezone(-timedelta(hours=3, minutes=30))
AWKWARD = 'it\'s "quoted" \\N back\\slash\ttab\nline\r\x0b\x0c\x08 two — é ✓ 😀 \\.'
FLOATS = [0.1, 1.25, -0.0, 5e-324, 1.7976931348623157e308, 1e-300, 2 / 3, math.nan, math.inf]


def sample_rows() -> list[list[Any]]:
    """Rows of awkward values: text with escapes and non-ASCII, NULL and the empty string,
    extreme ints and floats, times in other zones and naive ones (taken as UTC), JSON."""
    rows: list[list[Any]] = []
    for n, ratio in enumerate(FLOATS):
        rows.append(
            [
                (-(2**15), 2**15 - 1, n)[n % 3],
                (-(2**31), 2**31 - 1, n)[n % 3],
                (-(2**63), 2**63 - 1, n)[n % 3],
                ratio,
                n % 2 == 0,
                [
                    datetime(2026, 11, 10, 6, 0, 0, n, tzinfo=UTC),
                    datetime(2026, 3, 29, 1, 30, tzinfo=PLUS_TWO),
                    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=MINUS_HALF),
                    datetime(2026, 11, 10, 5, 59, 58, 123456),
                ][n % 4],
                ["", AWKWARD[:40], "plain", "ünïcødé"][n % 4],
                [AWKWARD, "", AWKWARD * 50, "a\\b"][n % 4],
                [{"k": AWKWARD, "n": [1, 2.5, None, True]}, [], {}, "text"][n % 4],
            ]
        )
    rows.append([None] * len(COLUMNS))
    return rows


@pytest.fixture
def pg_session(postgres_server_url: str) -> Iterator[Session]:
    engine = sa.create_engine(postgres_server_url)
    META.create_all(engine)
    try:
        with Session(engine) as session:
            yield session
            session.rollback()
    finally:
        META.drop_all(engine)
        engine.dispose()


def stored_text(session: Session, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    listed = ", ".join(f"{c}::text" for c in COLUMNS)
    sql = f"SELECT {listed} FROM copy_sample WHERE id = ANY(%s) ORDER BY id"
    return [tuple(r) for r in session.connection().exec_driver_sql(sql, (list(ids),))]


@pytest.mark.postgres
def test_binary_copy_stores_what_text_copy_stores(pg_session: Session) -> None:
    bulk = BulkWriter(pg_session)
    rows = sample_rows()
    encoded = bulk.rows(SAMPLE, COLUMNS, rows)
    assert binary_types(SAMPLE, COLUMNS, encoded, PG) is not None  # the binary path is taken
    binary_ids = bulk.insert_returning_ids(SAMPLE, COLUMNS, rows)
    # The text format, as every COPY went before: write_row of the same encoded values.
    text_ids = list(range(max(binary_ids) + 1, max(binary_ids) + 1 + len(rows)))
    raw = pg_session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        sql = f"COPY copy_sample (id, {', '.join(COLUMNS)}) FROM STDIN"
        with cursor.copy(sql) as copy:
            for pk, row in zip(text_ids, encoded, strict=True):
                copy.write_row((pk, *row))
    got, expect = stored_text(pg_session, binary_ids), stored_text(pg_session, text_ids)
    assert got == expect
    assert len(got) == len(rows)
    float_bytes = "SELECT float8send(ratio) FROM copy_sample WHERE id = ANY(%s) ORDER BY id"
    conn = pg_session.connection()
    assert [r[0] for r in conn.exec_driver_sql(float_bytes, (binary_ids,))] == [
        r[0] for r in conn.exec_driver_sql(float_bytes, (text_ids,))
    ]


def plain_row() -> list[Any]:
    at = datetime(2026, 11, 10, tzinfo=UTC)
    return [1, 2, 3, 0.5, True, at, "label", "body", "{}"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("small", 2**15),  # out of the column's range
        ("number", -(2**31) - 1),
        ("big", 2**63),
        ("number", True),  # a bool where an int goes
        ("ratio", 1),  # an int where a float goes
        ("at", datetime(2026, 11, 10)),  # naive: read in the session's zone as text
        ("label", "nul \x00 inside"),  # refused by psycopg as text
        ("doc", {"a": 1}),  # not encoded yet
        ("body", 3),
    ],
)
def test_values_without_an_exact_binary_form_go_as_text(column: str, value: Any) -> None:
    row = plain_row()
    assert binary_types(SAMPLE, COLUMNS, [row, row], PG) is not None
    row[COLUMNS.index(column)] = value
    assert binary_types(SAMPLE, COLUMNS, [plain_row(), row], PG) is None


def test_binary_types_follow_the_columns() -> None:
    assert binary_types(SAMPLE, COLUMNS, [plain_row()], PG) == [
        "int2",
        "int4",
        "int8",
        "float8",
        "bool",
        "timestamptz",
        "text",
        "text",
        "text",
    ]
    nulls = [None] * len(COLUMNS)
    assert binary_types(SAMPLE, COLUMNS, [nulls], PG) == ["text"] * len(COLUMNS)
    assert binary_types(SAMPLE, COLUMNS, [plain_row()[:-1]], PG) is None  # a short row
    assert binary_types(SAMPLE, COLUMNS, [], PG) is None

"""``BulkWriter.rows`` (one encoder per table and columns, times through the writer's
cache) encodes each value as the former value-by-value encoding did, kept here as the
reference; ``sqlite_time`` gives the text it gave. What the database then stores from those
values is ``tests/test_bulk.py``'s."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import JSON, Engine, Table
from sqlalchemy.orm import Session

from triagehub.store import bulk as bulk_module
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter, data_columns
from triagehub.store.tables import UTCDateTime, as_utc, sqlite_time

ZONES: list[tzinfo | None] = [
    None,
    UTC,
    timezone(timedelta(0)),
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5, minutes=-30)),
    timezone(timedelta(seconds=30)),
    ZoneInfo("UTC"),
    ZoneInfo("Europe/Paris"),
]
AWKWARD = 'it\'s "quoted" \\N back\\slash\ttab\nline two — é ✓ \\.'


def former_sqlite_time(value: datetime) -> str:
    """``sqlite_time`` as it was: a naive copy of the UTC time, then its text."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _time(convert: Callable[[datetime], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def _json(none_as_null: bool) -> Callable[[Any], Any]:
    return lambda v: None if v is None and none_as_null else json.dumps(v)


def former_rows(
    postgres: bool, table: Table, columns: list[str], values: list[list[Any]]
) -> list[tuple[Any, ...]]:
    """The former encoding: each value of each row through its column type's encoder."""
    encoders: list[Callable[[Any], Any] | None] = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, UTCDateTime):
            encoders.append(_time(as_utc if postgres else former_sqlite_time))
        elif isinstance(kind, JSON):
            encoders.append(_json(kind.none_as_null))
        else:
            encoders.append(None)
    return [
        tuple(v if e is None else e(v) for v, e in zip(row, encoders, strict=True))
        for row in values
    ]


def some_times(rng: random.Random, n: int) -> list[datetime | None]:
    found: list[datetime | None] = [None]
    for _ in range(n):
        at = datetime(1, 1, 2) + timedelta(microseconds=rng.randrange(9998 * 365 * 86400 * 10**6))
        if rng.random() < 0.3:
            at = at.replace(microsecond=0)
        found.append(at.replace(tzinfo=rng.choice(ZONES)))
    return found


def test_sqlite_time_gives_the_text_it_gave() -> None:
    rng = random.Random(24)
    for at in some_times(rng, 20_000):
        if at is not None:
            assert sqlite_time(at) == former_sqlite_time(at), at


def documents(rng: random.Random) -> list[Any]:
    return [None, [], {}, ["trace.zip", AWKWARD], {"k": None, "n": [1, 2.5, True]}, [[]], 0, ""]


def test_rows_are_encoded_as_value_by_value(engine: Engine) -> None:
    """Occurrences, the timeline, the runs and the checks' history (times, JSON documents
    with and without SQL NULL, NULLs), as the former encoding gave them, with and without ids."""
    rng = random.Random(7)
    times = some_times(rng, 300)
    docs = documents(rng)
    with Session(engine) as session:
        writer = BulkWriter(session)
        postgres = session.get_bind().dialect.name == "postgresql"
        for table in (t.occurrences, t.issue_events, t.runs, t.check_stats, t.issues):
            columns = list(data_columns(table))
            values = []
            for n in range(400):
                row: list[Any] = []
                for name in columns:
                    kind = table.c[name].type
                    if isinstance(kind, UTCDateTime):
                        row.append(rng.choice(times))
                    elif isinstance(kind, JSON):
                        row.append(rng.choice(docs))
                    else:
                        row.append(rng.choice([n, AWKWARD, None, 2.5]))
                values.append(row)
            expect = former_rows(postgres, table, columns, values)
            for _ in range(2):  # the second time from the cached encoders
                assert writer.rows(table, columns, values) == expect
                assert writer.rows(table, columns, iter(values)) == expect
            ids = list(range(10, 10 + len(values)))
            with_ids = [(pk, *row) for pk, row in zip(ids, expect, strict=True)]
            assert writer._rows(table, columns, values, ids) == with_ids
        assert writer.rows(t.occurrences, list(data_columns(t.occurrences)), []) == []


def test_a_row_of_another_width_is_refused(engine: Engine) -> None:
    with Session(engine) as session:
        writer = BulkWriter(session)
        columns = ["issue_id", "kind", "at"]
        with pytest.raises(ValueError, match="values for 3 columns"):
            writer.rows(t.issue_events, columns, [(1, "created", None, "more")])
        with pytest.raises(ValueError, match="values for 3 columns"):
            writer.rows(t.issue_events, columns, [(1, "created")])
        with pytest.raises(ValueError, match="zip"):
            writer._rows(t.issue_events, columns, [(1, "created", None)], [1, 2])


def test_the_writers_times_stay_few(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache of encoded times is emptied past its size: a long ingest holds no more."""
    monkeypatch.setattr(bulk_module, "_MAX_TIMES", 8)
    with Session(engine) as session:
        writer = BulkWriter(session)
        postgres = session.get_bind().dialect.name == "postgresql"
        start = datetime(2026, 11, 10, tzinfo=UTC)
        values = [[start + timedelta(seconds=n)] for n in range(100)]
        got = writer.rows(t.issue_events, ["at"], values)
        assert got == former_rows(postgres, t.issue_events, ["at"], values)
        assert len(writer._times) <= 10

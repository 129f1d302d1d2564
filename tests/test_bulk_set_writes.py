"""The ingest's set-wise writes on PostgreSQL (``store/bulk.py``): an update with counters added
(the issues of a batch) and an upsert (the issues' checks) go in one statement from one JSON
document, not a bind and an execute per row, and store exactly what the statement per row
stores, on both backends; rows a set-wise statement cannot take (a key given twice, a float
JSON cannot spell) still go one by one."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session

from test_bulk import AWKWARD, PLUS_TWO, T0, parents, stored
from triagehub.store import grouping
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter

# Floats whose JSON text must read back as the same float (the smallest and largest too).
FLOATS = (0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, 2.5)
UPSERT_SQL = (
    "DO UPDATE SET occurrences = issue_checks.occurrences + excluded.occurrences, "
    "first_seen = {least}(issue_checks.first_seen, excluded.first_seen), "
    "last_seen = {greatest}(issue_checks.last_seen, excluded.last_seen)"
)
CHECK_COLUMNS = ("issue_id", "check_id", "first_seen", "last_seen", "occurrences")


class Statements:
    """The statements the session's connection sends, each with whether it went as the
    driver's ``executemany``."""

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()
        self.sent: list[tuple[str, bool]] = []
        event.listen(self.conn, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        self.sent.append((sql, many))

    def close(self) -> None:
        event.remove(self.conn, "before_cursor_execute", self._seen)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session, session.begin():
        yield session


def _issues(session: Session, n: int) -> list[int]:
    """``n`` copies of the ingest's issue (other fingerprints), ids ascending."""
    first = parents(session)["issue"]
    row = dict(session.execute(select(t.issues).where(t.issues.c.id == first)).mappings().one())
    del row["id"]
    rows = [{**row, "fingerprint": f"copy-{i}"} for i in range(n)]
    return sorted(session.execute(insert(t.issues).returning(t.issues.c.id), rows).scalars())


def _changes(k: int) -> dict[str, Any]:
    """The k-th issue's new values: awkward text, floats, times in another zone and naive,
    NULLs and JSON."""
    return {
        "title": f"{AWKWARD} {k}",
        "confidence": FLOATS[k % len(FLOATS)],
        "escalate_after_hours": None if k % 2 else FLOATS[(k + 1) % len(FLOATS)],
        "last_seen": T0.astimezone(PLUS_TWO) + timedelta(seconds=k, microseconds=7),
        "sla_due_at": None if k % 3 else (T0 + timedelta(hours=k)).replace(tzinfo=None),
        "labels": [AWKWARD, k, {"k": None}],
        "pattern_id": None,
    }


def test_an_update_adding_to_counters_is_stored_as_one_statement_per_row_stores_it(
    session: Session,
) -> None:
    """``update(..., added=...)``: the same columns set and the same counters added as
    SQLAlchemy's ``UPDATE ... SET occurrences = occurrences + n`` per row; on PostgreSQL in one
    statement (``json_to_recordset``), not the driver's ``executemany``."""
    n = len(FLOATS)
    ids = _issues(session, 2 * n)
    core, bulk_ids = ids[:n], ids[n:]
    c = t.issues.c
    for k, pk in enumerate(core):
        values = {**_changes(k), "occurrences": c.occurrences + (k + 1)}
        session.execute(update(t.issues).where(c.id == pk).values(**values))
    fields = list(_changes(0))
    given = [[*_changes(k).values(), k + 1, pk] for k, pk in enumerate(bulk_ids)]
    sent = Statements(session)
    try:
        bulk = BulkWriter(session)
        assert bulk.update(t.issues, fields, "id", given, added=("occurrences",)) == n
    finally:
        sent.close()
    if session.get_bind().dialect.name == "postgresql":
        assert len(sent.sent) == 1
        assert "json_to_recordset" in sent.sent[0][0] and not sent.sent[0][1]
    names = [col.name for col in t.issues.columns if col.name != "id"]
    skip = names.index("fingerprint")
    expect = [r[:skip] + r[skip + 1 :] for r in stored(session, t.issues, core, "id")]
    got = [r[:skip] + r[skip + 1 :] for r in stored(session, t.issues, bulk_ids, "id")]
    assert got == expect
    titles = {r[names.index("title")] for r in stored(session, t.issues, bulk_ids, "id")}
    assert len(titles) == n  # each row got its own values


def test_a_float_json_cannot_spell_is_updated_row_by_row(session: Session) -> None:
    """PostgreSQL: NaN and the infinities have no JSON text (orjson writes ``null``): such
    rows are updated one by one, and the database keeps the float itself."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite stores NaN as NULL whatever the statement")
    ids = _issues(session, 3)
    given = [[v, 1, pk] for v, pk in zip((math.nan, math.inf, 1.5), ids, strict=True)]
    sent = Statements(session)
    try:
        BulkWriter(session).update(t.issues, ["confidence"], "id", given, added=("occurrences",))
    finally:
        sent.close()
    assert [many for _, many in sent.sent] == [True]
    c = t.issues.c
    got = session.execute(select(c.confidence).where(c.id.in_(ids)).order_by(c.id)).scalars()
    first, second, third = list(got)
    assert math.isnan(first) and second == math.inf and third == 1.5


def _check_rows(session: Session) -> tuple[list[int], list[int], list[tuple[Any, ...]]]:
    """Two issues with the same checks (check 0 and 1 listed already, 2 and 3 not), and the
    rows of a batch: per check, (check, first seen, last seen, occurrences)."""
    checks = parents(session)["checks"]
    issues = _issues(session, 2)
    hour = timedelta(hours=1)
    for pk in issues:
        session.execute(
            insert(t.issue_checks),
            [
                {"issue_id": pk, "check_id": checks[i], "first_seen": T0, "last_seen": T0 + hour}
                | {"occurrences": 3}
                for i in (0, 1)
            ],
        )
    batch = [
        (checks[0], T0 - hour, T0, 2),  # an earlier first time
        (checks[1], T0 + hour, T0 + 5 * hour, 1),  # a later last time
        (checks[2], (T0 + hour).astimezone(PLUS_TWO), T0 + 2 * hour, 4),
        (checks[3], T0, T0, 1),
    ]
    return issues, checks, batch


def _upsert_sql(bulk: BulkWriter) -> str:
    least, greatest = ("least", "greatest") if bulk.postgres else ("min", "max")
    return UPSERT_SQL.format(least=least, greatest=greatest)


def test_an_upsert_is_stored_as_one_statement_per_row_stores_it(session: Session) -> None:
    """``upsert``: rows inserted, or their counters added to, as ``INSERT ... VALUES (row)
    ON CONFLICT ...`` run once per row stores them; on PostgreSQL in one statement."""
    (one, other), _, batch = _check_rows(session)
    bulk = BulkWriter(session)
    conflict = _upsert_sql(bulk)
    bulk.executemany(
        f"INSERT INTO issue_checks ({', '.join(CHECK_COLUMNS)}) "
        f"VALUES ({bulk.marks(len(CHECK_COLUMNS))}) ON CONFLICT (issue_id, check_id) {conflict}",
        bulk.rows(t.issue_checks, CHECK_COLUMNS, [(one, *r) for r in batch]),
    )
    sent = Statements(session)
    try:
        rows = [(other, *r) for r in batch]
        assert bulk.upsert(t.issue_checks, CHECK_COLUMNS, CHECK_COLUMNS[:2], conflict, rows) == 4
        assert bulk.upsert(t.issue_checks, CHECK_COLUMNS, CHECK_COLUMNS[:2], conflict, []) == 0
    finally:
        sent.close()
    if bulk.postgres:
        assert len(sent.sent) == 1
        assert "json_to_recordset" in sent.sent[0][0] and not sent.sent[0][1]
    ic = t.issue_checks.c
    columns = (ic.check_id, ic.first_seen, ic.last_seen, ic.occurrences)

    def listed(pk: int) -> list[tuple[Any, ...]]:
        query = select(*columns).where(ic.issue_id == pk).order_by(ic.check_id)
        return [tuple(r) for r in session.execute(query)]

    assert listed(other) == listed(one)
    assert [r[-1] for r in listed(other)] == [5, 4, 4, 1]


def test_an_upsert_with_a_key_twice_goes_row_by_row(session: Session) -> None:
    """A key given twice: one statement could not update the row twice, so the rows go one
    by one, in order (the second adds to what the first wrote)."""
    (pk, _), checks, batch = _check_rows(session)
    bulk = BulkWriter(session)
    twice = [(pk, *batch[2]), (pk, *batch[2])]
    sent = Statements(session)
    try:
        bulk.upsert(t.issue_checks, CHECK_COLUMNS, CHECK_COLUMNS[:2], _upsert_sql(bulk), twice)
    finally:
        sent.close()
    assert [many for _, many in sent.sent] == [True]
    ic = t.issue_checks.c
    where = (ic.issue_id == pk) & (ic.check_id == checks[2])
    assert session.execute(select(ic.occurrences).where(where)).scalar_one() == 8


def _job(key: str, k: int) -> dict[str, Any]:
    return {
        "kind": "notify",
        "key": key,
        "data": {"text": f"{AWKWARD} {k}", "n": 2**53 + k, "none": None, "list": [k, "é"]},
        "status": "pending",
        "attempts": k,
        "next_try_at": T0.astimezone(PLUS_TWO) + timedelta(microseconds=k),
        "last_error": None if k % 2 else AWKWARD,
        "created_at": (T0 + timedelta(seconds=k)).replace(tzinfo=None),
        "updated_at": T0,
    }


def test_an_insert_ignoring_taken_keys_is_stored_as_sqlalchemy_stores_it(
    session: Session,
) -> None:
    """``insert_ignoring_returning``: the rows whose key is free (not taken before, nor by an
    earlier row of the call) are inserted in the order given, stored as SQLAlchemy stores
    them, and their keys returned in that order; on PostgreSQL in one statement."""
    c = t.jobs.c
    session.execute(insert(t.jobs), [_job("taken", 0)])
    core = sorted(
        session.execute(
            insert(t.jobs).returning(c.id), [_job(f"core-{k}", k) for k in range(1, 5)]
        ).scalars()
    )
    keys = ["b-1", "taken", "b-2", "b-1", "b-3", "b-4"]
    given = [_job(key, k) for key, k in zip(keys, (1, 9, 2, 9, 3, 4), strict=True)]
    columns = list(given[0])
    sent = Statements(session)
    try:
        bulk = BulkWriter(session)
        got = bulk.insert_ignoring_returning(
            t.jobs, columns, [[r[col] for col in columns] for r in given], "key", "key"
        )
    finally:
        sent.close()
    assert got == ["b-1", "b-2", "b-3", "b-4"]
    if bulk.postgres:
        assert len(sent.sent) == 1 and "json_to_recordset" in sent.sent[0][0]
    made = session.execute(select(c.id).where(c.key.like("b-%")).order_by(c.key)).scalars()
    ids = list(made)
    assert ids == sorted(ids)  # ids follow the order given
    names = [col.name for col in t.jobs.columns if col.name != "id"]
    skip = names.index("key")
    expect = [r[:skip] + r[skip + 1 :] for r in stored(session, t.jobs, core, "id")]
    assert [r[:skip] + r[skip + 1 :] for r in stored(session, t.jobs, ids, "id")] == expect


def test_an_insert_ignoring_with_a_float_json_cannot_spell_keeps_it(session: Session) -> None:
    """PostgreSQL: rows holding NaN go as arrays (``unnest``), and the database keeps NaN."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite stores NaN as NULL whatever the statement")
    first = _issues(session, 1)[0]
    row = dict(session.execute(select(t.issues).where(t.issues.c.id == first)).mappings().one())
    del row["id"]
    columns = list(row)
    values = [[{**row, "fingerprint": "nan", "confidence": math.nan}[col] for col in columns]]
    sent = Statements(session)
    try:
        got = BulkWriter(session).insert_ignoring_returning(
            t.issues, columns, values, "fingerprint", "confidence"
        )
    finally:
        sent.close()
    assert len(got) == 1 and math.isnan(got[0])
    assert len(sent.sent) == 1 and "unnest" in sent.sent[0][0]


def test_the_bands_of_patterns_are_inserted_once_each(session: Session) -> None:
    """``insert_bands``: a band stored already is left, the others inserted; on PostgreSQL in
    one statement; a band given twice in a call goes in once."""
    made = grouping.insert_patterns(
        session=session,
        rows=[
            {
                "key": key,
                "normalizer_version": 2,
                "template": f"{key} <num>",
                "template_hash": key,
                "issues_count": 1,
                "occurrences": 1,
                "first_seen": T0,
                "last_seen": T0,
                "created_at": T0,
                "updated_at": T0,
            }
            for key in ("a", "b")
        ],
    )
    grouping.insert_bands(session=session, rows=[{"band": "0:x", "pattern_id": made["a"]}])
    rows = [
        {"band": band, "pattern_id": made[key]}
        for band, key in (("0:x", "a"), ("0:x", "b"), ("1:y", "a"), ("1:y", "b"))
    ]
    sent = Statements(session)
    try:
        grouping.insert_bands(session=session, rows=rows)
        grouping.insert_bands(session=session, rows=rows[:1] * 2)
    finally:
        sent.close()
    if session.get_bind().dialect.name == "postgresql":
        assert "json_to_recordset" in sent.sent[0][0] and not sent.sent[0][1]
    b = t.pattern_bands.c
    got = session.execute(select(b.band, b.pattern_id).order_by(b.band, b.pattern_id)).all()
    assert [tuple(r) for r in got] == sorted((r["band"], r["pattern_id"]) for r in rows)

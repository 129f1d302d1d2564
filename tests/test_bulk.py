"""The ingest's bulk writes (``store/bulk.py``: COPY on PostgreSQL, the driver's executemany on
SQLite) store exactly what SQLAlchemy's own inserts store, on both backends; the pattern counters
of one batch add up in one statement; an ingest keeps no report past its batch."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import Ingestor
from triagehub.engine.ingest.state import MAX_LINKS
from triagehub.store import grouping
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=1))
PLUS_TWO = timezone(timedelta(hours=2))
# Text that COPY and JSON must carry unchanged: quotes, backslashes, tabs, new lines, non-ASCII.
AWKWARD = 'it\'s "quoted" \\N back\\slash\ttab\nline two — é ✓ \\.'


def report(run_id: str, statuses: Sequence[str], at: datetime = T0) -> RunReport:
    return RunReport(
        source="generic",
        repository="acme/app",
        run_id=run_id,
        finished_at=at,
        results=tuple(
            CheckResult(f"tests/test_{n}.py::t", Status(s), f"AssertionError: {n} != {n + 1}")
            for n, s in enumerate(statuses)
        ),
    )


def parents(session: Session) -> dict[str, Any]:
    """A repository, runs r1..r3, checks c0..c5 and an issue, made by an ingest."""
    ingestor = Ingestor(session, Settings(), clock=CLOCK)
    for n in range(1, 4):
        ingestor.add(report(f"r{n}", ["fail", "pass", "pass", "pass", "pass", "pass"]))
    ingestor.flush()
    runs = session.execute(select(t.runs.c.id).order_by(t.runs.c.id)).scalars().all()
    checks = session.execute(select(t.checks.c.id).order_by(t.checks.c.id)).scalars().all()
    return {
        "repo": session.execute(select(t.repositories.c.id)).scalar_one(),
        "runs": runs,
        "checks": checks,
        "issue": session.execute(select(t.issues.c.id)).scalar_one(),
    }


def stored(session: Session, table: Table, ids: Sequence[Any], key: str) -> list[tuple[Any, ...]]:
    """The rows as the database keeps them (PostgreSQL: each column as its text), by ``key``."""
    columns = [c.name for c in table.columns if c.name != "id"]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        listed = ", ".join(f'"{c}"::text' for c in columns)
        # ``x.key``: a bare name would sort by the output column, the key's text.
        sql = f"SELECT {listed} FROM {table.name} x WHERE x.{key} = ANY(%s) ORDER BY x.{key}"
        return [tuple(r) for r in conn.exec_driver_sql(sql, (list(ids),))]
    listed = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(ids))
    sql = f"SELECT {listed} FROM {table.name} WHERE {key} IN ({marks}) ORDER BY {key}"
    return [tuple(r) for r in conn.exec_driver_sql(sql, tuple(ids))]


def assert_stored_alike(
    session: Session,
    table: Table,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    differ: str,
) -> None:
    """``first`` inserted by SQLAlchemy and ``second`` (the same rows but for the column
    ``differ``) by ``BulkWriter`` are stored alike, every column but ``differ`` and ``id``."""
    key = "id" if "id" in table.c else "check_id"
    core = [session.execute(insert(table).returning(table.c[key]), [r]).scalar_one() for r in first]
    columns = list(second[0])
    bulk = BulkWriter(session)
    values = [[r[c] for c in columns] for r in second]
    if key == "id":
        ids: list[Any] = bulk.insert_returning_ids(table, columns, values)
        assert ids == sorted(ids) and len(ids) == len(second)
    else:
        assert bulk.insert(table, columns, values) == len(second)
        ids = [r[key] for r in second]
    names = [c.name for c in table.columns if c.name != "id"]
    skip = names.index(differ)
    expect = [r[:skip] + r[skip + 1 :] for r in stored(session, table, core, key)]
    got = [r[:skip] + r[skip + 1 :] for r in stored(session, table, ids, key)]
    assert got == expect
    assert len(got) == len(first)


def test_bulk_rows_are_stored_as_sqlalchemy_stores_them(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        p = parents(session)
        runs, checks = p["runs"], p["checks"]
        run = {
            "repository_id": p["repo"],
            "source": "generic",
            "attempt": 2,
            "commit_sha": "abc1234",
            "branch": None,
            "url": "https://ci.example/é?a=1&b=%20 " + AWKWARD,
            "status": "success",
            "started_at": datetime(2026, 11, 10, 5, 59, 58, 123456),  # naive: taken as UTC
            "finished_at": datetime(2026, 11, 10, 8, 0, tzinfo=PLUS_TWO),
            "occurred_at": T0,
            "ingested_at": CLOCK.now(),
            "results_total": 7,
            "results_failed": 3,
            "storm": True,
            "digest": "d" * 64,
        }
        assert_stored_alike(
            session,
            t.runs,
            [{**run, "external_id": "core"}, {**run, "external_id": "core-2", "storm": False}],
            [{**run, "external_id": "bulk"}, {**run, "external_id": "bulk-2", "storm": False}],
            "external_id",
        )
        occurrence = {
            "issue_id": p["issue"],
            "status": "fail",
            "message": AWKWARD,
            "log_excerpt": AWKWARD + "\r\nmore",
            "template": "AssertionError: <num> != <num>",
            "fingerprint": "f" * 64,
            "normalizer_version": 2,
            "duration_s": 1.25,
            "occurred_at": datetime(2026, 11, 10, 8, 0, tzinfo=PLUS_TWO),
            "links": ["trace.zip", AWKWARD],
        }
        first = [
            {**occurrence, "run_id": runs[1], "check_id": checks[1]},
            {**occurrence, "run_id": runs[2], "check_id": checks[1], "duration_s": None},
        ]
        second = [{**r, "check_id": checks[2]} for r in first]
        assert_stored_alike(session, t.occurrences, first, second, "check_id")
        event = {
            "issue_id": p["issue"],
            "kind": "classified",
            "at": T0,
            "actor": "triagehub",
            "run_id": None,
            "data": {"title": AWKWARD, "n": [1, 2.5, None, True], "nested": {"k": None}},
        }
        assert_stored_alike(
            session,
            t.issue_events,
            [{**event, "kind": "core"}, {**event, "kind": "core", "run_id": runs[0], "data": {}}],
            [{**event, "kind": "bulk"}, {**event, "kind": "bulk", "run_id": runs[0], "data": {}}],
            "kind",
        )
        stats = {
            "runs": 9,
            "failures": 4,
            "consecutive_failures": 2,
            "last_status": "fail",
            "last_run_at": T0,
            "last_pass_at": None,
            "last_fail_at": T0,
            "last_pass_commit": None,
            "last_fail_commit": "abc",
            "last_run_key": "1:generic:r1",
            "recent": 2**62 + 5,
            "flaky": True,
            "flaky_clean_runs": 1,
        }
        new_checks = session.execute(
            insert(t.checks).returning(t.checks.c.id),
            [{"repository_id": p["repo"], "key": f"extra{n}", "created_at": T0} for n in range(4)],
        )
        extra = sorted(new_checks.scalars().all())
        rows = [{**stats, "pass_times": None}, {**stats, "pass_times": [1, 2]}]
        assert_stored_alike(
            session,
            t.check_stats,
            [{**r, "check_id": pk} for r, pk in zip(rows, extra[:2], strict=True)],
            [{**r, "check_id": pk} for r, pk in zip(rows, extra[2:], strict=True)],
            "check_id",
        )


def test_bulk_updates_are_stored_as_sqlalchemy_stores_them(engine: Engine) -> None:
    """``BulkWriter.update`` (PostgreSQL: one ``UPDATE ... FROM json_to_recordset``) sets what
    SQLAlchemy's ``update`` sets, value for value, text for text: times in other zones or naive,
    NULLs, quotes and backslashes, a 63-bit integer, JSON documents and JSON's null."""
    with Session(engine) as session, session.begin():
        repo = parents(session)["repo"]
        made = session.execute(
            insert(t.checks).returning(t.checks.c.id),
            [{"repository_id": repo, "key": f"upd{n}", "created_at": T0} for n in range(6)],
        )
        ids = sorted(made.scalars().all())
        session.execute(insert(t.check_stats), [{"check_id": pk} for pk in ids])
        base = {
            "runs": 9,
            "failures": 4,
            "consecutive_failures": 0,
            "last_status": "pass",
            "last_run_at": datetime(2026, 11, 10, 8, 0, 0, 5, tzinfo=PLUS_TWO),
            "last_pass_at": datetime(2026, 11, 10, 5, 59, 58, 123456),  # naive: taken as UTC
            "last_fail_at": None,
            "last_pass_commit": AWKWARD[:64],
            "last_fail_commit": None,
            "last_run_key": "1:generic:" + AWKWARD,
            "recent": 2**62 + 5,
            "flaky": True,
            "flaky_clean_runs": 1,
            "pass_times": [1, 2, 2**53 + 1],
        }
        variants = [
            base,
            {**base, "pass_times": None, "flaky": False, "last_status": None},
            {**base, "pass_times": [], "recent": 0, "last_run_at": None},
        ]
        for pk, values in zip(ids[:3], variants, strict=True):
            session.execute(
                t.check_stats.update().where(t.check_stats.c.check_id == pk).values(**values)
            )
        fields = list(base)
        bulk = BulkWriter(session)
        given = [[*(v[f] for f in fields), pk] for pk, v in zip(ids[3:], variants, strict=True)]
        assert bulk.update(t.check_stats, fields, "check_id", given) == 3
        assert bulk.update(t.check_stats, fields, "check_id", []) == 0
        names = [c.name for c in t.check_stats.columns]
        skip = names.index("check_id")
        expect = [
            r[:skip] + r[skip + 1 :] for r in stored(session, t.check_stats, ids[:3], "check_id")
        ]
        got = [
            r[:skip] + r[skip + 1 :] for r in stored(session, t.check_stats, ids[3:], "check_id")
        ]
        assert got == expect
        assert len({r[-1] for r in got}) == 3  # the three JSON documents differ


def test_bulk_ids_follow_the_order_of_the_rows(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        repo = parents(session)["repo"]
        names = [f"order-{n}" for n in (5, 1, 4, 2, 3)]
        columns = ["repository_id", "source", "external_id", "occurred_at", "ingested_at"]
        columns += ["attempt", "results_total", "results_failed", "storm", "digest"]
        ids = BulkWriter(session).insert_returning_ids(
            t.runs, columns, ([repo, "generic", n, T0, T0, 1, 0, 0, False, "d"] for n in names)
        )
        found = dict(session.execute(select(t.runs.c.id, t.runs.c.external_id)).all())
        assert [found[pk] for pk in ids] == names


RUN_COLUMNS = ["repository_id", "source", "external_id", "occurred_at", "ingested_at"]
RUN_COLUMNS += ["attempt", "results_total", "results_failed", "storm", "digest"]


def run_values(repo: int, name: str) -> list[Any]:
    return [repo, "generic", name, T0, T0, 1, 0, 0, False, "d"]


def test_bulk_ids_are_the_ones_the_database_gives_one_by_one(engine: Engine) -> None:
    """SQLite gives a new row the largest id + 1, so an id freed at the top is given again;
    the bulk path (ids given up front on SQLite) stores the ids SQLAlchemy's inserts get."""
    with Session(engine) as session, session.begin():
        repo = parents(session)["repo"]
        bulk = BulkWriter(session)
        first = bulk.insert_returning_ids(
            t.runs, RUN_COLUMNS, [run_values(repo, f"a{n}") for n in range(3)]
        )
        session.execute(delete(t.runs).where(t.runs.c.id == first[-1]))
        core = session.execute(
            insert(t.runs).returning(t.runs.c.id),
            [dict(zip(RUN_COLUMNS, run_values(repo, "core"), strict=True))],
        ).scalar_one()
        session.execute(delete(t.runs).where(t.runs.c.id == core))
        again = bulk.insert_returning_ids(
            t.runs, RUN_COLUMNS, [run_values(repo, f"b{n}") for n in range(2)]
        )
        # SQLite gives the freed id again; PostgreSQL's sequence goes on.
        start = core if engine.dialect.name == "sqlite" else core + 1
        assert again == [start, start + 1]
        found = dict(session.execute(select(t.runs.c.id, t.runs.c.external_id)).all())
        assert [found[pk] for pk in again] == ["b0", "b1"]


def test_no_table_counts_its_ids_apart(engine: Engine) -> None:
    """What the SQLite bulk path counts on: no table has AUTOINCREMENT (whose ids would come
    from ``sqlite_sequence``, never given again), so a new row's id is the largest + 1."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's rowids")
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence' "
            "OR sql LIKE '%AUTOINCREMENT%'"
        ).all()
    assert found == []


def test_bulk_ids_at_the_top_of_sqlites_range_are_read_back(engine: Engine) -> None:
    """Past the largest rowid SQLite picks free ids at random: they are read back one by one."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's rowids")
    with Session(engine) as session, session.begin():
        repo = parents(session)["repo"]
        top = dict(zip(RUN_COLUMNS, run_values(repo, "top"), strict=True))
        session.execute(insert(t.runs), [{**top, "id": 2**63 - 1}])
        ids = BulkWriter(session).insert_returning_ids(
            t.runs, RUN_COLUMNS, [run_values(repo, f"top-{n}") for n in range(3)]
        )
        found = dict(session.execute(select(t.runs.c.id, t.runs.c.external_id)).all())
        assert [found[pk] for pk in ids] == ["top-0", "top-1", "top-2"]


def test_a_row_the_database_refuses_raises_sqlalchemys_error(engine: Engine) -> None:
    """As a statement through SQLAlchemy would: the ingest turns a refused value into the file's
    error, and runs a transaction that met a deadlock again (``is_transient``)."""
    columns = ["repository_id", "source", "external_id", "occurred_at", "ingested_at"]
    columns += ["attempt", "results_total", "results_failed", "storm", "digest"]
    orphan = [424242, "generic", "r", T0, T0, 1, 0, 0, False, "d"]  # no such repository
    with Session(engine) as session, session.begin(), pytest.raises(IntegrityError):
        BulkWriter(session).insert_returning_ids(t.runs, columns, [orphan])
    event = [424242, "created", T0, "triagehub", None, {}]
    with Session(engine) as session, session.begin(), pytest.raises(IntegrityError):
        BulkWriter(session).insert(
            t.issue_events, ["issue_id", "kind", "at", "actor", "run_id", "data"], [event]
        )
    if engine.dialect.name == "postgresql":  # SQLite does not enforce a column's length
        with Session(engine) as session, session.begin(), pytest.raises(DataError):
            repo = parents(session)["repo"]
            too_long = [repo, "x" * 41, "r", T0, T0, 1, 0, 0, False, "d"]
            BulkWriter(session).insert_returning_ids(t.runs, columns, [too_long])


def test_the_pattern_counters_of_one_batch_add_up(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        base = {"normalizer_version": 2, "issues_count": 1, "occurrences": 3}
        made = grouping.insert_patterns(
            session=session,
            rows=[
                {
                    **base,
                    "key": key,
                    "template": f"{key} <num>",
                    "template_hash": key,
                    "first_seen": T0,
                    "last_seen": T0,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for key in ("a", "b")
            ],
        )
        now = T0 + timedelta(hours=5)
        hour = timedelta(hours=1)
        grouping.bump_patterns(
            session=session,
            rows=[
                (made["b"], 1, 2, T0 - hour, T0 + hour, now),
                (made["a"], 0, 5, T0 + hour, T0 + hour, now),
                (made["b"], 1, 4, T0 + hour, T0 + 3 * hour, now),
            ],
        )
        p = t.patterns.c
        rows = session.execute(
            select(
                p.key, p.issues_count, p.occurrences, p.first_seen, p.last_seen, p.updated_at
            ).order_by(p.key)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("a", 1, 8, T0, T0 + hour, now),
            ("b", 3, 9, T0 - hour, T0 + 3 * hour, now),
        ]


def _reports(n: int) -> Iterator[RunReport]:
    for i in range(n):
        yield report(f"run-{i}", ["fail", "pass", "fail", "pass"], T0 + timedelta(minutes=i))


def test_an_ingest_keeps_no_report_past_its_batch(engine: Engine) -> None:
    """The runs with failures are remembered for re-runs by their identity and issues only:
    a file's reports are not all held until its end."""
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, batch_results=20)
        ingestor.add_all(_reports(30))
        ingestor.flush()
        gc.collect()
        assert not [o for o in gc.get_objects() if isinstance(o, RunReport)]
        assert len(ingestor.failed_runs) == 30
        run = ingestor.failed_runs[-1]
        assert (run.repository, run.source, run.run_id, run.attempt) == (
            "acme/app",
            "generic",
            "run-29",
            1,
        )
        issue_ids = set(session.execute(select(t.issues.c.id)).scalars())
        assert run.issue_ids and run.issue_ids <= issue_ids


def test_an_ingests_occurrences_store_their_links_as_json_text(engine: Engine) -> None:
    """The occurrence rows an ingest builds already encoded: the links as ``json.dumps`` of the
    first ``MAX_LINKS`` (non-ASCII escaped), none as ``[]``; the time as the other writes."""
    links = tuple(f"traces/é-{n}.zip" for n in range(MAX_LINKS + 5))
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK)
        results = (
            CheckResult("tests/test_a.py::t", Status.FAIL, "AssertionError: 1 != 2", links=links),
            CheckResult("tests/test_b.py::t", Status.FAIL, "AssertionError: 3 != 4"),
        )
        ingestor.add(RunReport("generic", "acme/app", "r1", finished_at=T0, results=results))
        ingestor.flush()
        ids = session.execute(select(t.occurrences.c.id)).scalars().all()
        rows = stored(session, t.occurrences, sorted(ids), "id")
    names = [c.name for c in t.occurrences.columns if c.name != "id"]
    got = sorted((r[names.index("links")], r[names.index("status")]) for r in rows)
    assert got == [(json.dumps(list(links[:MAX_LINKS])), "fail"), ("[]", "fail")]
    occurred = {r[names.index("occurred_at")] for r in rows}
    sqlite = engine.dialect.name == "sqlite"
    assert occurred == {"2026-11-10 06:00:00.000000" if sqlite else "2026-11-10 06:00:00+00"}

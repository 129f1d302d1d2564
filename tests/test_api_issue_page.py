"""The issues list's page on SQLite and PostgreSQL: read with one statement (the checks and the
similar issues of every issue in it, not three statements with ``IN`` lists), with the same
checks and similar issues as the issue's detail; and ``read_session`` reads outside a
transaction on PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.orm import Session

from triagehub.api.app import WebhookConfig, create_app
from triagehub.api.common import JSONBody, issue_page_body, page_json
from triagehub.config import Settings
from triagehub.store import tables as t
from triagehub.store.db import read_connection
from triagehub.store.queries import IssueQuery, search_issues
from triagehub.store.queries.issues import MAX_CHECKS_LISTED, MAX_SIMILAR

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PATTERNS = (1, 2)  # 1: more members than MAX_SIMILAR + 1; 2: three members


def _issue(n: int, pattern: int | None, last_seen: datetime) -> dict[str, Any]:
    return {
        "id": n,
        "repository_id": 1,
        "fingerprint": f"fp{n}",
        "normalizer_version": 1,
        "source": "junit",
        "scope": "check",
        "pattern_id": pattern,
        "title": f"issue {n}",
        "template": "AssertionError: <num>",
        "template_hash": "th",
        "sample_message": "AssertionError: 1",
        "state": "open",
        "category": "code_fix_required",
        "kind": "test",
        "severity": "medium",
        "priority": "medium",
        "history_class": "new",
        "decision": "pending",
        "rationale": "rule",
        "confidence": 0.9,
        "first_seen": T0,
        "last_seen": last_seen,
        "occurrences": 1,
        "checks_count": 1,
        "created_at": T0,
        "updated_at": T0,
    }


def seed(engine: Engine) -> dict[int, list[str]]:
    """Issues in two patterns and outside any, last_seen ties included; one issue with more
    checks than a page lists, in no particular order. Returns each issue's check keys."""
    rng = random.Random(24)
    issues = []
    for n in range(1, 31):
        pattern = PATTERNS[0] if n <= 16 else PATTERNS[1] if n <= 19 else None
        issues.append(_issue(n, pattern, T0 + timedelta(hours=rng.randrange(5))))
    keys = {n: [f"tests/test_{n}.py::t{k:03d}" for k in rng.sample(range(500), 3)] for n in (1, 2)}
    keys[3] = [f"tests/t.py::k{k:03d}" for k in rng.sample(range(500), MAX_CHECKS_LISTED + 5)]
    for n in range(4, 31):
        keys[n] = [f"tests/only.py::t{n}"]
    names = sorted({k for ks in keys.values() for k in ks})
    check_id = {name: i + 1 for i, name in enumerate(names)}
    with Session(engine) as session, session.begin():
        session.execute(insert(t.repositories), [{"id": 1, "name": "acme/app", "created_at": T0}])
        session.execute(
            insert(t.checks),
            [
                {"id": i, "repository_id": 1, "key": name, "created_at": T0}
                for name, i in check_id.items()
            ],
        )
        session.execute(
            insert(t.patterns),
            [
                {
                    "id": p,
                    "key": f"p{p}",
                    "template": "AssertionError: <num>",
                    "template_hash": f"h{p}",
                    "normalizer_version": 1,
                    "first_seen": T0,
                    "last_seen": T0,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for p in PATTERNS
            ],
        )
        session.execute(insert(t.issues), issues)
        session.execute(
            insert(t.issue_checks),
            [
                {"issue_id": n, "check_id": check_id[k], "first_seen": T0, "last_seen": T0}
                for n, ks in keys.items()
                for k in ks
            ],
        )
    return keys


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(engine, Settings(), WebhookConfig(None, insecure=True), run_worker=False)
    with TestClient(app) as client:
        yield client


def _expected_similar(items: list[dict[str, Any]], issue: dict[str, Any]) -> list[int]:
    if issue["pattern_id"] is None:
        return []
    members = sorted(
        (i for i in items if i["pattern_id"] == issue["pattern_id"] and i["id"] != issue["id"]),
        key=lambda i: (i["last_seen"], i["id"]),
        reverse=True,
    )
    return [i["id"] for i in members][:MAX_SIMILAR]


def test_a_page_is_one_statement_with_each_issues_checks_and_similar_issues(
    engine: Engine, client: TestClient
) -> None:
    keys = seed(engine)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = client.get("/api/v1/issues", params={"limit": 100})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert answer.status_code == 200, answer.text
    assert len(statements) == 1, statements
    items = answer.json()["items"]
    assert len(items) == 30
    assert [(i["last_seen"], i["id"]) for i in items] == sorted(
        ((i["last_seen"], i["id"]) for i in items), reverse=True
    )
    for issue in items:
        assert issue["checks"] == sorted(keys[issue["id"]])[:MAX_CHECKS_LISTED], issue["id"]
        assert issue["similar_issues"] == _expected_similar(items, issue), issue["id"]
    by_id = {i["id"]: i for i in items}
    assert len(by_id[3]["checks"]) == MAX_CHECKS_LISTED
    assert len(by_id[1]["similar_issues"]) == MAX_SIMILAR
    assert len(by_id[17]["similar_issues"]) == 2
    for n in (1, 3, 5, 17, 25):  # the detail reads them with its own queries
        detail = client.get(f"/api/v1/issues/{n}").json()
        assert detail["checks"] == by_id[n]["checks"]
        assert detail["similar_issues"] == by_id[n]["similar_issues"]


def test_pages_by_cursor_and_by_priority_keep_checks_and_similar_issues(
    engine: Engine, client: TestClient
) -> None:
    seed(engine)
    whole = client.get("/api/v1/issues", params={"limit": 100}).json()["items"]
    for sort in ("-last_seen", "priority"):
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 7, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/issues", params=params).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen, key=lambda i: i["id"]) == sorted(whole, key=lambda i: i["id"])


@pytest.mark.postgres
def test_read_connection_reads_outside_a_transaction_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's driver begins no transaction for a read")
    # now() is the start of the transaction: outside one, each statement starts its own.
    later = "SELECT now() = statement_timestamp()"
    with read_connection(engine) as conn:
        conn.execute(text("SELECT pg_sleep(0.02)"))
        assert conn.execute(text(later)).scalar() is True
    with Session(engine) as session:
        session.execute(text("SELECT pg_sleep(0.02)"))
        assert session.execute(text(later)).scalar() is False


def test_the_page_rendered_from_the_views_is_the_bytes_of_their_to_json(
    engine: Engine, client: TestClient
) -> None:
    """``issue_page_body`` (orjson over the views) against the reference rendering,
    ``JSONBody(page_json(page))`` (each view's ``to_json``), on pages read from the store:
    times with and without microseconds, empty and absent ones, labels, models, text."""
    seed(engine)
    rng = random.Random(7)
    with Session(engine) as session, session.begin():
        for n in range(1, 31):
            at = T0 + timedelta(days=1, seconds=rng.randrange(86400), microseconds=n % 3 * 1001)
            session.execute(
                t.issues.update()
                .where(t.issues.c.id == n)
                .values(
                    labels=[f"l{n}", "ünïcode ✓"] if n % 2 else [],
                    affected_models=[f"model_{n}"] if n % 3 else [],
                    title=f'issue {n} "quoted" \\ tab\t',
                    confidence=rng.random(),
                    sla_due_at=at if n % 4 else None,
                    resolved_at=at + timedelta(hours=1) if n % 5 == 0 else None,
                    sla_breached_at=at if n % 7 == 0 else None,
                    priority=("critical", "high", "medium", "low")[n % 4],
                    assignee=f"dev{n % 3}" if n % 2 else None,
                )
            )
    queries_ = (
        IssueQuery(),
        IssueQuery(sort="priority"),
        IssueQuery(sort="-first_seen", assignees=("dev1",)),
        IssueQuery(states=("open",), sort="-occurrences"),
    )
    for query in queries_:
        for limit in (1, 7, 100):
            with read_connection(engine) as conn:
                page = search_issues(session=conn, query=query, limit=limit)
            assert page.items
            assert issue_page_body(page).body == JSONBody(page_json(page)).body
    listed = client.get("/api/v1/issues", params={"limit": 100})
    with Session(engine) as session:
        page = search_issues(session=session, query=IssueQuery(), limit=100)
    assert listed.content == JSONBody(page_json(page)).body
    assert listed.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "value",
    [
        None,
        datetime(2026, 11, 1, 6, 30),
        datetime(2026, 11, 1, 6, 30, 0, 17, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 11, 1, 6, 30, tzinfo=ZoneInfo("Etc/UTC")),
    ],
)
def test_utc_datetime_reads_as_process_result_value_on_every_dialect(
    value: datetime | None,
) -> None:
    """The store's time type without TypeDecorator's wrapper where the driver reads times
    itself: the same values (and zones) as ``process_result_value``."""
    dialects = [create_engine(u).dialect for u in ("postgresql+psycopg://", "sqlite://")]
    for dialect in dialects:  # (engines that never connect: their dialects)
        column = t.UTCDateTime().dialect_impl(dialect)
        reference = t.UTCDateTime().process_result_value(value, dialect)
        process = column.result_processor(dialect, None)
        assert process is not None
        if dialect.name == "sqlite":
            continue  # its processor parses SQLite's text first (a string, not a datetime)
        read = process(value)
        assert read == reference and (read is None or read.tzinfo is UTC)

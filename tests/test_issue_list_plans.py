"""The issues list filtered by a repository alone (migration 0024) and the list sorted by priority
(one level at a time, migration 0025) are read in their order from an index (issue #24): no sort
of the matching issues for each page, on either backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import queries

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=1))
INDEX = "ix_issues_repository_id_last_seen_id"
PRIORITY_INDEX = "ix_issues_priority_last_seen_id"


REPOSITORY = queries.IssueQuery(repositories=("acme/repo1",))


def _reports() -> list[RunReport]:
    return [
        RunReport(
            source="generic",
            repository=f"acme/repo{r}",
            run_id=f"run-{r}-{n}",
            finished_at=T0 + timedelta(minutes=10 * n + r),
            results=tuple(
                CheckResult(f"tests/test_{k}.py::test_{n}", Status.FAIL, f"KeyError: 'k{k}_{n}'")
                for k in range(3)
            ),
        )
        for r in range(3)
        for n in range(4)
    ]


def _page_statement(engine: Engine, query: queries.IssueQuery = REPOSITORY) -> tuple[str, Any]:
    """The statement (and its parameters) that reads a page of ``query``'s issues (the first
    one: ``sort=priority`` reads one level at a time)."""
    seen: list[tuple[str, Any]] = []

    def keep(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as session:
            page = queries.search_issues(session=session, query=query, limit=5)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert len(page.items) == 5
    if query.repositories:
        assert {i.repository for i in page.items} == {"acme/repo1"}
    return next((sql, p) for sql, p in seen if "ORDER BY issues.last_seen DESC" in sql)


def test_a_repositorys_page_is_read_in_order_from_its_index(engine: Engine) -> None:
    ingest_reports(engine, _reports(), Settings(), clock=CLOCK)
    _assert_read_in_order(engine, *_page_statement(engine), INDEX)


def test_a_priority_level_is_read_in_order_from_its_index(engine: Engine) -> None:
    ingest_reports(engine, _reports(), Settings(), clock=CLOCK)
    sql, params = _page_statement(engine, queries.IssueQuery(sort="priority"))
    assert "issues.priority = " in sql
    _assert_read_in_order(engine, sql, params, PRIORITY_INDEX)


def _assert_read_in_order(engine: Engine, sql: str, params: Any, index: str) -> None:
    """The page's plan reads ``index`` and sorts nothing."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            top = [row[3] for row in plan if row[1] == 0]  # the outer query's steps
            assert any(index in step for step in top), top
            assert not any("TEMP B-TREE FOR ORDER BY" in step for step in top), top
            return
        # A few rows: a sequential scan and a sort would be cheapest; what is asked here is
        # which index gives the order when the table is read through one.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        [[doc]] = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).all()
    tree = json.loads(doc) if isinstance(doc, str) else doc
    outer = tree[0]["Plan"]
    assert index in json.dumps(tree)
    assert outer["Node Type"] == "Limit"
    assert "Sort" not in {p["Node Type"] for p in outer.get("Plans", [])}

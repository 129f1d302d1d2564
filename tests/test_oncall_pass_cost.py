"""What the ingest's on-call pass reads (issue #24): only what its decisions need."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import tables as t

pytestmark = pytest.mark.clock

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPO = "acme/dbt_cloud"


def _settings(experts: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {
        "experts": experts,
        "classification_rules": [
            {"name": f"p-{p}", "match": {"check": f"{p}_*"}, "set": {"priority": p}}
            for p in ("critical", "high")
        ],
        "lifecycle": {"agent_handle": None},
    }
    return parse_settings(data, "t.yaml")


def _word(n: int) -> str:
    return "".join("abcdefghij"[int(d)] for d in f"{n:03d}")


def _ingest(engine: Engine, settings: Settings, run: int, *checks: str) -> list[tuple[str, Any]]:
    """Ingest failing runs of the checks (five a run: no storm), each with its own error, in
    one batch; the statements sent (with their parameters)."""
    reports = [
        RunReport(
            source="dbt",
            repository=REPO,
            run_id=f"r{run}-{n}",
            attempt=1,
            commit=f"c0ffee{run:04d}",
            finished_at=T0,
            results=tuple(
                CheckResult(c, Status.FAIL, f"Database Error: relation {_word(n + k)} is missing")
                for k, c in enumerate(checks[n : n + 5])
            ),
        )
        for n in range(0, len(checks), 5)
    ]
    sent: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, sql: str, parameters: Any, *_rest: Any) -> None:
        sent.append((sql, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        ingest_reports(engine, reports, settings, clock=FixedClock(T0))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return sent


def _alerted(engine: Engine) -> list[str]:
    with Session(engine) as session:
        keys = session.scalars(select(t.jobs.c.key).where(t.jobs.c.key.like("notify:%")))
        return sorted(k for k in keys if ":alert:" in k)


def _reads_workload(sent: list[tuple[str, Any]]) -> bool:
    return any("GROUP BY issues.assignee" in sql for sql, _ in sent)


def test_without_a_routing_table_the_pass_does_not_count_the_open_workload(
    engine: Engine,
) -> None:
    # No one can be assigned: the workload would never be read.
    sent = _ingest(engine, _settings({}), 1, "critical_a", "critical_b")
    assert not _reads_workload(sent)
    assert len(_alerted(engine)) == 2  # (announced at once all the same)
    # With one, it is counted (the check sees that statement when there is one).
    routed = _settings({"dbt-expert": {"github": ["alice", "bob"]}})
    assert _reads_workload(_ingest(engine, routed, 2, "critical_c"))
    assert len(_alerted(engine)) == 3


def test_the_alert_queries_start_from_the_batch_s_issues(engine: Engine, db_url: str) -> None:
    settings = _settings({})
    _ingest(engine, settings, 1, *(f"high_old{n}" for n in range(40)))  # working, not ours
    # (a batch of a few ids only would start from them anyway)
    sent = _ingest(engine, settings, 2, *(f"critical_new{n}" for n in range(80)))
    issues = [(s, p) for s, p in sent if "FROM issues" in s and "issues.state ||" in s]
    events = [(s, p) for s, p in sent if "FROM issue_events LEFT OUTER JOIN jobs" in s]
    assert len(issues) == 2 and len(events) == 1  # the wanted ids, then the events' issues
    sqlite = db_url.startswith("sqlite")
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with engine.connect() as connection:
        plans = [
            [str(r[3] if sqlite else r[0]) for r in connection.exec_driver_sql(explain + s, p)]
            for s, p in [*issues, *events]
        ]
    # Not every working (or critical) issue of the database through the state (or priority)
    # index, then the batch's ids: the batch's issues by their key.
    for plan in plans:
        assert not [step for step in plan if "ix_issues_state" in step], plan
        assert not [step for step in plan if "ix_issues_priority" in step], plan
    if sqlite:
        for plan in plans[:2]:
            assert any(s.startswith("SEARCH issues USING INTEGER PRIMARY KEY") for s in plan), plan
        assert any("issue_events USING INDEX ix_issue_events_issue_id" in s for s in plans[2])
    assert len(_alerted(engine)) == 80

"""Human overrides: kept over the automatic triage, on the timeline, counted in accuracy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.errors import InputError
from triagehub.store.queries import get_issue, list_issues
from triagehub.store.triage import apply_override, override_accuracy

T0 = datetime(2026, 11, 10, tzinfo=UTC)
SETTINGS = parse_settings(
    {
        "repositories": {
            "acme/app": {"automation_rules": {"test_failures": {"auto_assign": "qa-expert"}}}
        }
    },
    "t.yaml",
)


def fail(run_id: str, check: str, message: str, at: datetime) -> RunReport:
    return RunReport(
        source="generic",
        repository="acme/app",
        run_id=run_id,
        commit=f"c{run_id}",
        finished_at=at,
        results=(CheckResult(check, Status.FAIL, message),),
    )


def setup_issues(engine: Engine) -> list[int]:
    ingest_reports(
        engine,
        [
            fail("1", "tests/test_a.py::t", "AssertionError: assert 1 == 2", T0),
            fail("2", "tests/test_b.py::t", "KeyError: 'x'", T0),
            fail("3", "tests/test_c.py::t", "TypeError: bad operand", T0),
        ],
        SETTINGS,
        clock=FixedClock(T0),
    )
    with Session(engine) as session:
        return sorted(i.id for i in list_issues(session=session))


def override(
    engine: Engine, issue_id: int, at: datetime, **changes: str
) -> dict[str, dict[str, Any]]:
    with Session(engine) as session, session.begin():
        return apply_override(
            session=session,
            issue_id=issue_id,
            changes=changes,
            reason="seen it before",
            actor="alice",
            now=at,
        )


def test_override_is_kept_when_new_failures_arrive(engine: Engine) -> None:
    first, *_ = setup_issues(engine)
    override(engine, first, T0 + timedelta(hours=1), category="false_positive", decision="ignore")
    ingest_reports(
        engine,
        [fail("9", "tests/test_a.py::t", "AssertionError: assert 1 == 2", T0 + timedelta(1))],
        SETTINGS,
        clock=FixedClock(T0 + timedelta(1)),
    )
    with Session(engine) as session:
        detail = get_issue(session=session, issue_id=first)
    assert detail is not None
    issue = detail.issue
    assert (issue.category, issue.decision, issue.classification_source) == (
        "false_positive",
        "ignore",
        "human",
    )
    assert issue.occurrences == 2
    [event] = [e for e in detail.timeline if e.kind == "overridden"]
    assert event.actor == "alice" and event.data["reason"] == "seen it before"
    assert event.data["changes"]["category"] == {
        "from": "code_fix_required",
        "to": "false_positive",
    }
    assert event.data["changes"]["state"] == {"from": "open", "to": "triaged"}


def test_assigning_moves_an_open_issue_to_assigned(engine: Engine) -> None:
    first, *_ = setup_issues(engine)
    diff = override(engine, first, T0, assignee="bob")
    assert diff["state"] == {"from": "open", "to": "assigned"}
    with Session(engine) as session:
        [issue] = [i for i in list_issues(session=session) if i.id == first]
    assert issue.assignee == "bob" and issue.state == "assigned"


def test_resolving_by_hand_then_failing_again_regresses(engine: Engine) -> None:
    first, *_ = setup_issues(engine)
    override(engine, first, T0 + timedelta(hours=2), state="resolved")
    summary = ingest_reports(
        engine,
        [fail("7", "tests/test_a.py::t", "AssertionError: assert 1 == 2", T0 + timedelta(1))],
        SETTINGS,
    )
    assert summary.regressions == 1


def test_accuracy_counts_changed_fields_per_reviewed_issue(engine: Engine) -> None:
    a, b, c = setup_issues(engine)
    override(engine, a, T0, category="false_positive", assignee="qa-expert")  # expert agreed
    override(engine, b, T0, decision="needs_spec", assignee="someone-else")  # assignment changed
    override(engine, c, T0, severity="medium")  # same value: agreement
    with Session(engine) as session:
        rows = {r.field: r for r in override_accuracy(session=session)}
    assert rows["category"].reviewed == 3 and rows["category"].changed == 1
    assert rows["category"].agreement == pytest.approx(2 / 3)
    assert rows["decision"].changed == 1
    assert rows["severity"].changed == 0 and rows["severity"].agreement == 1
    assert rows["assignee"].changed == 1
    with Session(engine) as session:
        assert override_accuracy(session=session, repository="acme/other")[0].reviewed == 0
        later = override_accuracy(session=session, since=T0 + timedelta(days=1))
    assert later[0].agreement is None


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        ({"category": "bogus"}, "r", "not one of"),
        ({"colour": "red"}, "r", "not a field"),
        ({}, "r", "nothing to change"),
        ({"decision": "ignore"}, " ", "reason is required"),
    ],
)
def test_bad_overrides_are_refused(
    engine: Engine, changes: dict[str, str], reason: str, message: str
) -> None:
    first, *_ = setup_issues(engine)
    with Session(engine) as session, pytest.raises(InputError, match=message):
        apply_override(
            session=session, issue_id=first, changes=changes, reason=reason, actor="x", now=T0
        )


def test_unknown_issue_is_refused(engine: Engine) -> None:
    setup_issues(engine)
    with Session(engine) as session, pytest.raises(InputError, match="no such issue"):
        apply_override(
            session=session,
            issue_id=999,
            changes={"decision": "ignore"},
            reason="r",
            actor="x",
            now=T0,
        )

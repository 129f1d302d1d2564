"""The LLM step of the pipeline, against a local server speaking the Messages API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fake_anthropic import DEFAULT_API_KEY, FakeAnthropic, TextAnswer, server_error, tool_answer
from triagehub.actions.llm import LLMClassifier
from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import tables as t
from triagehub.store.queries import get_issue, list_issues
from triagehub.store.triage import apply_override

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CLOCK = FixedClock(NOW)
# "something went wrong" in a step the rules cannot place: the fallback kind, confidence 0.4.
VAGUE = "step exploded: something went wrong in the widget frobnicator"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def llm_for(fake: FakeAnthropic, budget: int = 10) -> LLMClassifier:
    return LLMClassifier(
        api_key=DEFAULT_API_KEY,
        base_url=fake.base_url,
        timeout_s=2.0,
        max_retries=0,
        daily_budget=budget,
        clock=CLOCK.now,
    )


def report(run_id: str, message: str, check: str = "nightly / step 3") -> RunReport:
    return RunReport(
        source="generic",
        repository="acme/app",
        run_id=run_id,
        finished_at=NOW,
        results=(CheckResult(check, Status.FAIL, message, "token=hunter2secret\nboom"),),
    )


def only_issue(engine: Engine) -> tuple[int, str, str, str]:
    with Session(engine) as session:
        [issue] = list_issues(session=session)
    return issue.id, issue.category, issue.kind, issue.classification_source


def test_low_confidence_issue_is_refined_by_the_llm(engine: Engine, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_answer(category="infrastructure_issue", kind="infrastructure"))
    summary = ingest_reports(
        engine, [report("1", VAGUE)], Settings(), clock=CLOCK, llm=llm_for(fake)
    )
    assert summary.llm_refined == 1
    issue_id, category, kind, source = only_issue(engine)
    assert (category, kind, source) == ("infrastructure_issue", "infrastructure", "llm")
    [request] = fake.requests
    assert "frobnicator" in request.text and "hunter2secret" not in request.text
    with Session(engine) as session:
        detail = get_issue(session=session, issue_id=issue_id)
    assert detail is not None
    assert any(e.kind == "classified" and e.data.get("source") == "llm" for e in detail.timeline)


def test_confident_rules_are_not_sent(engine: Engine, fake: FakeAnthropic) -> None:
    summary = ingest_reports(
        engine,
        [report("1", "AssertionError: assert 1 == 2", "tests/test_a.py::t")],
        Settings(),
        clock=CLOCK,
        llm=llm_for(fake),
    )
    assert summary.llm_refined == 0 and fake.requests == []


def test_the_verdict_is_kept_for_the_fingerprint(engine: Engine, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_answer(category="infrastructure_issue", kind="infrastructure"))
    llm = llm_for(fake)
    ingest_reports(engine, [report("1", VAGUE)], Settings(), clock=CLOCK, llm=llm)
    ingest_reports(engine, [report("2", VAGUE)], Settings(), clock=CLOCK, llm=llm)
    assert len(fake.requests) == 1
    _, category, _, source = only_issue(engine)
    assert (category, source) == ("infrastructure_issue", "llm")  # the rules did not undo it


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (TextAnswer(), "invalid"),
        (tool_answer(category="bogus"), "invalid"),
        (server_error(), "error"),
    ],
)
def test_any_llm_failure_falls_back_to_the_rules_on_the_timeline(
    engine: Engine, fake: FakeAnthropic, behaviour: object, status: str
) -> None:
    fake.enqueue(behaviour)  # type: ignore[arg-type]
    summary = ingest_reports(
        engine, [report("1", VAGUE)], Settings(), clock=CLOCK, llm=llm_for(fake)
    )
    assert summary.llm_fallbacks == 1
    _, _, kind, source = only_issue(engine)
    assert (kind, source) == ("build", "rules")
    with Session(engine) as session:
        events = (
            session.execute(
                select(t.issue_events.c.data).where(t.issue_events.c.kind == "llm_fallback")
            )
            .scalars()
            .all()
        )
    assert [e["status"] for e in events] == [status]


def test_the_daily_budget_is_shared_through_the_database(
    engine: Engine, fake: FakeAnthropic
) -> None:
    settings = parse_settings({"llm": {"daily_budget": 1}}, "t.yaml")
    fake.enqueue(tool_answer(), tool_answer())
    ingest_reports(engine, [report("1", VAGUE)], settings, clock=CLOCK, llm=llm_for(fake))
    # A second process (a new classifier) on the same day: the budget is spent.
    other = VAGUE.replace("widget", "gadget")
    summary = ingest_reports(
        engine, [report("2", other, "nightly / step 9")], settings, clock=CLOCK, llm=llm_for(fake)
    )
    assert len(fake.requests) == 1
    assert summary.llm_fallbacks == 1


def test_a_human_override_wins_over_the_llm(engine: Engine, fake: FakeAnthropic) -> None:
    ingest_reports(engine, [report("1", VAGUE)], Settings(), clock=CLOCK)  # no LLM yet
    issue_id, *_ = only_issue(engine)
    with Session(engine) as session, session.begin():
        apply_override(
            session=session,
            issue_id=issue_id,
            changes={"category": "false_positive"},
            reason="known noise",
            actor="alice",
            now=NOW,
        )
    summary = ingest_reports(
        engine, [report("2", VAGUE)], Settings(), clock=CLOCK, llm=llm_for(fake)
    )
    assert summary.llm_refined == 0 and fake.requests == []  # human-classified: not sent
    assert only_issue(engine)[1] == "false_positive"

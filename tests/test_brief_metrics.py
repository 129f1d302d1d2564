"""The brief's success metrics (triagehub.store.metrics.brief_metrics), each checked against its
definition on a hand-built timeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import parse_settings
from triagehub.core.lifecycle import Actor
from triagehub.core.models import CheckResult, IssueState, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, record_event
from triagehub.store.metrics import BRIEF_METRICS, brief_metrics
from triagehub.store.triage import apply_override

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPO = "acme/app"
MESSAGES = {
    "t_a": "AssertionError: the animation had not finished in test_a",
    "t_b": "AssertionError: the element was detached in test_b",
    "c_c": "AssertionError: assert total == 42 in test_c",
    "c_d": "KeyError: 'customer_id' in test_d",
    "c_e": "TypeError: unsupported operand in test_e",
    "c_f": "ValueError: invalid literal for int() in test_f",
}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def build(engine: Engine) -> dict[str, int]:
    settings = parse_settings(
        {
            "classification_rules": [
                {"name": "t", "match": {"check": "t_*"}, "set": {"category": "transient_failure"}},
                {
                    "name": "c",
                    "match": {"check": "c_*"},
                    "set": {"category": "code_fix_required", "priority": "medium"},
                },
            ]
        },
        "t.yaml",
    )

    def run(n: int, checks: list[str], when: datetime) -> None:
        report = RunReport(
            source="generic",
            repository=REPO,
            run_id=f"r{n}",
            commit=f"c{n}",
            finished_at=when,
            results=tuple(CheckResult(c, Status.FAIL, MESSAGES[c]) for c in checks),
        )
        ingest_reports(engine, [report], settings, clock=FixedClock(when))

    run(1, list(MESSAGES), T0)
    run(2, ["t_a", "t_b"], at(0.25))
    with Session(engine) as session:
        ids = {
            key: issue_id
            for issue_id, key in session.execute(
                select(t.issues.c.id, t.checks.c.key).join(
                    t.checks, t.checks.c.id == t.issues.c.check_id
                )
            )
        }
    a, c, d, e, f = ids["t_a"], ids["c_c"], ids["c_d"], ids["c_e"], ids["c_f"]

    def assign(session: Session, issue_id: int, who: str, hours: float) -> None:
        session.execute(
            update(t.issues)
            .where(t.issues.c.id == issue_id)
            .values(assignee=who, state=IssueState.ASSIGNED.value)
        )
        data: dict[str, Any] = {"assignee": who, "automatic": True, "expert": "x"}
        record_event(session, issue_id, "assigned", at=at(hours), actor="rule", data=data)

    def escalated(session: Session, issue_id: int, hours: float) -> None:
        data = {"trigger": "untriaged", "priority": {"from": "medium", "to": "high"}}
        record_event(session, issue_id, "escalated", at=at(hours), actor="rule", data=data)

    with Session(engine) as session, session.begin():
        # A: transient, auto-resolved after 2 h. B: transient, never closes.
        change_state(
            session, a, IssueState.AUTO_RESOLVED, actor=Actor.RULE, reason="3 green", now=at(2)
        )
        # C: assigned to alice at 0.5 h (kept), resolved by a person at 10 h, regressed at 20 h.
        assign(session, c, "alice", 0.5)
        change_state(session, c, IssueState.RESOLVED, actor=Actor.HUMAN, reason="fixed", now=at(10))
        change_state(session, c, IssueState.REGRESSED, actor=Actor.RULE, reason="again", now=at(20))
        # D: escalated at 1 h, assigned to bob at 1.5 h; at 3 h a person gives it to carol and
        # lowers the priority (the escalation is reverted, the assignment not kept).
        escalated(session, d, 1)
        assign(session, d, "bob", 1.5)
        apply_override(
            session=session,
            issue_id=d,
            changes={"assignee": "carol", "priority": "low"},
            reason="carol owns this",
            actor="human",
            now=at(3),
        )
        # E: escalated at 2 h, nobody reacts (ignored).
        escalated(session, e, 2)
        # F: escalated at 1 h, a person starts on it at 2 h (acknowledged) and confirms the
        # category triagehub chose (a field set to the automatic value: agreement).
        escalated(session, f, 1)
        change_state(
            session, f, IssueState.IN_PROGRESS, actor=Actor.HUMAN, reason="on it", now=at(2)
        )
        apply_override(
            session=session,
            issue_id=f,
            changes={"category": "code_fix_required"},
            reason="right",
            actor="human",
            now=at(2.5),
        )
    return ids


def test_each_brief_metric_follows_its_definition(engine: Engine) -> None:
    build(engine)
    with Session(engine) as session:
        found = {
            m.name: m for m in brief_metrics(session, since=at(-1), until=at(24), repository=REPO)
        }
    assert set(found) == set(BRIEF_METRICS)
    values = {name: m.value for name, m in found.items()}
    assert values == {
        "auto_resolution_rate": 0.5,  # A of A, B: the never-closing B counts
        "noise_reduction": round(8 / 6, 2),  # 8 failures, 6 issues
        "time_to_first_triage": round((0.5 + 1.5 + 2.0) / 3, 2),  # C, D, F
        "time_to_expert_assignment": 1.0,  # C 0.5 h, D 1.5 h
        "mttr": 6.0,  # A 2 h, C 10 h
        "first_time_resolution": 0.5,  # C regressed
        "escalation_accuracy": round(1 / 3, 4),  # F of D (reverted), E (ignored), F
        "assignment_accuracy": 0.5,  # C kept, D reassigned
        "expert_workload": 1.0,  # alice 1 (C regressed), carol 1 (D)
        "decision_accuracy": None,  # no decision set by a person, no path concluded
        "override_agreement": 0.0,  # the worst field: assignee, priority
    }
    assert (found["auto_resolution_rate"].numerator, found["auto_resolution_rate"].denominator) == (
        1,
        2,
    )
    assert found["override_agreement"].detail["fields"] == {
        "assignee": 0.0,
        "category": 1.0,
        "priority": 0.0,
    }
    assert found["expert_workload"].detail["assignees"] == {"alice": 1, "carol": 1}
    # Targets and their verdicts; the previous week had nothing (no trend yet).
    assert found["mttr"].target == 24.0 and found["mttr"].met is True
    assert found["first_time_resolution"].met is False
    assert all(m.previous is None and m.trend == "-" for m in found.values())
    assert all(m.definition for m in found.values())
    as_json = found["mttr"].to_json()
    assert as_json["met"] is True and as_json["direction"] == "<="


def test_the_previous_range_gives_the_trend(engine: Engine) -> None:
    build(engine)
    with Session(engine) as session:
        later = {
            m.name: m for m in brief_metrics(session, since=at(23), until=at(47), repository=REPO)
        }
    # The issues were first seen in the previous range: their figures are the trend's base.
    assert later["auto_resolution_rate"].value is None
    assert later["auto_resolution_rate"].previous == 0.5
    assert later["mttr"].previous == 6.0


@pytest.mark.parametrize("hours", [0])
def test_an_unknown_repository_is_refused(engine: Engine, hours: int) -> None:
    from triagehub.errors import InputError

    with Session(engine) as session, pytest.raises(InputError):
        brief_metrics(session, since=at(hours), until=at(1), repository="no/such")


def test_cli_api_and_health_page_show_each_metric_with_value_and_target(
    engine: Engine, db_url: str
) -> None:
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from triagehub.api.app import WebhookConfig, create_app
    from triagehub.cli.main import app as cli_app
    from triagehub.config import Settings

    build(engine)
    until = at(24).isoformat()
    result = CliRunner().invoke(
        cli_app,
        ["--db", db_url, "metrics", "--time-range", "2d", "--until", until, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    brief = {m["name"]: m for m in json.loads(result.output)["brief"]}
    assert set(brief) == set(BRIEF_METRICS)
    assert brief["mttr"]["value"] == 6.0 and brief["mttr"]["target"] == 24.0
    table = CliRunner().invoke(
        cli_app, ["--db", db_url, "metrics", "--time-range", "2d", "--until", until]
    )
    assert table.exit_code == 0, table.output
    assert "Success metrics" in table.output and "First-time resolution" in table.output

    web = create_app(
        engine,
        Settings(),
        WebhookConfig(None, insecure=True),
        run_worker=False,
        clock=FixedClock(at(24)),
    )
    with TestClient(web) as client:
        answer = client.get(
            "/api/v1/metrics/brief",
            params={"since": at(-24).isoformat(), "until": until, "repository": REPO},
        )
        assert answer.status_code == 200, answer.text
        found = {m["name"]: m for m in answer.json()["metrics"]}
        assert found["escalation_accuracy"]["value"] == round(1 / 3, 4)
        assert found["escalation_accuracy"]["met"] is False
        assert all(m["target"] is not None and m["definition"] for m in found.values())
        page = ""
        for _ in range(50):  # the page's figures are computed off the request path
            page = client.get("/health").text
            if 'data-key="brief-mttr"' in page:
                break
        for name in BRIEF_METRICS:
            assert f'data-key="brief-{name}"' in page
        assert "Assignment accuracy" in page


def test_the_weekly_report_is_posted_once_to_slack_and_as_a_github_issue(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from fake_github import DEFAULT_TOKEN, FakeGitHub
    from outbox_receiver import Receiver
    from triagehub.actions.github import GitHubClient
    from triagehub.engine.jobs import RetryPolicy, process_jobs
    from triagehub.engine.monitor import run_tick

    build(engine)
    settings = parse_settings(
        {"weekly_report": {"enabled": True, "weekday": 2, "hour": 9, "slack": "", "github": REPO}},
        "t.yaml",
    )
    clock = FixedClock(at(26))  # Wednesday 10:00 UTC: the report of the week to 09:00 is due
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "TRIAGEHUB_SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    with Receiver() as receiver, FakeGitHub() as fake:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{receiver.url}/services/T0/B0/x")
        github = GitHubClient(
            DEFAULT_TOKEN, base_url=fake.base_url, timeout_s=5, max_retries=1, clock=clock
        )
        try:
            for _ in range(2):  # a second tick queues nothing more
                run_tick(engine, settings, clock=clock)
                while process_jobs(
                    engine,
                    settings,
                    github=github,
                    clock=clock,
                    policy=RetryPolicy(max_attempts=2, backoff_s=1),
                    rng=random.Random(1),
                ):
                    pass
        finally:
            github.close()
        [issue] = [i for (repo, _), i in fake.issues.items() if repo == REPO.lower()]
        assert issue["title"] == "triagehub weekly report 2026-W46"
        body = issue["body"]
        # (the tick's event-time reconciliation judges the hand-built resolutions again, so the
        # figure is the report's own; its definition is tested above)
        assert re.search(r"\| Auto-resolution rate \| [\d.]+% \| >= 70\.0% \| (❌|✅) \|", body)
        assert re.search(
            r"\| Mean time to resolution \| [\d.]+ h \| <= 24\.0 h \| (❌|✅) \|", body
        )
        assert "## Definitions" in body and "never closed included" in body
        slack = [d for d in receiver.deliveries if d.key == "weekly:slack:2026-W46"]
        assert len(slack) == 1 and "weekly report" in json.dumps(slack[0].body)

"""The lifecycle with an injected clock: state machine, auto-resolution, regressions, snooze,
SLA and escalation, and an idempotent monitor tick (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock, SystemClock
from triagehub.config import Settings, parse_settings
from triagehub.core.lifecycle import Actor, check_transition
from triagehub.core.models import CheckResult, IssueState, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.monitor import TickSummary, green_streak, notify_change, run_tick
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, snooze
from triagehub.store.queries import get_issue, list_issues

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPO = "acme/app"
S = IssueState


class World:
    """A repository whose checks pass and fail as the test says, on a clock the test moves."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings or Settings()
        self.clock = FixedClock(T0)
        self.runs = 0

    def run(
        self,
        outcomes: Mapping[str, tuple[Status, str]],
        *,
        at: datetime | None = None,
        repo: str = REPO,
        commit: str | None = None,
        attempt: int = 1,
    ) -> None:
        self.runs += attempt == 1
        when = at or self.clock.now()
        report = RunReport(
            source="generic",
            repository=repo,
            run_id=f"r{self.runs}",
            attempt=attempt,
            commit=commit or f"c{self.runs}",
            finished_at=when,
            results=tuple(CheckResult(c, s, m) for c, (s, m) in outcomes.items()),
        )
        ingest_reports(self.engine, [report], self.settings, clock=self.clock)

    def advance(self, **delta: float) -> None:
        self.clock.set(self.clock.now() + timedelta(**delta))

    def tick(self) -> TickSummary:
        return run_tick(self.engine, self.settings, clock=self.clock)

    def issue(self, check: str) -> Any:
        with Session(self.engine) as session:
            [found] = [i for i in list_issues(session=session) if check in i.checks]
        return found

    def row(self, issue_id: int) -> Mapping[str, Any]:
        with Session(self.engine) as session:
            return dict(
                session.execute(select(t.issues).where(t.issues.c.id == issue_id)).mappings().one()
            )

    def timeline(self, issue_id: int) -> list[Any]:
        with Session(self.engine) as session:
            detail = get_issue(session=session, issue_id=issue_id)
        assert detail is not None
        return [e for e in detail.timeline if e.id is not None]


FAIL = (Status.FAIL, "AssertionError: assert total == 42")
NET = (Status.ERROR, "curl: (6) Could not resolve host: github.com")
PASS = (Status.PASS, "")


# -- the state machine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "actor"),
    [
        (S.OPEN, S.TRIAGED, Actor.HUMAN),
        (S.TRIAGED, S.ASSIGNED, Actor.HUMAN),
        (S.ASSIGNED, S.IN_PROGRESS, Actor.HUMAN),
        (S.IN_PROGRESS, S.RESOLVED, Actor.HUMAN),
        (S.OPEN, S.AUTO_RESOLVED, Actor.RULE),
        (S.RESOLVED, S.REGRESSED, Actor.RULE),
        (S.RESOLVED, S.OPEN, Actor.SYNC),
        (S.IGNORED, S.OPEN, Actor.HUMAN),
        (S.REGRESSED, S.ASSIGNED, Actor.HUMAN),
        (S.OPEN, S.FALSE_POSITIVE, Actor.HUMAN),
    ],
)
def test_transitions_of_the_design_are_allowed(
    current: IssueState, target: IssueState, actor: Actor
) -> None:
    check_transition(current, target, actor)


@pytest.mark.parametrize(
    ("current", "target", "actor", "says"),
    [
        (S.OPEN, S.REGRESSED, Actor.RULE, "cannot go from open to regressed"),
        (S.RESOLVED, S.IN_PROGRESS, Actor.HUMAN, "(from resolved: open)"),
        (S.RESOLVED, S.IN_PROGRESS, Actor.RULE, "(from resolved: open, regressed)"),
        (S.IGNORED, S.RESOLVED, Actor.HUMAN, "cannot go from ignored to resolved"),
        (S.FALSE_POSITIVE, S.TRIAGED, Actor.HUMAN, "from false_positive: open"),
        (S.OPEN, S.AUTO_RESOLVED, Actor.HUMAN, "set by the rules only"),
        (S.TRIAGED, S.TRIAGED, Actor.HUMAN, "already triaged"),
    ],
)
def test_invalid_transitions_are_refused_clearly(
    current: IssueState, target: IssueState, actor: Actor, says: str
) -> None:
    with pytest.raises(InputError, match=says):
        check_transition(current, target, actor)


def test_a_state_change_is_on_the_timeline_with_actor_and_reason(engine: Engine) -> None:
    w = World(engine)
    w.run({"t::a": FAIL})
    issue = w.issue("t::a")
    with Session(engine) as session, session.begin():
        change_state(
            session, issue.id, S.IN_PROGRESS, actor=Actor.HUMAN, reason="on it", now=T0, who="ana"
        )
    with Session(engine) as session, session.begin(), pytest.raises(InputError, match="regressed"):
        change_state(session, issue.id, S.REGRESSED, actor=Actor.HUMAN, reason="x", now=T0)
    [event] = [e for e in w.timeline(issue.id) if e.kind == "state_changed"]
    assert (event.actor, event.data["from"], event.data["to"]) == ("ana", "open", "in_progress")
    assert event.data["reason"] == "on it" and event.data["by"] == "human"
    assert w.issue("t::a").state == "in_progress"


# -- auto-resolution and regressions ----------------------------------------------------------


def test_green_streak_reads_the_outcome_bitmap() -> None:
    assert green_streak(0b1, 1) == 0
    assert green_streak(0b1000, 4) == 3
    assert green_streak(0, 5) == 5
    assert green_streak(0, 500) == 63


def test_a_transient_issue_auto_resolves_after_three_green_runs(engine: Engine) -> None:
    w = World(engine)
    w.run({"deps": NET, "unit": PASS})
    issue = w.issue("deps")
    assert issue.category == "transient_failure"
    for n in range(3):
        w.advance(hours=1)
        assert w.tick().changes == 0 or n > 0  # not yet healed
        w.run({"deps": PASS, "unit": PASS})
    w.advance(minutes=5)
    summary = w.tick()
    assert summary.auto_resolved == [issue.id]
    assert w.issue("deps").state == "auto_resolved"
    [event] = [e for e in w.timeline(issue.id) if e.kind == "state_changed"]
    assert event.actor == "rule"
    assert event.data["reason"] == "auto-resolved after 3 green runs in a row of its check"
    assert w.tick().changes == 0  # idempotent


def test_two_green_runs_are_not_enough_and_other_categories_resolve(engine: Engine) -> None:
    w = World(engine)
    w.run({"unit": FAIL})
    for _ in range(2):
        w.advance(hours=1)
        w.run({"unit": PASS})
    assert w.tick().changes == 0
    w.advance(hours=1)
    w.run({"unit": PASS})
    summary = w.tick()
    assert summary.resolved == [w.issue("unit").id] and summary.auto_resolved == []
    assert w.issue("unit").state == "resolved"


def test_auto_resolution_is_configurable_per_category_and_repository(engine: Engine) -> None:
    settings = parse_settings(
        {
            "lifecycle": {"auto_resolve_after_by_category": {"transient_failure": 1}},
            "repositories": {REPO: {"auto_resolve_after": 5}},
        },
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"deps": NET, "unit": FAIL})
    w.advance(hours=1)
    w.run({"deps": PASS, "unit": PASS})
    assert w.tick().auto_resolved == [w.issue("deps").id]  # 1 for transient failures
    for _ in range(3):
        w.advance(hours=1)
        w.run({"unit": PASS})
    assert w.tick().changes == 0  # 4 < 5 for this repository
    w.advance(hours=1)
    w.run({"unit": PASS})
    assert w.tick().resolved == [w.issue("unit").id]


def test_flaky_issues_never_auto_close(engine: Engine) -> None:
    w = World(engine)
    w.run({"e2e": FAIL}, commit="same")
    w.advance(hours=1)
    w.run({"e2e": PASS}, commit="same")  # pass and fail on one commit: flaky evidence
    w.advance(hours=1)
    w.run({"e2e": FAIL}, commit="c9")
    assert w.issue("e2e").history_class == "flaky"
    for _ in range(5):
        w.advance(hours=1)
        w.run({"e2e": PASS})
    assert w.tick().changes == 0
    assert w.issue("e2e").state == "open"


def test_a_failure_after_resolution_regresses_but_a_late_old_event_does_not(
    engine: Engine,
) -> None:
    w = World(engine)
    w.run({"unit": FAIL})
    for _ in range(3):
        w.advance(hours=1)
        w.run({"unit": PASS})
    w.tick()
    resolved_at = w.clock.now()
    assert w.issue("unit").state == "resolved"
    # An event from before the resolution arrives late: no regression.
    w.advance(hours=1)
    w.run({"unit": FAIL}, at=resolved_at - timedelta(hours=5))
    assert w.issue("unit").state == "resolved"
    w.run({"unit": FAIL}, commit="abc123")
    issue = w.issue("unit")
    assert issue.state == "regressed"
    reasons = [e.data.get("reason", "") for e in w.timeline(issue.id) if e.kind == "state_changed"]
    assert reasons[-1] == "failed again at commit abc123 after it was resolved"


# -- snooze, ignore, false positives ----------------------------------------------------------


def test_snooze_until_a_time_expires_on_a_tick(engine: Engine) -> None:
    w = World(engine)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    with Session(engine) as session, session.begin():
        snooze(session, issue.id, until=T0 + timedelta(days=1), reason="release freeze", now=T0)
    w.advance(hours=12)
    assert w.tick().unsnoozed == []
    w.advance(hours=13)
    assert w.tick().unsnoozed == [issue.id]
    assert w.row(issue.id)["snoozed_until"] is None
    assert [e.kind for e in w.timeline(issue.id)][-2:] == ["snoozed", "unsnoozed"]


def test_snooze_for_n_occurrences_wakes_on_the_nth(engine: Engine) -> None:
    w = World(engine)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    with Session(engine) as session, session.begin():
        snooze(session, issue.id, occurrences=2, reason="wait for the fix", now=T0)
    w.advance(hours=1)
    w.run({"unit": FAIL})
    assert w.row(issue.id)["snooze_occurrences"] == 1
    w.advance(hours=1)
    w.run({"unit": FAIL})
    assert w.row(issue.id)["snooze_occurrences"] is None
    [woke] = [e for e in w.timeline(issue.id) if e.kind == "unsnoozed"]
    assert woke.at == T0 + timedelta(hours=2)


def test_snooze_forever_ignores_and_bad_snoozes_are_refused(engine: Engine) -> None:
    w = World(engine)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    with Session(engine) as session, session.begin():
        with pytest.raises(InputError, match="exactly one"):
            snooze(session, issue.id, reason="x", now=T0)
        with pytest.raises(InputError, match="not in the future"):
            snooze(session, issue.id, until=T0 - timedelta(hours=1), reason="x", now=T0)
        snooze(session, issue.id, forever=True, reason="third-party noise", now=T0)
    assert w.issue("unit").state == "ignored"
    w.advance(hours=1)
    w.run({"unit": FAIL})  # an ignored issue stays ignored
    assert w.issue("unit").state == "ignored"


def test_issues_classified_false_positive_close_themselves(engine: Engine) -> None:
    settings = parse_settings(
        {
            "classification_rules": [
                {
                    "name": "known-noise",
                    "match": {"check": "canary*"},
                    "set": {"category": "false_positive"},
                }
            ]
        },
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"canary": FAIL, "unit": FAIL})
    summary = w.tick()
    assert summary.false_positives == [w.issue("canary").id]
    assert w.issue("canary").state == "false_positive"
    assert w.issue("unit").state == "open"
    assert w.tick().changes == 0


# -- SLA and escalation -----------------------------------------------------------------------


def test_sla_breach_escalates_once(engine: Engine) -> None:
    w = World(engine)  # default SLA: high 24 h, medium 72 h
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    due = w.row(issue.id)["sla_due_at"]
    assert due is not None
    w.clock.set(due - timedelta(minutes=1))
    assert w.tick().sla_breached == []
    w.clock.set(due + timedelta(minutes=1))
    summary = w.tick()
    assert summary.sla_breached == [issue.id]
    assert (issue.id, "sla_breach") in summary.escalated
    row = w.row(issue.id)
    assert row["escalation_level"] >= 1 and "sla_breach" in row["escalations"]
    assert w.tick().changes == 0


def test_untriaged_past_escalate_after_escalates_and_raises_priority(engine: Engine) -> None:
    settings = parse_settings(
        {
            "repositories": {
                REPO: {
                    "automation_rules": {"test_failures": {"escalate_after": 8, "sla_hours": 72}}
                }
            }
        },
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    before = issue.priority
    w.advance(hours=7)
    assert w.tick().escalated == []
    w.advance(hours=2)
    summary = w.tick()
    assert summary.escalated == [(issue.id, "untriaged")]
    after = w.issue("unit").priority
    assert (before, after) == ("medium", "high")
    [event] = [e for e in w.timeline(issue.id) if e.kind == "escalated"]
    assert event.data["reason"] == "not triaged within 8 h"
    # A new occurrence reclassifies the issue but keeps the escalated priority.
    w.run({"unit": FAIL})
    assert w.issue("unit").priority == "high"
    assert w.tick().changes == 0


def test_triaged_issues_do_not_escalate_for_lack_of_triage(engine: Engine) -> None:
    settings = parse_settings(
        {"repositories": {REPO: {"automation_rules": {"test_failures": {"escalate_after": 1}}}}},
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    with Session(engine) as session, session.begin():
        change_state(session, issue.id, S.TRIAGED, actor=Actor.HUMAN, reason="seen", now=T0)
    w.advance(hours=3)
    assert w.tick().escalated == []


def test_high_volume_is_one_repository_escalation_naming_the_new_issues(
    engine: Engine,
) -> None:
    settings = parse_settings({"escalation_triggers": {"high_volume_threshold": 3}}, "t.yaml")
    w = World(engine, settings)
    w.run({f"t{i}": (Status.FAIL, f"AssertionError: case {chr(97 + i)} broke") for i in range(2)})
    assert w.tick().repository_escalations == []  # 2 new issues < 3
    w.advance(minutes=30)
    w.run({"t2": (Status.FAIL, "KeyError: 'region'")})
    before = [w.issue(f"t{i}").priority for i in range(3)]
    summary = w.tick()
    ids = sorted(w.issue(f"t{i}").id for i in range(3))
    assert summary.repository_escalations == [(REPO, T0.date().isoformat(), ids)]
    assert summary.escalated == []  # no issue's priority moved
    assert [w.issue(f"t{i}").priority for i in range(3)] == before
    [event] = [e for e in w.timeline(ids[0]) if e.kind == "repository_escalated"]
    assert event.data["reason"].startswith(f"{REPO}: 3 new issues on {T0.date().isoformat()}")
    # once per repository and day: a fourth issue the same day adds no second escalation
    w.run({"t3": (Status.FAIL, "ValueError: bad month")})
    assert w.tick().changes == 0


def test_an_issue_failing_on_three_days_of_a_week_escalates_as_recurring(engine: Engine) -> None:
    w = World(engine)
    for _ in range(3):  # three failures in one afternoon: reruns, not a recurrence
        w.run({"unit": FAIL})
        w.advance(minutes=20)
    assert not any(t == "recurring" for _, t in w.tick().escalated)
    w.advance(days=1)
    w.run({"unit": FAIL})
    assert not any(t == "recurring" for _, t in w.tick().escalated)
    w.advance(days=2)
    w.run({"unit": FAIL})
    summary = w.tick()
    assert (w.issue("unit").id, "recurring") in summary.escalated
    [event] = [e for e in w.timeline(w.issue("unit").id) if e.data.get("trigger") == "recurring"]
    assert event.data["reason"].startswith("failed on 3 different days in 7 days (threshold 3)")


def test_escalation_raises_priority_one_step_at_most_and_never_to_critical(
    engine: Engine,
) -> None:
    settings = parse_settings(
        {
            "repositories": {
                REPO: {
                    "automation_rules": {
                        "test_failures": {"priority": "high", "sla_hours": 1, "escalate_after": 1}
                    }
                }
            },
        },
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"unit": FAIL})
    w.advance(hours=3)
    summary = w.tick()
    triggers = {trigger for _, trigger in summary.escalated}
    assert {"untriaged", "sla_breach"} <= triggers  # two triggers, each once
    row = w.row(w.issue("unit").id)
    assert row["priority"] == "high"  # critical is for P0 failures, not for waiting
    # the triggers of one tick make one escalation: one event naming them, one level
    assert row["escalation_level"] == 1
    [event] = [e for e in w.timeline(row["id"]) if e.kind == "escalated"]
    assert set(event.data["triggers"]) == triggers
    assert w.tick().changes == 0


def test_a_low_severity_issue_is_never_lifted_above_medium(engine: Engine) -> None:
    settings = parse_settings(
        {"repositories": {REPO: {"automation_rules": {"data_quality": {"escalate_after": 1}}}}},
        "t.yaml",
    )
    w = World(engine, settings)
    warn = (Status.FAIL, "Got 3 results, configured to warn if != 0")
    w.run({"test.shop.not_null_orders_id": warn})
    issue = w.issue("test.shop.not_null_orders_id")
    assert issue.severity == "low"
    for _ in range(4):  # fails every day: recurring, SLA, ...
        w.advance(days=1)
        w.run({"test.shop.not_null_orders_id": warn})
        w.tick()
    assert w.row(issue.id)["escalation_level"] >= 1  # it did escalate
    assert w.issue("test.shop.not_null_orders_id").priority in ("low", "medium")


def test_a_pattern_in_two_repositories_escalates(engine: Engine) -> None:
    w = World(engine)
    disk = (Status.ERROR, "OSError: [Errno 28] No space left on device: '/tmp/build-1'")
    w.run({"build": disk}, repo="acme/one")
    w.run({"build": disk}, repo="acme/two")
    summary = w.tick()
    triggers = {trigger for _, trigger in summary.escalated}
    assert "cross_repo" in triggers
    assert len([1 for _, trig in summary.escalated if trig == "cross_repo"]) == 2


def test_snoozed_issues_do_not_escalate(engine: Engine) -> None:
    w = World(engine)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    with Session(engine) as session, session.begin():
        snooze(session, issue.id, until=T0 + timedelta(days=30), reason="later", now=T0)
    w.advance(days=10)
    summary = w.tick()
    assert summary.sla_breached == [issue.id]
    assert summary.escalated == []


def test_monitor_is_idempotent_over_a_busy_history(engine: Engine) -> None:
    w = World(engine)
    for day in range(5):
        w.run({"unit": FAIL if day % 2 else PASS, "deps": NET if day == 1 else PASS})
        w.advance(days=1)
    first = w.tick()
    assert first.ran
    assert w.tick().changes == 0


# -- side effects through the outbox ----------------------------------------------------------


def _outbox(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with Session(engine) as session:
        return [
            (r.kind, r.key, dict(r.data))
            for r in session.execute(select(t.jobs).order_by(t.jobs.c.id))
        ]


def test_changes_and_agent_mentions_go_to_the_outbox_once(engine: Engine) -> None:
    settings = parse_settings({"lifecycle": {"agent_handle": "claude"}}, "t.yaml")
    w = World(engine, settings)
    w.run({"deps": NET, "unit": FAIL})
    w.run({"unit": FAIL}, attempt=2)  # failed again on the retry: the agent is told
    for _ in range(3):
        w.advance(hours=1)
        w.run({"deps": PASS, "unit": FAIL})
    summary = run_tick(engine, settings, clock=w.clock, on_change=notify_change)
    assert summary.auto_resolved == [w.issue("deps").id]
    rows = _outbox(engine)
    # (kind notify only: the on-call digest of triagehub.engine.oncall is another job kind)
    resolved = [data for kind, _, data in rows if kind == "notify" and data["event"] == "resolved"]
    assert len(resolved) == 1
    assert resolved[0]["text"].startswith(f"Issue #{w.issue('deps').id} auto_resolved:")
    assert resolved[0]["summary"]["repository"] == REPO
    agent = [d for kind, _, d in rows if kind == "notify" and d["event"] == "agent_mention"]
    assert [a["issue_id"] for a in agent] == summary.agent_notified == [w.issue("unit").id]
    assert all(a["text"].startswith("@claude please take triagehub issue") for a in agent)
    # A second tick writes nothing more.
    again = run_tick(engine, settings, clock=w.clock, on_change=notify_change)
    assert again.changes == 0
    assert len(_outbox(engine)) == len(rows)


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_moves_snoozes_and_ticks(db_url: str, engine: Engine) -> None:
    from test_cli import cli, ok

    w = World(engine)
    w.run({"unit": FAIL}, at=SystemClock().now() - timedelta(hours=1))
    issue = w.issue("unit")
    refused = cli(db_url, "issues", "state", str(issue.id), "regressed", "--reason", "x")
    assert refused.returncode != 0
    assert "cannot go from open to regressed (from open: assigned, false_positive" in refused.stderr
    assert "bogus" in cli(db_url, "issues", "state", str(issue.id), "bogus", "--reason", "x").stderr
    out = ok(cli(db_url, "issues", "state", str(issue.id), "in_progress", "--reason", "on it"))
    assert out.strip() == f"#{issue.id} state: open -> in_progress"
    out = ok(cli(db_url, "issues", "snooze", str(issue.id), "--until", "7d", "--reason", "freeze"))
    assert "snoozed until" in out
    bad = cli(db_url, "issues", "snooze", str(issue.id), "--until", "soon", "--reason", "x")
    assert bad.returncode != 0 and "--until" in bad.stderr
    first = json.loads(ok(cli(db_url, "monitor", "--format", "json")))
    second = json.loads(ok(cli(db_url, "monitor", "--format", "json")))
    assert first["ran"] and second["changes"] == 0


# -- polling at each tick -----------------------------------------------------------------------


def test_a_tick_polls_the_configured_sources(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_github import DEFAULT_TOKEN, FakeGitHub, make_job
    from triagehub.engine.monitor import poll_sources

    settings = parse_settings(
        {
            "repositories": {"octo-org/octo-repo": {}},
            "lifecycle": {"poll": {"github_actions": True, "since_hours": 24 * 30}},
        },
        "t.yaml",
    )
    # The fake's runs are dated 2026-11-01 (make_run); the poll's "now" is one clock beside them,
    # so the 30-day window can never expire.
    clock = FixedClock(datetime(2026, 11, 2, tzinfo=UTC))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    refused = poll_sources(engine, settings, clock=clock)
    assert refused.sources == {"github_actions": {"error": "GITHUB_TOKEN is not set; not polled"}}
    with FakeGitHub() as fake:
        [run] = fake.add_runs(1)
        job = make_job(1001, run["id"])
        fake.jobs[run["id"]] = [job]
        fake.job_logs[job["id"]] = b"2026-11-01T00:01:02.0000000Z ##[error]boom\n"
        monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
        monkeypatch.setenv("TRIAGEHUB_GITHUB_API_URL", fake.base_url)
        fake.now = clock.now
        polled = poll_sources(engine, settings, clock=clock)
        again = poll_sources(engine, settings, clock=clock)
    assert polled.sources["github_actions"]["runs"] == 1
    assert again.sources["github_actions"]["runs"] == 0  # the cursor moved
    assert (
        poll_sources(engine, Settings(), clock=clock).sources == {}
    )  # nothing configured, nothing polled


def test_a_critical_issue_without_a_human_response_notifies_the_escalation_target(
    engine: Engine,
) -> None:
    settings = parse_settings(
        {
            "repositories": {
                REPO: {
                    "priority_level": "critical",
                    "automation_rules": {"test_failures": {"priority": "critical"}},
                }
            },
            "escalation_triggers": {"critical_response_time": 2},
            "lifecycle": {"escalation_target": "@oncall"},
        },
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    assert issue.priority == "critical"
    w.advance(hours=1)
    assert w.tick().escalated == []
    w.advance(hours=2)
    sent: list[str] = []

    def hook(session: Session, row: Mapping[str, Any], kind: str, data: dict[str, Any]) -> None:
        sent.append(", ".join(data.get("notify", [])))

    summary = run_tick(engine, settings, clock=w.clock, on_change=hook)
    assert summary.escalated == [(issue.id, "critical_response")]
    assert sent and sent[0].endswith("@oncall")
    assert w.tick().changes == 0


def test_a_human_response_stops_the_critical_response_trigger(engine: Engine) -> None:
    settings = parse_settings(
        {
            "repositories": {
                REPO: {"automation_rules": {"test_failures": {"priority": "critical"}}}
            },
            "escalation_triggers": {"critical_response_time": 2},
        },
        "t.yaml",
    )
    w = World(engine, settings)
    w.run({"unit": FAIL})
    issue = w.issue("unit")
    with Session(engine) as session, session.begin():
        change_state(session, issue.id, S.TRIAGED, actor=Actor.HUMAN, reason="on it", now=T0)
    w.advance(hours=3)
    assert not any(t == "critical_response" for _, t in w.tick().escalated)

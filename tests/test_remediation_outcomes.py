"""Remediation sessions and what came of them (#25), on SQLite and PostgreSQL: the agent's hook
events after "Start remediation session" attach to the pending session (by the hand-off key, or
the issue alone); every session and pull request that tried to fix an issue is an attempt whose
outcome is read from the issue's failures and resolutions after the fix (succeeded, failed,
pending); the decision-accuracy figure counts whether the chosen path worked; a spec proposal
is valid for, and listed by, the real ``openspec`` CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from remediation_hub import (
    CHECK,
    FAILED_AT,
    NOW,
    PROJECT,
    REPO,
    Hub,
    after,
    hub_settings,
    issue_of,
    running_hub,
    upload_report,
)
from test_specs import cli_json, openspec_cli, run_cli  # noqa: F401 (the fixture)
from triagehub.clock import FixedClock
from triagehub.engine.monitor import run_tick
from triagehub.store import tables as t
from triagehub.store.metrics import brief_metrics
from triagehub.store.remediation import PathVerdict, path_verdicts
from triagehub.work.agent_prs import record_pull_request
from triagehub.work.specs import OpenSpecReader

GITHUB = "acme/web-issues"


@pytest.fixture
def hub(engine: Engine, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(engine, tmp_path) as built:
        yield built


def start(hub: Hub, issue_id: int | None = None) -> str:
    answer = hub.action("remediation", issue_id=issue_id)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["session"]["session_id"])


def agent_works(hub: Hub, session_id: str, hours: tuple[float, float], **triagehub: Any) -> None:
    """A whole agent session: start, one tool use, end (their times: after the failure)."""
    begin, end = hours
    script = [
        ("SessionStart", begin),
        ("PreToolUse", begin + 0.1),
        ("PostToolUse", begin + 0.2),
        ("SessionEnd", end),
    ]
    for n, (event, at) in enumerate(script):
        answer = hub.hook(
            session_id, event, event_id=f"{session_id}-{n}", sent_at=after(at), **triagehub
        )
        assert answer.status_code == 202, answer.text


def passes(hub: Hub, *hours: float) -> None:
    """Green runs of the failing check at these hours after the failure."""
    hub.events_api(
        [
            {
                "repository": REPO,
                "check": CHECK,
                "status": "pass",
                "at": after(h),
                "commit": f"g{h}",
            }
            for h in hours
        ]
    )


def tick(hub: Hub) -> None:
    run_tick(hub.engine, hub_settings(hub.root), clock=FixedClock(NOW))


def attempts(hub: Hub, issue_id: int | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = hub.issue(issue_id)["remediation_attempts"]
    return found


def sessions_of(engine: Engine, issue_id: int) -> list[dict[str, Any]]:
    s = t.agent_sessions.c
    with Session(engine) as session:
        return [
            dict(r)
            for r in session.execute(
                select(s.session_key, s.handoff_key, s.status, s.started_at, s.events_count)
                .where(s.issue_id == issue_id)
                .order_by(s.id)
            ).mappings()
        ]


# -- hook events attach to the session the hand-off recorded -----------------------------------


def test_a_hook_event_after_start_attaches_to_that_session(hub: Hub) -> None:
    key = start(hub)
    assert [s["status"] for s in sessions_of(hub.engine, hub.issue_id)] == ["pending"]
    answer = hub.hook("claude-7f3a", "SessionStart", remediation=key, sent_at=after(1))
    assert answer.status_code == 202, answer.text
    view = answer.json()["session"]
    assert view["session_id"] == "claude-7f3a" and view["handoff_key"] == key
    assert view["work_item"] == {"type": "issue", "id": hub.issue_id}
    assert view["session_type"] == "error_remediation"
    hub.hook("claude-7f3a", "PreToolUse", remediation=key)
    [row] = sessions_of(hub.engine, hub.issue_id)  # the same session, not a second one
    assert row["session_key"] == "claude-7f3a" and row["events_count"] == 2
    assert row["status"] == "active"
    assert row["started_at"] == FAILED_AT + timedelta(hours=1)  # the agent's first event
    by_key = hub.client.get(f"/api/v1/agents/{key}").json()
    assert by_key["session_id"] == "claude-7f3a" and len(by_key["recent_events"]) == 2
    [attached] = hub.events("agent_attached")
    assert attached["actor"] == "agent"
    assert attached["data"] == {"session": "claude-7f3a", "handoff": key}


def test_hook_events_naming_only_the_issue_attach_to_its_pending_session(hub: Hub) -> None:
    first, second = start(hub), start(hub)
    answer = hub.hook("claude-b", "SessionStart", issue_id=hub.issue_id)
    assert answer.json()["session"]["handoff_key"] == first  # the oldest pending one
    statuses = {s["handoff_key"]: s["status"] for s in sessions_of(hub.engine, hub.issue_id)}
    assert statuses == {first: "active", second: "pending"}


def test_an_unknown_or_mismatched_hand_off_key_is_refused(hub: Hub, engine: Engine) -> None:
    key = start(hub)
    unknown = hub.hook("claude-c", "SessionStart", remediation="rem-1-000000000000")
    assert unknown.status_code == 404 and "no remediation hand-off" in unknown.text
    other = issue_of(engine, "demo.spec.js › triage demo › times out: waits for missing element")
    mismatched = hub.hook("claude-c", "SessionStart", remediation=key, issue_id=other)
    assert mismatched.status_code == 409 and f"issue #{hub.issue_id}" in mismatched.text
    bad = hub.hook("claude-c", "SessionStart", remediation="rem 1; drop")
    assert bad.status_code == 422 and "triagehub.remediation" in bad.text
    assert [s["status"] for s in sessions_of(engine, hub.issue_id)] == ["pending"]
    assert hub.events("agent_attached") == []


def test_a_second_agent_session_with_the_same_key_works_on_the_same_issue(hub: Hub) -> None:
    key = start(hub)
    hub.hook("claude-d1", "SessionStart", remediation=key)
    again = hub.hook("claude-d2", "SessionStart", remediation=key)
    assert again.status_code == 202
    assert again.json()["session"]["work_item"] == {"type": "issue", "id": hub.issue_id}
    keys = [s["session_key"] for s in sessions_of(hub.engine, hub.issue_id)]
    assert keys == ["claude-d1", "claude-d2"]


def test_an_agent_session_that_named_the_key_late_takes_the_hand_off_over(hub: Hub) -> None:
    key = start(hub)
    hub.hook("claude-e", "SessionStart")  # a session the hub knows, not linked yet
    answer = hub.hook("claude-e", "PreToolUse", remediation=key)
    assert answer.status_code == 202, answer.text
    [row] = sessions_of(hub.engine, hub.issue_id)
    assert row["session_key"] == "claude-e" and row["handoff_key"] == key
    assert len(hub.events("agent_attached")) == 1


# -- attempts and their outcomes ----------------------------------------------------------------


def test_attempt_succeeds_when_the_checks_pass_k_times_after_the_session(hub: Hub) -> None:
    key = start(hub)
    [pending] = attempts(hub)
    assert pending["outcome"] == "pending" and "first hook event" in pending["reason"]
    agent_works(hub, "claude-ok", (1, 2), remediation=key)
    [ended] = attempts(hub)
    assert ended["ref"] == "claude-ok" and ended["status"] == "completed"
    assert ended["outcome"] == "pending" and ended["fixed_at"] == after(2).replace("+00:00", "Z")
    passes(hub, 3, 4, 5)
    tick(hub)
    assert hub.issue()["state"] == "resolved"
    [done] = attempts(hub)
    assert done["outcome"] == "succeeded", done
    assert done["outcome_at"] == after(5).replace("+00:00", "Z")
    assert "3 green runs" in done["reason"]


def test_attempt_fails_when_the_issue_fails_again_after_the_session(hub: Hub) -> None:
    key = start(hub)
    agent_works(hub, "claude-ko", (1, 2), remediation=key)
    upload_report(hub.client, hub.tokens["write"], finished=FAILED_AT + timedelta(hours=3))
    [attempt] = attempts(hub)
    assert attempt["outcome"] == "failed", attempt
    assert attempt["outcome_at"] == after(3).replace("+00:00", "Z")
    assert "failed again" in attempt["reason"]
    # A second session after that failure is its own attempt, and it worked; the resolution
    # after both does not make the first one a success.
    agent_works(hub, "claude-ok2", (3.5, 3.8), issue_id=hub.issue_id)
    passes(hub, 4, 5, 6)
    tick(hub)
    assert hub.issue()["state"] == "resolved"
    assert [a["outcome"] for a in attempts(hub)] == ["failed", "succeeded"]


def _pull_request(hub: Hub, action: str, login: str, merged: str | None, number: int) -> None:
    payload = {
        "action": action,
        "pull_request": {
            "html_url": f"https://github.com/{GITHUB}/pull/{number}",
            "number": number,
            "title": "Fix the heading",
            "body": "Fixes #5",
            "state": "closed" if action == "closed" else "open",
            "merged_at": merged,
            "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
        },
        "repository": {"full_name": GITHUB},
    }
    with Session(hub.engine) as session, session.begin():
        status, detail = record_pull_request(session, hub_settings(hub.root), payload, NOW)
    assert status in ("recorded", "duplicate"), detail  # a state change alone: "duplicate"


def test_a_session_follows_its_agents_pull_request(hub: Hub) -> None:
    with Session(hub.engine) as session, session.begin():  # the issue is mirrored as #5
        session.execute(
            update(t.issues)
            .where(t.issues.c.id == hub.issue_id)
            .values(github_repo=GITHUB, github_number=5)
        )
    _pull_request(hub, "opened", "octo-human", None, 8)
    _pull_request(hub, "closed", "octo-human", None, 8)  # closed unmerged
    key = start(hub)
    agent_works(hub, "claude-pr", (1, 1.5), remediation=key)
    _pull_request(hub, "opened", "claude[bot]", None, 9)
    session_, human = attempts(hub)  # by start: the session (1 h), the PR linked now
    assert human["kind"] == "pull_request" and human["outcome"] == "failed"
    assert human["reason"] == "its pull request was closed without merging"
    assert session_["kind"] == "session" and session_["outcome"] == "pending"
    assert session_["pull_request"] == f"https://github.com/{GITHUB}/pull/9"
    assert session_["reason"] == "its pull request is open"
    # The merge is the fix: a failure before it does not count against the session.
    upload_report(hub.client, hub.tokens["write"], finished=FAILED_AT + timedelta(hours=2))
    _pull_request(hub, "closed", "claude[bot]", after(2.5), 9)
    passes(hub, 3, 4, 5)
    tick(hub)
    session_ = attempts(hub)[0]
    assert session_["outcome"] == "succeeded", session_
    assert session_["fixed_at"] == after(2.5).replace("+00:00", "Z")
    assert hub.issue()["state"] == "resolved"


def test_decision_accuracy_counts_whether_the_chosen_path_worked(hub: Hub, engine: Engine) -> None:
    timeout = issue_of(engine, "demo.spec.js › triage demo › times out: waits for missing element")
    decisions = {hub.issue_id: hub.issue()["decision"], timeout: hub.issue(timeout)["decision"]}
    assert set(decisions.values()) == {"one_off_fix"}  # triagehub chose a fix for both
    # Both fail again at 3 h. The timeout's fix session had ended (1-2 h): it failed. The
    # heading's ended after that failure (3.2-3.5 h), then its check passed: it worked.
    agent_works(hub, "claude-2", (1, 2), remediation=start(hub, timeout))
    upload_report(hub.client, hub.tokens["write"], finished=FAILED_AT + timedelta(hours=3))
    agent_works(hub, "claude-1", (3.2, 3.5), remediation=start(hub))
    passes(hub, 4, 5, 6)
    tick(hub)
    assert attempts(hub)[0]["outcome"] == "succeeded"
    assert attempts(hub, timeout)[0]["outcome"] == "failed"

    def figure() -> Any:
        with Session(engine) as session:
            found = brief_metrics(
                session, repository=REPO, since=FAILED_AT - timedelta(hours=1), until=NOW
            )
        return next(m for m in found if m.name == "decision_accuracy")

    metric = figure()
    assert (metric.value, metric.numerator, metric.denominator) == (0.5, 1, 2)
    assert metric.target == 0.7 and metric.met is False
    assert metric.detail == {"tested_by_person": 0, "tested_by_outcome": 2}
    # A person then calls the timeout a spec: that decision did not hold either.
    answer = hub.action("spec", issue_id=timeout)
    assert answer.status_code == 201, answer.text
    again = figure()
    assert (again.numerator, again.denominator) == (1, 2)
    assert again.detail == {"tested_by_person": 1, "tested_by_outcome": 2}


def accuracy(engine: Engine) -> Any:
    with Session(engine) as session:
        found = brief_metrics(
            session, repository=REPO, since=FAILED_AT - timedelta(hours=1), until=NOW
        )
    return next(m for m in found if m.name == "decision_accuracy")


def test_a_cancelled_session_is_no_tried_fix_and_a_spec_that_worked_is_judged(
    hub: Hub, engine: Engine
) -> None:
    # The remediation session is cancelled before its agent started: the fix path was not
    # tried, so whatever happens next says nothing about the decision (one_off_fix).
    key = start(hub)
    cancelled = hub.post(f"/issues/{hub.issue_id}/remediation/{key}/cancel", None)
    assert cancelled.status_code == 200, cancelled.text
    assert [a["outcome"] for a in attempts(hub)] == ["cancelled"]
    with Session(engine) as session:
        assert path_verdicts(session, [hub.issue_id]) == {}
    assert accuracy(engine).detail == {"tested_by_person": 0, "tested_by_outcome": 0}
    # The person takes the spec path instead (at NOW); the checks then pass K times: the spec
    # worked, the path triagehub chose (a fix) is not the one that worked.
    assert hub.action("spec").status_code == 201
    passes(hub, 9, 10, 11)
    tick(hub)
    assert hub.issue()["state"] in ("resolved", "auto_resolved")
    with Session(engine) as session:
        assert path_verdicts(session, [hub.issue_id]) == {hub.issue_id: PathVerdict("spec", True)}
    metric = accuracy(engine)
    assert metric.detail == {"tested_by_person": 1, "tested_by_outcome": 1}
    assert (metric.numerator, metric.denominator) == (0, 1)
    assert [a["outcome"] for a in attempts(hub)] == ["cancelled"]  # still no fix tried


# -- the spec proposal and the real openspec CLI -------------------------------------------------


def test_spec_proposal_is_valid_for_and_listed_by_the_openspec_cli(
    engine: Engine,
    tmp_path: Path,
    openspec_cli: str,  # noqa: F811 (the fixture)
) -> None:
    root = tmp_path / "specs"
    project = root / PROJECT
    project.mkdir(parents=True)
    init = ("init", "--tools", "none", "--no-animation", "--no-copilot-cloud", ".")
    run_cli(openspec_cli, *init, cwd=project)
    with running_hub(engine, tmp_path) as hub:
        answer = hub.action("spec")
        assert answer.status_code == 201, answer.text
        body = answer.json()
        change_id = body["change_id"]
        assert body["project"] == PROJECT and body["created"] is True
        assert body["validation"]["valid"] is True, body["validation"]
        assert body["change"]["total_tasks"] == 4 and body["change"]["delta_count"] == 1
        again = hub.action("spec")
        assert again.status_code == 200 and again.json()["created"] is False
        issue = hub.issue()
        assert issue["lifecycle"]["spec_change"] == change_id
        assert issue["decision"] == "needs_spec"
        [override] = hub.events("overridden")
        assert override["data"]["changes"]["decision"] == {
            "from": "one_off_fix",
            "to": "needs_spec",
        }
        assert override["data"]["reason"] == "keeps failing"
        [linked] = hub.events("spec_linked")
        assert linked["data"]["change"] == change_id and linked["actor"] == "token:ci"
    report = cli_json(openspec_cli, "validate", change_id, "--strict", cwd=project)
    assert report["items"][0]["valid"] is True, report
    listed = {c["name"] for c in cli_json(openspec_cli, "list", cwd=project)["changes"]}
    assert change_id in listed
    shown = cli_json(openspec_cli, "show", change_id, cwd=project)
    assert shown["deltaCount"] == 1
    with OpenSpecReader([root]) as reader:
        why = reader.change(reader.project(PROJECT), change_id).why or ""
    assert "fails: wrong heading text" in why  # the title
    assert "toHaveText" in why  # a key error line
    assert f"`{CHECK}`" in why  # the failing check
    assert f"/api/v1/issues/{hub.issue_id}/evidence" in why  # the evidence pack
    assert len(why) <= 1000
    tasks = (project / "openspec" / "changes" / change_id / "tasks.md").read_text()
    assert tasks.count("- [ ]") == 4


# -- the issue page ----------------------------------------------------------------------------


def test_issue_page_shows_the_pending_session_then_its_hook_events(hub: Hub) -> None:
    key = start(hub)
    page = hub.client.get(f"/issues/{hub.issue_id}").text
    assert f"TRIAGEHUB_REMEDIATION={key}" in page and "Waiting for the agent" in page
    agent_works(hub, "claude-page", (1, 2), remediation=key)
    page = hub.client.get(f"/issues/{hub.issue_id}").text
    assert "claude-page" in page and "npx playwright test" in page
    assert "agent session attached: claude-page" in page
    assert 'class="pill o-pending"' in page

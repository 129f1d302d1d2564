"""`/triage investigate`, `/triage fix` and the claude:* labels on a mirrored GitHub issue: the
job investigates (evidence pack alone without an API key, or Claude's brief from the local
Messages API server) and comments; a fix hands the issue to the agent with a task statement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fake_anthropic import DEFAULT_API_KEY, FakeAnthropic, ToolAnswer
from fake_github import DoThenDisconnect, FakeGitHub
from test_github_sync import PASS, REPO, TARGET, Hub, linked, payload
from triagehub.config import parse_settings
from triagehub.engine.brief_text import handoff_marker
from triagehub.engine.monitor import run_tick
from triagehub.engine.remediation import cancel_remediation, start_remediation
from triagehub.engine.sync import render


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def hub_with(engine: Engine, fake: FakeGitHub, llm: dict[str, object] | None = None) -> Hub:
    settings = parse_settings(
        {
            "repositories": {REPO: {"github_issues": {"target": TARGET, "min_priority": "low"}}},
            "lifecycle": {"agent_handle": "claude"},
            **({"llm": llm} if llm else {}),
        },
        "t.yaml",
    )
    return Hub(engine, fake, settings)


def test_triage_fix_hands_the_issue_to_the_agent(
    engine: Engine, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    hub = hub_with(engine, fake)
    try:
        linked(hub)
        event = payload("issue_comment.created.0.json", comment__body="Please\n/triage fix")
        hub.webhook("issue_comment", event, "d-fix")
        hub.work()
        handoff = [c for c in hub.comments() if "please fix this failure" in c]
        assert len(handoff) == 1
        assert "@claude please fix this failure" in handoff[0]
        assert "Fixes #1" in handoff[0]
        assert "No AI brief (skipped_disabled" in handoff[0]  # the evidence pack alone
        assert "AssertionError: assert total == 42" in handoff[0]
        [event_row] = hub.events("handed_off")
        assert event_row["actor"] == "github:Codertocat"
        assert event_row["data"]["agent"] == "@claude" and event_row["data"]["posted"] is True
        # One path with the dashboard's "Start remediation session": a pending session whose
        # key the comment gives the agent's hook script.
        [started] = hub.events("remediation_started")
        key = started["data"]["session"]
        assert event_row["data"]["session"] == key and key.startswith("rem-")
        assert f"TRIAGEHUB_REMEDIATION={key}" in handoff[0]
    finally:
        hub.github.close()


def handoffs(hub: Hub) -> list[str]:
    return [c for c in hub.comments() if "please fix this failure" in c]


def test_a_lost_answer_to_the_handoff_comment_is_not_posted_twice(
    engine: Engine, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    hub = hub_with(engine, fake)

    def lose_the_answer(request: Any) -> Any:
        body = request.json if request.method == "POST" else None
        if isinstance(body, dict) and "please fix this failure" in str(body.get("body")):
            hub.fake.intercept = None
            return DoThenDisconnect()  # GitHub posts the comment; its answer never arrives
        return None

    try:
        linked(hub)
        hub.fake.intercept = lose_the_answer
        event = payload("issue_comment.created.0.json", comment__body="/triage fix")
        hub.webhook("issue_comment", event, "d-fix")
        hub.work()
        [job] = hub.jobs("investigate")
        assert job["status"] == "pending" and job["attempts"] == 1  # the outbox will retry
        assert len(handoffs(hub)) == 1 and hub.events("handed_off") == []

        hub.advance(minutes=5)
        hub.work()
        [comment] = handoffs(hub)
        [job] = hub.jobs("investigate")
        assert job["status"] == "done" and job["attempts"] == 2
        assert "posted by an earlier try" in job["data"]["result"]["note"]
        [started] = hub.events("remediation_started")
        key = started["data"]["session"]
        assert comment.startswith(handoff_marker(hub.issue()["id"], key))
        sent = [r for r in hub.requests("POST", "/comments") if "please fix" in str(r.json)]
        assert len(sent) == 1
        [handed] = hub.events("handed_off")
        assert handed["data"]["posted"] is True and handed["data"]["session"] == key
    finally:
        hub.github.close()


def test_a_hand_off_cancelled_before_its_job_ran_is_not_posted(
    engine: Engine, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    hub = hub_with(engine, fake)
    try:
        linked(hub)
        issue_id = hub.issue()["id"]
        with Session(engine) as session, session.begin():  # as /triage fix and the dashboard
            key = start_remediation(
                session, issue_id, actor="token:ci", by="ci", now=hub.clock.now()
            ).session.session_id
        with Session(engine) as session, session.begin():
            cancel_remediation(session, issue_id, key, actor="token:ci", now=hub.clock.now())
        hub.work()
        assert handoffs(hub) == [] and hub.events("handed_off") == []
        [job] = hub.jobs("investigate")
        assert job["status"] == "done" and "cancelled" in job["data"]["result"]["note"]
        assert job["data"]["result"]["posted"] is False
        [cancelled] = hub.events("remediation_cancelled")
        assert cancelled["data"]["session"] == key
    finally:
        hub.github.close()


def test_claude_investigate_label_posts_the_brief(
    engine: Engine, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_investigate import BRIEF

    with FakeAnthropic() as claude:
        monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
        hub = hub_with(engine, fake, {"base_url": claude.base_url, "timeout_s": 5})
        try:
            linked(hub)
            # The brief may only cite what the evidence holds: line 1 of the key excerpt.
            cited = {"cause": "total() changed", "evidence": ["line 1"], "likelihood": 1}
            brief = {**BRIEF, "hypotheses": [cited]}
            claude.enqueue(ToolAnswer(input=brief, name="record_investigation"))
            labels = [{"name": "claude:investigate", "color": "ededed", "default": False}]
            event = payload(
                "issues.labeled.9.json", label__name="claude:investigate", issue__labels=labels
            )
            assert hub.webhook("issues", event, "d-label").status_code == 202
            hub.work()
            posted = [c for c in hub.comments() if "Investigation of triagehub issue" in c]
            assert len(posted) == 1
            assert BRIEF["summary"] in posted[0] and "**Next step**" in posted[0]
            assert hub.events("investigated")[0]["actor"] == "llm"
            assert hub.events("handed_off") == []
        finally:
            hub.github.close()


def pr_event(
    action: str, *, merged_at: str | None = None, login: str = "claude[bot]"
) -> dict[str, Any]:
    """A ``pull_request`` delivery (the fields of GitHub's payload that triagehub reads)."""
    return {
        "action": action,
        "number": 7,
        "pull_request": {
            "html_url": f"https://github.com/{TARGET}/pull/7",
            "number": 7,
            "title": "Round order totals half up",
            "body": "Fixes #1\n\nThe total was rounded down.",
            "state": "closed" if action == "closed" else "open",
            "merged_at": merged_at,
            "user": {"login": login, "type": "Bot"},
        },
        "repository": {"full_name": TARGET},
        "sender": {"login": login, "type": "Bot"},
    }


def resolved_by_agent(hub: Hub) -> str:
    """Its checks then pass K (3) times: the issue is resolved, with actor ``agent`` on the
    timeline; the resolution's reason."""
    for _ in range(3):
        hub.advance(minutes=10)
        hub.run({"unit": PASS, "lint": PASS})
    run_tick(hub.engine, hub.settings, clock=hub.clock)
    assert hub.issue()["state"] == "resolved"
    [resolved] = hub.events("state_changed")
    assert resolved["actor"] == "agent"
    return str(resolved["data"]["reason"])


def test_the_agents_pull_request_is_linked_and_its_merge_recorded(
    engine: Engine, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    hub = hub_with(engine, fake)
    try:
        linked(hub)
        hub.advance(minutes=5)
        opened = hub.webhook("pull_request", pr_event("opened"), "d-pr1")
        assert opened.json()["status"] == "recorded", opened.json()
        again = hub.webhook("pull_request", pr_event("edited"), "d-pr2")
        assert again.json()["status"] == "duplicate"
        merged = pr_event("closed", merged_at=hub.clock.now().isoformat())
        assert hub.webhook("pull_request", merged, "d-pr3").json()["status"] == "recorded"
        [link] = hub.events("pr_linked")
        [merge] = hub.events("pr_merged")
        assert link["actor"] == "agent" and merge["actor"] == "agent"
        assert link["data"]["url"] == f"https://github.com/{TARGET}/pull/7"
        other = pr_event("opened")
        other["pull_request"]["body"] = "Refactor, no issue"
        assert hub.webhook("pull_request", other, "d-pr4").json()["status"] == "ignored"

        hub.advance(minutes=30)
        hub.sync()
        meta = render.parse_metadata(hub.gh()["body"])
        assert meta is not None
        assert meta["related_prs"] == [f"https://github.com/{TARGET}/pull/7"]

        assert "agent's pull request" in resolved_by_agent(hub)
    finally:
        hub.github.close()

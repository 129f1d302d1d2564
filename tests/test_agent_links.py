"""The hand-off loop without webhooks, and agent sessions linked to their issues: the agent's pull
request found by polling GitHub (the fake GitHub, a real local HTTP server) through the webhook's
own code, its merge and the green runs that then resolve the issue with actor ``agent``; a pull
request seen by webhook and poll linked once; hook sessions that reference an issue linked to it,
in the API and on the issue page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from fake_github import FakeGitHub, Recorded, Reply
from test_github_sync import REPO, TARGET, Hub, linked
from test_handoff import hub_with, resolved_by_agent
from triagehub.api.app import WebhookConfig, create_app
from triagehub.engine.pull.github_actions import PollSummary, poll_github_actions
from triagehub.engine.pull.github_prs import poll_pull_requests
from triagehub.store import tables as t
from triagehub.store.queries import create_api_token
from triagehub.work.agent_prs import record_pr, related_prs
from triagehub.work.agents.refs import event_text, find_refs

FIX_BODY = "Fixes #1\n\nThe total was rounded down."


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def hub(engine: Engine, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The hub mirroring one failing check as GitHub issue #1, agent handle ``claude``."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    h = hub_with(engine, fake)
    try:
        yield linked(h)
    finally:
        h.github.close()


def poll(hub: Hub) -> PollSummary:
    """The GitHub poll of the watched repository (no workflow runs on the fake: pull requests)."""
    return poll_github_actions(
        hub.engine,
        hub.settings,
        hub.github,
        repositories=[REPO],
        since=timedelta(days=1),
        clock=hub.clock,
    )


def pr_rows(hub: Hub) -> list[Any]:
    with Session(hub.engine) as session:
        return list(session.execute(select(t.issue_prs)).mappings())


def delivery(pr: dict[str, Any], action: str) -> dict[str, Any]:
    """The ``pull_request`` webhook GitHub would send for the fake's pull request."""
    return {
        "action": action,
        "number": pr["number"],
        "pull_request": {**pr, "merged": pr["merged_at"] is not None},
        "repository": {"full_name": TARGET},
        "sender": pr["user"],
    }


# -- polling ------------------------------------------------------------------------------------


def test_polling_links_the_agents_pull_request_and_its_merge_then_green_runs_resolve(
    hub: Hub, fake: FakeGitHub
) -> None:
    issue_id = hub.issue()["id"]
    hub.advance(minutes=5)
    pr = fake.add_pull(TARGET, "Round order totals half up", FIX_BODY, head="claude/issue-1")
    fake.add_pull(TARGET, "Bump a dependency", "No issue here", login="dev", user_type="User")

    first = poll(hub)
    assert (first.pulls.repositories, first.pulls.pulls_seen, first.pulls.recorded) == (1, 2, 1)
    with Session(hub.engine) as session:
        assert related_prs(session, issue_id) == [pr["html_url"]]
    [link] = hub.events("pr_linked")
    assert link["actor"] == "agent" and link["data"]["url"] == pr["html_url"]
    assert hub.events("pr_merged") == []
    assert [r["head_ref"] for r in pr_rows(hub)] == ["claude/issue-1"]

    hub.advance(minutes=20)
    merged_at = hub.clock.now()
    fake.merge_pull(TARGET, pr["number"])
    hub.advance(minutes=5)
    assert poll(hub).pulls.recorded == 1
    [merge] = hub.events("pr_merged")
    assert merge["actor"] == "agent" and merge["at"] == merged_at  # GitHub's time, not the poll's

    # The checks then pass K (3) times: resolved, with actor agent on the timeline.
    assert f"agent's pull request {pr['html_url']} was merged" in resolved_by_agent(hub)


def test_a_poll_reads_from_its_cursor_with_the_etag_and_stops_at_the_cap(
    hub: Hub, fake: FakeGitHub
) -> None:
    for n in range(130):
        hub.advance(seconds=1)
        fake.add_pull(TARGET, f"Chore {n}", "nothing to link")
    capped = poll_pull_requests(
        hub.engine,
        hub.settings,
        hub.github,
        repositories=[REPO],
        since=timedelta(days=1),
        clock=hub.clock,
        max_pulls=120,
    )
    pages = [r for r in fake.requests if r.path.endswith("/pulls")]
    assert capped.pulls_seen == 120 and [r.query.get("page") for r in pages] == [None, "2"]
    assert pages[0].query == {
        "state": "all",
        "sort": "updated",
        "direction": "desc",
        "per_page": "100",
    }

    # Nothing changed: the first page is asked for with its ETag (GitHub answers 304) and
    # reading stops at the cursor, the newest update already seen.
    fake.requests.clear()
    again = poll(hub)
    [page] = [r for r in fake.requests if r.path.endswith("/pulls")]
    assert page.headers.get("if-none-match") and again.pulls.pulls_seen == 1
    assert again.pulls.recorded == 0 and hub.events("pr_linked") == []


def test_a_repository_whose_pull_requests_cannot_be_read_leaves_the_poll_whole(
    hub: Hub, fake: FakeGitHub
) -> None:
    def refuse_pulls(request: Recorded) -> Reply | None:
        if request.path.endswith("/pulls"):
            return Reply(403, {"message": "Resource not accessible by integration"})
        return None

    fake.intercept = refuse_pulls
    summary = poll(hub)
    assert summary.pulls.repositories == 0
    assert "Resource not accessible by integration" in summary.pulls.errors[0]


# -- webhook and poll, one link -------------------------------------------------------------------


def test_a_pull_request_seen_by_webhook_and_by_poll_is_one_link(hub: Hub, fake: FakeGitHub) -> None:
    hub.advance(minutes=5)
    pr = fake.add_pull(TARGET, "Round order totals half up", FIX_BODY)
    assert hub.webhook("pull_request", delivery(pr, "opened"), "d-1").json()["status"] == (
        "recorded"
    )
    assert poll(hub).pulls.recorded == 0  # the webhook linked it already

    hub.advance(minutes=10)
    fake.merge_pull(TARGET, pr["number"])
    assert poll(hub).pulls.recorded == 1  # the poll sees the merge first
    late = hub.webhook("pull_request", delivery(fake.pull(TARGET, pr["number"]), "closed"), "d-2")
    assert late.json()["status"] == "duplicate"

    assert len(pr_rows(hub)) == 1 and pr_rows(hub)[0]["state"] == "merged"
    assert len(hub.events("pr_linked")) == 1 and len(hub.events("pr_merged")) == 1


@pytest.mark.postgres
def test_a_pull_request_recorded_by_two_transactions_at_once_is_linked_once(
    hub: Hub, fake: FakeGitHub
) -> None:
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks (SQLite serialises writers)")
    pr = fake.merge_pull(TARGET, fake.add_pull(TARGET, "Fix", FIX_BODY)["number"])
    now = hub.clock.now()
    first_wrote = threading.Event()
    outcomes: list[str] = []

    def second() -> None:
        first_wrote.wait(10)
        with Session(hub.engine) as session, session.begin():  # waits on the first's insert
            outcomes.append(record_pr(session, hub.settings, TARGET, pr, now)[0])

    thread = threading.Thread(target=second)
    thread.start()
    with Session(hub.engine) as session, session.begin():
        outcomes.append(record_pr(session, hub.settings, TARGET, pr, now)[0])
        first_wrote.set()
        thread.join(0.5)  # the second is blocked until this transaction ends
        assert thread.is_alive()
    thread.join(10)
    assert sorted(outcomes) == ["duplicate", "recorded"]
    assert len(hub.events("pr_linked")) == 1 and len(hub.events("pr_merged")) == 1


# -- agent sessions -------------------------------------------------------------------------------


def hook(session_id: str, event: str, **fields: Any) -> dict[str, Any]:
    return {"session_id": session_id, "cwd": "/work/app", "hook_event_name": event, **fields}


def bash(session_id: str, command: str, stdout: str = "") -> dict[str, Any]:
    return hook(
        session_id,
        "PostToolUse",
        tool_name="Bash",
        tool_input={"command": command},
        tool_response={"stdout": stdout, "stderr": "", "interrupted": False},
    )


@pytest.fixture
def api(hub: Hub) -> Iterator[TestClient]:
    app = create_app(
        hub.engine, hub.settings, WebhookConfig(b"s"), run_worker=False, clock=hub.clock
    )
    with Session(hub.engine) as session, session.begin():
        _, token = create_api_token(
            session=session, name="hook", scope="write", now=hub.clock.now()
        )
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def post(api: TestClient, payload: dict[str, Any]) -> None:
    answer = api.post("/api/v1/hooks", json=payload)
    assert answer.status_code == 202, answer.text


def test_hook_sessions_that_reference_the_issue_are_linked_in_the_api_and_on_the_page(
    hub: Hub, fake: FakeGitHub, api: TestClient
) -> None:
    issue_id = hub.issue()["id"]
    url = f"https://github.com/{TARGET}/issues/1"
    # One session is asked about the GitHub issue; another only names the triagehub issue.
    post(api, hook("s-gh", "UserPromptSubmit", prompt=f"Please fix {url}"))
    post(api, bash("s-gh", "gh issue view 1 --repo Codertocat/Hello-World", f"{url}\n..."))
    post(api, bash("s-id", f"triagehub issues show {issue_id} --format json"))
    # One opens the fix itself, before the pull request is known; one works on nothing of it.
    post(api, bash("s-pr", "git checkout -b claude/issue-1", "Switched to a new branch"))
    post(api, bash("s-pr", "gh pr create --fill", f"https://github.com/{TARGET}/pull/2\n"))
    post(api, bash("s-other", "git checkout -b chore/deps && pytest -q", "3 passed"))
    post(api, bash("s-other", "gh issue view 1", "#1 is ambiguous without a repository"))

    detail = api.get(f"/api/v1/issues/{issue_id}").json()
    found = {s["session_id"]: (s["via"], s["ref"]) for s in detail["related_sessions"]}
    assert found == {
        "s-gh": ("github_issue", "codertocat/hello-world#1"),
        "s-id": ("issue_id", f"#{issue_id}"),
    }

    # The agent's pull request is found (here by polling): the session that opened it is linked.
    hub.advance(minutes=5)
    pr = fake.add_pull(TARGET, "Round totals half up", FIX_BODY, head="claude/issue-1")
    assert pr["number"] == 2
    poll(hub)
    detail = api.get(f"/api/v1/issues/{issue_id}").json()
    vias = {s["session_id"]: s["via"] for s in detail["related_sessions"]}
    assert vias == {"s-gh": "github_issue", "s-id": "issue_id", "s-pr": "pull_request"}
    assert detail["related_prs"] == [pr["html_url"]]

    # Referenced again, by other events and polls: still one timeline entry per session.
    post(api, bash("s-gh", "gh issue comment 1 --repo Codertocat/Hello-World", url))
    post(
        api,
        hook(
            "s-pr",
            "PreToolUse",
            tool_name="Bash",
            tool_input={"command": "git push -u origin claude/issue-1"},
        ),
    )
    poll(hub)
    linked_events = hub.events("session_linked")
    assert sorted(e["data"]["session_id"] for e in linked_events) == ["s-gh", "s-id", "s-pr"]
    assert all(e["actor"] == "agent" for e in linked_events)
    timeline = [e for e in detail["timeline"] if e["kind"] == "session_linked"]
    assert len(timeline) == 3

    page = api.get(f"/issues/{issue_id}")
    assert page.status_code == 200
    html = page.text
    section = html[html.index('data-testid="related-sessions"') :]
    section = section[: section.index("</section>")]
    for key in ("s-gh", "s-id", "s-pr"):
        assert f'href="/sessions/{key}"' in section
    assert "s-other" not in section
    assert "it referenced the GitHub issue <code>codertocat/hello-world#1</code>" in section


def test_a_session_naming_the_branch_of_a_linked_pull_request_is_linked(
    hub: Hub, fake: FakeGitHub, api: TestClient
) -> None:
    hub.advance(minutes=5)
    fake.add_pull(TARGET, "Round totals half up", FIX_BODY, head="claude/issue-1-totals")
    poll(hub)
    post(api, bash("s-review", "git switch claude/issue-1-totals", "Switched to branch"))
    post(api, bash("s-base", "git switch main && git pull", "Already up to date."))
    issue_id = hub.issue()["id"]
    related = api.get(f"/api/v1/issues/{issue_id}").json()["related_sessions"]
    assert [(s["session_id"], s["via"], s["ref"]) for s in related] == [
        ("s-review", "branch", "claude/issue-1-totals")
    ]


def test_the_declared_work_item_is_a_link_written_once(hub: Hub, api: TestClient) -> None:
    issue_id = hub.issue()["id"]
    for event in ("SessionStart", "Stop", "SessionEnd"):
        post(api, hook("s-work", event, triagehub={"issue_id": issue_id}))
    related = api.get(f"/api/v1/issues/{issue_id}").json()["related_sessions"]
    assert [(s["session_id"], s["via"], s["work_item"]) for s in related] == [
        ("s-work", "work_item", {"type": "issue", "id": issue_id})
    ]
    [event] = hub.events("session_linked")
    assert "declared work item" in event["data"]["reason"]


def test_a_reference_to_an_unknown_issue_links_nothing(hub: Hub, api: TestClient) -> None:
    post(api, bash("s-x", "triagehub issues show 999", "no such issue"))
    post(api, bash("s-x", "open https://github.com/Codertocat/Hello-World/issues/77"))
    with Session(hub.engine) as session:
        links = session.execute(select(func.count()).select_from(t.agent_session_issues))
        assert links.scalar_one() == 0


# -- what counts as a reference -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see triagehub issue #12", {"issue_ids": [12]}),
        ("curl http://hub:8000/api/v1/issues/12/evidence", {"issue_ids": [12]}),
        ("open https://triage.example.com/issues/7", {"issue_ids": [7]}),
        ("triagehub investigate 5", {"issue_ids": [5]}),
        ("TRIAGEHUB_ISSUE=9 claude", {"issue_ids": [9]}),
        ("fingerprint " + "ab" * 32, {"fingerprints": ["ab" * 32]}),
        ("https://github.com/Acme/App/issues/3", {"github": ["acme/app#3"]}),
        ("https://github.com/acme/app/pull/4/files", {"github": ["acme/app#4"]}),
        ("GET https://api.github.com/repos/acme/app/issues/5", {"github": ["acme/app#5"]}),
        ("https://ghe.example.com/acme/app/pull/6", {"github": ["acme/app#6"]}),
        ("closes acme/app#8", {"github": ["acme/app#8"]}),
        ("git push -u origin fix/totals", {"branches": ["fix/totals"]}),
        ("gh pr create --head claude/x-1 --fill", {"branches": ["claude/x-1"]}),
        ("On branch feature-9\nnothing to commit", {"branches": ["feature-9"]}),
        (" * [new branch]      claude/a -> claude/a", {"branches": ["claude/a"]}),
        ("Fixes #1, see issue 12", {}),  # no repository, no hub: ambiguous
        ("git checkout main; git switch master; git push origin HEAD", {}),
        ("git checkout -- src/app.py", {}),
        ("sha " + "ab" * 20, {}),  # a commit, not a fingerprint
    ],
)
def test_references_are_read_from_the_text(text: str, expected: dict[str, list[Any]]) -> None:
    refs = find_refs(text)
    got = {
        name: value
        for name in ("issue_ids", "fingerprints", "github", "branches")
        if (value := getattr(refs, name))
    }
    assert got == expected


def test_references_come_from_prompt_tool_input_and_output_only() -> None:
    payload = {
        "session_id": "acme/app#1",
        "cwd": "/work/acme/app#2",
        "prompt": "fix acme/app#3",
        "tool_input": {"command": "cat", "nested": [{"text": "acme/app#4"}]},
        "tool_response": {"stdout": "acme/app#5"},
    }
    assert find_refs(event_text(payload)).github == ["acme/app#3", "acme/app#4", "acme/app#5"]


def test_the_migration_keeps_the_sessions_already_linked_by_their_work_item(hub: Hub) -> None:
    from triagehub.store import db

    issue_id, now = hub.issue()["id"], hub.clock.now()
    db.downgrade(hub.engine, "0015")
    with Session(hub.engine) as session, session.begin():
        session.execute(
            t.agent_sessions.insert().values(
                session_key="s-old",
                agent="claude-code",
                session_type="error_remediation",
                status="completed",
                issue_id=issue_id,
                started_at=now,
                last_activity_at=now,
                events_count=3,
                tool_count=0,
                tool_successes=0,
                duration_total_ms=0.0,
                durations_count=0,
                created_at=now,
                updated_at=now,
            )
        )
    db.upgrade(hub.engine)
    with Session(hub.engine) as session:
        [row] = session.execute(select(t.agent_session_issues)).mappings().all()
    assert (row["issue_id"], row["via"], row["ref"]) == (issue_id, "work_item", str(issue_id))
    assert row["linked_at"] == now

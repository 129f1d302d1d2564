"""The investigation brief in ONE comment on the mirrored GitHub issue and ONE reply in the
issue's Slack thread, kept current through the outbox: against the GitHub fake (and Prism on
GitHub's OpenAPI description for the requests), the local Messages API server and the Slack test
bot (tests/outbox_receiver.py). Nothing of ours is patched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fake_anthropic import DEFAULT_API_KEY, FakeAnthropic, ToolAnswer
from fake_github import DEFAULT_TOKEN, DoThenDisconnect, FakeGitHub
from outbox_receiver import CHANNEL_ID, DoThenDrop, Receiver
from slack_bot import TOKEN, clear_slack_env
from test_github_sync import FAIL, PASS, REPO, TARGET, Hub, linked, payload
from triagehub.actions.github import GitHubClient
from triagehub.config import Settings, parse_settings
from triagehub.engine.brief_text import (
    BRIEF_COMMENT,
    BRIEF_GITHUB,
    BRIEF_REPLY,
    BRIEF_SLACK,
    PUBLIC_URL_ENV,
    brief_marker,
    state_key,
)
from triagehub.engine.investigate import Investigation, investigate
from triagehub.engine.jobs import JobContext, _claim, handlers
from triagehub.engine.notify import enqueue_notification
from triagehub.engine.sync import render
from triagehub.store import tables as t

pytest_plugins = ["prism"]

PAGE = "https://triage.example.com"


def brief(summary: str, *, secret: str = "") -> dict[str, Any]:
    """A valid brief for the hub's one failure (it may cite line 1 of the key excerpt)."""
    return {
        "summary": summary,
        "hypotheses": [
            {
                "cause": f"total() changed {secret}".strip(),
                "evidence": ["line 1"],
                "likelihood": 0.9,
            }
        ],
        "cause": "change",
        "suggest_rerun": False,
        "next_step": "Read the change to total() in src/shop/orders.py",
        "fix_outline": "Round half up; add a test.",
        "confidence": 0.8,
    }


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_env(monkeypatch)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # no automatic investigations
    monkeypatch.setenv(PUBLIC_URL_ENV, PAGE)


@pytest.fixture
def claude() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def settings_with(claude: FakeAnthropic) -> Settings:
    return parse_settings(
        {
            "repositories": {REPO: {"github_issues": {"target": TARGET, "min_priority": "low"}}},
            "lifecycle": {"agent_handle": None},
            "llm": {"base_url": claude.base_url, "timeout_s": 5},
        },
        "t.yaml",
    )


@pytest.fixture
def hub(engine: Engine, fake: FakeGitHub, claude: FakeAnthropic) -> Iterator[Hub]:
    h = Hub(engine, fake, settings_with(claude))
    try:
        yield linked(h)
    finally:
        h.github.close()


def ask(hub: Hub, claude: FakeAnthropic, summary: str, **kw: str) -> Investigation:
    """One investigation (as the API and the CLI ask for it) whose brief says ``summary``;
    a new failure first, so that the evidence (its digest) is new."""
    hub.advance(minutes=10)
    hub.run({"unit": FAIL, "lint": PASS})
    claude.enqueue(ToolAnswer(input=brief(summary, **kw), name="record_investigation"))
    result = investigate(
        hub.engine,
        hub.settings,
        hub.issue()["id"],
        clock=hub.clock,
        github=hub.github,
        api_key=DEFAULT_API_KEY,
        max_retries=0,
    )
    assert result.status == "ok", result.detail
    return result


def brief_comments(hub: Hub) -> list[dict[str, Any]]:
    marker = brief_marker(hub.issue()["id"])
    return [c for c in hub.fake.comments[(TARGET.lower(), 1)] if c["body"].startswith(marker)]


def state(engine: Engine, key: str) -> dict[str, Any] | None:
    with Session(engine) as session:
        data = session.execute(select(t.jobs.c.data).where(t.jobs.c.key == key)).scalar()
    return dict(data) if data is not None else None


def comment_edits(hub: Hub) -> list[Any]:
    return [r for r in hub.fake.requests if r.method == "PATCH" and "/issues/comments/" in r.path]


# -- GitHub: one comment per issue ------------------------------------------------------------


def test_the_first_brief_creates_the_comment_and_a_later_one_edits_it(
    hub: Hub, claude: FakeAnthropic
) -> None:
    issue_id = hub.issue()["id"]
    ask(hub, claude, "First look: total() rounds down.")
    hub.work()
    [comment] = brief_comments(hub)
    assert "First look: total() rounds down." in comment["body"]
    assert "**Next step**" in comment["body"]
    assert render.is_own_text(comment["body"])  # the inbound sync reads it as triagehub's own
    kept = state(hub.engine, state_key(BRIEF_COMMENT, issue_id))
    assert kept is not None and kept["comment_id"] == comment["id"]
    assert comment_edits(hub) == []

    ask(hub, claude, "Second look: the rounding mode changed in b2.")
    hub.work()
    [edited] = brief_comments(hub)
    assert edited["id"] == comment["id"]
    assert "Second look" in edited["body"] and "First look" not in edited["body"]
    [patch] = comment_edits(hub)
    assert patch.path == f"/repos/{TARGET.lower()}/issues/comments/{comment['id']}"
    assert len(hub.requests("POST", "/comments")) == 1  # created once, ever


def test_a_brief_comment_deleted_on_github_is_created_again_and_remembered(
    hub: Hub, claude: FakeAnthropic
) -> None:
    issue_id = hub.issue()["id"]
    ask(hub, claude, "First look.")
    hub.work()
    [first] = brief_comments(hub)
    hub.fake.delete_comment(TARGET, first["id"])

    ask(hub, claude, "Second look.")
    hub.work()
    [again] = brief_comments(hub)
    assert again["id"] != first["id"] and "Second look." in again["body"]
    kept = state(hub.engine, state_key(BRIEF_COMMENT, issue_id))
    assert kept is not None and kept["comment_id"] == again["id"]
    [job] = [j for j in hub.jobs(BRIEF_GITHUB) if j["data"]["result"].get("action")][-1:]
    assert job["data"]["result"]["action"] == "recreated"

    ask(hub, claude, "Third look.")  # edits the new one
    hub.work()
    [third] = brief_comments(hub)
    assert third["id"] == again["id"] and "Third look." in third["body"]


def test_a_lost_answer_to_the_create_is_not_posted_twice(hub: Hub, claude: FakeAnthropic) -> None:
    def lose_the_answer(request: Any) -> Any:
        if request.method == "POST" and request.path.endswith("/comments"):
            hub.fake.intercept = None
            return DoThenDisconnect()  # GitHub creates the comment; its answer never arrives
        return None

    hub.fake.intercept = lose_the_answer
    ask(hub, claude, "First look.")
    hub.work()
    [job] = hub.jobs(BRIEF_GITHUB)
    assert job["status"] == "pending" and job["attempts"] == 1  # the outbox will retry
    assert len(brief_comments(hub)) == 1

    hub.advance(minutes=5)
    hub.work()
    [comment] = brief_comments(hub)
    [job] = hub.jobs(BRIEF_GITHUB)
    assert job["status"] == "done" and job["data"]["result"]["action"] == "found"
    assert len(hub.requests("POST", "/comments")) == 1
    kept = state(hub.engine, state_key(BRIEF_COMMENT, hub.issue()["id"]))
    assert kept is not None and kept["comment_id"] == comment["id"]


def test_a_retry_after_the_worker_died_edits_the_comment_it_created(
    hub: Hub, claude: FakeAnthropic
) -> None:
    ask(hub, claude, "First look.")
    # A worker claims the job, posts the comment and dies before recording the outcome.
    [job] = [j for j in _claim(hub.engine, hub.clock.now(), 10) if j.kind == BRIEF_GITHUB]
    handlers()[BRIEF_GITHUB](job, JobContext(hub.engine, hub.settings, hub.clock, hub.github))
    assert len(brief_comments(hub)) == 1

    hub.advance(minutes=10)  # its lease ends: another worker takes the job again
    hub.work()
    [comment] = brief_comments(hub)
    [row] = hub.jobs(BRIEF_GITHUB)
    assert row["status"] == "done" and row["attempts"] == 2
    assert row["data"]["result"]["action"] == "updated"
    assert len(hub.requests("POST", "/comments")) == 1 and comment["body"].count("First look.")


def test_the_same_brief_is_posted_once(hub: Hub, claude: FakeAnthropic) -> None:
    result = ask(hub, claude, "First look.")
    hub.work()
    again = investigate(
        hub.engine, hub.settings, result.issue_id, clock=hub.clock, api_key=DEFAULT_API_KEY
    )
    assert again.status == "cached"
    hub.work()
    assert len(hub.jobs(BRIEF_GITHUB)) == 1
    assert comment_edits(hub) == [] and len(brief_comments(hub)) == 1


def test_asking_again_on_github_brings_a_deleted_comment_back(
    hub: Hub, claude: FakeAnthropic
) -> None:
    ask(hub, claude, "First look.")
    hub.work()
    [first] = brief_comments(hub)
    hub.fake.delete_comment(TARGET, first["id"])
    event = payload("issue_comment.created.0.json", comment__body="/triage investigate")
    assert hub.webhook("issue_comment", event, "d-again").status_code == 202
    hub.work()  # the brief is cached: the same text, written again
    [back] = brief_comments(hub)
    assert back["id"] != first["id"] and "First look." in back["body"]


def test_the_brief_comment_is_redacted(hub: Hub, claude: FakeAnthropic) -> None:
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    ask(hub, claude, "First look.", secret=secret)
    hub.work()
    [comment] = brief_comments(hub)
    assert secret not in comment["body"] and "[REDACTED]" in comment["body"]
    with Session(hub.engine) as session:
        stored = [str(d) for d in session.execute(select(t.jobs.c.data)).scalars()]
    assert not any(secret in d for d in stored)


# -- the requests, against GitHub's OpenAPI description ----------------------------------------


@pytest.mark.node
def test_prism_accepts_the_brief_comment_requests(
    engine: Engine, fake: FakeGitHub, claude: FakeAnthropic, prism_url: str
) -> None:
    """The whole job against Prism: list the comments, create one, then edit it (``PATCH
    .../issues/comments/{comment_id}``, operation ``issues/update-comment``)."""
    settings = parse_settings({"llm": {"base_url": claude.base_url, "timeout_s": 5}}, "t.yaml")
    h = Hub(engine, fake, settings)
    h.github.close()
    h.run({"unit": FAIL, "lint": PASS})
    issue_id = h.issue()["id"]
    with Session(engine) as session, session.begin():
        session.execute(
            t.issues.update()
            .where(t.issues.c.id == issue_id)
            .values(github_repo="octocat/hello-world", github_number=1347, github_status="linked")
        )
    with GitHubClient(DEFAULT_TOKEN, base_url=prism_url, max_retries=0) as client:
        h.github = client
        ask(h, claude, "First look.")
        h.work()
        kept = state(engine, state_key(BRIEF_COMMENT, issue_id))
        assert kept is not None and isinstance(kept["comment_id"], int)  # the spec's example
        ask(h, claude, "Second look.")
        h.work()
    results = [j["data"]["result"] for j in h.jobs(BRIEF_GITHUB)]
    assert [r["action"] for r in results] == ["created", "updated"], results


# -- Slack: one reply in the issue's thread ----------------------------------------------------


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with Receiver(token=TOKEN, honour_keys=False) as receiver:  # as Slack: keys are ignored
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_CHANNEL", "#triage")
        monkeypatch.setenv("TRIAGEHUB_SLACK_API_URL", f"{receiver.url}/api")
        yield receiver


def queue_announcement(hub: Hub) -> None:
    """The issue's first Slack message (its thread's parent), queued."""
    row = hub.issue()
    with Session(hub.engine) as session, session.begin():
        enqueue_notification(
            session,
            issue_id=row["id"],
            event="created",
            text=f"New issue #{row['id']}",
            repository=REPO,
            category=row["category"],
            priority=row["priority"],
            occurrences=row["occurrences"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            reason="announce",
            now=hub.clock.now(),
        )


def thread_of(hub: Hub) -> str:
    thread = state(hub.engine, f"notify_thread:{hub.issue()['id']}")
    assert thread is not None
    return str(thread["ts"])


def announce(hub: Hub) -> str:
    """The issue's first Slack message, sent; return its ts (the thread)."""
    queue_announcement(hub)
    hub.work()
    return thread_of(hub)


def reply_text(message: dict[str, Any]) -> str:
    return "\n".join(
        str(b.get("text", {}).get("text", ""))
        + "".join(str(e.get("text", "")) for e in b.get("elements", []))
        for b in message["blocks"]
    )


def test_the_brief_is_a_reply_in_the_issue_thread_updated_by_later_briefs(
    hub: Hub, claude: FakeAnthropic, bot: Receiver
) -> None:
    parent = announce(hub)
    issue_id = hub.issue()["id"]
    ask(hub, claude, "First look: total() rounds down.")
    hub.work()
    [reply] = bot.thread(parent)
    text = reply_text(reply)
    assert "First look: total() rounds down." in text
    assert "*Top hypothesis* (90%): total() changed (line 1)" in text
    assert "*Next step*: Read the change to total() in src/shop/orders.py" in text
    assert f"<{PAGE}/issues/{issue_id}|Issue page>" in text
    assert f"<{hub.issue()['github_url']}|GitHub issue>" in text
    assert reply["metadata"] == {"event_type": "triagehub_brief", "event_payload": {"issue_id": 1}}
    kept = state(hub.engine, state_key(BRIEF_REPLY, issue_id))
    assert kept is not None and kept["ts"] == reply["ts"] and kept["thread_ts"] == parent

    ask(hub, claude, "Second look: the rounding mode changed.")
    hub.work()
    [edited] = bot.thread(parent)
    assert edited["ts"] == reply["ts"] and edited["edits"] == 1
    assert "Second look" in reply_text(edited) and "First look" not in reply_text(edited)
    updates = [d for d in bot.deliveries if d.path.endswith("/chat.update")]
    assert [u.body["ts"] for u in updates] == [reply["ts"]]
    assert updates[0].body["channel"] == CHANNEL_ID


def test_a_deleted_reply_is_posted_again(hub: Hub, claude: FakeAnthropic, bot: Receiver) -> None:
    parent = announce(hub)
    ask(hub, claude, "First look.")
    hub.work()
    [first] = bot.thread(parent)
    bot.delete(first["ts"])
    ask(hub, claude, "Second look.")
    hub.work()
    [again] = bot.thread(parent)
    assert again["ts"] != first["ts"] and "Second look." in reply_text(again)
    kept = state(hub.engine, state_key(BRIEF_REPLY, hub.issue()["id"]))
    assert kept is not None and kept["ts"] == again["ts"]


def test_a_reply_whose_answer_was_lost_is_found_in_the_thread_not_posted_twice(
    hub: Hub, claude: FakeAnthropic, bot: Receiver
) -> None:
    parent = announce(hub)
    bot.script(DoThenDrop())  # Slack posts the reply; its answer never arrives
    ask(hub, claude, "First look.")
    hub.work()
    [job] = hub.jobs(BRIEF_SLACK)
    assert job["status"] == "pending" and len(bot.thread(parent)) == 1

    hub.advance(minutes=5)
    hub.work()
    [reply] = bot.thread(parent)
    [job] = hub.jobs(BRIEF_SLACK)
    assert job["status"] == "done" and job["data"]["result"]["action"] == "found"
    assert bot.reads and bot.reads[-1]["include_all_metadata"] == "true"
    kept = state(hub.engine, state_key(BRIEF_REPLY, hub.issue()["id"]))
    assert kept is not None and kept["ts"] == reply["ts"]


def test_without_the_history_scope_the_first_reply_is_still_posted(
    hub: Hub, claude: FakeAnthropic, bot: Receiver
) -> None:
    parent = announce(hub)
    bot.history_scope = False
    ask(hub, claude, "First look.")
    hub.work()
    assert len(bot.thread(parent)) == 1
    [job] = hub.jobs(BRIEF_SLACK)
    assert job["status"] == "done" and job["data"]["result"]["action"] == "posted"


def test_the_reply_waits_for_the_thread_to_start(
    hub: Hub, claude: FakeAnthropic, bot: Receiver
) -> None:
    from outbox_receiver import Reply

    bot.script(Reply(500, "internal_error"))  # the issue's first message fails once
    ask(hub, claude, "First look.")
    queue_announcement(hub)
    hub.work()
    [job] = hub.jobs(BRIEF_SLACK)
    assert job["status"] == "pending" and job["attempts"] == 0  # deferred, not failed
    for _ in range(3):
        hub.advance(minutes=2)
        hub.work()
    [reply] = bot.thread(thread_of(hub))
    assert "First look." in reply_text(reply)


def test_an_issue_never_announced_in_slack_gets_no_reply(
    hub: Hub, claude: FakeAnthropic, bot: Receiver
) -> None:
    ask(hub, claude, "First look.")
    hub.work()
    [job] = hub.jobs(BRIEF_SLACK)
    assert job["data"]["result"]["skipped"] == "the issue has no Slack thread"
    assert bot.messages == {}


def test_without_slack_nothing_is_queued_nor_sent(hub: Hub, claude: FakeAnthropic) -> None:
    ask(hub, claude, "First look.")
    assert hub.work() >= 1
    assert hub.jobs(BRIEF_SLACK) == []
    assert len(brief_comments(hub)) == 1  # GitHub still has it


def test_a_reply_queued_before_slack_was_unset_is_done_without_sending(
    hub: Hub, claude: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", "#triage")
    monkeypatch.setenv("TRIAGEHUB_SLACK_API_URL", "http://127.0.0.1:9/api")  # nothing listens
    ask(hub, claude, "First look.")
    clear_slack_env(monkeypatch)
    hub.work()
    [job] = hub.jobs(BRIEF_SLACK)
    assert job["status"] == "done" and "no Slack bot" in job["data"]["result"]["skipped"]


def test_the_slack_reply_is_redacted(hub: Hub, claude: FakeAnthropic, bot: Receiver) -> None:
    parent = announce(hub)
    secret = "xoxb-" + "1234567890-abcdefghijklmnop"
    ask(hub, claude, "First look.", secret=secret)
    hub.work()
    [reply] = bot.thread(parent)
    assert secret not in reply_text(reply) and "[REDACTED]" in reply_text(reply)

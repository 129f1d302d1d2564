"""GitHub issue sync: against a stateful fake GitHub (a real local HTTP server) for the flows,
against Prism on GitHub's OpenAPI description for the requests, with GitHub's own webhook payload
examples for the changes people make. Nothing of ours is patched."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from fake_github import DEFAULT_TOKEN, DoThenDisconnect, FakeGitHub, Reply
from triagehub.actions.github import GitHubClient
from triagehub.api.app import WebhookConfig, create_app, signature_of
from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.jobs import DONE, Job, JobContext, RetryPolicy, handlers, process_jobs
from triagehub.engine.monitor import run_tick
from triagehub.engine.sync import render
from triagehub.engine.sync.github_issues import SYNC, run_github_sync
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.triage import override_accuracy

pytest_plugins = ["prism"]

DATA = Path(__file__).parent / "data" / "github"
SECRET = b"It's a Secret to Everybody"
T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPO = "acme/app"
TARGET = "Codertocat/Hello-World"  # the repository of GitHub's webhook examples
FAIL = (Status.FAIL, "AssertionError: assert total == 42")
PASS = (Status.PASS, "")
HOSTILE = (
    "Error: @everyone look </details> --> <script>alert(1)</script> "
    '<!-- TRIAGEHUB_METADATA {"error_fingerprint": "forged"} --> see #1 '
    "and [x](javascript:alert(1))\n"
    "```\n</details>\n@octocat ~~~ <img src=x onerror=alert(1)>"
)


def settings_for(**sync: Any) -> Settings:
    config = {"target": TARGET, "min_priority": "low", "update_every_minutes": 15, **sync}
    return parse_settings(
        {"repositories": {REPO: {"github_issues": config}}, "lifecycle": {"agent_handle": None}},
        "t.yaml",
    )


def payload(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return data


class Hub:
    """triagehub with one repository mirrored into the fake GitHub, on a clock the test moves."""

    def __init__(self, engine: Engine, fake: FakeGitHub, settings: Settings | None = None) -> None:
        self.engine = engine
        self.fake = fake
        self.settings = settings or settings_for()
        self.clock = FixedClock(T0)
        fake.now = self.clock.now
        self.github = GitHubClient(
            DEFAULT_TOKEN,
            base_url=fake.base_url,
            timeout_s=5,
            max_retries=1,
            max_wait_s=5,
            backoff_base_s=0,
            clock=self.clock,
            sleep=lambda _s: None,
            rng=random.Random(1),
        )
        self.policy = RetryPolicy(max_attempts=5, backoff_s=10, max_backoff_s=60, record_every_s=0)
        self.runs = 0

    def run(self, outcomes: Mapping[str, tuple[Status, str]], *, attempt: int = 1) -> None:
        self.runs += attempt == 1
        report = RunReport(
            source="generic",
            repository=REPO,
            run_id=f"r{self.runs}",
            attempt=attempt,
            commit=f"c0ffee{self.runs:04d}",
            finished_at=self.clock.now(),
            url=f"https://ci.example.com/runs/{self.runs}",
            results=tuple(CheckResult(c, s, m) for c, (s, m) in outcomes.items()),
        )
        ingest_reports(self.engine, [report], self.settings, clock=self.clock)

    def advance(self, **delta: float) -> None:
        self.clock.set(self.clock.now() + timedelta(**delta))

    def tick(self) -> None:
        run_tick(self.engine, self.settings, clock=self.clock)

    def work(self) -> int:
        total = 0
        while done := process_jobs(
            self.engine,
            self.settings,
            github=self.github,
            clock=self.clock,
            policy=self.policy,
            rng=random.Random(1),
        ):
            total += done
        return total

    def sync(self) -> int:
        self.tick()
        return self.work()

    def issue(self) -> dict[str, Any]:
        with Session(self.engine) as session:
            [row] = session.execute(select(t.issues)).mappings().all()
        return dict(row)

    def events(self, kind: str | None = None) -> list[Any]:
        with Session(self.engine) as session:
            query = select(t.issue_events).order_by(t.issue_events.c.id)
            if kind is not None:
                query = query.where(t.issue_events.c.kind == kind)
            return list(session.execute(query).mappings())

    def jobs(self, kind: str = SYNC) -> list[Any]:
        with Session(self.engine) as session:
            query = select(t.jobs).where(t.jobs.c.kind == kind).order_by(t.jobs.c.id)
            return list(session.execute(query).mappings())

    def requests(self, method: str, suffix: str = "") -> list[Any]:
        return [
            r
            for r in self.fake.requests
            if r.method == method and (not suffix or r.path.endswith(suffix))
        ]

    def gh(self, number: int = 1) -> dict[str, Any]:
        return self.fake.issue(TARGET, number)

    def labels(self, number: int = 1) -> set[str]:
        return {label["name"] for label in self.gh(number)["labels"]}

    def comments(self, number: int = 1) -> list[str]:
        return [c["body"] for c in self.fake.comments[(TARGET.lower(), number)]]

    def webhook(self, event: str, body: Mapping[str, Any], delivery: str) -> Any:
        raw = json.dumps(body).encode()
        app = create_app(
            self.engine, self.settings, WebhookConfig(SECRET), run_worker=False, clock=self.clock
        )
        with TestClient(app) as client:
            answer = client.post(
                "/webhooks/github",
                content=raw,
                headers={
                    "content-type": "application/json",
                    "x-github-event": event,
                    "x-github-delivery": delivery,
                    "x-hub-signature-256": signature_of(SECRET, raw),
                },
            )
        return answer


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def hub(engine: Engine, fake: FakeGitHub) -> Iterator[Hub]:
    h = Hub(engine, fake)
    try:
        yield h
    finally:
        h.github.close()


def linked(hub: Hub) -> Hub:
    """The hub with one failing check mirrored as GitHub issue #1."""
    hub.run({"unit": FAIL, "lint": PASS})
    hub.sync()
    assert hub.issue()["github_number"] == 1
    return hub


# -- the body: rendering and escaping ----------------------------------------------------------


def snapshot(**overrides: Any) -> render.IssueSnapshot:
    values: dict[str, Any] = {
        "issue_id": 7,
        "repository": "acme/app",
        "title": "tests/test_x.py::test_total: AssertionError: assert total == <NUM>",
        "state": "open",
        "source": "junit",
        "scope": "check",
        "category": "code_fix_required",
        "kind": "test",
        "severity": "medium",
        "priority": "high",
        "history_class": "recurring",
        "decision": "one_off_fix",
        "rationale": "rule assertion-error matched",
        "confidence": 0.9,
        "classification_source": "rules",
        "fingerprint": "ab" * 32,
        "sample_message": "AssertionError: assert total == 42",
        "occurrences": 3,
        "first_seen": T0,
        "last_seen": T0 + timedelta(hours=2),
        "checks": ["tests/test_x.py::test_total"],
        "checks_count": 1,
        "runs": [render.RunLink("r1", 1, "c0ffee", "main", "https://ci.example.com/1", "unit", T0)],
    }
    values.update(overrides)
    return render.IssueSnapshot(**values)


def _texts(tokens: list[Any]) -> Iterator[tuple[str, str]]:
    for token in tokens:
        if token.children:
            yield from _texts(token.children)
        else:
            yield token.type, token.content


def test_hostile_error_text_cannot_break_the_body_the_metadata_or_mention_anyone() -> None:
    issue = snapshot(
        sample_message=HOSTILE,
        log_excerpt=HOSTILE,
        checks=["@everyone </details>", "<b>x</b> #12"],
        rationale="matched @here --> <!-- x",
        title="@everyone </details> --> broken",
        assignee="@octocat",
        affected_models=["model.shop.<script>", "model.shop.orders -->"],
    )
    body = render.render_body(issue)

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = md.parse(body)
    html_blocks = [tok.content.strip() for tok in tokens if tok.type == "html_block"]
    assert html_blocks == [
        render.BODY_MARKER,
        "<details><summary>Log excerpt</summary>",
        "</details>",
        render.metadata_block(render.metadata(issue)),
    ]
    texts = list(_texts(tokens))
    assert {c for kind, c in texts if kind == "html_inline"} == {"<sub>", "</sub>"}
    shown = [content for kind, content in texts if kind in ("text", "inline")]
    assert not [x for x in shown if re.search(r"@(everyone|here|octocat)\b", x)]
    assert not [x for x in shown if re.search(r"#\d", x)]  # no issue references either
    links = [
        str(child.attrs.get("href"))
        for tok in tokens
        for child in tok.children or []
        if child.type == "link_open"
    ]
    assert links == ["https://ci.example.com/1"]  # the run's, and nothing the text slipped in
    # The metadata block is the real one, intact, and the only one.
    assert body.count("<!-- TRIAGEHUB_METADATA") == 1
    meta = render.parse_metadata(body)
    assert meta is not None and meta["error_fingerprint"] == "ab" * 32
    assert meta["affected_models"] == ["model.shop.<script>", "model.shop.orders -->"]
    assert "-->" not in body.split("<!-- TRIAGEHUB_METADATA", 1)[1][:-3]
    # The excerpts are shown whole in code blocks GitHub renders verbatim.
    fences = [tok for tok in tokens if tok.type == "fence"]
    assert [f.content.replace("\u200b", "").strip() for f in fences] == [HOSTILE, HOSTILE]


def test_metadata_has_the_fields_of_the_brief_and_round_trips() -> None:
    issue = snapshot(similar=[("codertocat/hello-world#3", "https://github.com/x/y/issues/3")])
    meta = render.parse_metadata(render.render_body(issue))

    assert meta is not None
    assert set(meta) >= {
        "error_fingerprint",
        "error_category",
        "priority_level",
        "complexity_score",
        "first_occurrence",
        "last_occurrence",
        "occurrence_count",
        "affected_models",
        "affected_repositories",
        "resolution_pattern",
        "similar_issues",
        "related_prs",
        "expert_assignments",
        "classification_confidence",
        "auto_actions_taken",
        "next_check_time",
    }
    assert meta["error_category"] == "code_fix_required" and meta["priority_level"] == "high"
    assert meta["first_occurrence"] == "2026-11-10T08:00:00Z" and meta["occurrence_count"] == 3
    assert meta["similar_issues"] == ["codertocat/hello-world#3"]
    assert 1 <= meta["complexity_score"] <= 10


def test_every_label_of_the_brief_has_a_colour_and_a_short_description() -> None:
    for name, (color, description) in render.LABELS.items():
        assert re.fullmatch(r"[0-9a-f]{6}", color), name
        assert 0 < len(description) <= 100, name
    assert render.managed_labels("transient_failure", "high", "flaky") == [
        "category:transient_failure",
        "history:flaky",
        "priority:high",
        "triagehub:classified",
    ]


def test_state_changes_are_commented_with_their_reason_and_escaped() -> None:
    entries = [
        render.TimelineEntry(
            4,
            "escalated",
            T0,
            "rule",
            {
                "trigger": "sla_breach",
                "reason": "past its SLA",
                "priority": {"from": "medium", "to": "high"},
            },
        ),
        render.TimelineEntry(5, "sla_breached", T0, "rule", {"reason": "not resolved by @team"}),
        render.TimelineEntry(
            6, "snoozed", T0, "alice", {"reason": "freeze", "until": "2026-11-17T08:00:00Z"}
        ),
        render.TimelineEntry(7, "created", T0, "triagehub", {}),
    ]
    text = render.events_comment(entries, 7)

    assert text is not None
    assert text.splitlines() == [
        "<!-- triagehub:comment events cursor=7 -->",
        "- **Escalated** to high (sla\\_breach): past its SLA",
        "- **SLA breached**: not resolved by @\u200bteam",
        "- **Snoozed** until 2026-11-17T08:00:00Z (by alice): freeze",
    ]
    assert render.comment_markers(text) == [("events", 7)]
    assert render.events_comment(entries[3:], 7) is None


def test_triage_commands_are_read_outside_code_and_quotes() -> None:
    found = render.parse_commands(
        "Thanks!\n/triage snooze 7d\n> /triage ignore\n```\n/triage ignore\n```\n"
        "/triage assign @octocat\n/triage bogus\n/triage snooze soon"
    )
    assert found[0] == render.Command("snooze", "7d", "/triage snooze 7d")
    assert found[1] == render.Command("assign", "octocat", "/triage assign @octocat")
    assert isinstance(found[2], str) and "unknown command" in found[2]
    assert isinstance(found[3], str) and "duration" in found[3]
    assert len(found) == 4


# -- out: create, update, close, reopen ---------------------------------------------------------


def test_issue_lifecycle_is_mirrored_and_a_human_relabel_is_an_override(hub: Hub) -> None:
    # Created, with the brief's labels made first (their colours), body and metadata.
    linked(hub)
    issue, gh = hub.issue(), hub.gh()
    assert gh["title"] == issue["title"]
    assert hub.labels() == {
        "category:code_fix_required",
        "priority:medium",
        "history:new",
        "triagehub:classified",
    }
    colours = {name: label["color"] for name, label in hub.fake.labels[TARGET.lower()].items()}
    assert colours["category:code_fix_required"] == render.LABELS["category:code_fix_required"][0]
    meta = render.parse_metadata(gh["body"])
    assert meta is not None and meta["error_fingerprint"] == issue["fingerprint"]
    assert meta["occurrence_count"] == 1
    assert [e["data"]["action"] for e in hub.events("synced")] == ["created"]
    assert len(hub.requests("POST", "/issues")) == 1

    # A tick with nothing new queues nothing and sends nothing.
    before = (len(hub.jobs()), len(hub.fake.requests))
    hub.sync()
    assert (len(hub.jobs()), len(hub.fake.requests)) == before

    # New occurrences: the body edit waits for the throttle window, then carries the counts.
    hub.advance(minutes=2)
    hub.run({"unit": FAIL, "lint": PASS})
    hub.sync()
    assert hub.requests("PATCH") == []
    follow_up = [j for j in hub.jobs() if ":body:" in j["key"]]
    assert len(follow_up) == 1 and follow_up[0]["status"] == "pending"
    hub.advance(minutes=14)
    hub.work()
    [edit] = hub.requests("PATCH")
    assert set(edit.json) == {"title", "body"}
    meta = render.parse_metadata(hub.gh()["body"])
    assert meta is not None and meta["occurrence_count"] == 2

    # Three green runs: auto-resolved, commented with the reason, closed as completed.
    for _ in range(3):
        hub.advance(hours=1)
        hub.run({"unit": PASS, "lint": PASS})
    hub.advance(minutes=5)
    hub.sync()
    assert hub.issue()["state"] == "resolved"
    assert hub.gh()["state"] == "closed" and hub.gh()["state_reason"] == "completed"
    assert (
        "**Resolved**: auto-resolved after 3 green runs in a row of its check"
        in (hub.comments()[-1])
    )

    # It fails again: regressed, reopened with the commit in the comment.
    hub.advance(hours=1)
    hub.run({"unit": FAIL, "lint": PASS})
    hub.sync()
    assert hub.issue()["state"] == "regressed"
    assert hub.gh()["state"] == "open"
    assert (
        "**Regressed**: failed again at commit c0ffee0006 after it was resolved"
        in (hub.comments()[-1])
    )

    # A person moves it to another category on GitHub: a human override, labels follow.
    hub.advance(minutes=1)
    hub.fake.human_label(
        TARGET, 1, "category:data_quality_issue", remove=("category:code_fix_required",)
    )
    labels = [{"name": name, "color": "ededed", "default": False} for name in sorted(hub.labels())]
    event = payload(
        "issues.labeled.9.json",
        label__name="category:data_quality_issue",
        issue__labels=labels,
    )
    answer = hub.webhook("issues", event, "d-label")
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    hub.work()
    row = hub.issue()
    assert row["category"] == "data_quality_issue" and row["classification_source"] == "human"
    [override] = hub.events("overridden")
    assert override["actor"] == "github:Codertocat"
    assert override["data"]["changes"]["category"] == {
        "from": "code_fix_required",
        "to": "data_quality_issue",
    }
    with Session(hub.engine) as session:
        accuracy = {a.field: a for a in override_accuracy(session=session)}
    assert accuracy["category"].reviewed == 1 and accuracy["category"].changed == 1
    comments = len(hub.comments())
    hub.advance(minutes=20)
    hub.sync()
    assert "category:data_quality_issue" in hub.labels()
    assert "category:code_fix_required" not in hub.labels()
    assert len(hub.comments()) == comments  # a change from GitHub is not commented back
    meta = render.parse_metadata(hub.gh()["body"])
    assert meta is not None and meta["error_category"] == "data_quality_issue"
    assert len(hub.requests("POST", "/issues")) == 1


def test_issues_outside_the_configured_categories_and_priority_get_none(
    engine: Engine, fake: FakeGitHub
) -> None:
    hub = Hub(engine, fake, settings_for(categories=["data_quality_issue"], min_priority="low"))
    hub.run({"unit": FAIL})
    hub.sync()
    assert hub.jobs() == [] and fake.issues == {}
    hub = Hub(engine, fake, settings_for(min_priority="critical"))
    hub.sync()
    assert hub.jobs() == [] and fake.issues == {}


def test_a_create_whose_answer_was_lost_is_adopted_on_retry_not_duplicated(hub: Hub) -> None:
    hub.run({"unit": FAIL})
    lost: list[str] = []

    def lose_the_create_answer(request: Any) -> Any:
        if request.method == "POST" and request.path.endswith("/issues") and not lost:
            lost.append(request.path)
            return DoThenDisconnect()  # GitHub creates the issue; its answer never arrives
        return None

    hub.fake.intercept = lose_the_create_answer
    hub.sync()
    assert len(hub.fake.issues) == 1
    [job] = hub.jobs()
    assert job["status"] == "pending" and job["attempts"] == 1  # the outbox will retry
    assert hub.issue()["github_number"] is None
    assert len(hub.requests("POST", "/issues")) == 1  # the client did not re-send it

    hub.advance(minutes=5)
    hub.work()
    assert len(hub.fake.issues) == 1
    assert len(hub.requests("POST", "/issues")) == 1
    assert hub.issue()["github_number"] == 1
    assert [e["data"]["action"] for e in hub.events("synced")] == ["adopted"]
    assert hub.jobs()[0]["status"] == DONE


def test_a_crash_between_create_and_link_stored_does_not_duplicate(hub: Hub) -> None:
    hub.run({"unit": FAIL})
    hub.tick()
    [row] = hub.jobs()
    job = Job(row["id"], row["kind"], row["key"], dict(row["data"]), 1)
    ctx = JobContext(hub.engine, hub.settings, hub.clock, hub.github)
    handlers()[SYNC](job, ctx)  # the work is done; the process dies before recording it
    assert len(hub.fake.issues) == 1 and hub.issue()["github_number"] is None

    hub.work()  # the job is still due: done again
    assert len(hub.fake.issues) == 1
    assert len(hub.requests("POST", "/issues")) == 1
    assert hub.issue()["github_number"] == 1
    assert [e["data"]["action"] for e in hub.events("synced")] == ["adopted"]


def test_adopt_relinks_issues_after_the_database_lost_its_links(hub: Hub) -> None:
    linked(hub)
    with Session(hub.engine) as session, session.begin():
        session.execute(
            update(t.issues).values(
                github_repo=None, github_number=None, github_status=None, github_labels=[]
            )
        )
        session.execute(t.jobs.delete())
        session.execute(t.issue_events.delete().where(t.issue_events.c.kind == "synced"))
    hub.fake.search_lag = 60
    hub.advance(minutes=10)

    run = run_github_sync(hub.engine, hub.settings, hub.github, clock=hub.clock, adopt=True)

    assert run.adopted == [(hub.issue()["id"], TARGET.lower(), 1)]
    assert len(hub.fake.issues) == 1 and len(hub.requests("POST", "/issues")) == 1
    [search] = hub.requests("GET", "/search/issues")
    assert search.query["q"].startswith(f"repo:{TARGET.lower()} is:issue")
    assert hub.issue()["github_status"] == "linked"


@pytest.mark.parametrize(("status", "link"), [(410, "gone"), (404, "gone"), (403, "forbidden")])
def test_a_deleted_or_forbidden_issue_is_recorded_and_not_retried(
    hub: Hub, status: int, link: str
) -> None:
    linked(hub)
    if status == 403:
        message = {"message": "Resource not accessible by integration", "documentation_url": "x"}
        hub.fake.script(Reply(403, message))
    else:
        hub.fake.gone[(TARGET.lower(), 1)] = status
    hub.advance(minutes=20)
    hub.run({"unit": FAIL})
    hub.sync()

    row = hub.issue()
    assert row["github_status"] == link
    [failed] = hub.events("sync_failed")
    assert failed["data"]["status"] == status and failed["data"]["stopped"] is True
    assert all(j["status"] == DONE for j in hub.jobs())  # recorded: neither retried nor dead
    sent = len(hub.fake.requests)
    hub.advance(minutes=20)
    hub.run({"unit": FAIL})
    hub.sync()
    assert len(hub.fake.requests) == sent  # the link is no longer synced


def test_a_locked_conversation_refuses_the_comment_and_the_close_still_happens(hub: Hub) -> None:
    linked(hub)
    hub.fake.locked.add((TARGET.lower(), 1))
    for _ in range(3):
        hub.advance(hours=1)
        hub.run({"unit": PASS})
    hub.sync()

    assert hub.gh()["state"] == "closed"
    [failed] = hub.events("sync_failed")
    assert failed["data"]["status"] == 403 and failed["data"]["what"] == "events comment"
    assert hub.issue()["github_status"] == "linked"


def test_a_rate_limit_defers_the_sync_until_the_reset(hub: Hub) -> None:
    hub.run({"unit": FAIL})
    reset = hub.clock.now() + timedelta(minutes=30)
    hub.fake.script(
        Reply(
            403,
            {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "x"},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset.timestamp()))},
        )
    )
    hub.sync()
    [job] = hub.jobs()
    assert job["status"] == "pending" and "rate limit" in job["last_error"]
    assert job["next_try_at"] >= reset
    assert hub.fake.issues == {}

    hub.advance(minutes=10)
    assert hub.work() == 0  # not before the reset
    hub.advance(minutes=21)
    hub.work()
    assert hub.issue()["github_number"] == 1 and len(hub.fake.issues) == 1


def test_the_agent_notification_is_commented_once(engine: Engine, fake: FakeGitHub) -> None:
    settings = parse_settings(
        {
            "repositories": {REPO: {"github_issues": {"target": TARGET, "min_priority": "low"}}},
            "lifecycle": {"agent_handle": "claude"},
        },
        "t.yaml",
    )
    hub = Hub(engine, fake, settings)
    failure = (Status.FAIL, "@everyone AssertionError: assert total == 42")
    hub.run({"unit": failure})
    hub.run({"unit": failure}, attempt=2)  # failed again on the retry: the agent is told
    hub.sync()
    agent = [c for c in hub.comments() if "triagehub:comment agent" in c]
    assert len(agent) == 1
    assert "\n@claude please take triagehub issue" in agent[0]
    assert "@everyone" not in agent[0].split("```")[0]
    assert hub.issue()["github_agent_at"] is not None
    hub.advance(minutes=30)
    hub.sync()
    assert len([c for c in hub.comments() if "triagehub:comment agent" in c]) == 1


# -- in: webhooks with GitHub's payload examples, and polling ---------------------------------


def test_closing_on_github_resolves_and_reopening_opens(hub: Hub) -> None:
    linked(hub)
    hub.fake.human_close(TARGET, 1, "Codertocat")
    answer = hub.webhook("issues", payload("issues.closed.edited.json"), "d-close")
    assert answer.json()["status"] == "queued"
    hub.work()
    assert hub.issue()["state"] == "resolved"
    [change] = [e for e in hub.events("state_changed")]
    assert change["actor"] == "github:Codertocat"
    assert (
        change["data"]["by"] == "human"
        and "closed on GitHub by @Codertocat" in (change["data"]["reason"])
    )

    hub.fake.human_reopen(TARGET, 1, "Codertocat")
    hub.advance(minutes=1)
    assert hub.webhook("issues", payload("issues.reopened.20.json"), "d-open").status_code == 202
    hub.work()
    assert hub.issue()["state"] == "open"
    # Neither change is sent back (no close/reopen edit, no comment about it).
    comments = len(hub.comments())
    hub.advance(minutes=20)
    hub.sync()
    assert len(hub.comments()) == comments
    assert [r for r in hub.requests("PATCH") if "state" in (r.json or {})] == []


def test_assignment_on_github_sets_the_assignee(hub: Hub) -> None:
    linked(hub)
    hub.webhook("issues", payload("issues.assigned.1.json"), "d-assign")
    hub.work()
    row = hub.issue()
    assert row["assignee"] == "Codertocat" and row["state"] == "assigned"


def test_triage_commands_in_comments_are_applied_once(hub: Hub) -> None:
    linked(hub)
    body = "Looked at it.\n/triage needs-spec\n/triage snooze 7d"
    event = payload("issue_comment.created.0.json", comment__body=body)
    hub.webhook("issue_comment", event, "d-c1")
    hub.webhook("issue_comment", event, "d-c1-again")  # a redelivery under another id
    hub.work()
    row = hub.issue()
    assert row["decision"] == "needs_spec"
    assert row["snoozed_until"] == hub.clock.now() + timedelta(days=7)
    assert len(hub.events("overridden")) == 1 and len(hub.events("snoozed")) == 1

    event = payload("issue_comment.created.0.json", comment__body="/triage false-positive")
    event["comment"]["id"] += 1
    hub.webhook("issue_comment", event, "d-c2")
    hub.work()
    assert hub.issue()["state"] == "false_positive"
    assert hub.issue()["category"] == "false_positive"


def test_changes_the_hub_did_not_get_from_a_person_are_ignored(hub: Hub) -> None:
    linked(hub)
    own = payload(
        "issue_comment.created.0.json",
        comment__body=render.comment_marker("events", 99) + "\n/triage ignore",
    )
    assert hub.webhook("issue_comment", own, "d-own").json()["reason"] == (
        "triagehub's own comment"
    )
    by_hub = payload("issues.closed.edited.json", sender__login=hub.fake.login)
    assert hub.webhook("issues", by_hub, "d-hub").json()["reason"] == "triagehub's own change"
    bot = payload("issues.closed.edited.json", sender__type="Bot")
    assert hub.webhook("issues", bot, "d-bot").json()["reason"] == "a change made by a bot"
    other = payload("issues.closed.edited.json", issue__number=99)
    assert "is not linked" in hub.webhook("issues", other, "d-99").json()["reason"]
    edited = payload("issues.closed.edited.json", action="edited")
    assert "not handled" in hub.webhook("issues", edited, "d-edit").json()["reason"]
    hub.work()
    assert hub.issue()["state"] == "open"
    assert hub.jobs("github_issue_event") == []


def test_a_deleted_github_issue_unlinks_and_a_transfer_follows(hub: Hub) -> None:
    linked(hub)
    moved = payload("issues.transferred.21.json", repository__full_name=TARGET)
    hub.webhook("issues", moved, "d-move")
    hub.work()
    row = hub.issue()
    new = moved["changes"]["new_issue"]
    assert (row["github_repo"], row["github_number"]) == (TARGET.lower(), new["number"])
    hub.webhook("issues", payload("issues.deleted.4.json"), "d-delete")
    hub.work()
    assert hub.issue()["github_status"] == "gone"


def test_pull_brings_back_a_close_a_label_an_assignment_and_a_command(hub: Hub) -> None:
    linked(hub)
    hub.advance(minutes=5)
    hub.fake.human_label(TARGET, 1, "priority:critical", remove=("priority:medium",))
    hub.fake.human_assign(TARGET, 1, "hubot")
    hub.fake.add_comment(TARGET, 1, "/triage one-off-fix", "hubot")
    hub.fake.human_close(TARGET, 1, "hubot")
    hub.advance(minutes=1)

    run = run_github_sync(hub.engine, hub.settings, hub.github, clock=hub.clock, pull=True)

    assert run.pulled is not None and run.pulled.issues_seen == 1
    row = hub.issue()
    assert row["state"] == "resolved" and row["priority"] == "critical"
    assert row["assignee"] == "hubot" and row["decision"] == "one_off_fix"
    # A second pull applies nothing twice (GitHub's `since` is inclusive: the comment is seen
    # again and recognised).
    overrides = len(hub.events("overridden"))
    again = run_github_sync(hub.engine, hub.settings, hub.github, clock=hub.clock, pull=True)
    assert again.pulled is not None
    assert all(note.endswith("comment applied before") for note in again.pulled.notes)
    assert len(hub.events("overridden")) == overrides and hub.issue()["state"] == "resolved"


def test_sync_command_syncs_now_and_refuses_what_it_cannot_do(
    db_url: str, engine: Engine, fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_cli import cli

    hub = Hub(engine, fake)
    hub.run({"unit": FAIL})
    config = tmp_path / "triagehub.yaml"
    config.write_text(
        f"repositories:\n  {REPO}:\n    github_issues: {{target: {TARGET}, min_priority: low}}\n"
    )
    monkeypatch.setenv("TRIAGEHUB_GITHUB_API_URL", fake.base_url)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    refused = cli(db_url, "--config", str(config), "sync", "github")
    assert refused.returncode == 2 and "GITHUB_TOKEN" in refused.stderr

    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    done = cli(db_url, "--config", str(config), "sync", "github", "--pull", "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["queued"] == [hub.issue()["id"]] and result["jobs_done"] >= 1
    assert hub.issue()["github_number"] == 1 and len(fake.issues) == 1
    with pytest.raises(InputError):
        run_github_sync(engine, hub.settings, hub.github, repository="acme/other")


# -- Prism: the requests are valid for GitHub's OpenAPI description ----------------------------


@pytest.fixture
def prism_github(prism_url: str) -> Iterator[GitHubClient]:
    with GitHubClient(DEFAULT_TOKEN, base_url=prism_url, max_retries=0) as client:
        yield client


PRISM_REPO = "octocat/Hello-World"


@pytest.mark.node
def test_prism_accepts_every_issue_request(prism_github: GitHubClient) -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    created = prism_github.create_issue(
        PRISM_REPO, title="t", body=render.render_body(snapshot()), labels=["priority:high"]
    )
    assert isinstance(created["number"], int)
    prism_github.update_issue(PRISM_REPO, 1347, state="closed", state_reason="completed")
    prism_github.update_issue(PRISM_REPO, 1347, state="open", state_reason="reopened")
    prism_github.update_issue(PRISM_REPO, 1347, title="t", body="b")
    assert list(prism_github.list_issues(PRISM_REPO, since=since, sort="created"))
    assert prism_github.add_labels(PRISM_REPO, 1347, ["priority:high", "history:new"])
    assert prism_github.remove_label(PRISM_REPO, 1347, "priority:high")
    # on-call's experts as assignees (issues/add-assignees, added to the subset from the same spec)
    assigned = prism_github.add_assignees(PRISM_REPO, 1347, ["octocat", "hubot"])
    assert isinstance(assigned["number"], int)
    assert list(prism_github.list_labels(PRISM_REPO))
    name, (color, description) = next(iter(render.LABELS.items()))
    prism_github.create_label(PRISM_REPO, name=name, color=color, description=description)
    assert list(prism_github.list_comments(PRISM_REPO, 1347, since=since))
    assert prism_github.create_comment(PRISM_REPO, 1347, render.comment_marker("events", 3))
    # the investigation brief's one comment, edited (issues/update-comment)
    edited = prism_github.update_comment(PRISM_REPO, 1, "<!-- triagehub:comment brief issue=7 -->")
    assert edited is not None and isinstance(edited["id"], int)
    assert list(prism_github.search_issues(f"repo:{PRISM_REPO} is:issue in:body triagehub"))


@pytest.mark.node
def test_prism_refuses_an_invalid_state(prism_github: GitHubClient) -> None:
    from triagehub.errors import ExternalServiceError

    with pytest.raises(ExternalServiceError) as caught:
        prism_github.update_issue(PRISM_REPO, 1347, state="finished")
    assert caught.value.status == 422


@pytest.mark.node
def test_prism_accepts_a_whole_sync_job(engine: Engine, prism_url: str) -> None:
    settings = parse_settings(
        {"repositories": {REPO: {"github_issues": {"target": PRISM_REPO, "min_priority": "low"}}}},
        "t.yaml",
    )
    clock = FixedClock(T0)
    ingest_reports(
        engine,
        [
            RunReport(
                source="generic",
                repository=REPO,
                run_id="r1",
                commit="abc",
                finished_at=T0,
                results=(CheckResult("unit", *FAIL),),
            )
        ],
        settings,
        clock=clock,
    )
    with GitHubClient(DEFAULT_TOKEN, base_url=prism_url, max_retries=0, clock=clock) as client:
        run = run_github_sync(engine, settings, client, clock=clock)
        assert run.jobs_done == 1
        with Session(engine) as session:
            [row] = session.execute(select(t.issues)).mappings().all()
            [job] = session.execute(select(t.jobs).where(t.jobs.c.kind == SYNC)).mappings()
        assert job["status"] == DONE, job["last_error"]
        assert row["github_number"] == 1347  # Prism's example issue

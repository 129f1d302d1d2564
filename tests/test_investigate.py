"""The investigation brief against the local Messages API server (tests/fake_anthropic.py) and
the GitHub fake, on SQLite and PostgreSQL: the brief's fields, validation failures, the budget,
the fallback without a key, the cache, the timeline, the API and the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fake_anthropic import DEFAULT_API_KEY, FakeAnthropic, ToolAnswer, server_error
from fake_github import DEFAULT_TOKEN, FakeGitHub
from test_evidence import (
    CLOCK,
    FAIL_LOG,
    PASS_LOG,
    REPO,
    T0,
    ingest,
    only_issue,
    page_text,
    report,
)
from triagehub.actions.github import GitHubClient
from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli.main import app as cli_app
from triagehub.config import LLMConfig, Settings
from triagehub.engine.investigate import investigate
from triagehub.engine.jobs import process_jobs
from triagehub.engine.monitor import run_tick
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.evidence import latest_brief
from triagehub.store.queries import create_api_token

BRIEF: dict[str, Any] = {
    "summary": "test_orders fails since commit b2 changed the rounding of order totals.",
    "hypotheses": [
        {
            "cause": "Environment: the telemetry host is unreachable",
            "evidence": ["line 4"],
            "likelihood": 0.05,
        },
        {
            "cause": "b2 rounds totals down, so 41 != 42",
            "evidence": ["line 6", "commit b2b2b2b"],
            "likelihood": 0.9,
        },
    ],
    "cause": "change",
    "suggest_rerun": False,
    "next_step": "Read the rounding change in src/shop/orders.py",
    "fix_outline": "Round half up in total(); add a test for .5 amounts.",
    "confidence": 0.8,
}
SHA = "b2b2b2b" + "0" * 33


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.now = CLOCK.now
        server.add_commit(REPO, "a1a1a1a" + "0" * 33, "Release 1.0", files=["README.md"])
        server.add_commit(REPO, SHA, "Round totals", author="bob", files=["src/shop/orders.py"])
        yield server


def settings_for(fake: FakeAnthropic, budget: int = 10) -> Settings:
    return Settings(llm=LLMConfig(base_url=fake.base_url, daily_budget=budget, timeout_s=5))


def seed(engine: Engine) -> int:
    ingest(
        engine,
        [
            report("1", "pass", PASS_LOG, at=T0, commit="a1a1a1a" + "0" * 33),
            report("2", "fail", FAIL_LOG, at=T0 + timedelta(hours=1), commit=SHA),
        ],
    )
    return only_issue(engine)


def run(engine: Engine, fake: FakeAnthropic, gh: FakeGitHub, **kw: Any) -> Any:
    settings = kw.pop("settings", None) or settings_for(fake)
    with GitHubClient(DEFAULT_TOKEN, base_url=gh.base_url) as client:
        return investigate(
            engine,
            settings,
            kw.pop("issue_id"),
            clock=CLOCK,
            github=client,
            api_key=kw.pop("api_key", DEFAULT_API_KEY),
            max_retries=0,
        )


def test_brief_is_validated_ranked_cached_and_on_the_timeline(
    engine: Engine, anthropic_fake: FakeAnthropic, github: FakeGitHub
) -> None:
    issue_id = seed(engine)
    anthropic_fake.enqueue(ToolAnswer(input=BRIEF, name="record_investigation"))
    first = run(engine, anthropic_fake, github, issue_id=issue_id)
    assert first.status == "ok", first.detail
    brief = first.brief
    assert brief["cause"] == "change" and brief["suggest_rerun"] is False
    assert [h["likelihood"] for h in brief["hypotheses"]] == [0.9, 0.05]  # ranked
    assert brief["hypotheses"][0]["evidence"] == ["line 6", f"commit {SHA}"]
    sent = anthropic_fake.requests[-1].body
    assert sent["tool_choice"] == {"type": "tool", "name": "record_investigation"}
    assert "AssertionError: assert 41 == 42" in sent["messages"][0]["content"]
    assert SHA in sent["messages"][0]["content"]  # the suspect commit is in the evidence

    again = run(engine, anthropic_fake, github, issue_id=issue_id)
    assert again.status == "cached" and again.brief == brief
    assert len(anthropic_fake.requests) == 1
    with Session(engine) as session:
        events = session.execute(
            select(t.issue_events.c.actor, t.issue_events.c.data).where(
                t.issue_events.c.kind == "investigated"
            )
        ).all()
    assert [(e.actor, e.data["cause"]) for e in events] == [("llm", "change")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"hypotheses": [{"cause": "x", "evidence": ["line 99"], "likelihood": 0.5}]}, "line 99"),
        ({"hypotheses": [{"cause": "x", "evidence": ["commit deadbee"], "likelihood": 1}]}, "dead"),
        ({"cause": "environment"}, "suggest_rerun"),
        ({"confidence": 1.5}, "confidence"),
        ({"mood": "sad"}, "unknown keys"),
    ],
)
def test_invalid_briefs_fall_back_to_the_evidence_pack(
    engine: Engine,
    anthropic_fake: FakeAnthropic,
    github: FakeGitHub,
    change: dict[str, Any],
    reason: str,
) -> None:
    issue_id = seed(engine)
    anthropic_fake.enqueue(ToolAnswer(input={**BRIEF, **change}, name="record_investigation"))
    result = run(engine, anthropic_fake, github, issue_id=issue_id)
    assert result.status == "invalid" and reason in result.detail
    assert result.brief is None and result.evidence["green_diff"] is not None
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(t.investigations)).scalar() == 0


def test_without_a_key_the_answer_is_the_evidence_pack(
    engine: Engine, anthropic_fake: FakeAnthropic, github: FakeGitHub
) -> None:
    issue_id = seed(engine)
    result = run(engine, anthropic_fake, github, issue_id=issue_id, api_key="")
    assert result.status == "skipped_disabled" and result.fallback
    assert result.evidence["suspects"]["commits"][0]["sha"] == SHA
    assert anthropic_fake.requests == []


def test_spent_budget_and_api_errors_fall_back(
    engine: Engine, anthropic_fake: FakeAnthropic, github: FakeGitHub
) -> None:
    issue_id = seed(engine)
    settings = settings_for(anthropic_fake, budget=1)
    anthropic_fake.enqueue(server_error())
    failed = run(engine, anthropic_fake, github, issue_id=issue_id, settings=settings)
    assert failed.status == "error" and failed.fallback
    spent = run(engine, anthropic_fake, github, issue_id=issue_id, settings=settings)
    assert spent.status == "skipped_budget" and "budget of 1" in spent.detail
    assert len(anthropic_fake.requests) == 1


def test_api_and_cli_investigate(
    engine: Engine,
    anthropic_fake: FakeAnthropic,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
) -> None:
    issue_id = seed(engine)
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    settings = settings_for(anthropic_fake)
    with Session(engine) as session, session.begin():
        _, raw = create_api_token(session=session, name="ci", scope="write", now=CLOCK.now())
    anthropic_fake.enqueue(ToolAnswer(input=BRIEF, name="record_investigation"))
    with GitHubClient(DEFAULT_TOKEN, base_url=github.base_url) as gh:
        app = create_app(
            engine,
            settings,
            WebhookConfig(None, insecure=True),
            clock=CLOCK,
            run_worker=False,
            github=gh,
        )
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {raw}"}
            answer = client.post(f"/api/v1/issues/{issue_id}/investigate", headers=headers)
            missing = client.post("/api/v1/issues/999999/investigate", headers=headers)
            paths = client.get("/openapi.json").json()["paths"]
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok" and body["brief"]["next_step"].startswith("Read")
    assert missing.status_code == 404
    assert "/api/v1/issues/{issue_id}/investigate" in paths

    # The CLI: the same evidence (suspects from the same GitHub), so the cached brief, no key.
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("TRIAGEHUB_GITHUB_API_URL", github.base_url)
    args = ["--db", db_url, "investigate", str(issue_id)]
    result = CliRunner().invoke(cli_app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "cached"
    text = CliRunner().invoke(cli_app, args)
    assert "Cause: change" in text.output and f"commit {SHA}" in text.output
    assert len(anthropic_fake.requests) == 1
    unknown = CliRunner().invoke(cli_app, ["--db", db_url, "investigate", "999999"])
    assert isinstance(unknown.exception, InputError)  # exit 2 through triagehub's main()
    assert "no such issue" in str(unknown.exception)


@pytest.mark.browser
def test_issue_page_shows_the_brief(
    engine: Engine, anthropic_fake: FakeAnthropic, github: FakeGitHub
) -> None:
    issue_id = seed(engine)
    anthropic_fake.enqueue(ToolAnswer(input=BRIEF, name="record_investigation"))
    assert run(engine, anthropic_fake, github, issue_id=issue_id).status == "ok"
    text = page_text(engine, issue_id, "#investigation-brief")
    assert "Investigation brief" in text and BRIEF["summary"] in text
    assert "Cause: change" in text
    assert f"b2 rounds totals down, so 41 != 42 (90%; line 6, commit {SHA})" in text
    assert "Next step: Read the rounding change" in text


def test_the_issue_pages_button_investigates(
    engine: Engine, anthropic_fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue_id = seed(engine)
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    cited = {"cause": "total() changed", "evidence": ["line 6"], "likelihood": 0.9}
    anthropic_fake.enqueue(
        ToolAnswer(input={**BRIEF, "hypotheses": [cited]}, name="record_investigation")
    )
    with Session(engine) as session, session.begin():
        _, raw = create_api_token(session=session, name="ann", scope="write", now=CLOCK.now())
    app = create_app(
        engine,
        settings_for(anthropic_fake),
        WebhookConfig(None, insecure=True),
        clock=CLOCK,
        run_worker=False,
    )
    with TestClient(app, base_url="http://testserver") as client:
        anonymous = client.post(f"/issues/{issue_id}/investigate", data={"csrf": "x"})
        assert anonymous.status_code == 401 and anthropic_fake.requests == []
        assert client.post("/login", data={"token": raw, "next": "/"}).status_code in (200, 303)
        page = client.get(f"/issues/{issue_id}").text
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert match and 'action="/issues/' in page and "Investigate with Claude" in page
        answer = client.post(
            f"/issues/{issue_id}/investigate",
            data={"csrf": match.group(1)},
            headers={"Origin": "http://testserver"},
        )
    assert answer.status_code == 200, answer.text[:300]  # followed to the issue page
    assert 'id="investigation-brief"' in answer.text and BRIEF["summary"] in answer.text


def test_new_high_priority_issues_are_investigated_by_the_monitor(
    engine: Engine, anthropic_fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue_id = seed(engine)
    with Session(engine) as session, session.begin():
        session.execute(update(t.issues).values(priority="high"))
    llm = LLMConfig(base_url=anthropic_fake.base_url, timeout_s=5, auto_investigate_hours=72)
    settings = Settings(llm=llm)  # the issue was first seen 47 hours before CLOCK
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    run_tick(engine, settings, clock=CLOCK)
    assert process_jobs(engine, settings, clock=CLOCK) == 0  # no key: nothing queued

    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    cited = {"cause": "total() changed", "evidence": ["line 6"], "likelihood": 0.9}
    anthropic_fake.enqueue(
        ToolAnswer(input={**BRIEF, "hypotheses": [cited]}, name="record_investigation")
    )
    run_tick(engine, settings, clock=CLOCK)
    run_tick(engine, settings, clock=CLOCK)  # queued once
    assert process_jobs(engine, settings, clock=CLOCK) == 1
    with Session(engine) as session:
        assert latest_brief(session=session, issue_id=issue_id) is not None
    run_tick(engine, settings, clock=CLOCK)  # investigated: not again
    assert process_jobs(engine, settings, clock=CLOCK) == 0
    assert len(anthropic_fake.requests) == 1

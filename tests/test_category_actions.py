"""The brief's per-category actions (triagehub.engine.category_actions), on SQLite and PostgreSQL,
against the Slack receiver and the fake GitHub, with a FixedClock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fake_github import FakeGitHub
from outbox_receiver import Receiver
from slack_bot import clear_slack_env, slack_bot
from test_oncall import REPO, Hub, config
from triagehub.api.app import WebhookConfig, create_app, signature_of
from triagehub.cli.main import app as cli_app
from triagehub.config import load_settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.sync import render
from triagehub.store import tables as t

pytestmark = pytest.mark.clock

RULES = [
    {"name": "dq", "match": {"check": "dq_*"}, "set": {"category": "data_quality_issue"}},
    {"name": "fresh", "match": {"check": "fresh_*"}, "set": {"kind": "freshness"}},
    {"name": "infra", "match": {"check": "infra_*"}, "set": {"category": "infrastructure_issue"}},
    {"name": "fp", "match": {"check": "fp_*"}, "set": {"category": "false_positive"}},
    {"name": "code", "match": {"check": "code_*"}, "set": {"category": "code_fix_required"}},
]


def settings_with(**extra: Any) -> Any:
    data = config().model_dump(mode="json", exclude_none=True)
    data["classification_rules"] = RULES
    data.update(extra)
    return parse_settings(data, "t.yaml")


def actions(engine: Engine) -> dict[int, dict[str, Any]]:
    with Session(engine) as session:
        rows = session.execute(
            select(t.issue_events.c.issue_id, t.issue_events.c.data).where(
                t.issue_events.c.kind == "category_action"
            )
        ).all()
    return {issue_id: data for issue_id, data in rows}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_env(monkeypatch)


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    yield from slack_bot(monkeypatch)


def test_data_quality_notifies_the_owners_with_the_upstream_freshness(
    engine: Engine, bot: Receiver
) -> None:
    hub = Hub(engine, settings_with())
    hub.fail("fresh_orders", message="source raw.orders is stale: 30 hours since last load")
    hub.fail("dq_not_null", message="Got 12 results, configured to fail if != 0")
    hub.tick()
    issues = hub.issues()
    dq = actions(engine)[issues["dq_not_null"]["id"]]
    assert dq["action"] == "owners_notified"
    assert dq["owners"] in ("alice", "bob")  # the assigned dbt expert
    assert f"#{issues['fresh_orders']['id']}" in dq["upstream"]
    hub.work()
    mark = f"Data quality issue #{issues['dq_not_null']['id']} for"
    sent = [d.body for d in bot.deliveries if mark in json.dumps(d.body)]
    assert len(sent) == 1 and sent[0]["channel"] == "#data-alerts"
    assert "upstream sources not fresh" in sent[0]["blocks"][1]["text"]["text"]
    hub.advance(minutes=5)
    hub.tick()
    with Session(engine) as session:
        events = session.execute(
            select(t.issue_events.c.issue_id).where(t.issue_events.c.kind == "category_action")
        ).all()
    assert len(events) == 2  # once per issue (the freshness failure is data quality too)


def test_infrastructure_notifies_the_platform_channel_with_what_is_affected(
    engine: Engine, bot: Receiver
) -> None:
    hub = Hub(engine, settings_with(category_actions={"platform_channel": "#platform"}))
    hub.fail(
        "infra_deploy",
        message="The self-hosted runner: gh-runner-7 lost communication with the server",
    )
    hub.tick()
    [data] = actions(engine).values()
    assert data["action"] == "platform_notified" and data["hosts"] == ["gh-runner-7"]
    hub.work()
    [sent] = [d.body for d in bot.deliveries if "Infrastructure issue" in json.dumps(d.body)]
    assert sent["channel"] == "#platform"
    assert "runners/services: gh-runner-7" in sent["blocks"][1]["text"]["text"]


def test_a_false_positive_gets_a_rule_that_one_command_adds(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    hub = Hub(engine, settings_with())
    hub.fail("fp_banner", message="Warning treated as error: banner shown 3 times")
    hub.tick()
    [(issue_id, data)] = actions(engine).items()
    assert data["action"] == "rule_proposed"
    assert data["rule"]["set"]["category"] == "false_positive"
    assert "triagehub rules accept" in data["reason"]
    # The config without classification_rules: the section is appended, comments kept.
    path = tmp_path / "triagehub.yaml"
    path.write_text("# our config\nrepositories:\n  acme/dbt_cloud: {priority_level: high}\n")
    result = CliRunner().invoke(
        cli_app, ["--db", db_url, "rules", "accept", str(issue_id), "--config-file", str(path)]
    )
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith("# our config") and "false-positive-" in text
    loaded = load_settings(path)
    [rule] = loaded.classification_rules
    assert rule.set.category is not None and rule.set.category.value == "false_positive"
    # The rule classifies the next failure of that check in a fresh repository by itself.
    other = parse_settings(
        {"classification_rules": [rule.model_dump(mode="json", exclude_none=True)]}, "t.yaml"
    )
    assert other.classification_rules[0].match.repository == REPO
    again = CliRunner().invoke(
        cli_app, ["--db", db_url, "rules", "accept", str(issue_id), "--config-file", str(path)]
    )
    assert again.exit_code == 0 and "there already" in again.output
    from test_cli import cli

    missing = cli(db_url, "rules", "accept", "999", "--config-file", str(path))
    assert missing.returncode == 2 and "no classification rule" in missing.stderr


def test_a_code_fix_resolves_only_with_a_merged_pull_request(
    engine: Engine, fake: FakeGitHub
) -> None:
    settings = settings_with(category_actions={"code_fix_requires_pr": True})
    hub = Hub(engine, settings, fake)
    try:
        hub.fail("code_total", message="AssertionError: assert total == 42")
        hub.tick()
        hub.work()
        assert fake.issue(REPO, 1)["state"] == "open"
        for n in range(3):  # three green runs: not enough for a code fix
            hub.advance(hours=1)
            report = RunReport(
                source="dbt",
                repository=REPO,
                run_id=f"g{n}",
                commit=f"g{n}",
                finished_at=hub.clock.now(),
                results=(CheckResult("code_total", Status.PASS, ""),),
            )
            ingest_reports(engine, [report], settings, clock=hub.clock)
        hub.advance(minutes=5)
        hub.tick()
        assert hub.issues()["code_total"]["state"] == "assigned"
        # The fix is merged: a pull_request webhook links it; the next tick resolves.
        payload = {
            "action": "closed",
            "repository": {"full_name": REPO},
            "pull_request": {
                "number": 77,
                "merged": True,
                "title": "Fix the total",
                "body": "Fixes #1",
                "html_url": f"https://github.com/{REPO}/pull/77",
            },
            "sender": {"login": "alice", "type": "User"},
        }
        raw = json.dumps(payload).encode()
        app = create_app(engine, settings, WebhookConfig(b"k"), run_worker=False, clock=hub.clock)
        with TestClient(app) as client:
            answer = client.post(
                "/webhooks/github",
                content=raw,
                headers={
                    "content-type": "application/json",
                    "x-github-event": "pull_request",
                    "x-github-delivery": "pr-77",
                    "x-hub-signature-256": signature_of(b"k", raw),
                },
            )
        assert answer.json()["status"] == "recorded", answer.text
        hub.tick()
        assert hub.issues()["code_total"]["state"] == "resolved"
        hub.advance(minutes=20)
        hub.tick()
        hub.work()
        meta = render.parse_metadata(fake.issue(REPO, 1)["body"])
        assert meta is not None and meta["related_prs"] == [f"https://github.com/{REPO}/pull/77"]
        assert fake.issue(REPO, 1)["state"] == "closed"
    finally:
        if hub.github is not None:
            hub.github.close()


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server

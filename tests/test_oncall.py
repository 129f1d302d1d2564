"""On-call: routing table, experts as GitHub assignees balanced by workload, alerts by priority
(immediate at ingest, within the tick, daily digests), against the Slack receiver and the fake
GitHub (real local HTTP servers), on SQLite and PostgreSQL, with a FixedClock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from fake_github import DEFAULT_TOKEN, FakeGitHub
from outbox_receiver import Receiver
from slack_bot import clear_slack_env, slack_bot
from triagehub.actions.github import GitHubClient
from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.jobs import RetryPolicy, process_jobs
from triagehub.engine.monitor import run_tick
from triagehub.engine.oncall import alert_mode, default_expert, dispatch_alerts, pick_assignee
from triagehub.engine.oncall.alerts import _possible_priorities
from triagehub.engine.oncall.writes import OncallWrites
from triagehub.errors import ConfigError
from triagehub.store import tables as t

pytestmark = pytest.mark.clock

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPO = "acme/dbt_cloud"
OTHER = "acme/app"


def config(**extra: Any) -> Settings:
    data: dict[str, Any] = {
        "repositories": {
            REPO: {
                "github_issues": {"target": REPO, "min_priority": "low"},
            },
            OTHER: {"alerts": {"slack": "#app-alerts"}},
        },
        "experts": {
            "dbt-expert": {"github": ["alice", "bob", "@acme/data-eng"], "slack": "#data-alerts"},
            "github-sleuth-expert": {"github": "carol"},
        },
        # Priority from the check's name: the test chooses each issue's priority.
        "classification_rules": [
            {"name": f"p-{p}", "match": {"check": f"{p}_*"}, "set": {"priority": p}}
            for p in ("critical", "high", "medium", "low")
        ],
        "lifecycle": {"agent_handle": None},
        **extra,
    }
    return parse_settings(data, "t.yaml")


class Hub:
    def __init__(self, engine: Engine, settings: Settings, fake: FakeGitHub | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = FixedClock(T0)
        self.runs = 0
        self.github: GitHubClient | None = None
        if fake is not None:
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

    def fail(
        self, *checks: str, repo: str = REPO, source: str = "dbt", message: str | None = None
    ) -> None:
        self.runs += 1
        report = RunReport(
            source=source,
            repository=repo,
            run_id=f"r{self.runs}",
            attempt=1,
            commit=f"c0ffee{self.runs:04d}",
            finished_at=self.clock.now(),
            results=tuple(
                CheckResult(
                    c, Status.FAIL, message or f"Failure in test {c}: Got 3 results, expected 0"
                )
                for c in checks
            ),
        )
        ingest_reports(self.engine, [report], self.settings, clock=self.clock)

    def tick(self) -> None:
        run_tick(self.engine, self.settings, clock=self.clock)

    def work(self) -> int:
        policy = RetryPolicy(max_attempts=5, backoff_s=10, max_backoff_s=60, record_every_s=0)
        total = 0
        while done := process_jobs(
            self.engine,
            self.settings,
            github=self.github,
            clock=self.clock,
            policy=policy,
            rng=random.Random(1),
        ):
            total += done
        return total

    def advance(self, **delta: float) -> None:
        self.clock.set(self.clock.now() + timedelta(**delta))

    def issues(self) -> dict[str, dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.execute(
                select(t.issues, t.checks.c.key).join(
                    t.checks, t.checks.c.id == t.issues.c.check_id
                )
            ).mappings()
            return {r["key"]: dict(r) for r in rows}

    def jobs(self, prefix: str) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.execute(
                select(t.jobs).where(t.jobs.c.key.like(f"{prefix}%")).order_by(t.jobs.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def alerts(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs("notify:") if ":alert:" in j["key"]]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_env(monkeypatch)


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    yield from slack_bot(monkeypatch)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


# -- routing ----------------------------------------------------------------------------------


def test_default_routing_follows_the_brief_by_kind_and_system() -> None:
    assert default_expert(source="dbt", kind="data_test", text="not_null_orders_id") == (
        "dbt-expert"
    )
    assert default_expert(source="dbt", kind="compilation", text="model x") == "dbt-expert"
    assert (
        default_expert(source="dbt", kind="runtime", text="Database Error in model orders")
        == "snowflake-expert"
    )
    assert (
        default_expert(source="junit", kind="test", text="Snowflake warehouse suspended")
        == "snowflake-expert"
    )
    assert (
        default_expert(source="playwright", kind="test", text="tableau dashboard did not load")
        == "tableau-expert"
    )
    assert default_expert(source="github_actions", kind="build", text="npm ci") == (
        "github-sleuth-expert"
    )
    assert default_expert(source="dbt", kind="data_test", text="x", systems=2) == "da-architect"


def test_a_group_is_balanced_by_open_workload_in_file_order() -> None:
    expert = config().experts["dbt-expert"]
    assert expert.logins == ["alice", "bob"] and expert.teams == ["@acme/data-eng"]
    assert pick_assignee(expert, {}) == "alice"
    assert pick_assignee(expert, {"alice": 2, "bob": 1}) == "bob"
    assert pick_assignee(config().experts["github-sleuth-expert"], {"carol": 9}) == "carol"


def test_a_bad_expert_handle_names_the_file_and_key() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings({"experts": {"x": {"github": ["not a login"]}}}, "t.yaml")
    assert "experts.x.github" in str(raised.value)


def test_issues_are_assigned_to_the_least_loaded_expert_and_moved_to_assigned(
    engine: Engine,
) -> None:
    hub = Hub(engine, config())
    hub.fail("medium_a", "medium_b", "medium_c")
    hub.tick()
    issues = hub.issues()
    assert [issues[k]["assignee"] for k in ("medium_a", "medium_b", "medium_c")] == [
        "alice",
        "bob",
        "alice",
    ]
    assert {i["state"] for i in issues.values()} == {"assigned"}
    assert {i["expert"] for i in issues.values()} == {"dbt-expert"}  # default routing: dbt
    with Session(engine) as session:
        events = session.execute(
            select(t.issue_events.c.data).where(t.issue_events.c.kind == "assigned")
        ).scalars()
        data = list(events)
    assert all(d["automatic"] and d["routing"] == "default" for d in data)
    # bob now has less open work: the next one is his.
    hub.advance(minutes=5)
    hub.fail("medium_d")
    hub.tick()
    assert hub.issues()["medium_d"]["assignee"] == "bob"
    # A second tick changes nothing.
    before = hub.jobs("")
    hub.tick()
    assert len(hub.jobs("")) == len(before)


def test_without_a_routing_table_entry_the_expert_is_named_but_no_one_assigned(
    engine: Engine,
) -> None:
    hub = Hub(engine, config())
    build = "npm ERR! code ELIFECYCLE: the build script failed with exit code 1"
    hub.fail("medium_build", repo=OTHER, source="github_actions", message=build)
    hub.tick()
    [issue] = hub.issues().values()
    # github-sleuth-expert -> carol
    assert (issue["expert"], issue["assignee"], issue["state"]) == (
        "github-sleuth-expert",
        "carol",
        "assigned",
    )
    settings = config(experts={})
    hub2 = Hub(engine, settings)
    hub2.runs = 10
    hub2.fail("medium_other", repo="acme/other", source="github_actions", message=build)
    hub2.tick()
    other = hub2.issues()["medium_other"]
    # The same error now spans two repositories: several systems -> da-architect, named only.
    assert (other["expert"], other["assignee"], other["state"]) == (
        "da-architect",
        None,
        "open",
    )


# -- alerts -----------------------------------------------------------------------------------


def test_alert_timing_per_priority(engine: Engine, bot: Receiver) -> None:
    hub = Hub(engine, config())
    hub.fail("critical_x", "high_x", "medium_x", "low_x")
    # At ingest, before any tick: only the critical one is announced (and assigned).
    alerts = hub.alerts()
    issues = hub.issues()
    assert [a["data"]["issue_id"] for a in alerts] == [issues["critical_x"]["id"]]
    assert issues["critical_x"]["state"] == "assigned"
    assert hub.work() >= 1
    [message] = bot.deliveries
    assert message.body["channel"] == "#data-alerts"
    assert "New critical issue" in message.body["blocks"][1]["text"]["text"]
    assert "@alice" in message.body["blocks"][1]["text"]["text"]
    # The tick: the high one too; medium and low wait for the digest.
    hub.tick()
    announced = {a["data"]["issue_id"] for a in hub.alerts()}
    assert announced == {issues["critical_x"]["id"], issues["high_x"]["id"]}
    hub.work()

    def announcements() -> list[str]:  # (besides the data quality owners' notifications)
        return [d.key or "" for d in bot.deliveries if ":alert:" in (d.key or "")]

    assert len(announcements()) == 2
    hub.advance(minutes=30)
    hub.tick()
    assert hub.jobs("digest:") == []  # 08:30: the day's digest (09:00) is not due
    hub.advance(hours=1)  # 09:30
    hub.tick()
    [digest] = hub.jobs("digest:")
    assert digest["data"]["issues"] == [issues["medium_x"]["id"], issues["low_x"]["id"]]
    assert digest["data"]["channel"] == "#data-alerts"
    hub.work()
    [sent] = [d for d in bot.deliveries if (d.key or "").startswith("digest:")]
    text = sent.body["blocks"][1]["text"]["text"]
    assert text.startswith(f"Daily digest for {REPO} (#data-alerts), 2026-11-10: 2 new")
    assert "[medium] " in text and "[low] " in text and "critical_x" not in text
    # Nothing is sent twice.
    hub.advance(minutes=5)
    hub.tick()
    hub.work()
    assert len(announcements()) == 2 and bot.stats()["duplicates"] == 0
    assert len([d for d in bot.deliveries if (d.key or "").startswith("digest:")]) == 1


def test_a_regression_of_a_critical_issue_alerts_again_at_once(engine: Engine) -> None:
    hub = Hub(engine, config())
    hub.fail("critical_x")
    [first] = hub.alerts()
    for _ in range(3):
        hub.advance(hours=1)
        hub.runs += 1
        report = RunReport(
            source="dbt",
            repository=REPO,
            run_id=f"r{hub.runs}",
            commit=f"c{hub.runs}",
            finished_at=hub.clock.now(),
            results=(CheckResult("critical_x", Status.PASS, ""),),
        )
        ingest_reports(engine, [report], hub.settings, clock=hub.clock)
    hub.advance(minutes=5)
    hub.tick()
    assert hub.issues()["critical_x"]["state"] == "resolved"
    hub.advance(hours=1)
    hub.fail("critical_x")
    alerts = hub.alerts()
    assert len(alerts) == 2 and alerts[1]["data"]["event"] == "regressed"
    assert alerts[0]["key"] == first["key"]


def test_critical_issues_of_one_ingest_are_written_in_the_order_of_one_at_a_time(
    engine: Engine,
) -> None:
    hub = Hub(engine, config())
    hub.fail("critical_a", "critical_b", "critical_c")
    issues = hub.issues()
    ids = [issues[k]["id"] for k in ("critical_a", "critical_b", "critical_c")]
    assert [issues[k]["assignee"] for k in ("critical_a", "critical_b", "critical_c")] == [
        "alice",
        "bob",
        "alice",
    ]
    with Session(engine) as session:
        events = session.execute(
            select(t.issue_events.c.issue_id, t.issue_events.c.kind, t.issue_events.c.data)
            .where(t.issue_events.c.kind.in_(["state_changed", "assigned", "alerted"]))
            .order_by(t.issue_events.c.id)
        ).all()
    # Per issue, in issue order: its state change, its assignment, its alert.
    assert [(i, kind) for i, kind, _ in events] == [
        (i, kind) for i in ids for kind in ("state_changed", "assigned", "alerted")
    ]
    assert events[0][2]["from"] == "open" and events[0][2]["to"] == "assigned"
    assert events[1][2]["reason"].endswith("0 open issue(s) before this one")
    # Jobs likewise: the GitHub assignee, the notification, the mention.
    kinds = [j["key"].split(":")[2] for j in hub.jobs("") if j["key"].count(":") >= 3]
    assert kinds == ["assign", "alert", "mention"] * 3


def test_an_alert_another_process_sent_first_is_not_recorded_again(engine: Engine) -> None:
    hub = Hub(engine, config(), None)
    hub.fail("low_x")  # an issue to hang the rows on (no immediate alert)
    issue_id = hub.issues()["low_x"]["id"]
    key, mention = f"notify:{issue_id}:alert:999", f"github_oncall:{issue_id}:mention:999"
    with Session(engine) as session, session.begin():
        first = OncallWrites(T0)  # the other process
        first.job("notify", key, {"by": "them"})
        assert first.flush(session) == {key}
    with Session(engine) as session, session.begin():
        writes = OncallWrites(T0)
        writes.job("notify", key, {"by": "us"})
        writes.event(issue_id, "alerted", {"event": 999}, needs=key)
        writes.job("github_oncall", mention, {"mention": "@x"}, needs=key)
        assert writes.flush(session) == set()
    assert [j["data"] for j in hub.jobs(key)] == [{"by": "them"}]
    assert hub.jobs(mention) == []
    with Session(engine) as session:
        kinds = session.execute(
            select(t.issue_events.c.kind).where(t.issue_events.c.issue_id == issue_id)
        ).scalars()
        assert "alerted" not in list(kinds)


def test_alerts_are_configurable_per_repository_and_category() -> None:
    settings = config(
        alerts={"high": "immediate", "categories": {"transient_failure": {"critical": "digest"}}}
    )
    settings = parse_settings(
        {
            **settings.model_dump(mode="json", exclude_none=True),
            "repositories": {
                REPO: {
                    "alerts": {
                        "medium": "off",
                        "categories": {"code_fix_required": {"low": "tick"}},
                    }
                }
            },
        },
        "t.yaml",
    )
    assert alert_mode(settings, REPO, "code_fix_required", "critical") == "immediate"
    assert alert_mode(settings, REPO, "code_fix_required", "high") == "immediate"
    assert alert_mode(settings, REPO, "code_fix_required", "medium") == "off"
    assert alert_mode(settings, REPO, "code_fix_required", "low") == "tick"
    assert alert_mode(settings, REPO, "data_quality_issue", "low") == "digest"
    assert alert_mode(settings, REPO, "transient_failure", "critical") == "digest"
    assert alert_mode(settings, OTHER, "transient_failure", "critical") == "digest"
    assert alert_mode(settings, OTHER, "code_fix_required", "medium") == "digest"


def test_a_pass_reads_the_priorities_some_layer_may_announce_in_its_modes() -> None:
    # Defaults: critical is immediate, high waits for the tick, medium and low for the digest.
    assert _possible_priorities(config(), ("immediate",)) == ["critical"]
    assert _possible_priorities(config(), ("immediate", "tick")) == ["critical", "high"]
    assert _possible_priorities(config(), ("digest",)) == []
    # Any layer (a repository's, a category's) that announces a level in the pass's modes
    # brings it in; a layer that turns the default off does not take it out (a superset).
    routed = config(
        alerts={"critical": "off", "categories": {"transient_failure": {"low": "immediate"}}}
    )
    assert _possible_priorities(routed, ("immediate",)) == ["critical", "low"]
    # Medium (and a priority outside the vocabulary, read as medium): no filter at all.
    medium = parse_settings(
        {
            **config().model_dump(mode="json", exclude_none=True),
            "repositories": {OTHER: {"alerts": {"medium": "tick"}}},
        },
        "t.yaml",
    )
    assert _possible_priorities(medium, ("tick",)) is None
    assert _possible_priorities(medium, ("immediate",)) == ["critical"]


def test_a_level_routed_to_immediate_by_a_category_is_announced_at_ingest(engine: Engine) -> None:
    # (the failures of ``Hub.fail`` are data quality failures)
    settings = config(alerts={"categories": {"data_quality_issue": {"low": "immediate"}}})
    hub = Hub(engine, settings)
    hub.fail("critical_x", "high_x", "low_x")
    issues = hub.issues()
    modes = {k: alert_mode(settings, REPO, v["category"], v["priority"]) for k, v in issues.items()}
    announced = {a["data"]["issue_id"] for a in hub.alerts()}
    assert announced == {issues[k]["id"] for k, mode in modes.items() if mode == "immediate"}
    assert announced == {issues["critical_x"]["id"], issues["low_x"]["id"]}


def test_digests_are_per_repository_and_channel(engine: Engine) -> None:
    hub = Hub(engine, config())
    hub.fail("medium_a", "low_b")
    hub.fail("medium_c", repo=OTHER, source="junit", message="AssertionError: assert 1 == 2")
    hub.advance(hours=2)  # 10:00, past the 09:00 digest
    hub.tick()
    digests = {d["data"]["repository"]: d["data"] for d in hub.jobs("digest:")}
    assert set(digests) == {REPO, OTHER}
    assert digests[OTHER]["channel"] == "#app-alerts"  # the repository's alert route
    assert digests[REPO]["channel"] == "#data-alerts"  # the expert's channel
    assert len(digests[REPO]["issues"]) == 2 and len(digests[OTHER]["issues"]) == 1


# -- the GitHub side --------------------------------------------------------------------------


def test_a_critical_issue_gets_its_github_assignee_and_a_mention(
    engine: Engine, fake: FakeGitHub
) -> None:
    hub = Hub(engine, config(), fake)
    try:
        hub.fail("critical_x")
        hub.work()  # the GitHub issue does not exist yet: the on-call job waits for it
        [waiting] = [j for j in hub.jobs("github_oncall:") if ":assign:" in j["key"]]
        assert waiting["status"] == "pending"
        hub.tick()
        hub.work()  # the sync creates GitHub issue #1
        assert fake.issue(REPO, 1)["assignees"] == []
        hub.advance(minutes=2)
        hub.work()
        gh = fake.issue(REPO, 1)
        assert [a["login"] for a in gh["assignees"]] == ["alice"]
        comments = [c["body"] for c in fake.comments[(REPO.lower(), 1)]]
        [mention] = [c for c in comments if "please take it" in c]
        assert "@alice @acme/data-eng: new critical failure" in mention
        # Later ticks and work do not mention or assign twice.
        hub.advance(minutes=20)
        hub.tick()
        hub.work()
        bodies = [c["body"] for c in fake.comments[(REPO.lower(), 1)]]
        assert len([c for c in bodies if "please take it" in c]) == 1
        assert len([r for r in fake.requests if r.path.endswith("/assignees")]) == 1
    finally:
        if hub.github is not None:
            hub.github.close()


# -- the metadata block -----------------------------------------------------------------------


def test_the_metadata_block_takes_the_configured_tag_and_the_brief_fields(
    engine: Engine, fake: FakeGitHub
) -> None:
    from triagehub.engine.sync import render
    from triagehub.engine.sync.github_issues import related_prs

    data = config().model_dump(mode="json", exclude_none=True)
    data["repositories"][REPO]["github_issues"]["metadata_tag"] = "CLAUDE_METADATA"
    hub = Hub(engine, parse_settings(data, "t.yaml"), fake)
    try:
        hub.fail("medium_x")
        hub.tick()
        hub.work()
        body = fake.issue(REPO, 1)["body"]
        assert "<!-- CLAUDE_METADATA {" in body and "TRIAGEHUB_METADATA" not in body
        meta = render.parse_metadata(body)
        assert meta is not None
        assert meta["related_prs"] == []
        assert meta["time_to_first_response"] is None  # no person acted yet
        assert meta["time_to_resolution"] is None and meta["resolution_confidence"] is None
        # A person resolves it 5 hours after the failure: both times, and full confidence.
        from triagehub.core.lifecycle import Actor
        from triagehub.core.models import IssueState
        from triagehub.store.lifecycle import change_state

        hub.advance(hours=5)
        issue_id = hub.issues()["medium_x"]["id"]
        with Session(engine) as session, session.begin():
            change_state(
                session,
                issue_id,
                IssueState.RESOLVED,
                actor=Actor.HUMAN,
                reason="fixed in #12",
                now=hub.clock.now(),
                who="github:octocat",
            )
        hub.tick()
        hub.work()
        meta = render.parse_metadata(fake.issue(REPO, 1)["body"])
        assert meta is not None
        assert meta["time_to_first_response"] == 5.0
        assert meta["time_to_resolution"] == 5.0
        assert meta["resolution_confidence"] == 1.0
    finally:
        if hub.github is not None:
            hub.github.close()
    assert related_prs(
        "acme/app",
        ["refs/pull/12/merge", "main", None, "pull/12/head"],
        [{"number": 7, "repository": "acme/lib"}, {"number": "x"}],
    ) == ["acme/lib#7", "acme/app#12"]
    with pytest.raises(ValueError):
        render.metadata_block({}, "bad tag -->")
    with pytest.raises(ConfigError):
        parse_settings({"repositories": {REPO: {"github_issues": {"metadata_tag": "x y"}}}}, "f")


# -- issues opened by people ------------------------------------------------------------------


def test_a_person_s_labelled_github_issue_is_adopted_classified_labelled_and_assigned(
    engine: Engine, fake: FakeGitHub
) -> None:
    import json
    from pathlib import Path

    from fastapi.testclient import TestClient

    from triagehub.api.app import WebhookConfig, create_app, signature_of

    target = "Codertocat/Hello-World"
    data = config().model_dump(mode="json", exclude_none=True)
    data["repositories"][REPO]["github_issues"] = {
        "target": target,
        "min_priority": "low",
        "adopt_labels": ["dbt-error"],
    }
    hub = Hub(engine, parse_settings(data, "t.yaml"), fake)
    body = (
        "Our nightly run broke:\n```\nCompilation Error in model orders (models/orders.sql)\n"
        "  Model 'model.shop.orders' depends on a node named 'stg_customers' which was not "
        "found\n```"
    )
    created = fake.create_issue(target, "dbt run fails on orders", body, ["dbt-error"], "octocat")
    payload = json.loads(
        (Path(__file__).parent / "data" / "github" / "issues.labeled.9.json").read_text()
    )
    payload["action"] = "opened"
    payload["issue"] = {**payload["issue"], **created}
    payload["sender"] = {"login": "octocat", "type": "User"}
    secret = b"s3cret"
    raw = json.dumps(payload).encode()
    app = create_app(engine, hub.settings, WebhookConfig(secret), run_worker=False, clock=hub.clock)
    try:
        with TestClient(app) as client:
            answer = client.post(
                "/webhooks/github",
                content=raw,
                headers={
                    "content-type": "application/json",
                    "x-github-event": "issues",
                    "x-github-delivery": "d-open-1",
                    "x-hub-signature-256": signature_of(secret, raw),
                },
            )
        assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
        hub.work()
        [issue] = hub.issues().values()
        assert issue["source"] == "github_issue"
        # Classified from the pasted log: a dbt compilation error, code to fix.
        assert (issue["kind"], issue["category"]) == ("compilation", "code_fix_required")
        assert (issue["github_repo"], issue["github_number"]) == (target.lower(), created["number"])
        hub.tick()  # assigned by the routing table (dbt model -> dbt-expert -> alice)
        hub.work()
        hub.advance(minutes=2)
        hub.work()
        row = hub.issues()["github-issue/1"]
        assert (row["expert"], row["assignee"], row["state"]) == ("dbt-expert", "alice", "assigned")
        gh = fake.issue(target, created["number"])
        names = {label["name"] for label in gh["labels"]}
        assert "dbt-error" in names and f"category:{row['category']}" in names
        assert [a["login"] for a in gh["assignees"]] == ["alice"]
        assert gh["body"] == body  # the person's text is kept
        assert (
            len([r for r in fake.requests if r.method == "POST" and r.path.endswith("/issues")])
            == 0
        )
    finally:
        if hub.github is not None:
            hub.github.close()


def test_the_brief_s_repositories_load_with_a_routing_table() -> None:
    import yaml

    from triagehub.demo.scenario import DEMO_CONFIG_YAML

    data = yaml.safe_load(DEMO_CONFIG_YAML)
    data["experts"] = {
        name: {"github": [f"{name}-oncall"], "slack": f"#{name}"}
        for name in (
            "dbt-expert",
            "snowflake-expert",
            "tableau-expert",
            "github-sleuth-expert",
            "da-architect",
        )
    }
    settings = parse_settings(data, "brief.yaml")
    assert set(settings.repositories) == {"acme/dbt_cloud", "acme/roy_kent", "acme/da-agent-hub"}
    rules = {
        name: {r: rule.auto_assign for r, rule in repo.automation_rules.items()}
        for name, repo in settings.repositories.items()
    }
    assert rules["acme/roy_kent"] == {"workflow_failures": "github-sleuth-expert"}
    assert rules["acme/da-agent-hub"] == {"dashboard_failures": "tableau-expert"}
    assert all(e in settings.experts for r in rules.values() for e in r.values())


def test_a_pass_reads_the_announced_issues_once_and_only_the_columns_it_uses(
    engine: Engine,
) -> None:
    hub = Hub(engine, config())
    hub.fail("high_x", "high_y", "low_z")  # announced by the tick, not at ingest
    issues = hub.issues()
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, sql: str, *_rest: Any) -> None:
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as session, session.begin():
            done = dispatch_alerts(session, hub.settings, T0, modes=("tick",))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert sorted(done) == sorted(
        [(issues["high_x"]["id"], "tick"), (issues["high_y"]["id"], "tick")]
    )
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    reads = [s for s in selects if "issues." in s]
    # One statement reads the events, one their issues' alert and routing columns; none reads
    # an issue's other columns (its fingerprint, labels, GitHub mirror...).
    assert len([s for s in selects if "FROM issue_events" in s]) == 1
    assert len([s for s in reads if "issues.title" in s]) == 1
    assert not [s for s in reads if "fingerprint" in s or "github_labels" in s]
    alerted = [a["data"]["summary"]["title"] for a in hub.alerts()]
    assert len(alerted) == 2 and all(alerted)

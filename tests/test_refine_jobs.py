"""The LLM step on every ingest path: webhook deliveries, polling and the REST API queue one
``refine`` job with the issues they touched, which the real worker runs against a local server
speaking the Messages API, within the daily budget the CLI uses too."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fake_anthropic import DEFAULT_API_KEY, FakeAnthropic, server_error, tool_answer
from fake_dbt_cloud import DEFAULT_TOKEN as DBT_TOKEN
from fake_dbt_cloud import ERROR, FakeDbtCloud
from fake_dbt_cloud import make_run as make_cloud_run
from fake_github import DEFAULT_TOKEN, FakeGitHub, make_job
from test_poll import LOG
from test_webhooks import SECRET, post
from triagehub.actions.github import GitHubClient
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock
from triagehub.config import LLMConfig, Settings
from triagehub.engine.jobs import process_jobs
from triagehub.engine.pull.dbt_cloud import DbtCloudClient, poll_dbt_cloud
from triagehub.engine.pull.github_actions import poll_github_actions
from triagehub.engine.refine import API_KEY_ENV, REFINE, llm_from_settings, refine_with_llm
from triagehub.store import tables as t
from triagehub.store.llm_usage import calls_on, reserve_call
from triagehub.store.queries import create_api_token

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CLOCK = FixedClock(NOW)
DATA = Path(__file__).parent / "data"
FAILED_JOB = "workflow_job.completed_failure.1.json"
VAGUE = "step exploded: something went wrong in the widget frobnicator"
REFINED = {"category": "infrastructure_issue", "kind": "infrastructure"}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        server.default = tool_answer(**REFINED)
        yield server


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, DEFAULT_API_KEY)


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)


def settings_for(fake: FakeAnthropic, budget: int = 10) -> Settings:
    # Every issue the rules classify is sent (their confidence is always under 1).
    return Settings(
        llm=LLMConfig(
            base_url=fake.base_url, daily_budget=budget, timeout_s=5, confidence_threshold=1.0
        )
    )


def github_body(**job: Any) -> bytes:
    body = json.loads((DATA / "github" / FAILED_JOB).read_bytes())
    body["workflow_job"].update(job)
    return json.dumps(body).encode()


def deliver(client: TestClient, body: bytes, delivery: str) -> None:
    answer = post(client, body, event="workflow_job", delivery=delivery)  # signed with SECRET
    assert answer.status_code == 202, answer.text


def jobs(engine: Engine, kind: str = REFINE) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.execute(select(t.jobs).where(t.jobs.c.kind == kind).order_by(t.jobs.c.id))
        return [dict(r) for r in rows.mappings()]


def issues(engine: Engine) -> dict[int, tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(
                t.issues.c.id,
                t.issues.c.category,
                t.issues.c.kind,
                t.issues.c.classification_source,
            )
        ).all()
    return {r.id: (r.category, r.kind, r.classification_source) for r in rows}


def fallbacks(engine: Engine) -> list[str]:
    with Session(engine) as session:
        data = session.execute(
            select(t.issue_events.c.data).where(t.issue_events.c.kind == "llm_fallback")
        ).scalars()
        return [d["status"] for d in data]


def run_worker(engine: Engine, settings: Settings) -> None:
    """The worker, until nothing is due (a done job may have queued the next one)."""
    for _ in range(10):
        if not process_jobs(engine, settings, clock=CLOCK):
            return
    raise AssertionError("the worker never ran out of jobs")


@pytest.fixture
def webhook(engine: Engine, fake: FakeAnthropic) -> Iterator[TestClient]:
    app = create_app(
        engine, settings_for(fake), WebhookConfig(SECRET), clock=CLOCK, run_worker=False
    )
    with TestClient(app) as client:
        yield client


# -- webhooks ------------------------------------------------------------------------------------


def test_a_webhook_delivery_is_refined_by_the_servers_own_worker(
    engine: Engine, fake: FakeAnthropic, key: None
) -> None:
    settings = settings_for(fake)
    app = create_app(engine, settings, WebhookConfig(SECRET))  # its worker thread runs the jobs
    with TestClient(app) as client:
        deliver(client, github_body(), "d-1")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = [j for j in jobs(engine) if j["status"] == "done"]
            if done:
                break
            time.sleep(0.05)
    [job] = jobs(engine)
    assert job["status"] == "done" and job["attempts"] == 1
    assert job["data"]["result"]["refined"] == 1 and not job["data"]["result"]["fallback"]
    [(issue_id, refined)] = issues(engine).items()
    assert job["data"]["issues"] == [issue_id]
    assert refined == ("infrastructure_issue", "infrastructure", "llm")
    [request] = fake.requests
    assert "format-check" in request.text


def test_a_batch_of_deliveries_queues_one_job_with_each_touched_issue_once(
    engine: Engine, fake: FakeAnthropic, key: None, webhook: TestClient
) -> None:
    deliver(webhook, github_body(), "d-1")
    deliver(webhook, github_body(run_attempt=2), "d-2")  # the same failure again: same issue
    deliver(webhook, github_body(id=99, name="docs"), "d-3")  # another job: another issue
    assert process_jobs(engine, settings_for(fake), clock=CLOCK) == 3
    [job] = jobs(engine)
    assert job["status"] == "pending"
    assert job["data"]["issues"] == sorted(issues(engine)) and len(issues(engine)) == 2
    run_worker(engine, settings_for(fake))
    assert {v for v in issues(engine).values()} == {
        ("infrastructure_issue", "infrastructure", "llm")
    }
    assert len(fake.requests) == 2


def test_a_delivery_that_touches_no_issue_queues_nothing(
    engine: Engine, fake: FakeAnthropic, key: None, webhook: TestClient
) -> None:
    success = (DATA / "github" / "workflow_job.completed_success.2.json").read_bytes()
    deliver(webhook, success, "ok-1")
    run_worker(engine, settings_for(fake))
    assert jobs(engine, "ingest_webhook")[0]["status"] == "done"
    assert jobs(engine) == [] and issues(engine) == {}


def test_without_a_key_a_delivery_queues_no_job_and_nothing_changes(
    engine: Engine, fake: FakeAnthropic, no_key: None, webhook: TestClient
) -> None:
    deliver(webhook, github_body(), "d-1")
    run_worker(engine, settings_for(fake))
    assert jobs(engine) == [] and fake.requests == []
    assert [source for *_, source in issues(engine).values()] == ["rules"]


def test_a_spent_budget_falls_back_and_the_job_succeeds(
    engine: Engine, fake: FakeAnthropic, key: None, webhook: TestClient
) -> None:
    settings = settings_for(fake, budget=2)
    with Session(engine) as session, session.begin():  # other processes spent today's budget
        assert reserve_call(session=session, at=NOW, budget=2)
        assert reserve_call(session=session, at=NOW, budget=2)
    deliver(webhook, github_body(), "d-1")
    run_worker(engine, settings)
    [job] = jobs(engine)
    assert job["status"] == "done" and job["attempts"] == 1
    assert job["data"]["result"]["fallbacks"] == {"skipped_budget": 1}
    assert job["data"]["result"]["fallback"] is True and job["data"]["result"]["skipped"] == 0
    assert fake.requests == [] and fallbacks(engine) == ["skipped_budget"]
    assert [source for *_, source in issues(engine).values()] == ["rules"]


def test_an_llm_error_keeps_the_rules_and_is_not_retried(
    engine: Engine, fake: FakeAnthropic, key: None, webhook: TestClient
) -> None:
    fake.default = server_error()
    deliver(webhook, github_body(), "d-1")
    run_worker(engine, settings_for(fake))
    [job] = jobs(engine)
    assert job["status"] == "done" and job["attempts"] == 1 and job["last_error"] is None
    assert job["data"]["result"]["fallbacks"] == {"error": 1}
    assert fallbacks(engine) == ["error"]
    assert [source for *_, source in issues(engine).values()] == ["rules"]
    with Session(engine) as session:  # the one call counts against the budget
        assert calls_on(session=session, at=NOW) == 1


def test_a_queued_job_run_by_a_worker_without_a_key_succeeds_with_a_fallback(
    engine: Engine, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, webhook: TestClient
) -> None:
    monkeypatch.setenv(API_KEY_ENV, DEFAULT_API_KEY)
    deliver(webhook, github_body(), "d-1")
    assert process_jobs(engine, settings_for(fake), clock=CLOCK) == 1
    monkeypatch.delenv(API_KEY_ENV)  # the worker runs elsewhere, without the key
    run_worker(engine, settings_for(fake))
    [job] = jobs(engine)
    assert job["status"] == "done"
    assert job["data"]["result"]["status"] == "skipped_disabled"
    assert fake.requests == []


# -- polling -------------------------------------------------------------------------------------


def poll_github(engine: Engine, settings: Settings, github: FakeGitHub) -> None:
    [run] = github.add_runs(1)
    job = make_job(1000, run["id"])
    github.jobs[run["id"]] = [job]
    github.job_logs[job["id"]] = LOG.encode()
    with GitHubClient(DEFAULT_TOKEN, base_url=github.base_url) as client:
        poll_github_actions(
            engine,
            settings,
            client,
            repositories=["octo-org/octo-repo"],
            since=timedelta(days=30),
            clock=CLOCK,
        )


def test_a_polled_run_is_refined_by_the_worker_the_poll_runs(
    engine: Engine, fake: FakeAnthropic, key: None
) -> None:
    with FakeGitHub() as github:
        poll_github(engine, settings_for(fake), github)
    [job] = jobs(engine)
    assert job["status"] == "done" and job["data"]["result"]["refined"] == 1
    assert list(issues(engine).values()) == [("infrastructure_issue", "infrastructure", "llm")]
    assert "AssertionError: assert 41 == 42" in fake.requests[0].text


def test_without_a_key_a_poll_queues_no_job(
    engine: Engine, fake: FakeAnthropic, no_key: None
) -> None:
    with FakeGitHub() as github:
        poll_github(engine, settings_for(fake), github)
    assert jobs(engine) == [] and fake.requests == []
    assert [source for *_, source in issues(engine).values()] == ["rules"]


def test_a_polled_dbt_cloud_run_is_refined(engine: Engine, fake: FakeAnthropic, key: None) -> None:
    dbt = DATA / "dbt"
    artifacts = {
        "run_results.json": (dbt / "run_results.json").read_bytes(),
        "manifest.json": (dbt / "manifest.json").read_bytes(),
    }
    settings = settings_for(fake)
    with FakeDbtCloud() as cloud:
        cloud.add_run(
            make_cloud_run(7, status=ERROR, finished_at=NOW - timedelta(hours=1)), artifacts
        )
        client = DbtCloudClient(
            DBT_TOKEN, cloud.account_id, host=cloud.base_url, timeout_s=5, clock=CLOCK
        )
        with client:
            poll_dbt_cloud(
                engine,
                settings,
                client,
                since=timedelta(hours=24),
                repository="acme/dbt_cloud",
                clock=CLOCK,
            )
    [job] = jobs(engine)
    assert job["status"] == "pending" and job["data"]["issues"] == sorted(issues(engine))
    run_worker(engine, settings)
    assert {source for *_, source in issues(engine).values()} == {"llm"}
    assert len(fake.requests) == len(issues(engine))


# -- the REST API --------------------------------------------------------------------------------


@pytest.fixture
def api(engine: Engine, fake: FakeAnthropic) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with Session(engine) as session, session.begin():
        _, token = create_api_token(session=session, name="ci", scope="write", now=NOW)
    app = create_app(engine, settings_for(fake), WebhookConfig(None), clock=CLOCK, run_worker=False)
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def post_events(api: tuple[TestClient, dict[str, str]], *messages: str) -> None:
    client, auth = api
    events = [
        {
            "repository": "acme/app",
            "check": f"nightly / step {n}",
            "message": m,
            "at": "2026-11-20T10:00:00Z",
        }
        for n, m in enumerate(messages)
    ]
    answer = client.post("/api/v1/events", json=events, headers=auth)
    assert answer.status_code == 200, answer.text


def test_events_posted_to_the_api_are_refined_by_the_worker(
    engine: Engine, fake: FakeAnthropic, key: None, api: tuple[TestClient, dict[str, str]]
) -> None:
    post_events(api, VAGUE, VAGUE.replace("widget", "gadget"))
    [job] = jobs(engine)
    assert job["data"]["issues"] == sorted(issues(engine)) and len(issues(engine)) == 2
    run_worker(engine, settings_for(fake))
    assert {v for v in issues(engine).values()} == {
        ("infrastructure_issue", "infrastructure", "llm")
    }
    assert all("frobnicator" in r.text or "gadget" in r.text for r in fake.requests)


def test_an_uploaded_report_queues_its_refine_job(
    engine: Engine, fake: FakeAnthropic, key: None, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, auth = api
    xml = (
        b'<testsuite name="s" tests="1" failures="1"><testcase classname="t" name="x">'
        b'<failure message="something went wrong in the widget frobnicator"/>'
        b"</testcase></testsuite>"
    )
    answer = client.post(
        "/api/v1/reports/junit",
        params={"repository": "acme/app"},
        files={"file": ("r.xml", xml, "application/xml")},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    assert [job["status"] for job in jobs(engine)] == ["pending"]
    run_worker(engine, settings_for(fake))
    assert [job["status"] for job in jobs(engine)] == ["done"]
    assert [source for *_, source in issues(engine).values()] == ["llm"]


def test_the_api_path_stops_at_the_budget_the_cli_counts_in_too(
    engine: Engine, fake: FakeAnthropic, key: None, api: tuple[TestClient, dict[str, str]]
) -> None:
    settings = settings_for(fake, budget=2)
    with Session(engine) as session, session.begin():  # a CLI ingest made one call today
        assert reserve_call(session=session, at=NOW, budget=2)
    post_events(api, VAGUE, VAGUE.replace("widget", "gadget"), VAGUE.replace("widget", "gizmo"))
    run_worker(engine, settings)
    [job] = jobs(engine)
    assert job["status"] == "done"
    result = job["data"]["result"]
    assert (result["refined"], result["fallbacks"], result["skipped"]) == (
        1,
        {"skipped_budget": 1},
        1,
    )
    assert sorted(source for *_, source in issues(engine).values()) == ["llm", "rules", "rules"]
    assert len(fake.requests) == 1 and fallbacks(engine) == ["skipped_budget"]
    with Session(engine) as session:
        assert calls_on(session=session, at=NOW) == 2


def test_without_a_key_api_events_queue_no_job(
    engine: Engine, fake: FakeAnthropic, no_key: None, api: tuple[TestClient, dict[str, str]]
) -> None:
    post_events(api, VAGUE)
    run_worker(engine, settings_for(fake))
    assert jobs(engine) == [] and fake.requests == []
    assert [source for *_, source in issues(engine).values()] == ["rules"]


# -- the budget and the refine step itself -------------------------------------------------------


def test_the_budget_is_never_overspent_by_concurrent_reservations(engine: Engine) -> None:
    budget, granted = 7, []
    start = threading.Barrier(4)

    def spend() -> None:
        start.wait()
        for _ in range(5):
            with Session(engine) as session, session.begin():
                granted.append(reserve_call(session=session, at=NOW, budget=budget))

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert granted.count(True) == budget and len(granted) == 20
    with Session(engine) as session:
        assert calls_on(session=session, at=NOW) == budget
        assert calls_on(session=session, at=NOW + timedelta(days=1)) == 0


def test_issues_not_reached_in_time_are_left_for_later(
    engine: Engine, fake: FakeAnthropic, key: None, api: tuple[TestClient, dict[str, str]]
) -> None:
    post_events(api, VAGUE, VAGUE.replace("widget", "gadget"))
    settings = settings_for(fake)
    llm = llm_from_settings(settings, clock=CLOCK)
    assert llm is not None
    with llm:
        summary = refine_with_llm(
            engine, settings, llm, issue_ids=issues(engine), clock=CLOCK, time_limit_s=0
        )
    assert (summary.considered, summary.refined) == (1, 1)
    assert summary.remaining == [max(issues(engine))]
    assert len(fake.requests) == 1

"""Durable jobs: webhook deliveries enriched with the job's log, the self-healing re-run, leases.

GitHub is a local fake server speaking the REST API; nothing of ours is patched."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fake_github import DEFAULT_TOKEN, FakeGitHub, Reply, make_run
from triagehub.actions.github import GitHubClient
from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.engine.ingest_jobs import INGEST_WEBHOOK
from triagehub.engine.jobs import _claim, enqueue, pending, process_jobs
from triagehub.engine.jobs.policy import RetryPolicy
from triagehub.store import tables as t
from triagehub.store.queries import get_issue, list_issues

PAYLOAD = json.loads(
    (
        Path(__file__).parent / "data" / "github" / "workflow_job.completed_failure.1.json"
    ).read_text()
)
JOB_ID = PAYLOAD["workflow_job"]["id"]
RUN_ID = PAYLOAD["workflow_job"]["run_id"]
REPO = PAYLOAD["repository"]["full_name"]
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def log_with(error: str) -> bytes:
    return (
        "2026-11-20T06:30:00.0000000Z ##[group]Run yarn run format-check\n"
        "2026-11-20T06:30:00.0000000Z \x1b[36;1myarn run format-check\x1b[0m\n"
        "2026-11-20T06:30:00.0000000Z shell: /usr/bin/bash -e {0}\n"
        "2026-11-20T06:30:00.0000000Z ##[endgroup]\n"
        "2026-11-20T06:30:01.0000000Z yarn run v1.22.19\n"
        f"2026-11-20T06:30:02.0000000Z {error}\n"
        "2026-11-20T06:30:02.0000000Z error Command failed with exit code 1.\n"
        "2026-11-20T06:30:03.0000000Z ##[error]Process completed with exit code 1.\n"
    ).encode()


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def github(fake: FakeGitHub) -> Iterator[GitHubClient]:
    with GitHubClient(DEFAULT_TOKEN, base_url=fake.base_url, backoff_base_s=0) as client:
        yield client


def deliver(engine: Engine, delivery: str, payload: dict[str, object] = PAYLOAD) -> None:
    with Session(engine) as session, session.begin():
        enqueue(
            session,
            kind=INGEST_WEBHOOK,
            key=f"github:{delivery}",
            data={"event": "workflow_job", "delivery": delivery, "payload": payload},
            now=NOW,
        )


def test_the_failure_is_grouped_on_the_error_in_the_fetched_log(
    engine: Engine, fake: FakeGitHub, github: GitHubClient
) -> None:
    fake.job_logs[JOB_ID] = log_with("[error] src/app.js: SyntaxError: Unexpected token (3:5)")
    deliver(engine, "a")
    assert process_jobs(engine, Settings(), github=github, clock=FixedClock(NOW)) == 1
    with Session(engine) as session:
        [issue] = list_issues(session=session)
    assert "SyntaxError: Unexpected token" in issue.template
    assert issue.kind == "format"  # the step's name decides over a bare syntax error


def test_without_the_log_the_failure_is_recorded_from_the_payload(
    engine: Engine, fake: FakeGitHub, github: GitHubClient
) -> None:
    deliver(engine, "b")  # the fake has no log for this job: 404
    assert process_jobs(engine, Settings(), github=github, clock=FixedClock(NOW)) == 1
    with Session(engine) as session:
        [issue] = list_issues(session=session)
    assert issue.checks == ["CodeQL / linters / Run yarn run format-check"]
    assert pending(engine) == 0


def test_a_transient_failure_is_rerun_once_per_run(
    engine: Engine, fake: FakeGitHub, github: GitHubClient
) -> None:
    settings = parse_settings({"repositories": {REPO: {"self_heal": True}}}, "t.yaml")
    fake.runs.append(make_run(RUN_ID))
    fake.job_logs[JOB_ID] = log_with("curl: (7) Failed to connect to registry.yarnpkg.com port 443")
    deliver(engine, "c")
    process_jobs(engine, settings, github=github, clock=FixedClock(NOW))  # ingests, queues rerun
    process_jobs(engine, settings, github=github, clock=FixedClock(NOW))  # re-runs
    assert fake.reruns == [RUN_ID]
    # Another delivery of a failure in the same run never re-runs it again.
    deliver(engine, "d", {**PAYLOAD, "workflow_job": {**PAYLOAD["workflow_job"], "name": "lint2"}})
    process_jobs(engine, settings, github=github, clock=FixedClock(NOW))
    process_jobs(engine, settings, github=github, clock=FixedClock(NOW))
    assert fake.reruns == [RUN_ID]
    with Session(engine) as session:
        [issue] = list_issues(session=session)
        detail = get_issue(session=session, issue_id=issue.id)
    assert issue.category == "transient_failure"
    assert detail is not None
    assert [e.kind for e in detail.timeline].count("rerun_requested") == 1


def test_without_self_heal_nothing_is_rerun(
    engine: Engine, fake: FakeGitHub, github: GitHubClient
) -> None:
    fake.job_logs[JOB_ID] = log_with("curl: (7) Failed to connect to registry.yarnpkg.com port 443")
    deliver(engine, "e")
    process_jobs(engine, Settings(), github=github, clock=FixedClock(NOW))
    process_jobs(engine, Settings(), github=github, clock=FixedClock(NOW))
    assert fake.reruns == []


def test_a_job_claimed_by_a_worker_that_died_is_done_after_its_lease(engine: Engine) -> None:
    deliver(engine, "f")
    assert len(_claim(engine, NOW, 10)) == 1  # a worker claims it, then dies
    assert process_jobs(engine, Settings(), clock=FixedClock(NOW + timedelta(minutes=1))) == 0
    later = FixedClock(NOW + timedelta(minutes=6))
    assert process_jobs(engine, Settings(), clock=later) == 1
    with Session(engine) as session:
        statuses = session.execute(select(t.jobs.c.status)).scalars().all()
    assert statuses == ["done"]


def test_a_log_github_cannot_give_now_is_added_when_it_can(
    engine: Engine, fake: FakeGitHub
) -> None:
    with GitHubClient(DEFAULT_TOKEN, base_url=fake.base_url, max_retries=0) as github:
        fake.script(Reply(502, {"message": "Server Error"}))
        deliver(engine, "g")
        assert process_jobs(engine, Settings(), github=github, clock=FixedClock(NOW)) == 1
        with Session(engine) as session:
            [issue] = list_issues(session=session)
            detail = get_issue(session=session, issue_id=issue.id)
        assert detail is not None and "Step 'Run yarn run format-check' failed" in issue.template
        assert detail.recent_occurrences[0].log_excerpt == ""
        assert pending(engine) == 1  # the enrichment, not before 30 s
        fake.job_logs[JOB_ID] = log_with("[error] src/app.js: SyntaxError: Unexpected token (3:5)")
        later = FixedClock(NOW + timedelta(minutes=1))
        assert process_jobs(engine, Settings(), github=github, clock=later) == 1
        with Session(engine) as session:
            detail = get_issue(session=session, issue_id=issue.id)
    assert detail is not None
    assert "SyntaxError" in detail.recent_occurrences[0].log_excerpt
    assert [e.kind for e in detail.timeline].count("enriched") == 1
    assert pending(engine) == 0


def test_outcomes_are_recorded_a_few_at_a_time(engine: Engine) -> None:
    """A recording transaction runs its jobs' ingests while it holds SQLite's write lock: at
    most ``record_max`` of them, so a webhook's acknowledgement never waits on a long one."""

    class Ticking(FixedClock):  # each reading a second later: transactions stamp apart
        def now(self) -> datetime:
            return self.advance(timedelta(seconds=1))

    for n in range(5):
        deliver(engine, f"batch-{n}")
    policy = RetryPolicy(record_max=2)
    done = process_jobs(engine, Settings(), clock=Ticking(NOW), policy=policy)
    with Session(engine) as session:
        stamps = session.execute(
            select(t.jobs.c.updated_at).where(t.jobs.c.status == "done")
        ).scalars()
        groups = sorted(Counter(stamps).values(), reverse=True)
    assert done == 5 and groups == [2, 2, 1]

"""One bad item never takes its batch down: a batch of job outcomes the database refuses is
recorded again item by item, the bad item dead-lettered with its reason, the good ones stored,
and the worker goes on."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.engine.ingest_jobs import INGEST_WEBHOOK
from triagehub.engine.jobs import (
    HANDLERS,
    Job,
    JobContext,
    Outcome,
    Recording,
    RetryPolicy,
    enqueue,
    process_jobs,
)
from triagehub.store import tables as t

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
GITHUB = Path(__file__).parent / "data" / "github"
GOOD = 20


@pytest.fixture(autouse=True)
def no_job_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TRIAGEHUB_JOB_MAX_ATTEMPTS", "TRIAGEHUB_JOB_BATCH", "TRIAGEHUB_JOB_BACKOFF_S"):
        monkeypatch.delenv(name, raising=False)
    yield


def delivery(i: int) -> dict[str, Any]:
    """GitHub's documented failed ``workflow_job`` payload, as the i-th distinct job."""
    payload = json.loads((GITHUB / "workflow_job.completed_failure.1.json").read_text())
    job = payload["workflow_job"]
    job["id"] = 1000 + i
    job["run_id"] = 5000 + i
    job["name"] = f"job-{i}"
    return {"event": "workflow_job", "payload": payload, "delivery": f"d-{i}"}


def poison() -> dict[str, Any]:
    """What PostgreSQL cannot store as it came: NUL in a step name, a branch longer than its
    column, a sha longer than 64, a run attempt past a 32-bit integer."""
    data = delivery(999)
    job = data["payload"]["workflow_job"]
    job["steps"] = copy.deepcopy(job["steps"])
    job["steps"][-1]["name"] = "Run\x00tests"
    job["head_branch"] = "b" * 300
    job["head_sha"] = "f" * 100
    job["run_attempt"] = 2**31
    return data


def queue(engine: Engine, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    with Session(engine) as session, session.begin():
        for kind, key, data in items:
            enqueue(session, kind=kind, key=key, data=data, now=NOW)


def jobs_by_key(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        return {r.key: r for r in session.execute(select(t.jobs))}


def runs_stored(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.execute(select(t.runs.c.external_id)).scalars())


def test_a_delivery_the_database_refuses_is_dead_and_the_other_twenty_are_stored(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler whose outcome breaks a constraint on every backend (an event for an issue that
    does not exist), in one batch with 20 real deliveries."""

    def dangling(job: Job, ctx: JobContext) -> Outcome:
        def record(rec: Recording) -> None:
            rec.session.execute(
                insert(t.issue_events).values(
                    issue_id=987654, kind="note", at=rec.now, actor="test", data={}
                )
            )

        return Outcome(record=record)

    monkeypatch.setitem(HANDLERS, "test_dangling", dangling)
    items = [(INGEST_WEBHOOK, f"webhook:d-{i}", delivery(i)) for i in range(GOOD // 2)]
    items.append(("test_dangling", "dangling:1", {}))
    items += [(INGEST_WEBHOOK, f"webhook:d-{i}", delivery(i)) for i in range(GOOD // 2, GOOD)]
    queue(engine, items)
    done = process_jobs(engine, Settings(), clock=FixedClock(NOW), policy=RetryPolicy(batch=100))
    assert done == GOOD
    assert runs_stored(engine) == {f"{5000 + i}/job-{i}" for i in range(GOOD)}
    rows = jobs_by_key(engine)
    bad = rows.pop("dangling:1")
    assert bad.status == "dead"
    assert "could not be stored" in bad.last_error
    assert "foreign key" in bad.last_error.lower()
    assert {r.status for r in rows.values()} == {"done"}


def test_a_poison_webhook_delivery_is_dead_with_its_reason_and_the_good_ones_are_stored(
    engine: Engine,
) -> None:
    items = [(INGEST_WEBHOOK, f"webhook:d-{i}", delivery(i)) for i in range(GOOD)]
    items.insert(7, (INGEST_WEBHOOK, "webhook:poison", poison()))
    queue(engine, items)
    clock = FixedClock(NOW)
    assert process_jobs(engine, Settings(), clock=clock, policy=RetryPolicy(batch=100)) == GOOD
    assert runs_stored(engine) == {f"{5000 + i}/job-{i}" for i in range(GOOD)}
    rows = jobs_by_key(engine)
    bad = rows.pop("webhook:poison")
    assert bad.status == "dead" and bad.last_error
    assert "run_attempt" in bad.last_error
    assert {r.status for r in rows.values()} == {"done"}
    # The worker goes on: a later batch is worked as usual.
    queue(engine, [(INGEST_WEBHOOK, "webhook:d-later", delivery(GOOD))])
    assert process_jobs(engine, Settings(), clock=clock) == 1


def test_text_the_database_would_refuse_is_cleaned_and_stored(engine: Engine) -> None:
    """NUL in a step name, a 300-character branch, a 100-character sha: stored, cleaned."""
    data = poison()
    data["payload"]["workflow_job"]["run_attempt"] = 2
    queue(engine, [(INGEST_WEBHOOK, "webhook:dirty", data)])
    assert process_jobs(engine, Settings(), clock=FixedClock(NOW)) == 1
    with Session(engine) as session:
        run = session.execute(select(t.runs)).one()
        keys = list(session.execute(select(t.checks.c.key)).scalars())
    assert run.attempt == 2
    assert len(run.branch) <= 255 and run.branch.startswith("b" * 200)
    assert "truncated" in run.branch
    assert len(run.commit_sha) <= 64
    assert any(k.endswith("Runtests") for k in keys)
    assert not any("\x00" in k for k in keys)

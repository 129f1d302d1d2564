"""Webhook deliveries recorded in batches (``api.webhook_batch``): the answers and the stored rows
are those of one delivery at a time, in fewer transactions."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from triagehub.api.webhook_batch import DeliveryWriter
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.sanitize import clean_json
from triagehub.engine.jobs import process_jobs
from triagehub.store import tables as t
from triagehub.store.queries import counts

GITHUB = Path(__file__).parent / "data" / "github"
AT = datetime(2026, 12, 6, 12, tzinfo=UTC)


def job(job_id: int, name: str = "workflow_job.completed_failure.1.json") -> dict[str, Any]:
    body: dict[str, Any] = json.loads((GITHUB / name).read_text())
    body["workflow_job"]["id"] = job_id
    body["workflow_job"]["run_id"] = 900 + job_id
    return body


def submit_together(
    writer: DeliveryWriter, deliveries: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[int, dict[str, Any]]]:
    """Submit every delivery at once (they wait in the writer's queue together)."""

    async def run() -> list[tuple[int, dict[str, Any]]]:
        answers = await asyncio.gather(*(writer.submit(e, d, p) for e, d, p in deliveries))
        return [(a.status_code, json.loads(bytes(a.body))) for a in answers]

    return asyncio.run(run())


def rows(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        found = session.execute(
            select(t.webhook_deliveries.c.delivery_id, t.webhook_deliveries.c.status)
        ).all()
    return {d: s for d, s in found}


def test_a_batch_answers_and_stores_what_one_at_a_time_would(engine: Engine) -> None:
    clock = FixedClock(AT)
    writer = DeliveryWriter(engine, Settings(), clock.now)
    bad = job(3)
    bad["workflow_job"]["steps"] = "not a list"
    queued = json.loads((GITHUB / "workflow_job.queued_None.5.json").read_text())
    answers = submit_together(
        writer,
        [
            ("workflow_job", "a", job(1)),
            ("workflow_job", "b", job(2, "workflow_job.completed_success.2.json")),
            ("workflow_job", "a", job(1)),  # the same delivery again, in the same batch
            ("workflow_job", "bad", bad),
            ("workflow_job", "q", queued),
            ("star", "s", {"action": "created"}),  # not a run event: recorded on its own
        ],
    )
    assert answers[0] == (202, {"status": "queued", "delivery": "a"})
    assert answers[1] == (202, {"status": "queued", "delivery": "b"})
    assert answers[2] == (200, {"status": "duplicate", "delivery": "a"})
    assert answers[3][0] == 422 and answers[3][1]["error"] == "invalid_payload"
    assert answers[4][0] == 202 and "only 'completed'" in answers[4][1]["reason"]
    assert answers[5][0] == 202 and "not handled" in answers[5][1]["reason"]
    assert rows(engine) == {"a": "queued", "b": "queued", "q": "ignored", "s": "ignored"}
    with Session(engine) as session:
        keys = session.execute(select(t.jobs.c.key).order_by(t.jobs.c.key)).scalars().all()
    assert keys == ["github:a", "github:b"]
    assert process_jobs(engine, Settings(), clock=clock) == 2
    with Session(engine) as session:
        assert counts(session=session).runs == 2
    # Delivered again later: a duplicate, nothing stored twice.
    again = submit_together(writer, [("workflow_job", "a", job(1))])
    assert again == [(200, {"status": "duplicate", "delivery": "a"})]
    assert len(rows(engine)) == 4


def test_deliveries_waiting_together_share_a_transaction(engine: Engine) -> None:
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    writer = DeliveryWriter(engine, Settings(), FixedClock(AT).now)
    answers = submit_together(writer, [("workflow_job", f"d{n}", job(n)) for n in range(40)])
    assert [code for code, _ in answers] == [202] * 40
    assert 1 <= len(commits) < 40  # one per batch, not one per delivery
    with Session(engine) as session:
        stored = session.execute(select(func.count()).select_from(t.jobs)).scalar_one()
    assert stored == 40


def test_a_batch_writes_its_jobs_and_records_with_one_statement_each(engine: Engine) -> None:
    commits: list[int] = []
    inserts: list[str] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement.split("(")[0].split()[-1])

    event.listen(engine, "before_cursor_execute", seen)
    writer = DeliveryWriter(engine, Settings(), FixedClock(AT).now)
    answers = submit_together(writer, [("workflow_job", f"d{n}", job(n)) for n in range(40)])
    assert [code for code, _ in answers] == [202] * 40
    # One insert into each table per batch, not one per delivery.
    assert len(inserts) == 2 * len(commits) < 40
    assert set(inserts) == {"jobs", "webhook_deliveries"}
    with Session(engine) as session:
        data = session.execute(select(t.jobs.c.data).where(t.jobs.c.key == "github:d7")).scalar()
    assert data == {"event": "workflow_job", "delivery": "d7", "payload": clean_json(job(7))}


def test_a_batch_takes_four_statements_whatever_its_size(engine: Engine) -> None:
    """The write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``SET LOCAL lock_timeout``), the
    read of the deliveries stored already, one insert per table: no PRAGMA and no lock-taking
    ``UPDATE`` per batch (each statement hands the GIL to the event loop and waits for it back)."""
    writer = DeliveryWriter(engine, Settings(), FixedClock(AT).now)
    submit_together(writer, [("workflow_job", f"warm{n}", job(n)) for n in range(4)])
    commits: list[int] = []
    statements: list[str] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *_: statements.append(statement.split()[0].upper()),
    )
    answers = submit_together(writer, [("workflow_job", f"d{n}", job(n)) for n in range(30)])
    assert [code for code, _ in answers] == [202] * 30
    assert commits and len(statements) == 4 * len(commits)
    assert "PRAGMA" not in statements and "UPDATE" not in statements


def test_the_writers_connection_goes_back_to_the_pool_as_it_was(engine: Engine) -> None:
    writer = DeliveryWriter(engine, Settings(), FixedClock(AT).now)
    submit_together(writer, [("workflow_job", f"d{n}", job(n)) for n in range(4)])
    deadline = time.monotonic() + 10
    while writer._running and time.monotonic() < deadline:  # its thread ends when idle
        time.sleep(0.05)
    assert not writer._running
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        else:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"

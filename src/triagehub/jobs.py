"""Durable background jobs: webhook deliveries are acknowledged at once and ingested here, in
batches, by a worker that survives restarts (pending rows are picked up again).

On PostgreSQL several workers share the table (``FOR UPDATE SKIP LOCKED``); on SQLite one process
writes at a time anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.models import RunReport
from triagehub.errors import InputError
from triagehub.pipeline import Ingestor
from triagehub.sources.github_actions import (
    report_from_check_run,
    report_from_workflow_job,
    report_from_workflow_run,
)
from triagehub.store import tables as t

log = logging.getLogger(__name__)

INGEST_WEBHOOK = "ingest_webhook"
MAX_ATTEMPTS = 5
GITHUB_EVENTS: dict[str, Callable[[Mapping[str, Any]], RunReport | None]] = {
    "workflow_run": report_from_workflow_run,
    "workflow_job": report_from_workflow_job,
    "check_run": report_from_check_run,
}


def enqueue(session: Session, *, kind: str, key: str, data: dict[str, Any], now: datetime) -> None:
    """Write a job in the caller's transaction (so it exists exactly when its cause does)."""
    session.execute(
        insert(t.jobs).values(
            kind=kind,
            key=key,
            data=data,
            status="pending",
            attempts=0,
            next_try_at=now,
            created_at=now,
            updated_at=now,
        )
    )


def process_jobs(
    engine: Engine, settings: Settings, *, clock: Clock | None = None, limit: int = 1000
) -> int:
    """Run up to ``limit`` due jobs in one transaction; return how many were done."""
    now = (clock or SystemClock()).now()
    with Session(engine) as session, session.begin():
        query = (
            select(t.jobs.c.id, t.jobs.c.kind, t.jobs.c.data, t.jobs.c.attempts)
            .where(t.jobs.c.status == "pending", t.jobs.c.next_try_at <= now)
            .order_by(t.jobs.c.id)
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return 0
        ingestor = Ingestor(session, settings, clock=clock)
        done: list[int] = []
        failed: list[tuple[int, int, str]] = []
        for job_id, kind, data, attempts in rows:
            try:
                if kind != INGEST_WEBHOOK:
                    raise InputError("job", kind, "unknown job kind")
                report = GITHUB_EVENTS[data["event"]](data["payload"])
                if report is not None:
                    ingestor.add(report)
                done.append(job_id)
            except (InputError, KeyError) as exc:
                failed.append((job_id, attempts + 1, str(exc)))
        ingestor.flush()
        if done:
            session.execute(
                update(t.jobs)
                .where(t.jobs.c.id.in_(done))
                .values(status="done", attempts=t.jobs.c.attempts + 1, updated_at=now)
            )
        for job_id, attempts, error in failed:
            log.error("job %s failed: %s", job_id, error)
            session.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(
                    status="failed" if attempts >= MAX_ATTEMPTS else "pending",
                    attempts=attempts,
                    last_error=error[:2000],
                    next_try_at=now + timedelta(seconds=2**attempts),
                    updated_at=now,
                )
            )
    return len(done)


def pending(engine: Engine) -> int:
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(t.jobs).where(t.jobs.c.status == "pending")
            ).scalar_one()
        )


class JobWorker:
    """A background thread that runs due jobs every ``interval`` seconds (and at start, so rows
    left pending by a stopped process are done)."""

    def __init__(self, engine: Engine, settings: Settings, *, interval: float = 1.0) -> None:
        self.engine = engine
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="triagehub-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while process_jobs(self.engine, self.settings):
                    pass
            except Exception:
                log.exception("job worker tick failed; retrying")
            self._wake.wait(self.interval)
            self._wake.clear()

"""The jobs table: enqueue, claim under a lease, and the fenced updates that record outcomes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from triagehub.engine.jobs.policy import DEAD, PENDING, RUNNING, RetryPolicy
from triagehub.store import tables as t
from triagehub.store.dialect import dialect_name, insert_ignoring

log = logging.getLogger("triagehub.engine.jobs")  # the name it logged under as one module


@dataclass
class Job:
    """A claimed row. ``attempts`` is this attempt's number (from 1), also the claim's fence."""

    id: int
    kind: str
    key: str
    data: dict[str, Any]
    attempts: int


_ENQUEUE: dict[str, Any] = {}


def _enqueue_statement(session: Session) -> Any:
    """The job insert, built once per database kind: the values come as parameters, so each
    call skips building the statement and its cache key (a webhook's hot path)."""
    name = dialect_name(session)
    if name not in _ENQUEUE:
        _ENQUEUE[name] = insert_ignoring(session, t.jobs, "key").returning(t.jobs.c.id)
    return _ENQUEUE[name]


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    data: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Write a job in the caller's transaction, unless one with this key exists already (also
    one written at the same moment by another transaction: ``ON CONFLICT DO NOTHING``)."""
    created = session.execute(
        _enqueue_statement(session),
        {
            "kind": kind,
            "key": key,
            "data": data,
            "status": PENDING,
            "attempts": 0,
            "next_try_at": not_before or now,
            "created_at": now,
            "updated_at": now,
        },
    ).first()
    return created is not None


def claim(
    engine: Engine, now: datetime, limit: int, *, policy: RetryPolicy | None = None
) -> list[Job]:
    """Take up to ``limit`` due jobs under a lease (see the module docstring)."""
    policy = policy or RetryPolicy.from_env()
    jobs = t.jobs
    with Session(engine) as session, session.begin():
        # The worker of the last allowed attempt died without an outcome: dead-letter the row.
        abandoned = select(jobs.c.id).where(
            jobs.c.status == RUNNING,
            jobs.c.next_try_at <= now,
            jobs.c.attempts >= policy.max_attempts,
        )
        postgres = engine.dialect.name == "postgresql"
        if postgres:  # rows another worker is claiming or dead-lettering are left to it
            abandoned = abandoned.with_for_update(skip_locked=True)
        session.execute(
            update(jobs)
            .where(jobs.c.id.in_(abandoned))
            .values(
                status=DEAD,
                last_error=(
                    f"gave up after {policy.max_attempts} attempts: the worker of the last one "
                    "stopped before recording an outcome (crashed or killed?)"
                ),
                updated_at=now,
            )
        )
        due = (
            select(jobs.c.id)
            .where(
                or_(jobs.c.status == PENDING, jobs.c.status == RUNNING), jobs.c.next_try_at <= now
            )
            .order_by(jobs.c.id)
            .limit(limit)
        )
        if postgres:
            ids = session.execute(due.with_for_update(skip_locked=True)).scalars().all()
            if not ids:
                return []
            target = jobs.c.id.in_(ids)
        else:  # one statement: atomic under SQLite's write lock
            target = jobs.c.id.in_(due)
        rows = session.execute(
            update(jobs)
            .where(target)
            .values(
                status=RUNNING,
                next_try_at=now + policy.lease,
                attempts=jobs.c.attempts + 1,
                updated_at=now,
            )
            .returning(jobs.c.id, jobs.c.kind, jobs.c.key, jobs.c.data, jobs.c.attempts)
        ).all()
    claimed = [Job(r.id, r.kind, r.key, dict(r.data), r.attempts) for r in rows]
    return sorted(claimed, key=lambda j: j.id)


def fenced(job: Job) -> Any:
    """The row of ``job`` while this claim still holds it (same ``attempts``, still running)."""
    return (
        (t.jobs.c.id == job.id) & (t.jobs.c.attempts == job.attempts) & (t.jobs.c.status == RUNNING)
    )


def ack(session: Session, job: Job, values: dict[str, Any]) -> bool:
    """Write an outcome's ``values`` on the row if this claim still holds it; say whether it
    did."""
    result = cast(
        CursorResult[Any], session.execute(update(t.jobs).where(fenced(job)).values(values))
    )
    if result.rowcount != 1:
        log.warning(
            "job %s (%s): lease lost before its outcome was recorded; another worker has it",
            job.id,
            job.kind,
            extra={"job": job.key},
        )
        return False
    return True


def extend_leases(session: Session, jobs: Iterable[Job], until: datetime, now: datetime) -> None:
    """Extend to ``until`` the leases of the claimed ``jobs`` still running."""
    fences = [(j.id, j.attempts) for j in jobs]
    if fences:
        session.execute(
            update(t.jobs)
            .where(
                tuple_(t.jobs.c.id, t.jobs.c.attempts).in_(fences),
                t.jobs.c.status == RUNNING,
            )
            .values(next_try_at=until, updated_at=now)
        )


def give_back(session: Session, jobs: Iterable[Job], now: datetime) -> None:
    """Put claimed jobs not worked back to pending, their attempt not counted."""
    for job in jobs:
        session.execute(
            update(t.jobs)
            .where(fenced(job))
            .values(status=PENDING, attempts=job.attempts - 1, next_try_at=now, updated_at=now)
        )


def pending(engine: Engine) -> int:
    """Jobs not yet done (pending, or running under a lease)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(t.jobs)
                .where(or_(t.jobs.c.status == PENDING, t.jobs.c.status == RUNNING))
            ).scalar_one()
        )

"""The jobs table: enqueue, claim under a lease, and the fenced updates that record outcomes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triagehub.engine.jobs.policy import DEAD, DONE, PENDING, RUNNING, RetryPolicy
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


def remember(session: Session, *, kind: str, key: str, data: dict[str, Any], now: datetime) -> None:
    """Keep ``data`` under ``key`` in a ``done`` row of ``kind``, in the caller's transaction
    (inserted, or replaced): the outbox's own durable state, such as an issue's Slack thread or
    the GitHub comment that holds its investigation brief. Such a row is never claimed."""
    build = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    row = build(t.jobs).values(
        kind=kind,
        key=key,
        data=data,
        status=DONE,
        attempts=0,
        next_try_at=now,
        created_at=now,
        updated_at=now,
    )
    session.execute(
        row.on_conflict_do_update(
            index_elements=["key"], set_={"data": row.excluded.data, "updated_at": now}
        )
    )


def remember_now(
    engine: Engine, *, kind: str, key: str, data: dict[str, Any], now: datetime
) -> None:
    """:func:`remember` in a transaction of its own, at once: for what a handler must not lose
    when its worker dies before the job's outcome is recorded (the id of what it just created)."""
    with Session(engine) as session, session.begin():
        remember(session, kind=kind, key=key, data=data, now=now)


def recall(session: Session, key: str) -> dict[str, Any] | None:
    """The data kept under ``key`` by :func:`remember`, or ``None``."""
    data = session.execute(select(t.jobs.c.data).where(t.jobs.c.key == key)).scalar()
    return dict(data) if isinstance(data, dict) else None


def _same_place(job: Job, prefix: str) -> Any:
    """Jobs of ``job``'s kind whose key starts with ``prefix`` (they write the same place)."""
    return (t.jobs.c.kind == job.kind) & t.jobs.c.key.like(f"{prefix}%")


def running_before(engine: Engine, job: Job, prefix: str, now: datetime) -> float | None:
    """Seconds to wait when an earlier job of ``job``'s kind whose key starts with ``prefix``
    (the same issue, say) is being worked on under a live lease, else ``None``: jobs that write
    the same thing never run at the same time."""
    jobs = t.jobs
    with Session(engine) as session:
        lease_end = session.execute(
            select(func.min(jobs.c.next_try_at)).where(
                _same_place(job, prefix),
                jobs.c.id < job.id,
                jobs.c.status == RUNNING,
                jobs.c.next_try_at > now,
            )
        ).scalar()
    if not isinstance(lease_end, datetime):
        return None
    return min(max((lease_end - now).total_seconds(), 1.0), 30.0)


def superseded_by(engine: Engine, job: Job, prefix: str) -> int | None:
    """The id of a later job of ``job``'s kind whose key starts with ``prefix`` and that is not
    dead (it writes something newer in the same place), else ``None``."""
    jobs = t.jobs
    with Session(engine) as session:
        later = session.execute(
            select(func.max(jobs.c.id)).where(
                _same_place(job, prefix), jobs.c.id > job.id, jobs.c.status != DEAD
            )
        ).scalar()
    return int(later) if later is not None else None


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

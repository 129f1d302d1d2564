"""The outbox read and repaired (``triagehub outbox``): listing, retrying, counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from triagehub.engine.jobs.policy import (
    DEAD,
    DEAD_STATUSES,
    DONE,
    LEGACY_FAILED,
    PENDING,
    RUNNING,
    STATUSES,
)
from triagehub.errors import InputError
from triagehub.store import tables as t


def public_status(status: str) -> str:
    """The status as shown: ``failed`` rows of older versions are dead letters."""
    return DEAD if status == LEGACY_FAILED else status


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    key: str
    status: str
    attempts: int
    next_try_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    result: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "key": self.key,
            "status": self.status,
            "attempts": self.attempts,
            "next_try_at": self.next_try_at.isoformat(),
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "result": dict(self.result) if self.result is not None else None,
        }


def _statuses(status: str) -> tuple[str, ...]:
    if status not in STATUSES:
        raise InputError("--status", status, f"expected one of {', '.join(STATUSES)}")
    return DEAD_STATUSES if status == DEAD else (status,)


def list_jobs(
    *, session: Session, status: str | None = None, kind: str | None = None, limit: int = 1000
) -> list[JobView]:
    """Outbox rows, oldest first, optionally of one status (``dead`` includes ``failed``)."""
    jobs = t.jobs
    query = select(
        jobs.c.id,
        jobs.c.kind,
        jobs.c.key,
        jobs.c.status,
        jobs.c.attempts,
        jobs.c.next_try_at,
        jobs.c.last_error,
        jobs.c.created_at,
        jobs.c.updated_at,
        jobs.c.data,
    )
    if status is not None:
        query = query.where(jobs.c.status.in_(_statuses(status)))
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    rows = session.execute(query.order_by(jobs.c.id).limit(limit)).all()
    views = []
    for r in rows:
        result = r.data.get("result") if isinstance(r.data, dict) else None
        views.append(
            JobView(
                id=r.id,
                kind=r.kind,
                key=r.key,
                status=public_status(r.status),
                attempts=r.attempts,
                next_try_at=r.next_try_at,
                last_error=r.last_error,
                created_at=r.created_at,
                updated_at=r.updated_at,
                result=result if isinstance(result, dict) else None,
            )
        )
    return views


def retry_dead(*, session: Session, now: datetime, ids: Iterable[int] | None = None) -> list[int]:
    """Put dead rows (all of them, or those of ``ids``) back to pending with fresh attempts;
    return the ids put back. The last error is kept until the next attempt."""
    jobs = t.jobs
    query = select(jobs.c.id).where(jobs.c.status.in_(DEAD_STATUSES))
    if ids is not None:
        query = query.where(jobs.c.id.in_(list(ids)))
    found = list(session.execute(query.order_by(jobs.c.id)).scalars())
    if found:
        session.execute(
            update(jobs)
            .where(jobs.c.id.in_(found), jobs.c.status.in_(DEAD_STATUSES))
            .values(status=PENDING, attempts=0, next_try_at=now, updated_at=now)
        )
    return found


@dataclass(frozen=True)
class OutboxStats:
    """Rows per kind and status, the oldest due row, and notifications that reached no channel."""

    counts: Mapping[str, Mapping[str, int]]
    oldest_due: datetime | None
    log_only: int

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "oldest_due": self.oldest_due.isoformat() if self.oldest_due else None,
            "log_only": self.log_only,
        }


def outbox_stats(*, session: Session, now: datetime) -> OutboxStats:
    jobs = t.jobs
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(jobs.c.kind, jobs.c.status, func.count()).group_by(jobs.c.kind, jobs.c.status)
    ).all()
    for kind, status, n in rows:
        per = counts.setdefault(kind, dict.fromkeys(STATUSES, 0))
        per[public_status(status)] = per.get(public_status(status), 0) + int(n)
    oldest = session.execute(
        select(func.min(jobs.c.next_try_at)).where(
            or_(jobs.c.status == PENDING, jobs.c.status == RUNNING), jobs.c.next_try_at <= now
        )
    ).scalar()
    log_only = session.execute(
        select(func.count())
        .select_from(jobs)
        .where(
            jobs.c.kind == "notify",
            jobs.c.status == DONE,
            jobs.c.data[("result", "via")].as_string() == "log",
        )
    ).scalar_one()
    return OutboxStats(counts=counts, oldest_due=oldest, log_only=int(log_only))

"""Spec events (the ``spec_events`` table): an OpenSpec change created, its tasks done count
changed, archived, or removed from disk without an archive.

Each event has a natural key (project, change, kind, marker) and is inserted with ``ON CONFLICT
DO NOTHING``: ``marker`` is the archive folder of an ``archived`` event, else ``after:<id>`` of
the change's previous event (``after:0`` for its first), so two writers that saw the same change
of state (an action and the scan, two servers' scans) store it once, while the same move made
again later (a change re-created after its archive) is a new event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.core.sanitize import clean_line
from triagehub.core.timeparse import iso_z
from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring

CREATED: Final = "created"
TASKS: Final = "tasks"
ARCHIVED: Final = "archived"
REMOVED: Final = "removed"
KINDS: Final = (CREATED, TASKS, ARCHIVED, REMOVED)
# After these the change is no longer active: a change seen again is created again.
GONE: Final = frozenset({ARCHIVED, REMOVED})
MAX_LISTED: Final = 200


@dataclass(frozen=True, slots=True)
class SpecEvent:
    id: int
    project: str
    change_id: str
    kind: str
    at: datetime
    actor: str
    tasks_done: int
    tasks_total: int
    archived_as: str | None
    data: Mapping[str, Any]

    @property
    def active(self) -> bool:
        return self.kind not in GONE

    @property
    def url(self) -> str:
        return f"/specs/{self.project}/{self.archived_as or self.change_id}"

    @property
    def headline(self) -> str:
        if self.kind == CREATED:
            return f"new change {self.change_id}"
        if self.kind == TASKS:
            return f"{self.change_id}: {self.tasks_done}/{self.tasks_total} tasks done"
        if self.kind == ARCHIVED:
            return f"{self.change_id} archived as {self.archived_as}"
        return f"{self.change_id} removed"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "change_id": self.change_id,
            "kind": self.kind,
            "at": iso_z(self.at),
            "actor": self.actor,
            "tasks_done": self.tasks_done,
            "tasks_total": self.tasks_total,
            "archived_as": self.archived_as,
            "headline": self.headline,
            "url": self.url,
            "data": dict(self.data),
        }


def row_event(row: Any) -> SpecEvent:
    return SpecEvent(
        id=int(row.id),
        project=row.project,
        change_id=row.change_id,
        kind=row.kind,
        at=row.at,
        actor=row.actor,
        tasks_done=int(row.tasks_done),
        tasks_total=int(row.tasks_total),
        archived_as=row.archived_as,
        data=row.data or {},
    )


def latest_events(
    *, session: Session, project: str, changes: Iterable[str] | None = None
) -> dict[str, SpecEvent]:
    """The newest event of each change of ``project`` (only of ``changes`` when given)."""
    e = t.spec_events.c
    newest = select(func.max(e.id)).where(e.project == project)
    if changes is not None:
        wanted = sorted(set(changes))
        if not wanted:
            return {}
        newest = newest.where(e.change_id.in_(wanted))
    rows = session.execute(
        select(t.spec_events).where(e.id.in_(newest.group_by(e.change_id).scalar_subquery()))
    )
    return {r.change_id: row_event(r) for r in rows}


def record(
    *,
    session: Session,
    project: str,
    change_id: str,
    kind: str,
    at: datetime,
    actor: str,
    tasks: tuple[int, int] = (0, 0),
    archived_as: str | None = None,
    previous: SpecEvent | None = None,
    data: Mapping[str, Any] | None = None,
) -> int | None:
    """Insert one event after ``previous`` (the change's newest event as the caller saw it);
    the new row's id, or None when another writer stored this event first."""
    if kind not in KINDS:
        raise ValueError(f"unknown spec event kind {kind!r}")
    after = f"after:{previous.id if previous else 0}"
    marker = archived_as if kind == ARCHIVED and archived_as else after
    values = {
        "project": clean_line(project, 200, key=True, secrets=False),
        "change_id": clean_line(change_id, 200, key=True, secrets=False),
        "kind": kind,
        "marker": marker[:300],
        "at": at,
        "actor": clean_line(actor, 100, secrets=False) or "unknown",
        "tasks_done": max(0, int(tasks[0])),
        "tasks_total": max(0, int(tasks[1])),
        "archived_as": clean_line(archived_as, 300, key=True, secrets=False)
        if archived_as
        else None,
        "data": dict(data or {}),
    }
    stmt = insert_ignoring(session, t.spec_events, "project", "change_id", "kind", "marker")
    found = session.execute(stmt.values(**values).returning(t.spec_events.c.id)).scalar()
    return int(found) if found is not None else None


def recent_events(
    *, session: Session, limit: int = 20, projects: Sequence[str] | None = None
) -> list[SpecEvent]:
    """The newest events first (of these projects when given)."""
    e = t.spec_events.c
    stmt = select(t.spec_events).order_by(e.id.desc()).limit(max(1, min(limit, MAX_LISTED)))
    if projects is not None:
        stmt = stmt.where(e.project.in_(list(projects)))
    return [row_event(r) for r in session.execute(stmt)]

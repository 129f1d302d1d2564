"""Spec events: what happened to OpenSpec changes, kept in the store for the live stream, the
Specs tab and All Work (:mod:`triagehub.store.spec_events`).

- :func:`record_created` / :func:`record_archived`: written by the actions that did it (the
  dashboard, the REST API, ``triagehub specs create/archive``).
- :func:`scan`: compares what the reader finds on disk now with the newest recorded event of
  each change and records the difference: a change that appeared (``created``), a tasks done
  count that changed (``tasks``), a change that left ``changes/`` for the archive
  (``archived``) or without one (``removed``). Changes made by people's editors, agents and the
  ``openspec`` CLI are found this way. Idempotent (a second scan of the same tree records
  nothing) and safe to run from several processes at once (each event's natural key is
  inserted ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.store import spec_events as store
from triagehub.store.spec_events import SpecEvent
from triagehub.work.specs.actions import ArchiveResult
from triagehub.work.specs.load import change_identity, load_change
from triagehub.work.specs.model import Change, Project
from triagehub.work.specs.reader import OpenSpecReader

log = logging.getLogger(__name__)

SCAN_ACTOR = "openspec-scan"


@dataclass
class ScanResult:
    """What a scan recorded: event ids per kind, and the projects it read."""

    projects: int = 0
    recorded: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.recorded.values())

    def add(self, kind: str, pk: int | None) -> None:
        if pk is not None:
            self.recorded.setdefault(kind, []).append(pk)

    def as_dict(self) -> dict[str, Any]:
        return {"projects": self.projects, **{k: len(v) for k, v in self.recorded.items()}}


def _tasks(change: Change | None) -> tuple[int, int]:
    return (change.completed_tasks, change.total_tasks) if change else (0, 0)


def change_tasks(project: Project, change_id: str) -> tuple[int, int]:
    """(done, total) tasks of an active change, read from disk ((0, 0) when unreadable)."""
    folder = project.changes_dir / change_id
    if not folder.is_dir() or folder.is_symlink():
        return (0, 0)
    return _tasks(load_change(project, folder, archived=False, last_modified_ns=0))


def record_created(
    engine: Engine,
    project: Project,
    change_id: str,
    *,
    actor: str,
    clock: Clock,
    change: Change | None = None,
    **data: Any,
) -> int | None:
    """Record that ``change_id`` was created now (None: recorded already, e.g. by a scan).
    Its tasks are ``change``'s, else read from disk."""
    tasks = _tasks(change) if change is not None else change_tasks(project, change_id)
    with Session(engine) as session, session.begin():
        previous = store.latest_events(
            session=session, project=project.id, changes=[change_id]
        ).get(change_id)
        if previous is not None and previous.active:
            return None  # a scan saw it first
        return store.record(
            session=session,
            project=project.id,
            change_id=change_id,
            kind=store.CREATED,
            at=clock.now(),
            actor=actor,
            tasks=tasks,
            previous=previous,
            data=data,
        )


def record_archived(
    engine: Engine,
    project: Project,
    result: ArchiveResult,
    *,
    actor: str,
    clock: Clock,
    change: Change | None = None,
) -> int | None:
    """Record an archive (``change``: the change as it was read before, for its tasks)."""
    with Session(engine) as session, session.begin():
        previous = store.latest_events(
            session=session, project=project.id, changes=[result.change]
        ).get(result.change)
        tasks = _tasks(change) if change else _tasks_of(previous)
        return store.record(
            session=session,
            project=project.id,
            change_id=result.change,
            kind=store.ARCHIVED,
            at=clock.now(),
            actor=actor,
            tasks=tasks,
            archived_as=result.archived_as,
            previous=previous,
            data={"via": result.via, "specs_updated": result.specs_updated},
        )


def _tasks_of(event: SpecEvent | None) -> tuple[int, int]:
    return (event.tasks_done, event.tasks_total) if event else (0, 0)


def _archive_folder(project: Project, change_id: str) -> str | None:
    """The newest archive folder of ``change_id`` (``YYYY-MM-DD-<id>``), if any."""
    try:
        names = [p.name for p in project.archive_dir.iterdir()]
    except OSError:
        return None
    found = sorted(
        n
        for n in names
        if change_identity(n, archived=True)[0] == change_id
        and (project.archive_dir / n).is_dir()
        and not (project.archive_dir / n).is_symlink()
    )
    return found[-1] if found else None


def scan_project(
    engine: Engine,
    reader: OpenSpecReader,
    project: Project,
    *,
    clock: Clock,
    actor: str = SCAN_ACTOR,
    result: ScanResult | None = None,
) -> ScanResult:
    """Record what changed in one project since its newest events (see the module)."""
    out = result or ScanResult()
    out.projects += 1
    active = {c.id: c for c in reader.changes(project)}
    with Session(engine) as session, session.begin():
        latest = store.latest_events(session=session, project=project.id)
        now = clock.now()
        for change_id, change in sorted(active.items()):
            previous = latest.get(change_id)
            tasks = _tasks(change)
            if previous is None or not previous.active:
                kind = store.CREATED
            elif tasks != _tasks_of(previous):
                kind = store.TASKS
            else:
                continue
            pk = store.record(
                session=session,
                project=project.id,
                change_id=change_id,
                kind=kind,
                at=now,
                actor=actor,
                tasks=tasks,
                previous=previous,
                data={"from": list(_tasks_of(previous))} if kind == store.TASKS else {},
            )
            out.add(kind, pk)
        for change_id, previous in sorted(latest.items()):
            if not previous.active or change_id in active:
                continue
            folder = _archive_folder(project, change_id)
            kind = store.ARCHIVED if folder else store.REMOVED
            pk = store.record(
                session=session,
                project=project.id,
                change_id=change_id,
                kind=kind,
                at=now,
                actor=actor,
                tasks=_tasks_of(previous),
                archived_as=folder,
                previous=previous,
            )
            out.add(kind, pk)
    return out


def scan(
    engine: Engine,
    reader: OpenSpecReader,
    *,
    clock: Clock,
    projects: Iterable[Project] | None = None,
    actor: str = SCAN_ACTOR,
) -> ScanResult:
    """Scan every project under the reader's roots (or these)."""
    result = ScanResult()
    for project in reader.projects() if projects is None else projects:
        scan_project(engine, reader, project, clock=clock, actor=actor, result=result)
    if result.total:
        log.info("spec events recorded", extra={"spec_events": result.as_dict()})
    return result

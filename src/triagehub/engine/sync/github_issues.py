"""GitHub issue sync: every triaged issue mirrored as a GitHub issue, and humans' changes on
GitHub brought back.

Out (triagehub -> GitHub), through the outbox (job kind ``github_sync``)
    Each monitor tick (:func:`enqueue_github_sync`, also ``triagehub sync github``) queues one
    job per issue that changed since its last sync: ``github_sync:{issue_id}:{updated_at}``, so
    a repeated tick adds nothing. Eligible are the issues of repositories with ``github_issues``
    in ``triagehub.yaml``: an unlinked issue in a working state whose category is listed and
    whose priority is at least ``min_priority`` gets a GitHub issue; a linked issue is synced on
    every change, whatever its category or priority became. The job reads the issue as it is
    when it runs (so several jobs of one issue converge on the latest state) and then:

    1. **creates** the GitHub issue when there is none: first it looks for one it created before
       (the target's issues created since the triagehub issue, matched by the fingerprint of
       their metadata block), so that a retry after a lost answer or a crash between "created"
       and "link stored" adopts it instead of creating a second one; the create request itself
       is never retried by the client;
    2. **comments** on the timeline events since the last sync (state changes with their reason,
       escalations, SLA breaches, snoozes, re-runs, overrides made in triagehub), one comment per
       sync, and the agent notification (``lifecycle.agent_handle``) once per issue; before
       posting, the issue's recent comments are read so that a comment is never posted twice;
    3. **closes / reopens** it when the state crossed closed/open (``completed`` or
       ``not_planned``), with the body in the same edit;
    4. **edits** the title and body when they changed, at most once per
       ``update_every_minutes`` (the throttled edit is queued for when the window ends:
       ``github_sync:{issue_id}:body:{time}``);
    5. **labels** it: the brief's ``category:*``, ``priority:*``, ``history:*`` and
       ``triagehub:classified`` labels, created in the repository on first use with their colours
       and descriptions; only triagehub's labels are added or removed, people's labels stay.

    What was sent is recorded on the issue row (``github_*`` columns) in the job's outcome
    transaction. Errors: a rate limit is raised with its ``retry_after`` (the outbox waits that
    long); 404 and 410 (deleted or transferred away) and 403 (locked, no access) on the issue are
    recorded on the timeline (``sync_failed``) and the link is marked ``gone`` / ``forbidden``:
    no retry, no further sync; a 403 on a comment (a locked conversation) is recorded and the
    rest of the sync goes on.

In (GitHub -> triagehub)
    ``issues`` (closed, reopened, labeled, unlabeled, assigned, unassigned, deleted, transferred)
    and ``issue_comment`` (created) webhooks are accepted by ``POST /webhooks/github``
    (:func:`queue_issue_event`) and applied by the job kind ``github_issue_event``; ``triagehub
    sync github --pull`` finds the same changes by listing the target repositories' recently
    updated issues (:func:`pull_changes`). Applied: closing -> ``resolved`` (``ignored`` when
    closed as not planned), reopening -> ``open``, a new ``category:``/``priority:`` label -> a
    human override, assignment -> the assignee (an override: it feeds the accuracy figures),
    ``/triage ignore|false-positive|needs-spec|one-off-fix|assign @x|snooze 7d`` comments.
    Ignored: GitHub issues no triagehub issue is linked to, the hub's own changes (the login that
    created its issues and comments, bots, and texts carrying its markers), changes that are
    already true. Changes made this way are written with actor ``github:<login>``, and are not
    commented back.

Adoption: ``triagehub sync github --adopt`` (:func:`adopt_issues`) searches the targets for
issues triagehub wrote (their metadata block) and links the unlinked issues with the same
fingerprint to them, e.g. after the database was lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, String, and_, cast, literal, or_, select
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.lifecycle import WORKING_STATES
from triagehub.engine.jobs import enqueue, process_jobs
from triagehub.engine.notify import normalize_handle
from triagehub.engine.sync.github_adopt import adopt_issues, adoption_query
from triagehub.engine.sync.github_inbound import (
    ISSUE_EVENT,
    ISSUE_EVENTS,
    Inbound,
    apply_inbound,
    queue_issue_event,
)
from triagehub.engine.sync.github_links import LINKED, configured, iso, wants
from triagehub.engine.sync.github_pull import PullSummary, pull_changes
from triagehub.engine.sync.github_push import SYNC, sync_issue
from triagehub.engine.sync.github_view import MACHINE_ACTORS, is_human, related_prs
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

_WORKING: Final = [s.value for s in WORKING_STATES]


def sync_key(issue_id: int, updated_at: datetime) -> str:
    """The job key of the sync of an issue as of ``updated_at``: a tick queues it once."""
    return f"{SYNC}:{issue_id}:{iso(updated_at)}"


# -- queueing (the monitor's step) ----------------------------------------------------------------


def enqueue_github_sync(
    session: Session, settings: Settings, now: datetime, *, repository: str | None = None
) -> list[int]:
    """Queue a sync job for each issue to create or changed since its last sync, and for each
    linked issue whose agent notification is not on GitHub yet; return the issue ids queued.
    Runs in the caller's transaction; a repeated call adds nothing."""
    configs = configured(settings, repository)
    if not configs:
        return []
    i = t.issues.c
    categories = sorted({c.value for cfg in configs.values() for c in cfg.categories})
    rows = session.execute(
        select(i.id, i.updated_at, i.github_number, i.category, i.priority, t.repositories.c.name)
        .join(t.repositories, t.repositories.c.id == i.repository_id)
        .where(
            t.repositories.c.name.in_(sorted(configs)),
            or_(i.github_status.is_(None), i.github_status == LINKED),
            or_(
                and_(
                    i.github_number.is_(None),
                    i.state.in_(_WORKING),
                    i.category.in_(categories),
                ),
                and_(
                    i.github_number.is_not(None),
                    or_(
                        i.github_synced_version.is_(None),
                        i.updated_at > i.github_synced_version,
                    ),
                ),
            ),
        )
        .order_by(i.id)
    ).all()
    queued: list[int] = []
    for row in rows:
        if row.github_number is None and not wants(configs[row.name], row.category, row.priority):
            continue
        key = sync_key(row.id, row.updated_at)
        if enqueue(session, kind=SYNC, key=key, data={"issue_id": row.id}, now=now):
            queued.append(row.id)
    handle = settings.lifecycle.agent_handle
    if handle:
        mention = normalize_handle(handle)
        notify_key = literal("notify:") + cast(i.id, String) + literal(f":agent:{mention}")
        waiting = session.execute(
            select(i.id)
            .join(t.repositories, t.repositories.c.id == i.repository_id)
            .join(t.jobs, t.jobs.c.key == notify_key)
            .where(
                t.repositories.c.name.in_(sorted(configs)),
                i.github_status == LINKED,
                i.github_agent_at.is_(None),
            )
        ).scalars()
        for issue_id in waiting:
            key = f"{SYNC}:{issue_id}:agent:{mention}"
            if enqueue(session, kind=SYNC, key=key, data={"issue_id": issue_id}, now=now):
                queued.append(issue_id)
    return queued


# -- `triagehub sync github` ----------------------------------------------------------------------


@dataclass
class SyncRun:
    adopted: list[tuple[int, str, int]] = field(default_factory=list)
    pulled: PullSummary | None = None
    queued: list[int] = field(default_factory=list)
    jobs_done: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "adopted": [{"issue": i, "repository": r, "number": n} for i, r, n in self.adopted],
            "pulled": asdict(self.pulled) if self.pulled is not None else None,
            "queued": self.queued,
            "jobs_done": self.jobs_done,
        }


def run_github_sync(
    engine: Engine,
    settings: Settings,
    github: GitHubClient,
    *,
    clock: Clock | None = None,
    repository: str | None = None,
    adopt: bool = False,
    pull: bool = False,
    max_batches: int = 50,
) -> SyncRun:
    """``triagehub sync github``: adopt (``--adopt``), bring people's changes back (``--pull``),
    queue the syncs now due, and work the outbox until nothing more is due."""
    clock_ = clock or SystemClock()
    run = SyncRun()
    configured(settings, repository)  # an unknown --repo is refused before any request
    if adopt:
        run.adopted = adopt_issues(
            engine, settings, github, now=clock_.now(), repository=repository
        )
    if pull:
        run.pulled = pull_changes(engine, settings, github, now=clock_.now(), repository=repository)
    with Session(engine) as session, session.begin():
        run.queued = enqueue_github_sync(session, settings, clock_.now(), repository=repository)
    for _ in range(max_batches):
        done = process_jobs(engine, settings, github=github, clock=clock_)
        run.jobs_done += done
        if not done:
            break
    return run


__all__ = [
    "ISSUE_EVENT",
    "ISSUE_EVENTS",
    "MACHINE_ACTORS",
    "SYNC",
    "Inbound",
    "PullSummary",
    "SyncRun",
    "adopt_issues",
    "adoption_query",
    "apply_inbound",
    "enqueue_github_sync",
    "is_human",
    "pull_changes",
    "queue_issue_event",
    "related_prs",
    "run_github_sync",
    "sync_issue",
    "sync_key",
]

"""The polling fallback of the GitHub issue webhooks (``triagehub sync github --pull``): the
targets' recently updated issues read, and what people changed on the linked ones applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.redact import redact
from triagehub.engine.sync import render
from triagehub.engine.sync.github_inbound import MAX_COMMENT, Inbound, apply_inbound
from triagehub.engine.sync.github_links import (
    configured,
    iso,
    label_names,
    linked_row,
    login_of,
    own_logins,
    target_of,
    text_or_none,
    time_of,
)
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

PULL_CURSOR: Final = "github_sync:pull:"
PULL_DEFAULT_SINCE = timedelta(days=7)


@dataclass
class PullSummary:
    issues_seen: int = 0
    changes: int = 0
    notes: list[str] = field(default_factory=list)


def _changes_of(item: Mapping[str, Any], link: Mapping[str, Any], own: set[str]) -> list[Inbound]:
    """What people changed on a GitHub issue since the last sync, from the issue itself."""
    found: list[Inbound] = []
    closed_by = item.get("closed_by")
    closer = text_or_none(closed_by.get("login")) if isinstance(closed_by, Mapping) else None
    state = item.get("state")
    if (closer or "").lower() not in own:
        if state == "closed" and link["github_state"] != "closed":
            found.append(
                Inbound(
                    "closed",
                    closer or "unknown",
                    state_reason=text_or_none(item.get("state_reason")),
                )
            )
        elif state == "open" and link["github_state"] == "closed":
            found.append(Inbound("reopened", "unknown"))
    labels = tuple(label_names(item))
    managed = sorted(name for name in labels if render.is_managed(name))
    before = list(link["github_labels"] or [])
    added = [name for name in managed if name not in before]
    for name in added:
        found.append(Inbound("labeled", "unknown", label=name, labels=labels))
    if not added and managed != sorted(before):
        found.append(Inbound("unlabeled", "unknown", labels=labels))
    assignees = [
        login
        for a in item.get("assignees") or []
        if isinstance(a, Mapping) and (login := text_or_none(a.get("login")))
    ]
    if assignees and link["assignee"] is None:
        found.append(Inbound("assigned", "unknown", assignee=assignees[0]))
    return found


def _comment_changes(
    github: GitHubClient, target: str, number: int, since: datetime, own: set[str]
) -> list[Inbound]:
    """The people's comments on a GitHub issue since the last poll, as changes."""
    changes: list[Inbound] = []
    for comment in github.list_comments(target, number, since=since):
        author = login_of(comment) or "unknown"
        body = comment.get("body")
        created = time_of(comment.get("created_at"))
        if created is not None and created < since:
            continue  # seen by an earlier poll (edits are not applied)
        if author.lower() in own or render.is_own_text(body):
            continue
        comment_id = comment.get("id")
        changes.append(
            Inbound(
                "comment",
                author,
                comment_id=comment_id if isinstance(comment_id, int) else None,
                body=redact(str(body or ""))[:MAX_COMMENT],
            )
        )
    return changes


def _store_cursor(engine: Engine, cursor_name: str, value: str, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        exists = session.execute(
            select(t.cursors.c.name).where(t.cursors.c.name == cursor_name)
        ).scalar()
        if exists is None:
            session.execute(insert(t.cursors).values(name=cursor_name, value=value, updated_at=now))
        else:
            session.execute(
                update(t.cursors)
                .where(t.cursors.c.name == cursor_name)
                .values(value=value, updated_at=now)
            )


def pull_changes(
    engine: Engine,
    settings: Settings,
    github: GitHubClient,
    *,
    now: datetime,
    repository: str | None = None,
) -> PullSummary:
    """The polling fallback of the webhooks: list each target's issues updated since the last
    poll (a cursor per target; the first time, the last 7 days), and apply what people changed
    on the linked ones, comments included."""
    summary = PullSummary()
    configs = configured(settings, repository)
    targets = sorted({target_of(name, cfg).lower() for name, cfg in configs.items()})
    for target in targets:
        cursor_name = f"{PULL_CURSOR}{target}"
        with Session(engine) as session:
            stored = session.execute(
                select(t.cursors.c.value).where(t.cursors.c.name == cursor_name)
            ).scalar()
            own = own_logins(session)
        since = time_of(stored) if stored else None
        since = since or now - PULL_DEFAULT_SINCE
        newest = since
        for item in github.list_issues(
            target, state="all", since=since, sort="updated", direction="asc"
        ):
            updated = time_of(item.get("updated_at"))
            if updated is not None and updated > newest:
                newest = updated
            number = item.get("number")
            if "pull_request" in item or not isinstance(number, int):
                continue
            with Session(engine) as session:
                link = linked_row(session, target, number)
            if link is None:
                continue
            summary.issues_seen += 1
            changes = _changes_of(item, link, own)
            if int(item.get("comments") or 0) > 0:
                changes += _comment_changes(github, target, number, since, own)
            if not changes:
                continue
            with Session(engine) as session, session.begin():
                notes = apply_inbound(session, target, number, changes, now)
            summary.changes += len(changes)
            summary.notes += [f"{target}#{number}: {note}" for note in notes]
        _store_cursor(engine, cursor_name, iso(newest), now)
    return summary

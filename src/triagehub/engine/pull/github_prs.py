"""Polling pull requests: the agents' fixes found without webhooks.

For installations that receive no ``pull_request`` webhooks, the GitHub poll also lists the
recent pull requests of the repositories that hold the watched repositories' mirrored issues (a
repository's ``github_issues.target``, or the repository itself, and any repository its issues
were mirrored to before): ``GET /repos/{owner}/{repo}/pulls?state=all&sort=updated&direction=desc``,
page after page, newest update first, until one is older than the cursor (the newest
``updated_at`` the previous poll saw; the first poll goes back ``since``) or ``max_pulls`` are
read. Each goes through :func:`triagehub.work.agent_prs.record_pr`, the webhook's own code, so
a pull request seen by both is linked once and its merge recorded once. The cursor
(``github-prs:<repository>``) is saved in the transaction that records the pull requests. The
client's ETag cache makes an unchanged first page a ``304`` that GitHub does not count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from triagehub.actions.github import GitHubClient, JSONObject
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.timeparse import parse_time
from triagehub.engine.ingest import run_transaction
from triagehub.engine.pull.cursors import read_cursor, save_cursor
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t
from triagehub.work.agent_prs import record_pr

log = logging.getLogger(__name__)
MAX_PULLS: Final = 300  # pull requests read per repository and poll (three pages)


@dataclass
class PullPollSummary:
    repositories: int = 0
    pulls_seen: int = 0
    recorded: int = 0  # pull requests that linked or merged something new
    errors: list[str] = field(default_factory=list)


def cursor_name(repository: str) -> str:
    return f"github-prs:{repository.lower()}"


def pull_repositories(engine: Engine, settings: Settings, watched: list[str]) -> list[str]:
    """The repositories whose pull requests may fix the watched repositories' issues: where
    their GitHub issues go (configured) or went (stored), lower case, in a stable order."""
    found: dict[str, None] = {}
    for name in watched:
        config = settings.repositories.get(name)
        if config is not None and config.github_issues is not None:
            found[(config.github_issues.target or name).lower()] = None
    if watched:
        i, r = t.issues.c, t.repositories.c
        with Session(engine) as session:
            stored = session.execute(
                select(func.lower(i.github_repo))
                .join(t.repositories, r.id == i.repository_id)
                .where(r.name.in_(watched), i.github_repo.is_not(None))
                .distinct()
            ).scalars()
            found.update({str(name): None for name in sorted(stored)})
    return list(found)


def _updated(pr: JSONObject) -> datetime | None:
    raw = pr.get("updated_at")
    try:
        return parse_time(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _recent(
    client: GitHubClient, repository: str, start: datetime, max_pulls: int
) -> tuple[list[JSONObject], datetime | None]:
    """The pull requests updated at or after ``start`` (at most ``max_pulls``), and the newest
    update time among them."""
    pulls: list[JSONObject] = []
    newest: datetime | None = None
    for pr in client.list_pull_requests(repository, state="all", sort="updated"):
        updated = _updated(pr)
        if updated is not None and updated < start:
            break  # sorted by update, newest first: the rest were seen
        pulls.append(pr)
        if updated is not None:
            newest = updated if newest is None else max(newest, updated)
        if len(pulls) >= max_pulls:
            break
    return pulls, newest


def _record(
    engine: Engine,
    settings: Settings,
    repository: str,
    pulls: list[JSONObject],
    cursors: tuple[str, datetime | None, datetime | None],
    now: datetime,
) -> int:
    """One transaction: every pull request through the webhook's code, and the cursor moved
    to the newest update (``cursors``: name, previous value, newest seen). Returns how many
    recorded something new."""
    name, cursor, newest = cursors
    with Session(engine) as session, session.begin():
        statuses = [record_pr(session, settings, repository, pr, now)[0] for pr in pulls]
        if newest is not None and (cursor is None or newest > cursor):
            save_cursor(session, name, newest, now)
    return statuses.count("recorded")


def poll_pull_requests(
    engine: Engine,
    settings: Settings,
    client: GitHubClient,
    *,
    repositories: list[str],
    since: timedelta,
    clock: Clock | None = None,
    max_pulls: int = MAX_PULLS,
) -> PullPollSummary:
    """Record the pull requests updated since each repository's cursor (or ``since`` ago)."""
    now = (clock or SystemClock()).now()
    summary = PullPollSummary()
    for repository in pull_repositories(engine, settings, repositories):
        name = cursor_name(repository)
        with Session(engine) as session:
            cursor = read_cursor(session, name)
        try:
            # From the cursor itself: a pull request updated in the same second is read again.
            pulls, newest = _recent(client, repository, cursor or now - since, max_pulls)
        except ExternalServiceError as exc:
            # A token that may not read pull requests leaves the runs' poll whole.
            summary.errors.append(f"{repository} pull requests: {exc}")
            log.warning("pull requests of %s not polled: %s", repository, exc)
            continue
        # Run again if a concurrent webhook's transaction made this one give up (a deadlock,
        # SQLite's stale snapshot): the second run finds its links and records nothing twice.
        cursors = (name, cursor, newest)
        work = partial(_record, engine, settings, repository, pulls, cursors, now)
        summary.recorded += run_transaction(work)
        summary.pulls_seen += len(pulls)
        summary.repositories += 1
    return summary

"""What the two directions of the GitHub issue sync share: the configuration read, the link
of an issue to its GitHub issue (the ``github_*`` columns of ``issues``), the logins triagehub
writes as, and readers of GitHub's issue objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.config import GitHubSyncConfig, Settings
from triagehub.core.models import IssueState, Level
from triagehub.core.timeparse import parse_time
from triagehub.engine.sync import render
from triagehub.errors import InputError
from triagehub.store import tables as t

# The link's status: synced; or no longer synced because GitHub refused for good.
LINKED: Final = "linked"
GONE: Final = "gone"  # 404 / 410: deleted, or transferred where the token cannot see it
FORBIDDEN: Final = "forbidden"  # 403: locked or not writable with this token
LOGIN_CURSOR: Final = "github_sync:login"  # the login triagehub writes as (a ``cursors`` row)
FROM_GITHUB: Final = "github:"  # actor prefix of changes people made on GitHub


def sync_config(settings: Settings, repository: str) -> GitHubSyncConfig | None:
    """The ``github_issues`` section of a repository, or None (not synced)."""
    found = settings.repositories.get(repository)
    return found.github_issues if found is not None else None


def target_of(repository: str, config: GitHubSyncConfig) -> str:
    """The GitHub repository a repository's issues go to."""
    return config.target or repository


def wants(config: GitHubSyncConfig, category: str, priority: str) -> bool:
    """Whether an issue of this category and priority gets a GitHub issue."""
    if category not in {c.value for c in config.categories}:
        return False
    try:
        return Level(priority).rank >= config.min_priority.rank
    except ValueError:
        return False


def configured(settings: Settings, repository: str | None = None) -> dict[str, GitHubSyncConfig]:
    """Repository -> its sync section, for the repositories that have one (only ``repository``
    when given: an error when it has none)."""
    found = {
        name: repo.github_issues
        for name, repo in settings.repositories.items()
        if repo.github_issues is not None
    }
    if repository is None:
        return found
    if repository not in found:
        raise InputError(
            "--repo", repository, "not a repository with `github_issues:` in triagehub.yaml"
        )
    return {repository: found[repository]}


def github_state_of(state: str) -> tuple[str, str | None]:
    """The GitHub state (and close reason) of a triagehub state."""
    value = IssueState(state)
    if not value.is_closed:
        return "open", None
    planned = value in (IssueState.RESOLVED, IssueState.AUTO_RESOLVED)
    return "closed", "completed" if planned else "not_planned"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def own_logins(session: Session) -> set[str]:
    """The GitHub logins triagehub writes as (learnt from the issues and comments it created),
    lower case."""
    found = session.execute(
        select(t.cursors.c.value).where(t.cursors.c.name == LOGIN_CURSOR)
    ).scalar()
    return {found.lower()} if isinstance(found, str) else set()


def linked_row(session: Session, repo: str, number: int) -> dict[str, Any] | None:
    """The issue linked (and still synced) to GitHub issue ``repo#number``."""
    row = (
        session.execute(
            select(t.issues).where(
                t.issues.c.github_repo == repo.lower(),
                t.issues.c.github_number == number,
                t.issues.c.github_status == LINKED,
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def issue_row(session: Session, issue_id: int) -> dict[str, Any] | None:
    row = session.execute(select(t.issues).where(t.issues.c.id == issue_id)).mappings().first()
    return dict(row) if row is not None else None


# -- reading GitHub's objects ------------------------------------------------------------------


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def login_of(item: Mapping[str, Any]) -> str | None:
    """The ``user.login`` of an issue or comment."""
    user = item.get("user")
    return text_or_none(user.get("login")) if isinstance(user, Mapping) else None


def label_names(item: Mapping[str, Any]) -> list[str]:
    names = []
    for label in item.get("labels") or []:
        name = label.get("name") if isinstance(label, Mapping) else label
        if isinstance(name, str):
            names.append(name)
    return names


def managed_of(item: Mapping[str, Any]) -> list[str]:
    """The triagehub labels an issue object carries (sorted)."""
    return sorted(name for name in label_names(item) if render.is_managed(name))


def time_of(value: object) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        return None

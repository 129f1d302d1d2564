"""Pull requests that fix an issue: linked from GitHub's ``pull_request`` webhooks.

A pull request is linked to every mirrored issue it references in its title or body, in the same
repository as the GitHub issue: ``#12``, ``Fixes #12``, or the issue's URL. The link is kept in
``issue_prs`` (listed as ``related_prs`` in the GitHub issue's metadata block and the API) and
written on the timeline (``pr_linked``; ``pr_merged`` when it is merged), with actor ``agent``
when the author is a coding agent (a bot account, or the login of the configured agent handle)
or the issue was handed off to an agent, else ``github:<login>``. Replayed deliveries change
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.timeparse import parse_time
from triagehub.store import tables as t

PR_EVENT: Final = "pull_request"
_ACTIONS: Final = frozenset({"opened", "edited", "reopened", "closed", "synchronize"})
_AGENT_LOGINS: Final = ("claude", "copilot", "copilot-swe-agent", "devin-ai-integration")


def _refs(text: str, repo: str) -> set[int]:
    found = {int(n) for n in re.findall(r"(?<![\w/])#(\d{1,9})\b", text)}
    url = re.escape(f"https://github.com/{repo}/issues/")
    found |= {int(n) for n in re.findall(url + r"(\d{1,9})\b", text, re.IGNORECASE)}
    return found


def is_agent(login: str, user_type: str | None, handle: str | None) -> bool:
    name = login.lower().removesuffix("[bot]")
    if user_type == "Bot" or login.lower().endswith("[bot]"):
        return True
    if handle and name == handle.lstrip("@").lower():
        return True
    return name in _AGENT_LOGINS


def record_pull_request(
    session: Session, settings: Settings, payload: Mapping[str, Any], now: datetime
) -> tuple[str, str]:
    """Link (or update) the pull request of a ``pull_request`` delivery; returns (status,
    detail) for the delivery record. Runs in the caller's transaction."""
    action = payload.get("action")
    pr = payload.get("pull_request")
    repo_obj = payload.get("repository")
    if action not in _ACTIONS or not isinstance(pr, Mapping) or not isinstance(repo_obj, Mapping):
        return "ignored", f"pull_request action {action!r} is not handled"
    repo = str(repo_obj.get("full_name") or "").lower()
    url, number = pr.get("html_url"), pr.get("number")
    if not repo or not isinstance(url, str) or not isinstance(number, int):
        return "ignored", "pull_request without repository, url or number"
    text = f"{pr.get('title') or ''}\n{pr.get('body') or ''}"
    refs = _refs(text, repo)
    if not refs:
        return "ignored", "the pull request references no issue"
    i = t.issues.c
    rows = session.execute(
        select(i.id, i.github_number).where(
            func.lower(i.github_repo) == repo, i.github_number.in_(sorted(refs))
        )
    ).all()
    if not rows:
        return "ignored", "the pull request references no mirrored issue"
    raw_user = pr.get("user")
    user: Mapping[str, Any] = raw_user if isinstance(raw_user, Mapping) else {}
    login = str(user.get("login") or "unknown")
    merged_raw = pr.get("merged_at")
    merged_at = parse_time(merged_raw) if isinstance(merged_raw, str) and merged_raw else None
    if merged_at is None and pr.get("merged") is True:  # `merged` without `merged_at`
        closed = pr.get("closed_at")
        merged_at = parse_time(closed) if isinstance(closed, str) and closed else now
    state = "merged" if merged_at else str(pr.get("state") or "open")
    handle = settings.lifecycle.agent_handle
    notes: list[str] = []
    for issue_id, gh_number in rows:
        handed = session.execute(
            select(t.issue_events.c.id).where(
                t.issue_events.c.issue_id == issue_id, t.issue_events.c.kind == "handed_off"
            )
        ).first()
        agent = is_agent(login, user.get("type"), handle) or handed is not None
        actor = "agent" if agent else f"github:{login}"
        p = t.issue_prs.c
        old = session.execute(
            select(p.state, p.merged_at).where(p.issue_id == issue_id, p.url == url)
        ).first()
        if old is None:
            session.execute(
                t.issue_prs.insert().values(
                    issue_id=issue_id,
                    url=url,
                    repo=repo,
                    number=number,
                    author=login,
                    by_agent=agent,
                    state=state,
                    merged_at=merged_at,
                    linked_at=now,
                )
            )
            _event(session, issue_id, "pr_linked", now, actor, url, number, login)
            notes.append(f"linked to #{gh_number}")
        elif old.state != state:
            session.execute(
                update(t.issue_prs)
                .where(p.issue_id == issue_id, p.url == url)
                .values(state=state, merged_at=merged_at)
            )
        if merged_at is not None and (old is None or old.merged_at is None):
            _event(session, issue_id, "pr_merged", merged_at, actor, url, number, login)
            notes.append(f"merged for #{gh_number}")
    return ("recorded", "; ".join(notes)) if notes else ("duplicate", "nothing new")


def _event(
    session: Session,
    issue_id: int,
    kind: str,
    at: datetime,
    actor: str,
    url: str,
    number: int,
    login: str,
) -> None:
    # The issue changed (its related_prs): the GitHub sync notices by updated_at.
    session.execute(update(t.issues).where(t.issues.c.id == issue_id).values(updated_at=at))
    session.execute(
        t.issue_events.insert().values(
            issue_id=issue_id,
            kind=kind,
            at=at,
            actor=actor,
            run_id=None,
            data={"url": url, "number": number, "author": login},
        )
    )


def related_prs(session: Session, issue_id: int) -> list[str]:
    p = t.issue_prs.c
    return [
        url
        for (url,) in session.execute(
            select(p.url).where(p.issue_id == issue_id).order_by(p.linked_at, p.url)
        )
    ]


def merged_agent_pr(session: Session, issue_id: int, *, before: datetime) -> str | None:
    """The agent's pull request merged for an issue after its last failure (``before``), if
    any: the green runs that resolve the issue then follow the agent's fix."""
    p = t.issue_prs.c
    found = session.execute(
        select(p.url)
        .where(p.issue_id == issue_id, p.by_agent.is_(True), p.merged_at.is_not(None))
        .where(p.merged_at >= before)
        .order_by(p.merged_at.desc())
        .limit(1)
    ).first()
    return str(found.url) if found is not None else None

"""Pull requests that fix an issue: linked from GitHub's ``pull_request`` webhooks, or from
polling the repositories' pull requests (:mod:`triagehub.engine.pull.github_prs`), through the
same :func:`record_pr`.

A pull request is linked to every mirrored issue it references in its title or body, in the same
repository as the GitHub issue: ``#12``, ``Fixes #12``, or the issue's URL. The link is kept in
``issue_prs`` (listed as ``related_prs`` in the GitHub issue's metadata block and the API) and
written on the timeline (``pr_linked``; ``pr_merged`` when it is merged), with actor ``agent``
when the author is a coding agent (a bot account, or the login of the configured agent handle)
or the issue was handed off to an agent, else ``github:<login>``. Replayed deliveries, and the
same pull request seen by a webhook and a poll, change nothing: the link is inserted with ``ON
CONFLICT DO NOTHING`` and the merge set only where it was not, so each timeline entry is written
once even when both arrive at the same moment. The agent sessions that named the pull request
or its head branch are linked to the issue (:mod:`triagehub.work.agents.links`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.timeparse import parse_time
from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring
from triagehub.work.agents.links import link_sessions_to_pr

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
    return record_pr(session, settings, str(repo_obj.get("full_name") or ""), pr, now)


def record_pr(
    session: Session, settings: Settings, repository: str, pr: Mapping[str, Any], now: datetime
) -> tuple[str, str]:
    """Link (or update) one pull request of ``repository`` (a webhook's ``pull_request``, or an
    item of GitHub's pull request list when polling): the one code path of both. Returns
    (status, detail): ``recorded``, ``duplicate`` (nothing new) or ``ignored`` (no reference
    to a mirrored issue). Runs in the caller's transaction; safe to run twice at once."""
    repo = repository.lower()
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
    found = _Pr.read(pr, url, number, now)
    handle = settings.lifecycle.agent_handle
    notes: list[str] = []
    for issue_id, gh_number in rows:
        handed = session.execute(
            select(t.issue_events.c.id).where(
                t.issue_events.c.issue_id == issue_id, t.issue_events.c.kind == "handed_off"
            )
        ).first()
        agent = is_agent(found.login, found.user_type, handle) or handed is not None
        actor = "agent" if agent else f"github:{found.login}"
        if _link(session, issue_id, repo, found, agent, now):
            _event(session, issue_id, "pr_linked", now, actor, found)
            notes.append(f"linked to #{gh_number}")
        if found.merged_at is not None and _merge(session, issue_id, found):
            _event(session, issue_id, "pr_merged", found.merged_at, actor, found)
            notes.append(f"merged for #{gh_number}")
        # The agent sessions that named this pull request or its branch work on the issue.
        link_sessions_to_pr(session, issue_id, repo, number, found.head_ref, now)
    return ("recorded", "; ".join(notes)) if notes else ("duplicate", "nothing new")


@dataclass(frozen=True, slots=True)
class _Pr:
    """What triagehub keeps of a pull request."""

    url: str
    number: int
    login: str
    user_type: str | None
    state: str
    merged_at: datetime | None
    head_ref: str | None

    @classmethod
    def read(cls, pr: Mapping[str, Any], url: str, number: int, now: datetime) -> _Pr:
        raw_user = pr.get("user")
        user: Mapping[str, Any] = raw_user if isinstance(raw_user, Mapping) else {}
        merged_raw = pr.get("merged_at")
        merged_at = parse_time(merged_raw) if isinstance(merged_raw, str) and merged_raw else None
        if merged_at is None and pr.get("merged") is True:  # `merged` without `merged_at`
            closed = pr.get("closed_at")
            merged_at = parse_time(closed) if isinstance(closed, str) and closed else now
        head = pr.get("head")
        ref = head.get("ref") if isinstance(head, Mapping) else None
        user_type = user.get("type")
        return cls(
            url=url,
            number=number,
            login=str(user.get("login") or "unknown")[:100],
            user_type=user_type if isinstance(user_type, str) else None,
            state="merged" if merged_at else str(pr.get("state") or "open")[:10],
            merged_at=merged_at,
            head_ref=ref[:255] if isinstance(ref, str) and ref else None,
        )


def _link(session: Session, issue_id: int, repo: str, pr: _Pr, agent: bool, now: datetime) -> bool:
    """Insert the link (True) or bring its state and branch up to date (False)."""
    p = t.issue_prs.c
    inserted = session.execute(
        insert_ignoring(session, t.issue_prs, "issue_id", "url")
        .values(
            issue_id=issue_id,
            url=pr.url,
            repo=repo,
            number=pr.number,
            author=pr.login,
            by_agent=agent,
            state=pr.state,
            merged_at=None,  # set by _merge, which writes pr_merged once
            linked_at=now,
            head_ref=pr.head_ref,
        )
        .returning(p.issue_id)
    ).first()
    if inserted is not None:  # (rowcount is not reliable for ON CONFLICT on psycopg)
        return True
    values: dict[str, Any] = {"state": pr.state}
    if pr.head_ref:
        values["head_ref"] = pr.head_ref
    session.execute(
        update(t.issue_prs)
        .where(p.issue_id == issue_id, p.url == pr.url, p.state != "merged")
        .values(**values)
    )
    return False


def _merge(session: Session, issue_id: int, pr: _Pr) -> bool:
    """Record the merge once: True for the transaction that set ``merged_at``."""
    p = t.issue_prs.c
    done = session.execute(
        update(t.issue_prs)
        .where(p.issue_id == issue_id, p.url == pr.url, p.merged_at.is_(None))
        .values(state="merged", merged_at=pr.merged_at)
    )
    return bool(getattr(done, "rowcount", 0))


def _event(session: Session, issue_id: int, kind: str, at: datetime, actor: str, pr: _Pr) -> None:
    # The issue changed (its related_prs): the GitHub sync notices by updated_at.
    session.execute(update(t.issues).where(t.issues.c.id == issue_id).values(updated_at=at))
    session.execute(
        t.issue_events.insert().values(
            issue_id=issue_id,
            kind=kind,
            at=at,
            actor=actor,
            run_id=None,
            data={"url": pr.url, "number": pr.number, "author": pr.login},
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

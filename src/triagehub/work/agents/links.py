"""Linking agent sessions to the issues they work on.

A session is linked to an issue by its declared work item (``triagehub.issue_id``, or ``PUT``
of the work item: ``via`` ``work_item``) and by what its hook events reference
(:mod:`.refs`): the issue's id (``issue_id``), its fingerprint (``fingerprint``), its GitHub
issue (``github_issue``), a pull request linked to it (``pull_request``) or that pull request's
head branch (``branch``). A pull request or branch named before the pull request is recorded
(the agent usually opens it itself) is kept in ``agent_session_refs``, and the pull request's
recording (:mod:`triagehub.work.agent_prs`) links the sessions that named it.

A link is one ``agent_session_issues`` row, inserted with ``ON CONFLICT DO NOTHING``: the
transaction whose insert took writes ``session_linked`` on the issue's timeline (actor
``agent``), so it is written once however many events, deliveries or polls repeat the
reference. Everything runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session

from triagehub.core.redact import redact
from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring
from triagehub.store.lifecycle import record_event
from triagehub.work.agents.refs import Refs, event_text, find_refs

LINKED_EVENT = "session_linked"
ACTOR = "agent"
# Why a session is linked to an issue (``via``), in words: "<reason> <ref>".
LINK_REASONS = {
    "work_item": "its declared work item, issue",
    "issue_id": "it referenced the issue as",
    "fingerprint": "it read the issue's fingerprint",
    "github_issue": "it referenced the GitHub issue",
    "pull_request": "it referenced the linked pull request",
    "branch": "it worked on the linked pull request's branch",
}


@dataclass(frozen=True, slots=True)
class Link:
    """An issue a session is linked to, and why."""

    issue_id: int
    via: str
    ref: str


def link_session(
    session: Session, session_pk: int, link: Link, at: datetime, *, now: datetime
) -> bool:
    """Link a session to an issue (once); True when this call made the link."""
    ref = redact(link.ref)[:300]
    inserted = session.execute(
        insert_ignoring(session, t.agent_session_issues, "session_id", "issue_id")
        .values(session_id=session_pk, issue_id=link.issue_id, via=link.via, ref=ref, linked_at=at)
        .returning(t.agent_session_issues.c.issue_id)
    ).first()
    if inserted is None:  # linked before (rowcount is not reliable here on psycopg)
        return False
    row = session.execute(
        select(t.agent_sessions.c.session_key, t.agent_sessions.c.agent).where(
            t.agent_sessions.c.id == session_pk
        )
    ).one()
    record_event(
        session,
        link.issue_id,
        LINKED_EVENT,
        at=at,
        actor=ACTOR,
        data={
            "session_id": row.session_key,
            "agent": row.agent,
            "via": link.via,
            "ref": ref,
            "reason": f"agent session {row.session_key[:40]} ({row.agent}) works on it: "
            f"{LINK_REASONS[link.via]} {ref}",
        },
    )
    # The issue changed (its related sessions): readers and the GitHub sync notice.
    session.execute(t.issues.update().where(t.issues.c.id == link.issue_id).values(updated_at=now))
    return True


def _resolve(session: Session, refs: Refs) -> list[Link]:
    """The issues ``refs`` lead to today."""
    i, p = t.issues.c, t.issue_prs.c
    links: list[Link] = []
    if refs.issue_ids:
        for (issue_id,) in session.execute(select(i.id).where(i.id.in_(refs.issue_ids))):
            links.append(Link(int(issue_id), "issue_id", f"#{issue_id}"))
    if refs.fingerprints:
        rows = session.execute(
            select(i.id, i.fingerprint).where(i.fingerprint.in_(refs.fingerprints))
        )
        links += [Link(int(r.id), "fingerprint", r.fingerprint[:16]) for r in rows]
    pairs = [_split(ref) for ref in refs.github]
    if pairs:
        rows = session.execute(
            select(i.id, i.github_repo, i.github_number).where(  # github_repo: lower case
                tuple_(i.github_repo, i.github_number).in_(pairs)
            )
        )
        links += [
            Link(int(r.id), "github_issue", f"{r.github_repo}#{r.github_number}".lower())
            for r in rows
        ]
        rows = session.execute(
            select(p.issue_id, p.repo, p.number).where(tuple_(p.repo, p.number).in_(pairs))
        )
        links += [Link(int(r.issue_id), "pull_request", f"{r.repo}#{r.number}") for r in rows]
    if refs.branches:
        rows = session.execute(select(p.issue_id, p.head_ref).where(p.head_ref.in_(refs.branches)))
        links += [Link(int(r.issue_id), "branch", str(r.head_ref)) for r in rows]
    return links


def _split(ref: str) -> tuple[str, int]:
    repo, _, number = ref.rpartition("#")
    return repo, int(number)


def _remember(session: Session, session_pk: int, refs: Refs, at: datetime) -> None:
    """Keep the GitHub references and branches for pull requests recorded later."""
    branches = [b[:300] for b in refs.branches if redact(b) == b]  # never keep a secret
    values = [("gh", ref) for ref in refs.github] + [("branch", b) for b in branches]
    for kind, value in values:
        session.execute(
            insert_ignoring(session, t.agent_session_refs, "session_id", "kind", "value").values(
                session_id=session_pk, kind=kind, value=value, at=at
            )
        )


def link_hook_event(
    session: Session,
    session_pk: int,
    work_issue: int | None,
    payload: Mapping[str, Any],
    at: datetime,
    *,
    now: datetime,
) -> list[Link]:
    """Link the session of a hook event to its work item and to the issues the event
    references; return the links this event made."""
    made: list[Link] = []
    if work_issue is not None:
        work = Link(work_issue, "work_item", str(work_issue))
        if link_session(session, session_pk, work, at, now=now):
            made.append(work)
    refs = find_refs(event_text(payload))
    if not refs:
        return made
    _remember(session, session_pk, refs, at)
    seen = {work_issue}
    for link in _resolve(session, refs):
        if link.issue_id in seen:
            continue
        seen.add(link.issue_id)
        if link_session(session, session_pk, link, at, now=now):
            made.append(link)
    return made


def link_sessions_to_pr(
    session: Session,
    issue_id: int,
    repo: str,
    number: int,
    head_ref: str | None,
    now: datetime,
) -> int:
    """Link the sessions that named a pull request (or its head branch) before it was linked
    to ``issue_id``; return how many links were made."""
    r = t.agent_session_refs.c
    wanted = [and_(r.kind == "gh", r.value == f"{repo}#{number}".lower())]
    if head_ref:
        wanted.append(and_(r.kind == "branch", r.value == head_ref[:300]))
    rows = session.execute(
        select(r.session_id, r.kind, r.value)
        .where(or_(*wanted))
        .order_by(r.session_id, r.kind.desc())  # "gh" (the pull request) before "branch"
    ).all()
    made = 0
    for row in rows:
        via = "pull_request" if row.kind == "gh" else "branch"
        made += link_session(
            session, int(row.session_id), Link(issue_id, via, row.value), now, now=now
        )
    return made

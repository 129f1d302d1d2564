"""The remediation workflow of an issue: start a remediation session (the hand-off to the coding
agent), assign an existing session, create a spec proposal; each written on the timeline.

- **Start remediation session** (:func:`start_remediation`): records a pending
  ``error_remediation`` session linked to the issue (:mod:`triagehub.work.agents.handoff`: its
  id is the hand-off key) and queues the hand-off to the configured coding agent exactly as
  ``/triage fix`` on GitHub does (one path: ``engine.investigate.queue_investigation``; the job
  comments on the mirrored GitHub issue with the agent's mention, the brief or the evidence,
  the task and the environment that reports the session: ``TRIAGEHUB_ISSUE``,
  ``TRIAGEHUB_REMEDIATION``). The agent's first hook event carrying the key takes the session
  over. Timeline: ``remediation_started``, then ``handed_off`` (the job), ``agent_attached``.
- **Cancel a remediation session** (:func:`cancel_remediation`): a pending session (no hook
  event yet) becomes ``cancelled``; its key attaches no agent session any more, a hand-off not
  posted yet is not posted, and its attempt's outcome is ``cancelled``. Cancelling it again
  changes nothing; one an agent took over already is a conflict (409). Timeline:
  ``remediation_cancelled``.
- **Assign session** (:func:`assign_session`): links an existing session (by its id or hand-off
  key) to the issue. A ``spec_implementation`` session is refused (422), one linked to another
  issue or a spec change too (409). Timeline: ``session_assigned``.
- **Create spec proposal** (:func:`spec_proposal`): an OpenSpec change scaffolded from the
  failure in the chosen project (:func:`~triagehub.work.specs.create_change_from_issue`: the
  proposal's Why holds the title, key error lines, failing checks and the evidence pack's link)
  and linked to the issue; choosing it sets the decision to ``needs_spec`` when it was another
  (an override by the person). Timeline: ``overridden`` (when the decision changed),
  ``spec_linked``; a new change is also a ``created`` spec event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.engine.brief_text import PUBLIC_URL_ENV, session_env
from triagehub.engine.investigate import queue_investigation
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event
from triagehub.work import agents
from triagehub.work.agents.handoff import cancel_handoff, create_pending_session, new_handoff_key
from triagehub.work.evidence import build_pack
from triagehub.work.specs import (
    ConflictError,
    LinkedChange,
    NotFoundError,
    Project,
    SpecChoice,
)
from triagehub.work.specs import create_change_from_issue as _create_change
from triagehub.work.specs.activity import record_created

STARTED: Final = "remediation_started"
CANCELLED: Final = "remediation_cancelled"
ASSIGNED: Final = "session_assigned"
DEFAULT_AGENT: Final = "claude-code"
MAX_REASON: Final = 2000


def evidence_url(issue_id: int, environ: Mapping[str, str] | None = None) -> str:
    """The evidence pack's address: absolute with ``TRIAGEHUB_PUBLIC_URL``, else the API path."""
    env = os.environ if environ is None else environ
    base = env.get(PUBLIC_URL_ENV, "").strip().rstrip("/")
    path = f"/api/v1/issues/{int(issue_id)}/evidence"
    return f"{base}{path}" if base.startswith(("http://", "https://")) else path


def clean_reason(reason: str | None, default: str) -> str:
    """A person's reason (at most 2000 characters, no NUL), or ``default`` when none."""
    text = (reason or "").strip()
    if len(text) > MAX_REASON or "\x00" in text:
        raise InputError("reason", "", f"at most {MAX_REASON} characters, without NUL")
    return text or default


def _issue_row(session: Session, issue_id: int) -> Mapping[str, Any]:
    i = t.issues.c
    row = (
        session.execute(
            select(i.id, i.state, i.github_repo, i.github_number)
            .where(i.id == issue_id)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError("issue", f"#{issue_id}", "no such issue")
    return dict(row)


@dataclass(frozen=True, slots=True)
class RemediationStart:
    issue_id: int
    session: agents.SessionView
    github: str | None  # the GitHub issue the hand-off comments on (owner/name#N), if mirrored
    env: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "session": self.session.to_json(),
            "handed_off_on": self.github,
            "agent_env": dict(self.env),
        }


def start_remediation(
    session: Session,
    issue_id: int,
    *,
    actor: str,
    by: str,
    now: datetime,
    reason: str | None = None,
) -> RemediationStart:
    """Record a pending remediation session and queue its hand-off, in the caller's
    transaction (see the module docstring). ``by`` names who asked in the job (a GitHub login,
    or the token's name). Raises ``NotFoundError`` for an unknown issue (and ``ConflictError``
    should the new hand-off's job exist already)."""
    row = _issue_row(session, issue_id)
    key = new_handoff_key(issue_id)
    repo, number = row["github_repo"], row["github_number"]
    queued = queue_investigation(
        session,
        issue_id,
        handoff=True,
        repo=repo,
        number=number,
        by=by,
        now=now,
        session_key=key,
        actor=actor,
    )
    if not queued:
        raise ConflictError("issue", f"#{issue_id}", f"the hand-off {key} was queued already")
    pending = create_pending_session(session, issue_id, key=key, agent=DEFAULT_AGENT, now=now)
    github = f"{repo}#{number}" if repo and number else None
    record_event(
        session,
        issue_id,
        STARTED,
        at=now,
        actor=actor,
        data={
            "session": key,
            "github": github,
            "reason": clean_reason(reason, "remediation session started"),
        },
    )
    return RemediationStart(
        issue_id, agents.session_view(pending, now), github, session_env(issue_id, key)
    )


def cancel_remediation(
    session: Session,
    issue_id: int,
    session_id: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> agents.SessionView:
    """Cancel the issue's pending remediation session ``session_id`` (its id or hand-off key;
    see the module docstring), in the caller's transaction; idempotent."""
    _issue_row(session, issue_id)
    key = session_id.strip()
    if not key or len(key) > 200:
        raise InputError("session", "", "give a session id or hand-off key (1 to 200 characters)")
    why = clean_reason(reason, "remediation session cancelled")
    row, changed = cancel_handoff(session, issue_id, key, now=now)
    if changed:
        record_event(
            session,
            issue_id,
            CANCELLED,
            at=now,
            actor=actor,
            data={"session": row["session_key"], "reason": why},
        )
    return agents.session_view(row, now)


def assign_session(
    session: Session,
    issue_id: int,
    session_id: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> agents.SessionView:
    """Link an existing agent session to the issue (see the module docstring), in the caller's
    transaction; assigning it again changes nothing and records nothing."""
    _issue_row(session, issue_id)
    key = session_id.strip()
    if not key or len(key) > 200:
        raise InputError("session", "", "give a session id or hand-off key (1 to 200 characters)")
    found = agents.get_session(session, key, now=now, events=0).session
    if found.session_type == agents.SessionType.SPEC_IMPLEMENTATION:
        raise InputError(
            "agent session",
            key[:200],
            "a spec_implementation session works on a spec change, not an issue: it cannot "
            "be assigned to one",
        )
    already = found.work_item is not None and found.work_item.to_json() == {
        "type": "issue",
        "id": issue_id,
    }
    view = agents.set_work_item(session, key, now=now, issue_id=issue_id)
    if not already:
        record_event(
            session,
            issue_id,
            ASSIGNED,
            at=now,
            actor=actor,
            data={
                "session": view.session_id,
                "type": view.session_type,
                "agent": view.agent,
                "reason": clean_reason(reason, "agent session assigned to this issue"),
            },
        )
    return view


def spec_proposal(
    engine: Engine,
    project: Project,
    issue_id: int,
    *,
    clock: Clock,
    actor: str,
    change_id: str | None = None,
    capability: str | None = None,
    reason: str | None = None,
) -> LinkedChange:
    """Scaffold the issue's OpenSpec change in ``project`` and link it (see the module
    docstring); an issue linked already gets its change back (``created`` false)."""
    why = clean_reason(reason, "a spec proposal was created from this failure")
    linked = _create_change(
        engine,
        project,
        issue_id,
        clock=clock,
        change_id=change_id,
        capability=capability,
        actor=actor,
        evidence_url=evidence_url(issue_id),
        choice=SpecChoice(actor, why),
        evidence=build_pack,
    )
    if linked.created:
        record_created(
            engine, project, linked.change_id, actor=actor, clock=clock, issue_id=issue_id
        )
    return linked

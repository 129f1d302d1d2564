"""Remediation attempts: every agent session and pull request that tried to fix an issue, and
what came of it, read from the issue's own failures and resolutions (by event time).

- A **session** attempt is an agent session linked to the issue (an ``error_remediation``
  session, or any session assigned to it). The first pull request by an agent linked to the
  issue once the session started, and not claimed by an earlier session, is the session's fix:
  the attempt follows that pull request. Without one, the fix is in when the session ends.
- A **pull request** attempt is a linked pull request no session claimed (by an agent or a
  person).

The outcome, from the moment the fix is in (the session's end, the pull request's merge):

- ``failed``: the issue failed again before any resolution (its first occurrence after the fix
  is earlier than its first resolution after it), or the pull request was closed unmerged;
- ``succeeded``: the issue was resolved (``resolved`` or ``auto_resolved``: its checks passed K
  times in a row, or a person resolved it) before failing again;
- ``pending``: the session has not ended, the pull request is open, or neither happened yet;
- ``cancelled``: the remediation session was cancelled before its agent started (no fix).

The outcome is computed when read, so a late failure (event time) still counts where it
belongs. :func:`path_verdicts` says, per issue, whether the chosen path (a fix or a spec)
worked: the decision-accuracy figure of :mod:`triagehub.store.metrics.brief` reads it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.core.timeparse import iso_z
from triagehub.store import tables as t

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
PENDING: Final = "pending"
CANCELLED: Final = "cancelled"
_RESOLVED: Final = ("resolved", "auto_resolved")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at fixing an issue, with its outcome and why."""

    kind: str  # "session" or "pull_request"
    ref: str  # the session id or the pull request's URL
    label: str
    status: str  # the session's status, or the pull request's state
    started_at: datetime
    fixed_at: datetime | None  # when the fix was in: the session's end or the merge
    outcome: str
    outcome_at: datetime | None
    reason: str
    by_agent: bool
    pull_request: str | None = None  # a session's pull request (the fix it follows)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "label": self.label,
            "status": self.status,
            "started_at": iso_z(self.started_at),
            "fixed_at": iso_z(self.fixed_at),
            "outcome": self.outcome,
            "outcome_at": iso_z(self.outcome_at),
            "reason": self.reason,
            "by_agent": self.by_agent,
            "pull_request": self.pull_request,
        }


@dataclass(frozen=True, slots=True)
class _Judge:
    """What an issue's outcomes are read from: its resolutions in event time."""

    issue_id: int
    resolutions: tuple[tuple[datetime, str], ...]  # (at, reason), in time order

    def after(self, session: Session, fixed: datetime) -> tuple[str, datetime | None, str]:
        """(outcome, when, why) of a fix that was in at ``fixed``."""
        failure = session.execute(
            select(func.min(t.occurrences.c.occurred_at)).where(
                t.occurrences.c.issue_id == self.issue_id, t.occurrences.c.occurred_at > fixed
            )
        ).scalar()
        resolved = next(((at, why) for at, why in self.resolutions if at >= fixed), None)
        if failure is not None and (resolved is None or failure < resolved[0]):
            return FAILED, failure, f"failed again at {iso_z(failure)} after the fix"
        if resolved is not None:
            return SUCCEEDED, resolved[0], f"resolved at {iso_z(resolved[0])}: {resolved[1]}"
        return PENDING, None, f"no failure and no resolution since the fix ({iso_z(fixed)})"


def _resolutions(session: Session, ids: Sequence[int]) -> dict[int, list[tuple[datetime, str]]]:
    e = t.issue_events.c
    found: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for issue_id, at, data in session.execute(
        select(e.issue_id, e.at, e.data)
        .where(e.issue_id.in_(ids), e.kind == "state_changed")
        .order_by(e.at, e.id)
    ):
        data = data or {}
        if data.get("to") in _RESOLVED:
            found[issue_id].append((at, str(data.get("reason") or data["to"])))
    return found


# (outcome, when the fix was in, when the outcome was known, why)
_Outcome = tuple[str, datetime | None, datetime | None, str]


def _pr_outcome(session: Session, judge: _Judge, pr: Mapping[str, Any]) -> _Outcome:
    """The outcome of an attempt whose fix is ``pr``."""
    if pr["merged_at"] is not None:
        outcome, at, why = judge.after(session, pr["merged_at"])
        return outcome, pr["merged_at"], at, f"pull request merged; {why}"
    if pr["state"] == "closed":
        return FAILED, None, None, "its pull request was closed without merging"
    return PENDING, None, None, "its pull request is open"


def _session_outcome(
    session: Session, judge: _Judge, row: Mapping[str, Any], pr: Mapping[str, Any] | None
) -> _Outcome:
    """A session's outcome: its pull request's, else from its end."""
    if pr is not None:
        return _pr_outcome(session, judge, pr)
    if row["status"] == "completed" and row["ended_at"] is not None:
        outcome, at, why = judge.after(session, row["ended_at"])
        return outcome, row["ended_at"], at, f"session ended; {why}"
    if row["status"] == "pending":
        return PENDING, None, None, "waiting for the agent's first hook event"
    if row["status"] == CANCELLED:
        return CANCELLED, None, row["ended_at"], "cancelled before the agent started"
    return PENDING, None, None, "the session has not ended"


def _attempt(
    kind: str,
    row: Mapping[str, Any],
    found: _Outcome,
    *,
    pr: Mapping[str, Any] | None = None,
) -> Attempt:
    """The attempt of a session row (``kind`` ``session``, its pull request ``pr``) or of a
    pull request row (``pull_request``)."""
    outcome, fixed, at, why = found
    if kind == "session":
        label = f"{row['session_type'].replace('_', ' ')} session of {row['agent']}"
        ref, status, started, by_agent = row["session_key"], row["status"], row["started_at"], True
    else:
        label = f"pull request #{row['number']} by {row['author']}"
        ref, status, started, by_agent = row["url"], row["state"], row["linked_at"], row["by_agent"]
    return Attempt(
        kind=kind,
        ref=ref,
        label=label,
        status=status,
        started_at=started,
        fixed_at=fixed,
        outcome=outcome,
        outcome_at=at,
        reason=why,
        by_agent=bool(by_agent),
        pull_request=pr["url"] if pr is not None else None,
    )


def _issue_attempts(
    session: Session, judge: _Judge, sessions: list[Mapping[str, Any]], prs: list[Mapping[str, Any]]
) -> list[Attempt]:
    claimed: set[str] = set()
    out: list[Attempt] = []
    for row in sessions:
        pr = next(
            (
                p
                for p in prs
                if p["by_agent"] and p["url"] not in claimed and p["linked_at"] >= row["started_at"]
            ),
            None,
        )
        if pr is not None:
            claimed.add(pr["url"])
        out.append(_attempt("session", row, _session_outcome(session, judge, row, pr), pr=pr))
    for pr in prs:
        if pr["url"] not in claimed:
            out.append(_attempt("pull_request", pr, _pr_outcome(session, judge, pr)))
    out.sort(key=lambda a: (a.started_at, a.ref))
    return out


def remediation_attempts(session: Session, issue_ids: Iterable[int]) -> dict[int, list[Attempt]]:
    """The attempts of each issue (issues without any are left out), oldest first."""
    ids = sorted(set(issue_ids))
    sessions: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    prs: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    s, p = t.agent_sessions.c, t.issue_prs.c
    for chunk in (ids[n : n + 1000] for n in range(0, len(ids), 1000)):
        for row in session.execute(
            select(t.agent_sessions).where(s.issue_id.in_(chunk)).order_by(s.started_at, s.id)
        ).mappings():
            sessions[row["issue_id"]].append(dict(row))
        for row in session.execute(
            select(t.issue_prs).where(p.issue_id.in_(chunk)).order_by(p.linked_at, p.url)
        ).mappings():
            prs[row["issue_id"]].append(dict(row))
    tried = sorted(set(sessions) | set(prs))
    resolutions = _resolutions(session, tried)
    return {
        issue_id: _issue_attempts(
            session,
            _Judge(issue_id, tuple(resolutions.get(issue_id, ()))),
            sessions.get(issue_id, []),
            prs.get(issue_id, []),
        )
        for issue_id in tried
    }


# -- whether the chosen path worked (decision accuracy) -----------------------------------------


@dataclass(frozen=True, slots=True)
class PathVerdict:
    """The path taken for an issue (``fix``: a remediation attempt; ``spec``: a linked OpenSpec
    change) and whether it worked."""

    path: str
    worked: bool


def path_verdicts(session: Session, issue_ids: Iterable[int]) -> dict[int, PathVerdict]:
    """Per issue whose chosen path concluded: a fix worked when one of its attempts succeeded;
    else a spec worked when the issue was resolved after the change was linked (a spec takes
    the time it takes: it does not fail by a failure); else a fix failed when an attempt failed.
    Issues whose path has not concluded are left out."""
    ids = sorted(set(issue_ids))
    attempts = remediation_attempts(session, ids)
    linked: dict[int, datetime] = {}
    e = t.issue_events.c
    for chunk in (ids[n : n + 1000] for n in range(0, len(ids), 1000)):
        for issue_id, at in session.execute(
            select(e.issue_id, func.min(e.at))
            .where(e.issue_id.in_(chunk), e.kind == "spec_linked")
            .group_by(e.issue_id)
        ):
            linked[issue_id] = at
    resolutions = _resolutions(session, sorted(linked))
    out: dict[int, PathVerdict] = {}
    for issue_id in ids:
        outcomes = {a.outcome for a in attempts.get(issue_id, [])}
        spec_at = linked.get(issue_id)
        if SUCCEEDED in outcomes:
            out[issue_id] = PathVerdict("fix", True)
        elif spec_at is not None and any(at >= spec_at for at, _ in resolutions.get(issue_id, [])):
            out[issue_id] = PathVerdict("spec", True)
        elif FAILED in outcomes:
            out[issue_id] = PathVerdict("fix", False)
    return out

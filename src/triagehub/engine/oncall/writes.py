"""The writes of one on-call pass, made as a few set-based statements.

An on-call pass (the ingest's :func:`~triagehub.engine.oncall.alert_at_once`, a monitor tick)
decides issue by issue, in memory, what the one-at-a-time path wrote as it went: the expert named
on an issue, an assignment (the issue's columns, its ``state_changed`` and ``assigned`` events,
the ``github_oncall`` job), an alert (the notification job, the ``alerted`` event, the mention
job). :class:`OncallWrites` keeps those rows in that order and :meth:`OncallWrites.flush` sends
them as one statement per kind of write (chunked for very large passes): so the rows, their
values and their ids are the ones the one-at-a-time path stored.

A notification job another transaction wrote first (the same ``notify:{issue}:alert:{event}``
key) means that alert was sent by someone else: like the one-at-a-time path, its ``alerted``
event and its mention are then not written (a mention inserted in the same statement is deleted
again).

An issue inserted with the columns this pass was expected to give it (``engine.oncall.at_insert``,
one :class:`Carried` each) is decided from its columns as they were before that guess; it gets
no update where the decision is the one it carries, and an update to the decision otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from triagehub.core.lifecycle import Actor, check_transition
from triagehub.core.models import IssueState
from triagehub.engine.jobs.policy import PENDING
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter
from triagehub.store.lifecycle import state_values

ROWS: Final = 500  # rows of one statement (bound parameters stay far below every limit)
ONCALL_COLUMNS: Final = ("expert", "assignee", "state", "updated_at")  # what a pass may set
_PLAIN: Final = ("state", "updated_at", "expert", "assignee")  # an assignment's, mostly


@dataclass(frozen=True, slots=True)
class Carried:
    """An issue inserted with the on-call columns ``after`` (:data:`ONCALL_COLUMNS`) instead of
    ``before``, in the transaction of the pass that decides them."""

    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(slots=True)
class _Assignment:
    issue_id: int
    expert: str
    assignee: str
    reason: str
    data: dict[str, Any]  # the ``assigned`` event's


@dataclass(slots=True)
class _Entry:
    """A job or an event, with the notification key it stands on (``None``: it always stands)."""

    row: dict[str, Any]
    needs: str | None = None


@dataclass
class OncallWrites:
    """What one pass writes, in the order the one-at-a-time path wrote it."""

    now: datetime
    experts: list[dict[str, Any]] = field(default_factory=list)  # named, not assigned
    assignments: list[_Assignment] = field(default_factory=list)
    jobs: list[_Entry] = field(default_factory=list)
    # The timeline, in order; an assignment's ``state_changed`` event is filled in at flush time
    # (its ``from`` is the state read under lock then).
    events: list[_Entry | _Assignment] = field(default_factory=list)
    carried: Mapping[int, Carried] = field(default_factory=dict)

    # -- what a pass decides -------------------------------------------------------------------

    def name_expert(self, issue_id: int, expert: str) -> None:
        self.experts.append({"_id": issue_id, "_expert": expert})

    def assign(
        self, issue_id: int, expert: str, assignee: str, reason: str, data: dict[str, Any]
    ) -> None:
        done = _Assignment(issue_id, expert, assignee, reason, data)
        self.assignments.append(done)
        self.events.append(done)

    def job(self, kind: str, key: str, data: dict[str, Any], *, needs: str | None = None) -> None:
        row = {
            "kind": kind,
            "key": key,
            "data": data,
            "status": PENDING,
            "attempts": 0,
            "next_try_at": self.now,
            "created_at": self.now,
            "updated_at": self.now,
        }
        self.jobs.append(_Entry(row, needs))

    def event(
        self, issue_id: int, kind: str, data: dict[str, Any], *, needs: str | None = None
    ) -> None:
        row = {
            "issue_id": issue_id,
            "kind": kind,
            "at": self.now,
            "actor": Actor.RULE.value,
            "run_id": None,
            "data": data,
        }
        self.events.append(_Entry(row, needs))

    # -- writing -------------------------------------------------------------------------------

    def flush(self, session: Session) -> set[str]:
        """Write everything; returns the keys of the jobs this pass created."""
        i = t.issues.c
        bulk = BulkWriter(session)  # (one statement per kind of write: ``store.bulk``)
        finals = {pk: dict(c.before) for pk, c in self.carried.items()}
        experts = [(e["_expert"], e["_id"]) for e in self.experts if e["_id"] not in finals]
        for e in self.experts:
            if e["_id"] in finals:
                finals[e["_id"]]["expert"] = e["_expert"]
        bulk.update(t.issues, ["expert"], "id", experts)
        states = self._assign(session, bulk, finals)
        for pk, final in finals.items():  # an insert that carried another decision
            if final != self.carried[pk].after:
                session.execute(update(t.issues).where(i.id == pk).values(final))
        created = self._insert_jobs(bulk)
        lost = {e.row["key"] for e in self.jobs if e.needs is not None and e.needs not in created}
        lost &= created
        for chunk in _chunks(sorted(lost)):  # mentions of alerts someone else sent
            session.execute(delete(t.jobs).where(t.jobs.c.key.in_(chunk)))
        rows: list[dict[str, Any]] = []
        for entry in self.events:
            if isinstance(entry, _Assignment):
                current = states[entry.issue_id]
                rows.append(
                    self._event_row(
                        entry.issue_id,
                        "state_changed",
                        {
                            "from": current.value,
                            "to": IssueState.ASSIGNED.value,
                            "reason": entry.reason,
                            "by": Actor.RULE.value,
                        },
                    )
                )
                rows.append(self._event_row(entry.issue_id, "assigned", entry.data))
            elif entry.needs is None or entry.needs in created:
                rows.append(entry.row)
        if rows:  # (one COPY, or one prepared statement: ``store.bulk``)
            columns = list(rows[0])
            bulk.insert(t.issue_events, columns, ([r[c] for c in columns] for r in rows))
        return created - lost

    def _event_row(self, issue_id: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "issue_id": issue_id,
            "kind": kind,
            "at": self.now,
            "actor": Actor.RULE.value,
            "run_id": None,
            "data": data,
        }

    def _assign(
        self, session: Session, bulk: BulkWriter, finals: dict[int, dict[str, Any]]
    ) -> dict[int, IssueState]:
        """The assignments' columns and states, after reading each issue's state under lock (as
        ``store.lifecycle.change_state`` does); returns the states they left. The columns of a
        carried issue (inserted by this transaction: no one else sees it) go to ``finals``."""
        if not self.assignments:
            return {}
        i = t.issues.c
        states = {
            a.issue_id: IssueState(finals[a.issue_id]["state"])
            for a in self.assignments
            if a.issue_id in finals
        }
        ids = sorted({a.issue_id for a in self.assignments} - set(states))
        for chunk in _chunks(ids):
            locked = select(i.id, i.state).where(i.id.in_(chunk)).order_by(i.id).with_for_update()
            states.update({int(pk): IssueState(state) for pk, state in session.execute(locked)})
        plain: list[tuple[Any, ...]] = []
        for a in self.assignments:
            current = states[a.issue_id]
            check_transition(current, IssueState.ASSIGNED, Actor.RULE)
            values = state_values(current, IssueState.ASSIGNED, self.now)
            values.update(expert=a.expert, assignee=a.assignee)
            if a.issue_id in finals:
                finals[a.issue_id].update(values)
            elif set(values) == set(_PLAIN):
                plain.append((*(values[c] for c in _PLAIN), a.issue_id))
            else:  # leaving a closed state also clears its resolution: a statement of its own
                session.execute(update(t.issues).where(i.id == a.issue_id).values(values))
        bulk.update(t.issues, _PLAIN, "id", plain)
        return states

    def _insert_jobs(self, bulk: BulkWriter) -> set[str]:
        """Insert the jobs in order (``ON CONFLICT DO NOTHING``, as ``jobs.enqueue``); the keys
        of those inserted."""
        created: set[str] = set()
        if not self.jobs:
            return created
        columns = list(self.jobs[0].row)
        values = ([e.row[c] for c in columns] for e in self.jobs)
        return {
            str(k) for k in bulk.insert_ignoring_returning(t.jobs, columns, values, "key", "key")
        }


def _chunks(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[n : n + ROWS] for n in range(0, len(rows), ROWS)]

"""Human triage: overrides recorded on the timeline, and the accuracy they measure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triagehub.core.classify import CLASSIFICATION_FIELDS
from triagehub.core.lifecycle import Actor, check_transition
from triagehub.core.models import Category, Decision, IssueState, Kind, Level
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.lifecycle import state_values

# Field -> the vocabulary its values come from (None: free text such as a person's handle).
OVERRIDABLE: dict[str, type[Any] | None] = {
    "category": Category,
    "kind": Kind,
    "severity": Level,
    "priority": Level,
    "decision": Decision,
    "expert": None,
    "assignee": None,
    "state": IssueState,
}
ACCURACY_FIELDS = (*CLASSIFICATION_FIELDS, "assignee")


def _validate(changes: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for name, value in changes.items():
        if name not in OVERRIDABLE:
            raise InputError(
                "override", name, f"not a field a human can set ({', '.join(OVERRIDABLE)})"
            )
        vocabulary = OVERRIDABLE[name]
        if vocabulary is not None:
            allowed = [v.value for v in vocabulary]
            if value not in allowed:
                raise InputError("override", name, f"{value!r} is not one of {', '.join(allowed)}")
        elif not value.strip() or len(value) > 100:
            raise InputError("override", name, "must be 1 to 100 characters")
        clean[name] = value
    return clean


def apply_override(
    *,
    session: Session,
    issue_id: int,
    changes: dict[str, str],
    reason: str,
    actor: str,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """Set fields of an issue as a human decided, keep them (the pipeline never overwrites a
    human's value) and record the change with its reason on the timeline. Returns the diff."""
    if not reason.strip():
        raise InputError("override", "reason", "a reason is required")
    changes = _validate(changes)
    if not changes:
        raise InputError("override", "", "nothing to change: give at least one field")
    # Locked until the transaction ends (PostgreSQL): an ingest rewriting the issue meanwhile
    # waits for this override instead of overwriting it, and this one sees its result.
    row = (
        session.execute(select(t.issues).where(t.issues.c.id == issue_id).with_for_update())
        .mappings()
        .first()
    )
    if row is None:
        raise InputError("issue id", str(issue_id), "no such issue")
    diff = {
        name: {"from": row[name], "to": value}
        for name, value in changes.items()
        if row[name] != value
    }
    state = changes.get("state")
    if state is not None:
        check_transition(IssueState(row["state"]), IssueState(state), Actor.HUMAN)
    if state is None and IssueState(row["state"]) is IssueState.OPEN:
        # Triage moves an open issue along: assigned when someone owns it, triaged otherwise.
        state = IssueState.ASSIGNED.value if changes.get("assignee") else IssueState.TRIAGED.value
        diff["state"] = {"from": row["state"], "to": state}
    overrides = dict(row["overrides"] or {})
    overrides.update({k: v for k, v in changes.items() if k != "state"})
    values: dict[str, Any] = {
        **{k: v for k, v in changes.items() if k != "state"},
        "overrides": overrides,
        "updated_at": now,
    }
    if any(k in CLASSIFICATION_FIELDS for k in overrides):
        values["classification_source"] = "human"
    if state is not None:
        values.update(state_values(IssueState(row["state"]), IssueState(state), now))
    session.execute(update(t.issues).where(t.issues.c.id == issue_id).values(values))
    session.execute(
        t.issue_events.insert().values(
            issue_id=issue_id,
            kind="overridden",
            at=now,
            actor=actor,
            run_id=None,
            data={"changes": diff, "reason": reason, "suggested_expert": row["expert"]},
        )
    )
    return diff


@dataclass(frozen=True, slots=True)
class FieldAccuracy:
    field: str
    reviewed: int
    changed: int

    @property
    def agreement(self) -> float | None:
        return None if not self.reviewed else 1 - self.changed / self.reviewed

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["agreement"] = self.agreement
        data["override_rate"] = None if self.agreement is None else 1 - self.agreement
        return data


def override_accuracy(
    *, session: Session, repository: str | None = None, since: datetime | None = None
) -> list[FieldAccuracy]:
    """Per field: of the issues a human triaged, how many had the automatic value changed.

    Agreement = 1 − changed / reviewed; a field a human left as it was counts as agreed, and an
    assignment agrees when the assignee is the expert triagehub suggested.
    """
    query = (
        select(t.issue_events.c.issue_id, t.issue_events.c.data)
        .join(t.issues, t.issues.c.id == t.issue_events.c.issue_id)
        .where(t.issue_events.c.kind == "overridden")
    )
    if repository:
        query = query.join(t.repositories, t.repositories.c.id == t.issues.c.repository_id).where(
            t.repositories.c.name == repository
        )
    if since is not None:
        query = query.where(t.issue_events.c.at >= since)
    reviewed: set[int] = set()
    changed: dict[str, set[int]] = {name: set() for name in ACCURACY_FIELDS}
    for issue_id, data in session.execute(query):
        reviewed.add(issue_id)
        data = data or {}
        for name, change in data.get("changes", {}).items():
            if name == "assignee":
                # Assignment agrees when the human picked the expert triagehub suggested.
                if change.get("to") != data.get("suggested_expert"):
                    changed[name].add(issue_id)
            elif name in changed:
                changed[name].add(issue_id)
    return [FieldAccuracy(name, len(reviewed), len(changed[name])) for name in ACCURACY_FIELDS]

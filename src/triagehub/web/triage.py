"""The issue page's triage actions (the form fallback), applied as ``PATCH /api/v1/issues/{id}``
applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.core.lifecycle import Actor
from triagehub.core.models import Category, Decision, IssueState, Level
from triagehub.core.timeparse import as_utc
from triagehub.errors import InputError
from triagehub.store import lifecycle as store_lifecycle
from triagehub.store import queries
from triagehub.store.triage import apply_override

ACTIONS = ("decision", "assign", "state", "snooze", "false_positive")


def apply_action(
    engine: Engine,
    issue_id: int,
    *,
    action: str,
    reason: str,
    values: dict[str, str],
    actor: str,
    now: datetime,
) -> None:
    """One triage action, as ``PATCH /api/v1/issues/{id}`` does it: fields through
    ``apply_override`` (with the state when both change), a state alone through the lifecycle,
    a snooze through the lifecycle; all in one transaction, with the reason on the timeline.
    Raises ``LookupError`` for an unknown issue, ``InputError`` for a refused change."""
    reason = reason.strip()
    if not reason or len(reason) > 2000 or "\x00" in reason:
        raise InputError("reason", "", "give a reason (1 to 2000 characters)")
    if action not in ACTIONS:
        raise InputError("action", action[:40], f"expected one of {', '.join(ACTIONS)}")
    changes: dict[str, str] = {}
    target: IssueState | None = None
    snooze: dict[str, Any] | None = None
    if action == "decision":
        if values["decision"] not in {d.value for d in Decision}:
            raise InputError("decision", values["decision"][:40], "choose a decision")
        changes["decision"] = values["decision"]
        priority = values.get("priority", "").strip()
        if priority:  # the Triage form's optional priority
            if priority not in {p.value for p in Level}:
                raise InputError("priority", priority[:40], "choose a priority")
            changes["priority"] = priority
    elif action == "assign":
        who = values["assignee"].strip()
        if not who or len(who) > 100 or "\x00" in who:
            raise InputError("assignee", "", "give who to assign (1 to 100 characters)")
        changes["assignee"] = who
    elif action == "state":
        try:
            target = IssueState(values["state"])
        except ValueError:
            raise InputError("state", values["state"][:40], "choose a state") from None
    elif action == "false_positive":
        changes["category"] = Category.FALSE_POSITIVE.value
        target = IssueState.FALSE_POSITIVE
    else:
        snooze = _snooze_of(values)
    with Session(engine) as session, session.begin():
        if queries.issue_lifecycle(session=session, issue_id=issue_id) is None:
            raise LookupError(issue_id)
        if changes:
            if target is not None:
                changes["state"] = target.value
            apply_override(
                session=session,
                issue_id=issue_id,
                changes=changes,
                reason=reason,
                actor=actor,
                now=now,
            )
        elif target is not None:
            store_lifecycle.change_state(
                session, issue_id, target, actor=Actor.HUMAN, reason=reason, now=now, who=actor
            )
        if snooze is not None:
            store_lifecycle.snooze(session, issue_id, reason=reason, now=now, who=actor, **snooze)


def _snooze_of(values: dict[str, str]) -> dict[str, Any]:
    how = values["snooze"]
    if how == "until":
        raw = values["until"].strip()
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            raise InputError("snooze", "until", "give a date and time (UTC)") from None
        return {"until": at.replace(tzinfo=UTC) if at.tzinfo is None else as_utc(at)}
    if how == "occurrences":
        raw = values["occurrences"].strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
            raise InputError("snooze", "occurrences", "give a number of occurrences (1 or more)")
        return {"occurrences": int(raw)}
    if how == "forever":
        return {"forever": True}
    raise InputError("snooze", how[:40], "choose until a time, N more occurrences or forever")

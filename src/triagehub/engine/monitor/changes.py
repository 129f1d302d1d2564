"""The monitor's outbox hook: one notification per change a tick makes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from triagehub.engine.notify import enqueue_issue_notification

_CHANGE_TEXT = {
    "resolved": "Issue #{id} {to}: {reason}",
    "escalated": "Issue #{id} escalated to {priority}: {reason}{notify}",
    "repository_escalated": "Many new issues: {reason}",
    "sla_breached": "Issue #{id} breached its SLA: {reason}",
}


def notify_change(
    session: Session, row: Mapping[str, Any], kind: str, data: dict[str, Any]
) -> None:
    """The outbox hook of the monitor: one notification per change, written in the tick's
    transaction; its key (issue, change, trigger, time) makes a repeated tick a no-op."""
    at: datetime = data["at"]
    priority = data["priority"]["to"] if isinstance(data.get("priority"), dict) else row["priority"]
    who = data.get("notify") or []
    text = _CHANGE_TEXT[kind].format(
        id=row["id"],
        to=data.get("to", ""),
        reason=data.get("reason", ""),
        priority=priority,
        notify=f" (notifying {', '.join(who)})" if who else "",
    )
    tag = data.get("trigger") or data.get("to") or kind
    enqueue_issue_notification(
        session,
        {**row, "github_url": None},
        event=kind,
        text=text,
        priority=priority,
        reason=f"{kind}:{tag}:{at.isoformat()}",
        now=at,
    )

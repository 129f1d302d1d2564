"""What every lifecycle rule of a tick works with: the transaction, the time and the summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.engine.issue_rows import WORKING, issues_with_repository, snoozed
from triagehub.store import tables as t

# (session, issue row, change kind, data) -> None, called inside the tick's transaction.
ChangeHook = Callable[[Session, Mapping[str, Any], str, dict[str, Any]], None]


@dataclass
class TickSummary:
    at: datetime
    ran: bool = True  # False: another instance holds the tick lock
    unsnoozed: list[int] = field(default_factory=list)
    auto_resolved: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    false_positives: list[int] = field(default_factory=list)
    sla_breached: list[int] = field(default_factory=list)
    escalated: list[tuple[int, str]] = field(default_factory=list)
    agent_notified: list[int] = field(default_factory=list)
    # Healed and failed again meanwhile (a late tick or a backfill: both written in event time).
    regressed: list[int] = field(default_factory=list)
    # A resolution that late evidence (a failure inside its green streak) took back.
    reopened: list[int] = field(default_factory=list)
    # Classified again: the history class of its check in event time differed.
    reclassified: list[int] = field(default_factory=list)
    # (repository, UTC day, issue ids): one escalation per repository and day on volume.
    repository_escalations: list[tuple[str, str, list[int]]] = field(default_factory=list)
    oncall: dict[str, Any] = field(default_factory=dict)  # engine.oncall: assigned, alerted

    @property
    def changes(self) -> int:
        return sum(
            len(x)
            for x in (
                self.unsnoozed,
                self.auto_resolved,
                self.resolved,
                self.false_positives,
                self.sla_breached,
                self.escalated,
                self.agent_notified,
                self.regressed,
                self.reopened,
                self.reclassified,
                self.repository_escalations,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "ran": self.ran,
            "changes": self.changes,
            "unsnoozed": self.unsnoozed,
            "auto_resolved": self.auto_resolved,
            "resolved": self.resolved,
            "false_positives": self.false_positives,
            "sla_breached": self.sla_breached,
            "escalated": [{"issue": i, "trigger": trigger} for i, trigger in self.escalated],
            "agent_notified": self.agent_notified,
            "regressed": self.regressed,
            "reopened": self.reopened,
            "reclassified": self.reclassified,
            "repository_escalations": [
                {"repository": repo, "day": day, "issues": ids}
                for repo, day, ids in self.repository_escalations
            ],
        }


class Tick:
    """One tick in progress: its transaction, settings, time, change hook and summary."""

    def __init__(
        self, session: Session, settings: Settings, now: datetime, hook: ChangeHook | None
    ) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.hook = hook
        self.summary = TickSummary(at=now)

    def rows(self, *where: Any) -> list[Mapping[str, Any]]:
        """The working issues matching ``where``, locked, in id order."""
        query = (
            issues_with_repository()
            .where(t.issues.c.state.in_(WORKING), *where)
            .order_by(t.issues.c.id)
            # Locked in id order (PostgreSQL), like the ingest's: a rule decides on the issue as
            # it is, and an ingest waits for the tick instead of overwriting what it changed.
            .with_for_update(of=t.issues)
        )
        return [dict(r) for r in self.session.execute(query).mappings()]

    def changed(self, row: Mapping[str, Any], kind: str, data: dict[str, Any]) -> None:
        """Hand a change worth a message to the hook (in the tick's transaction)."""
        if self.hook is not None:
            self.hook(self.session, row, kind, {**data, "at": self.now})

    def snoozed(self, row: Mapping[str, Any]) -> bool:
        return snoozed(row, self.now)

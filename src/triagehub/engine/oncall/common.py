"""What the on-call steps share: the summary of a tick's on-call work and how they read issues."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.orm import Session

from triagehub.core.models import IssueState
from triagehub.engine.issue_rows import issues_with_repository
from triagehub.store import tables as t

GITHUB_ONCALL: Final = "github_oncall"
ASSIGNABLE: Final = (IssueState.OPEN.value, IssueState.TRIAGED.value, IssueState.REGRESSED.value)
CHUNK: Final = 5000  # issue ids bound in one query


@dataclass
class OncallSummary:
    assigned: list[tuple[int, str]] = field(default_factory=list)
    alerted: list[tuple[int, str]] = field(default_factory=list)  # (issue, mode)
    digests: list[str] = field(default_factory=list)
    actions: list[tuple[int, str]] = field(default_factory=list)  # engine.category_actions

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": [{"issue": i, "action": a} for i, a in self.actions],
            "assigned": [{"issue": i, "assignee": a} for i, a in self.assigned],
            "alerted": [{"issue": i, "mode": m} for i, m in self.alerted],
            "digests": self.digests,
        }


def issue_rows(session: Session, *where: Any) -> list[dict[str, Any]]:
    """The issues matching ``where``, with their repository's name, in id order."""
    query = issues_with_repository().where(*where).order_by(t.issues.c.id)
    return [dict(r) for r in session.execute(query).mappings()]

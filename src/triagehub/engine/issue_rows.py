"""Issue rows as the lifecycle steps (monitor, on-call) read them: with their repository's name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, select

from triagehub.core.lifecycle import WORKING_STATES
from triagehub.store import tables as t

WORKING: Final = [s.value for s in WORKING_STATES]


def issues_with_repository() -> Select[Any]:
    """``issues`` joined with its repository, whose name is the column ``repository``."""
    return select(t.issues, t.repositories.c.name.label("repository")).join(
        t.repositories, t.repositories.c.id == t.issues.c.repository_id
    )


def snoozed(row: Mapping[str, Any], now: datetime) -> bool:
    """Whether the issue is snoozed now (until a time still to come, or for occurrences)."""
    until = row["snoozed_until"]
    return (until is not None and until > now) or row["snooze_occurrences"] is not None

"""The retention horizon: the event time before which ``triagehub db prune`` may have deleted runs.

A run older than the horizon that is not stored any more cannot be told apart from one never
seen, so the ingest skips it (its failures were counted on their issues before they were pruned;
ingesting it again would count them twice and replay old results into the checks' history).
The horizon is a ``cursors`` row; it only moves forward.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triagehub.core.timeparse import parse_time
from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring

HORIZON_CURSOR = "retention:horizon"
DEFAULT_BATCH = 2000  # ids of one table a prune deletes from in one transaction


def horizon(session: Session) -> datetime | None:
    """The retention horizon (None: nothing was ever pruned)."""
    value = session.execute(
        select(t.cursors.c.value).where(t.cursors.c.name == HORIZON_CURSOR)
    ).scalar()
    return parse_time(value) if value else None


def raise_horizon(session: Session, at: datetime, now: datetime) -> None:
    """Move the horizon to ``at`` unless it is later already (one statement each way: two
    prunes at once never move it back; the value is fixed-width ISO text, so text order is
    time order)."""
    value = at.astimezone(UTC).isoformat(timespec="microseconds")
    c = t.cursors.c
    session.execute(
        insert_ignoring(session, t.cursors, "name").values(
            name=HORIZON_CURSOR, value=value, updated_at=now
        )
    )
    session.execute(
        update(t.cursors)
        .where(c.name == HORIZON_CURSOR, c.value < value)
        .values(value=value, updated_at=now)
    )

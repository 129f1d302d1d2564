"""The pollers' cursors: how far each source was read, saved with what it ingested."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triagehub.core.timeparse import parse_time
from triagehub.store import tables as t


def read_cursor(session: Session, name: str) -> datetime | None:
    value = session.execute(select(t.cursors.c.value).where(t.cursors.c.name == name)).scalar()
    return parse_time(value) if value else None


def save_cursor(session: Session, name: str, at: datetime, now: datetime) -> None:
    value = at.isoformat()
    done = session.execute(
        update(t.cursors).where(t.cursors.c.name == name).values(value=value, updated_at=now)
    )
    if not getattr(done, "rowcount", 0):
        session.execute(t.cursors.insert().values(name=name, value=value, updated_at=now))

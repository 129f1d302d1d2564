"""The LLM's daily call budget, shared by every process through the ``llm_usage`` table (one row
per UTC day). A call is reserved before it is made, in one conditional ``UPDATE``, so that any
number of processes never spend more than the budget between them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring


def budget_day(at: datetime) -> str:
    """The budget's day of ``at`` (a UTC time): ``YYYY-MM-DD``."""
    return at.date().isoformat()


def reserve_call(*, session: Session, at: datetime, budget: int) -> bool:
    """Count one call against the budget of ``at``'s day, in the caller's transaction; False
    (nothing counted) when the budget is spent. Atomic across processes: the day's row is
    created race-free (``ON CONFLICT DO NOTHING``), then ``calls = calls + 1 WHERE calls <
    budget`` counts or refuses in one statement (the row lock serialises concurrent calls)."""
    day = budget_day(at)
    u = t.llm_usage
    session.execute(insert_ignoring(session, u, "day").values(day=day, calls=0))
    done = session.execute(
        update(u).where(u.c.day == day, u.c.calls < budget).values(calls=u.c.calls + 1)
    )
    return bool(getattr(done, "rowcount", 0))


def release_call(*, session: Session, at: datetime) -> None:
    """Give back a call reserved for ``at``'s day that was not made."""
    u = t.llm_usage
    session.execute(
        update(u).where(u.c.day == budget_day(at), u.c.calls > 0).values(calls=u.c.calls - 1)
    )


def calls_on(*, session: Session, at: datetime) -> int:
    """The calls counted on ``at``'s day."""
    found = session.execute(
        select(t.llm_usage.c.calls).where(t.llm_usage.c.day == budget_day(at))
    ).scalar()
    return int(found or 0)

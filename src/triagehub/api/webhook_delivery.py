"""A verified GitHub delivery, recorded with its work in one transaction: ``ping`` is answered;
``workflow_run``, ``workflow_job`` and ``check_run`` with action ``completed`` are translated and
queued as a durable ingest job (an invalid payload is 422 and stores nothing), answered 202 at
once and ingested by the worker thread right after; ``issues`` and ``issue_comment`` deliveries
about the GitHub issues triagehub syncs are queued the same way
(:func:`triagehub.engine.sync.github_inbound.queue_issue_event`); pull requests fixing a
mirrored issue are recorded; anything else is 202 with the reason it was ignored."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.sanitize import clean_json
from triagehub.engine.ingest_jobs import GITHUB_EVENTS, INGEST_WEBHOOK
from triagehub.engine.jobs import enqueue
from triagehub.engine.sync.github_adopt import queue_adoption
from triagehub.engine.sync.github_inbound import ISSUE_EVENTS, queue_issue_event
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.dialect import bounded_lock_wait, is_transient
from triagehub.work.agent_prs import PR_EVENT, record_pull_request

log = logging.getLogger(__name__)

HANDLED = GITHUB_EVENTS
LOCK_WAIT_S = 5.0  # at most, for the database: GitHub gives up on a delivery after 10 s
# One attempt's wait on SQLite (see ``attempt_wait``): SQLite sleeps 1, 2, then 1 ms and fails.
# 4 ms, not 20 (1, 2, 5, 10, 2 ms): the worker's next recording starts a few milliseconds
# after its last, and a delivery asleep for 10 ms missed the gap again and again (p99 of
# webhooks.py with the worker running, SQLite: 115 -> 79 ms, the same rate and CPU).
LOCK_POLL_S = 0.004
# Built once (the values come as parameters): building a statement and its cache key cost more
# than running it.
_SEEN = select(t.webhook_deliveries.c.status).where(
    t.webhook_deliveries.c.delivery_id == bindparam("delivery")
)
_INSERT_DELIVERY = insert(t.webhook_deliveries)


def plain_problem(status: int, error: str, reason: str) -> JSONResponse:
    """The webhook's error shape: ``{"error": ..., "reason": ...}``."""
    return JSONResponse({"error": error, "reason": reason}, status_code=status)


@dataclass(slots=True)
class Outcome:
    """What a delivery's record says (``status``, ``detail``) and the answer's status code."""

    status: str = "ignored"
    detail: str = ""
    code: int = 202


def first_outcome(event: str, action: str | None) -> Outcome:
    """The outcome known from the event and action alone, before the store is read."""
    if event == "ping":
        return Outcome("pong", "pong", 200)
    if event == PR_EVENT:
        return Outcome()  # recorded in the delivery's transaction
    if HANDLED.get(event) is None and event not in ISSUE_EVENTS:
        return Outcome(detail=f"event {event!r} is not handled")
    if action != "completed":
        return Outcome(detail=f"{event} action {action!r} is not handled (only 'completed')")
    return Outcome()


def attempt_wait(engine: Engine) -> float:
    """How long one attempt waits for a lock. SQLite's own wait sleeps longer and longer (up to
    100 ms a time) while the worker takes its write lock again and again: a delivery could wait
    seconds behind a busy worker. Attempts of :data:`LOCK_POLL_S`, started again at once, come
    back within a few milliseconds of each release. PostgreSQL locks rows: one attempt."""
    return LOCK_POLL_S if engine.dialect.name == "sqlite" else LOCK_WAIT_S


def busy() -> JSONResponse:
    """The answer when the database stayed locked for :data:`LOCK_WAIT_S`."""
    return JSONResponse(
        {"error": "busy", "reason": "the database is busy; redeliver later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def answer(delivery: str, outcome: Outcome) -> JSONResponse:
    """The answer to a recorded delivery."""
    body: dict[str, Any] = {"status": outcome.status, "delivery": delivery}
    if outcome.detail:
        body["reason"] = outcome.detail
    return JSONResponse(body, status_code=outcome.code)


def duplicate(delivery: str) -> JSONResponse:
    return JSONResponse({"status": "duplicate", "delivery": delivery}, status_code=200)


def handle_delivery(
    engine: Engine,
    settings: Settings,
    event: str,
    delivery: str,
    payload: Mapping[str, Any],
    now: Callable[[], Any],
) -> JSONResponse:
    """Record a verified delivery and its ingest job in one transaction, and answer."""
    try:
        cleaned = clean_json(payload)
    except InputError as exc:
        return plain_problem(422, "invalid_payload", f"{exc.location}: {exc.reason}")
    assert isinstance(cleaned, dict)
    payload = cleaned  # stored and ingested cleaned: no NUL, no control character, no secret
    action = payload.get("action")
    action = action if isinstance(action, str) else None
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        outcome = first_outcome(event, action)  # afresh: a failed attempt may have changed it
        wait = max(min(deadline - time.monotonic(), attempt_wait(engine)), 0.001)
        try:
            with Session(engine) as session, session.begin(), bounded_lock_wait(session, wait):
                seen = session.execute(_SEEN, {"delivery": delivery}).scalar()
                if seen is not None:
                    return duplicate(delivery)
                _record(session, settings, event, delivery, action, payload, now, outcome)
            break
        except InputError as exc:
            return plain_problem(422, "invalid_payload", f"{exc.location}: {exc.reason}")
        except OperationalError as exc:
            if not is_transient(exc):
                raise
            if time.monotonic() < deadline:
                continue  # the write lock was taken: try again
            log.warning(
                "webhook delivery %s not recorded: the database is busy (%s)", delivery, exc
            )
            return busy()
        except IntegrityError:
            # The same delivery arrived twice at once: the other request stored it.
            return duplicate(delivery)
    return answer(delivery, outcome)


def _record(
    session: Session,
    settings: Settings,
    event: str,
    delivery: str,
    action: str | None,
    payload: dict[str, Any],
    now: Callable[[], Any],
    outcome: Outcome,
) -> None:
    """The delivery's work (updating ``outcome``), then the delivery's record."""
    translate = HANDLED.get(event)
    if event == PR_EVENT:  # a pull request fixing a mirrored issue (an agent's)
        outcome.status, outcome.detail = record_pull_request(session, settings, payload, now())
    elif event in ISSUE_EVENTS:  # people's changes on GitHub issues (actions.sync)
        adopted = queue_adoption(session, settings, event, delivery, payload, now())
        if adopted is not None:  # a person's labelled issue (sync.github_adopt)
            outcome.status, outcome.detail = adopted
        else:
            outcome.status, outcome.detail = queue_issue_event(
                session, event, delivery, payload, now()
            )
    elif translate is not None and action == "completed":
        # Validate now (an invalid payload is refused with 422), ingest in the worker.
        if translate(payload) is None:
            outcome.detail = "nothing to record"
        else:
            enqueue(
                session,
                kind=INGEST_WEBHOOK,
                key=f"github:{delivery}",
                data={"event": event, "delivery": delivery, "payload": dict(payload)},
                now=now(),
            )
            outcome.status, outcome.code = "queued", 202
    insert_delivery(session, event, delivery, action, outcome, now())


def insert_delivery(
    session: Session, event: str, delivery: str, action: str | None, outcome: Outcome, at: Any
) -> None:
    """The delivery's record (its outcome: status and detail)."""
    session.execute(_INSERT_DELIVERY, delivery_row(event, delivery, action, outcome, at))


def delivery_row(
    event: str, delivery: str, action: str | None, outcome: Outcome, at: Any
) -> dict[str, Any]:
    """The values of a ``webhook_deliveries`` row (one insert, or a batch's ``executemany``)."""
    return {
        "delivery_id": delivery,
        "event": event,
        "action": action,
        "status": outcome.status,
        "detail": outcome.detail,
        "received_at": at,
    }

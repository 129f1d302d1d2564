"""Webhook deliveries recorded in batches by one writer thread per app.

A request hands its verified delivery to the app's :class:`DeliveryWriter` and awaits the
answer. The writer takes every delivery waiting (up to :data:`MAX_BATCH`) and records the
completed ``workflow_run``, ``workflow_job`` and ``check_run`` ones (the load GitHub sends) in one
transaction: one lock taken, one commit and one wake-up of the event loop for the whole batch,
where a request each in the thread pool took one of each per delivery. Each delivery's
answer is the one :func:`~triagehub.api.webhook_delivery.handle_delivery` gives (queued,
ignored, duplicate, 422, 503), given after the commit. A batch the database refuses (a delivery
stored meanwhile by another server, say) is recorded again one delivery at a time by
``handle_delivery``; the other events always are. The thread ends when no delivery came for
:data:`IDLE_EXIT_S` and starts again with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from triagehub.api.webhook_delivery import (
    HANDLED,
    LOCK_WAIT_S,
    Outcome,
    answer,
    attempt_wait,
    busy,
    duplicate,
    first_outcome,
    handle_delivery,
    plain_problem,
)
from triagehub.api.webhook_rows import BatchRows, WriterConnection, stored_deliveries
from triagehub.config import Settings
from triagehub.core.sanitize import clean_json
from triagehub.errors import InputError
from triagehub.store.dialect import is_transient

log = logging.getLogger(__name__)

MAX_BATCH = 64  # deliveries in one transaction at most
IDLE_EXIT_S = 1.0  # the thread ends after this long without a delivery


@dataclass(slots=True)
class _Pending:
    """A delivery waiting for its answer, and where to send it."""

    event: str
    delivery: str
    payload: Mapping[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[JSONResponse]
    action: str | None = None
    report: bool = False  # it translates to a run report: an ingest job is queued
    answer: JSONResponse | None = None
    data: dict[str, Any] = field(default_factory=dict)


class DeliveryWriter:
    """Records the deliveries handed to :meth:`submit`, in batches, in a thread of its own."""

    def __init__(self, engine: Engine, settings: Settings, now: Callable[[], Any]) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._db = WriterConnection(engine)  # used by the writer thread only

    async def submit(self, event: str, delivery: str, payload: Mapping[str, Any]) -> JSONResponse:
        """Record a verified delivery (with its ingest job) and return its answer."""
        loop = asyncio.get_running_loop()
        pending = _Pending(event, delivery, payload, loop, loop.create_future())
        self._queue.put(pending)
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="triagehub-webhooks", daemon=True).start()
        return await pending.future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:  # a delivery put meanwhile sees _running and is taken here
                    if self._queue.empty():
                        self._running = False
                        self._db.close()
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception:  # a request must never wait for ever
                log.exception("recording %d webhook deliveries failed", len(batch))
            for pending in batch:
                if pending.answer is None:
                    pending.answer = plain_problem(500, "internal_error", "see the server log")
            _answer(batch)

    def _write(self, batch: list[_Pending]) -> None:
        together: list[_Pending] = []
        for pending in batch:
            if pending.event in HANDLED and self._prepare(pending):
                together.append(pending)
            elif pending.answer is None:
                pending.answer = self._alone(pending)
        if together and not self._together(together):
            for pending in together:  # refused as a whole: one by one, each with its reason
                pending.answer = self._alone(pending)

    def _alone(self, pending: _Pending) -> JSONResponse:
        return handle_delivery(
            self.engine, self.settings, pending.event, pending.delivery, pending.payload, self.now
        )

    def _prepare(self, pending: _Pending) -> bool:
        """Clean and check the payload outside the transaction (what ``handle_delivery`` does
        inside it); False when the delivery is answered already (422)."""
        try:
            cleaned = clean_json(pending.payload)
            assert isinstance(cleaned, dict)
            action = cleaned.get("action")
            pending.action = action if isinstance(action, str) else None
            if pending.action == "completed":
                pending.report = HANDLED[pending.event](cleaned) is not None
        except InputError as exc:
            pending.answer = plain_problem(422, "invalid_payload", f"{exc.location}: {exc.reason}")
            return False
        pending.data = {"event": pending.event, "delivery": pending.delivery, "payload": cleaned}
        return True

    def _together(self, batch: list[_Pending]) -> bool:
        """Record ``batch`` in one transaction and set the answers; False when the database
        refused it (nothing of it stored)."""
        deadline = time.monotonic() + LOCK_WAIT_S
        ids = [p.delivery for p in batch]
        while True:
            wait = max(min(deadline - time.monotonic(), attempt_wait(self.engine)), 0.001)
            answers: list[JSONResponse] = []
            try:
                # The write lock first (SQLite): no writer slips in between the read and the
                # writes.
                with self._db.transaction(wait) as conn:
                    seen = stored_deliveries(conn, ids)
                    rows = BatchRows()
                    for pending in batch:
                        if pending.delivery in seen:
                            answers.append(duplicate(pending.delivery))
                            continue
                        seen.add(pending.delivery)
                        answers.append(self._record(rows, pending))
                    rows.write(conn)
                break
            except OperationalError as exc:
                if not is_transient(exc):
                    self._db.drop()
                    return False
                if time.monotonic() < deadline:
                    continue  # the write lock was taken: try again
                log.warning(
                    "%d webhook deliveries not recorded: the database is busy (%s)",
                    len(batch),
                    exc,
                )
                answers = [busy() for _ in batch]
                break
            except Exception as exc:
                log.info("a batch of %d deliveries was refused (%s)", len(batch), exc)
                self._db.drop()
                return False
        for pending, given in zip(batch, answers, strict=True):
            pending.answer = given
        return True

    def _record(self, rows: BatchRows, pending: _Pending) -> JSONResponse:
        """The rows of one delivery (its job, its record), and its answer."""
        now = self.now()
        outcome = first_outcome(pending.event, pending.action)
        if pending.action == "completed":
            if pending.report:
                rows.job(f"github:{pending.delivery}", pending.data, now)
                outcome = Outcome("queued", "", 202)
            else:
                outcome.detail = "nothing to record"
        rows.delivery(pending.event, pending.delivery, pending.action, outcome, now)
        return answer(pending.delivery, outcome)


def _answer(batch: list[_Pending]) -> None:
    """Hand the answers to the requests' event loops: one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
    for pending in batch:
        by_loop.setdefault(pending.loop, []).append(pending)
    for loop, mine in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, mine)


def _settle(batch: list[_Pending]) -> None:
    for pending in batch:
        if not pending.future.done():  # not cancelled (the client went away)
            assert pending.answer is not None
            pending.future.set_result(pending.answer)


def writer_of(
    app: FastAPI, engine: Engine, settings: Settings, now: Callable[[], Any]
) -> DeliveryWriter:
    """The app's delivery writer, made on first use (on the event loop's thread)."""
    writer = getattr(app.state, "webhook_writer", None)
    if not isinstance(writer, DeliveryWriter):
        writer = app.state.webhook_writer = DeliveryWriter(engine, settings, now)
    return writer

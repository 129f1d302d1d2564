"""The live stream's machinery: the cursor of what was sent, the tails of the four tables read
(with their holes), the hub that ends every stream on shutdown, and the poll of the store."""

from __future__ import annotations

import heapq
import re
import signal
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import anyio
import orjson
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import queries

STREAM_BATCH = 200
STREAM_HEARTBEAT_S = 15.0
STREAM_HOLE_TTL_S = 60.0
STREAM_MAX_HOLES = 50

_CURSOR = re.compile(r"^e(\d{1,18})-o(\d{1,18})-a(\d{1,18})(?:-s(\d{1,18}))?$")


@dataclass(frozen=True, slots=True)
class StreamCursor:
    """The ids of the last issue event, occurrence, agent event and spec event sent. A cursor
    of an older server (``e1-o2-a3``, no spec events) has ``spec_event`` None: the stream starts
    its spec events at the newest."""

    issue_event: int
    occurrence: int
    agent_event: int
    spec_event: int | None = 0

    def __str__(self) -> str:
        return f"e{self.issue_event}-o{self.occurrence}-a{self.agent_event}-s{self.spec_event or 0}"

    @classmethod
    def parse(cls, text: str) -> StreamCursor:
        match = _CURSOR.match(text.strip())
        if match is None:
            raise InputError(
                "Last-Event-ID", text[:100], "expected an event id of this stream (e1-o2-a3-s4)"
            )
        e, o, a, s = match.groups()
        return cls(int(e), int(o), int(a), None if s is None else int(s))

    @classmethod
    def head(cls, engine: Engine) -> StreamCursor:
        with Session(engine) as session:
            return cls(*queries.stream_heads(session=session))


@dataclass(slots=True)
class _Hole:
    low: int
    high: int
    expires: float


@dataclass(slots=True)
class _Tail:
    """The ids of one table still to read: everything above ``last``, and the holes (ids
    skipped below it, which may belong to a transaction still committing) until they expire."""

    last: int
    holes: list[_Hole] = field(default_factory=list)

    def hole_ranges(self) -> list[tuple[int, int | None]]:
        return [(h.low, h.high) for h in self.holes]

    def found(self, in_holes: Sequence[int], above: Sequence[int], now: float) -> None:
        """Record the ids read in the holes and above ``last`` (both ascending)."""
        holes: list[_Hole] = []
        for hole in self.holes:
            inside = [pk for pk in in_holes if hole.low <= pk <= hole.high]
            holes.extend(
                _Hole(low, high, hole.expires) for low, high in _gaps(hole.low, hole.high, inside)
            )
        if above:
            expires = now + STREAM_HOLE_TTL_S
            holes.extend(
                _Hole(low, high, expires) for low, high in _gaps(self.last + 1, above[-1], above)
            )
            self.last = above[-1]
        live = sorted((h for h in holes if h.expires > now), key=lambda h: h.low)
        self.holes = live[-STREAM_MAX_HOLES:]


def _gaps(low: int, high: int, ids: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges of ``[low, high]`` not in ``ids`` (ascending)."""
    gaps: list[tuple[int, int]] = []
    previous = low - 1
    for pk in ids:
        if pk > previous + 1:
            gaps.append((previous + 1, pk - 1))
        previous = max(previous, pk)
    if previous < high:
        gaps.append((previous + 1, high))
    return gaps


_HUBS: weakref.WeakSet[StreamHub] = weakref.WeakSet()
_SIGNALS_LOCK = threading.Lock()


def _close_all_streams(signum: int, frame: FrameType | None, previous: Any) -> None:
    for hub in list(_HUBS):
        hub.close()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def _hook_signals() -> None:
    """End the streams on SIGINT/SIGTERM before the server's own handler runs (uvicorn waits
    for open responses to finish before it shuts the app down)."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _SIGNALS_LOCK:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if getattr(previous, "triagehub_streams", False):
                continue

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                _close_all_streams(signum, frame, previous)

            handler.triagehub_streams = True  # type: ignore[attr-defined]
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                return


class StreamHub:
    """The live streams of one app; ``close`` ends them all (on shutdown)."""

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self.closed = threading.Event()
        _HUBS.add(self)

    def close(self) -> None:
        self.closed.set()

    async def events(
        self, engine: Engine, request: Request, start: StreamCursor
    ) -> AsyncIterator[str]:
        _hook_signals()
        if start.spec_event is None:
            head = await run_in_threadpool(StreamCursor.head, engine)
            start = StreamCursor(
                start.issue_event, start.occurrence, start.agent_event, head.spec_event
            )
        tails = {
            "issue": _Tail(start.issue_event),
            "occurrence": _Tail(start.occurrence),
            "agent": _Tail(start.agent_event),
            "spec": _Tail(start.spec_event or 0),
        }
        yield f"retry: 2000\nid: {start}\n: connected\n\n"
        beat = time.monotonic()
        while not self.closed.is_set():
            if await request.is_disconnected():
                return
            sent = {kind: tail.last for kind, tail in tails.items()}
            batches, full = await run_in_threadpool(_poll, engine, tails)
            merged = heapq.merge(
                *([(kind, row) for row in rows] for kind, rows in batches.items()),
                key=_event_time,
            )
            for kind, row in merged:
                # The cursor moves past a row once it is sent (rows found in holes are below
                # it already).
                sent[kind] = max(sent[kind], int(row["id"]))
                cursor = StreamCursor(
                    sent["issue"], sent["occurrence"], sent["agent"], sent["spec"]
                )
                yield f"id: {cursor}\nevent: {kind}\ndata: {orjson.dumps(row).decode()}\n\n"
                beat = time.monotonic()
            if full:
                continue
            if time.monotonic() - beat >= STREAM_HEARTBEAT_S:
                yield ": keepalive\n\n"
                beat = time.monotonic()
            if await self._wait(request):
                return

    async def _wait(self, request: Request) -> bool:
        """Sleep until the next poll; True when the stream should end."""
        deadline = time.monotonic() + self.poll_seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.closed.is_set():
                return True
            await anyio.sleep(min(0.25, left))
        return self.closed.is_set() or await request.is_disconnected()


_READERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "issue": queries.issue_events_since,
    "occurrence": queries.occurrences_since,
    "agent": queries.agent_events_since,
    "spec": queries.spec_events_since,
}


def _event_time(item: tuple[str, Mapping[str, Any]]) -> str:
    row = item[1]
    return str(row.get("at") or row.get("occurred_at") or "")


def _poll(engine: Engine, tails: dict[str, _Tail]) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    """Read each table's new rows (and the rows that appeared in its holes); returns them per
    kind, in id order, and whether a batch was full (more to read at once)."""
    found: dict[str, list[dict[str, Any]]] = {}
    full = False
    now = time.monotonic()
    with Session(engine) as session:
        for kind, tail in tails.items():
            read = _READERS[kind]
            in_holes: list[dict[str, Any]] = []
            if tail.holes:
                in_holes = read(session=session, ranges=tail.hole_ranges(), limit=STREAM_BATCH)
            above = read(session=session, ranges=[(tail.last + 1, None)], limit=STREAM_BATCH)
            full = full or len(above) == STREAM_BATCH or len(in_holes) == STREAM_BATCH
            tail.found([r["id"] for r in in_holes], [r["id"] for r in above], now)
            found[kind] = in_holes + above
    return found, full

"""Slow aggregates (health, metrics, patterns) computed off the request path.

On a store of 100,000 issues a health or pattern report takes the database about a second; a
page must render in a fraction of that. So a page asks :class:`Aggregates` for a figure: a fresh
one comes from the cache; a stale one (older than ``ttl``) is served at once while a worker
thread computes the next; a missing one is computed by a worker while the request waits at most
``wait`` seconds, after which the page renders a "being computed" placeholder that its script
(or, without script, a ``<meta http-equiv="refresh">``) fills in. One computation per key runs at
a time, however many requests ask.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from triagehub.errors import InputError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Figure(Generic[T]):
    """A cached value (None while it is first computed), when it was computed, and the error
    of the last computation when it failed (a message for the page)."""

    value: T | None
    computed_at: datetime | None = None
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.value is None and self.error is None


@dataclass(slots=True)
class _Entry:
    value: Any = None
    has_value: bool = False
    at: float = 0.0
    computed_at: datetime | None = None
    error: str | None = None
    future: Future[Any] | None = None


class Aggregates:
    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        ttl: float = 30.0,
        wait: float = 0.12,
        workers: int = 2,
        max_entries: int = 128,
    ) -> None:
        self.now = now
        self.ttl = ttl
        self.wait = wait
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="triagehub-web")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, key: Hashable, entry: _Entry, compute: Callable[[], Any]) -> None:
        try:
            value = compute()
        except InputError as exc:
            with self._lock:
                entry.error, entry.future = str(exc), None
            return
        except Exception as exc:
            log.exception("computing a dashboard figure failed", extra={"figure": repr(key)})
            with self._lock:
                entry.error, entry.future = f"{type(exc).__name__}: {exc}", None
            raise
        with self._lock:
            entry.value, entry.has_value, entry.error = value, True, None
            entry.at, entry.computed_at, entry.future = time.monotonic(), self.now(), None

    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        *,
        wait: bool | float = True,
        ttl: float | None = None,
    ) -> Figure[T]:
        """The figure of ``key``, computed by ``compute`` when missing or older than ``ttl``
        (default ``self.ttl``); waits for a missing one at most ``wait`` seconds (True:
        ``self.wait``, False: not at all)."""
        future = self._start(key, compute, self.ttl if ttl is None else ttl)
        budget = self.wait if wait is True else float(wait)
        if future is not None and budget > 0:
            futures_wait([future], timeout=budget)
        return self._read(key)

    def get_many(
        self, wanted: list[tuple[Hashable, Callable[[], Any]]], *, wait: float | None = None
    ) -> list[Figure[Any]]:
        """Several figures, computed side by side: missing ones are waited for together, for at
        most ``wait`` seconds in all (default ``self.wait``)."""
        budget = self.wait if wait is None else wait
        started = (self._start(key, compute, self.ttl) for key, compute in wanted)
        futures = [f for f in started if f is not None]
        if futures and budget > 0:
            done, _ = futures_wait(futures, timeout=budget)
            for future in done:
                if future.exception() is not None:  # logged by _run; the page shows the error
                    log.debug("a dashboard figure failed: %s", future.exception())
        return [self._read(key) for key, _ in wanted]

    def _start(self, key: Hashable, compute: Callable[[], Any], ttl: float) -> Future[Any] | None:
        """Start computing ``key`` when missing or stale; the future to wait for when there is
        no value yet."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
            stale = not entry.has_value or time.monotonic() - entry.at > ttl
            if stale and entry.future is None:
                entry.future = self._pool.submit(self._run, key, entry, compute)
            return None if entry.has_value else entry.future

    def _read(self, key: Hashable) -> Figure[Any]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return Figure(None)
            if entry.has_value:
                return Figure(entry.value, entry.computed_at)
            return Figure(None, None, entry.error)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def forget(self, *keys: Hashable) -> None:
        """Drop these figures: the next ``get`` computes them afresh (and waits as for a
        missing one)."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

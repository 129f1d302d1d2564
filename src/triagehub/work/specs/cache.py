"""A small thread-safe LRU cache whose entries also expire after a time to live, and a
filesystem watcher (``watchfiles``) that invalidates entries when files change."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int


class TTLCache(Generic[V]):
    """At most ``maxsize`` entries, least recently used evicted first; an entry older than
    ``ttl`` seconds (on ``monotonic``) is a miss."""

    def __init__(
        self, maxsize: int, ttl: float, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if maxsize < 1 or ttl <= 0:
            raise ValueError("maxsize must be at least 1 and ttl positive")
        self._maxsize = maxsize
        self._ttl = ttl
        self._monotonic = monotonic
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: Hashable) -> V | None:
        now = self._monotonic()
        with self._lock:
            item = self._data.get(key)
            if item is None or now - item[0] > self._ttl:
                if item is not None:
                    del self._data[key]
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return item[1]

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = (self._monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def discard_if(self, predicate: Callable[[Hashable], bool]) -> int:
        with self._lock:
            doomed = [k for k in self._data if predicate(k)]
            for key in doomed:
                del self._data[key]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._data))


class Watcher:
    """Watches folders recursively in a daemon thread and calls ``on_change`` with the changed
    paths. ``ready`` is set once the watch is in place; ``close()`` stops and joins the thread."""

    def __init__(self, paths: Iterable[Path], on_change: Callable[[list[Path]], None]) -> None:
        self.paths = tuple(sorted(set(paths)))
        self._on_change = on_change
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="triagehub-openspec-watcher", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        import watchfiles

        try:
            for changes in watchfiles.watch(
                *self.paths,
                stop_event=self._stop,
                debounce=50,
                step=20,
                rust_timeout=200,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                self.ready.set()
                if changes:
                    self._on_change([Path(p) for _, p in changes])
        except Exception:
            # The reader falls back to checking file times on every read: log, do not crash.
            log.exception("the OpenSpec file watcher stopped", extra={"paths": self.paths})
        finally:
            self.ready.clear()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

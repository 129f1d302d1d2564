"""A daemon thread that runs a loop until it is stopped (the job worker, the monitor)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class BackgroundLoop(ABC):
    """Runs ``_run`` in a daemon thread named ``name`` from ``start`` until ``stop``; ``_run``
    watches ``self._stop``."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @abstractmethod
    def _run(self) -> None:
        """The loop's body: runs in the thread until ``_stop`` is set."""

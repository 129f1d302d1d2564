"""The server's spec scan (``triagehub serve`` with its monitor): records the spec events of
changes made on disk by others (people's editors, agents, the ``openspec`` CLI) every
:data:`SCAN_SECONDS` (or ``openspec.scan_minutes`` when shorter), through
:func:`triagehub.work.specs.activity.scan`, and at once when the reader's
:class:`~triagehub.work.specs.monitor.SpecMonitor` reports a change on disk. Several servers may
scan one store: each event is stored once."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from triagehub.clock import Clock
from triagehub.engine.background import BackgroundLoop
from triagehub.work.specs.activity import ScanResult, scan
from triagehub.work.specs.reader import OpenSpecReader

log = logging.getLogger(__name__)

SCAN_SECONDS = 30.0


class SpecScanLoop(BackgroundLoop):
    """A background thread that scans the OpenSpec projects every ``interval`` seconds."""

    def __init__(
        self, engine: Engine, reader: OpenSpecReader, clock: Clock, *, interval: float
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.clock = clock
        self.interval = interval
        self.scans = 0
        self.last: ScanResult | None = None
        self._wake = threading.Event()
        super().__init__("triagehub-spec-scan")

    def wake(self) -> None:
        """Scan now rather than at the next interval: the reader's monitor saw a change on
        disk (safe to call from any thread)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        super().stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = scan(self.engine, self.reader, clock=self.clock)
                self.scans += 1
            except Exception:
                log.exception("spec scan failed; trying again at the next one")
            self._wake.wait(self.interval)
            self._wake.clear()

"""The monitor's background thread (``triagehub serve``): a poll and a tick every interval."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from triagehub.config import Settings
from triagehub.engine.background import BackgroundLoop
from triagehub.engine.monitor.context import ChangeHook
from triagehub.engine.monitor.poll import poll_sources
from triagehub.engine.monitor.tick import run_tick

log = logging.getLogger("triagehub.engine.monitor")  # the name it logged under as one module


class MonitorLoop(BackgroundLoop):
    """A background thread that runs a tick every ``interval`` seconds (``triagehub serve``);
    on PostgreSQL, several servers share the work through the tick lock."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        interval: float | None = None,
        on_change: ChangeHook | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.interval = interval or settings.lifecycle.tick_minutes * 60
        self.on_change = on_change
        self.ticks = 0
        super().__init__("triagehub-monitor")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = poll_sources(self.engine, self.settings)
                if polled.sources:
                    log.info("monitor poll: %s", polled.as_dict())
                summary = run_tick(self.engine, self.settings, on_change=self.on_change)
                self.ticks += 1
                if summary.changes:
                    log.info("monitor tick: %s", summary.as_dict())
            except Exception:
                log.exception("monitor tick failed; trying again at the next tick")
            self._stop.wait(self.interval)

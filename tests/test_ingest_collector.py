"""An ingest batch runs with Python's cyclic garbage collector paused (``collector_paused``):
the collector would walk the batch's many young objects again and again and free nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import Ingestor
from triagehub.engine.ingest.state import collector_paused
from triagehub.store import tables as t

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)


def _reports(n: int) -> Iterator[RunReport]:
    for i in range(n):
        yield RunReport(
            source="generic",
            repository="acme/app",
            run_id=f"run-{i}",
            finished_at=T0 + timedelta(minutes=i),
            results=tuple(
                CheckResult(f"tests/test_{k}.py::t", Status(s), f"AssertionError: {k} != {i}")
                for k, s in enumerate(["fail", "pass", "fail", "pass"])
            ),
        )


class CollectorWatch(FixedClock):
    """A fixed clock that notes, each time the ingest reads it, whether the collector runs."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at)
        self.collector: list[bool] = []

    def now(self) -> datetime:
        self.collector.append(gc.isenabled())
        return super().now()


def test_a_batch_is_processed_without_the_cyclic_collector(engine: Engine) -> None:
    """The collector would walk a batch's many young objects again and again, freeing nothing
    (``collector_paused``): it is paused while a batch is processed, and runs again after."""
    clock = CollectorWatch(T0 + timedelta(days=1))
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=clock, batch_results=100_000)
        ingestor.add_all(_reports(30))  # buffered: one batch
        assert clock.collector == []
        ingestor.flush()
        assert clock.collector and not any(clock.collector)
        assert gc.isenabled()
        assert session.execute(select(func.count()).select_from(t.occurrences)).scalar() == 60


def test_the_collector_is_resumed_only_by_whoever_paused_it() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a batch that failed")
    assert gc.isenabled()
    gc.disable()  # paused by the caller (or another thread's batch): left paused
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

"""How often an ingest writes a check's rolling history (``check_stats``, issue #24): once per
``Ingestor.flush`` whatever the number of batches, and to the same values as one batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import Ingestor
from triagehub.engine.ingest.state import STATS_FIELDS
from triagehub.store import tables as t

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))
CHECKS = ("tests/test_a.py::test_one", "tests/test_a.py::test_two", "tests/test_b.py::test_three")


def _runs(repo: str, first: int, last: int) -> list[RunReport]:
    """Runs of the same three checks: passes, a failure now and then, a retry that passes."""
    reports: list[RunReport] = []
    for i in range(first, last):
        statuses = [Status.PASS, Status.FAIL if i % 3 == 0 else Status.PASS, Status.PASS]
        reports.append(
            RunReport(
                source="generic",
                repository=repo,
                run_id=f"run-{i // 2}",
                attempt=1 + i % 2,
                commit=f"c{i // 4}",
                finished_at=T0 + timedelta(minutes=10 * i),
                results=tuple(
                    CheckResult(
                        check, status, "AssertionError: 1 != 2" if status.is_failure else ""
                    )
                    for check, status in zip(CHECKS, statuses, strict=True)
                ),
            )
        )
    return reports


class _StatsWrites:
    """The rows of ``check_stats`` written in the session's transaction since this was made.
    PostgreSQL: the table's counters of the transaction (COPY and the one-statement update
    included); SQLite: the rows given to the statements that write the table."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.counted = {"inserted": 0, "updated": 0}
        if not self.postgres:
            event.listen(session.connection(), "before_cursor_execute", self._count)
        self.start = self._read()

    def _count(self, _c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        n = len(params) if many else 1
        if sql.startswith("INSERT INTO check_stats"):
            self.counted["inserted"] += n
        elif sql.startswith("UPDATE check_stats"):
            self.counted["updated"] += n

    def _read(self) -> dict[str, int]:
        if not self.postgres:
            return dict(self.counted)
        ins, upd = self.session.execute(
            text(
                "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0) "
                "FROM pg_stat_xact_user_tables WHERE relname = 'check_stats'"
            )
        ).one()
        return {"inserted": int(ins), "updated": int(upd)}

    def since(self) -> dict[str, int]:
        now = self._read()
        return {k: now[k] - self.start[k] for k in now}


def test_a_checks_history_is_written_once_per_flush(engine: Engine) -> None:
    """Each run is a batch of its own (``batch_results=4``): the history of the three checks is
    kept across the batches and written when the ingestor is flushed, once per check."""
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, batch_results=4)
        writes = _StatsWrites(session)
        ingestor.add_all(_runs("acme/app", 0, 6))
        ingestor.flush()
        first = writes.since()
        writes = _StatsWrites(session)
        ingestor.add_all(_runs("acme/app", 6, 12))
        ingestor.flush()
        second = writes.since()
        stored = session.execute(select(t.check_stats.c.runs)).scalars().all()
    assert first == {"inserted": 3, "updated": 0}
    assert second == {"inserted": 0, "updated": 3}
    assert sorted(stored) == [12, 12, 12]


def test_the_history_kept_across_batches_is_bounded_by_the_batch_size(engine: Engine) -> None:
    """More checks than a batch holds: the history is written before the ingest ends (memory
    stays bounded like a batch's), and again at the flush."""
    many = [
        RunReport(
            source="generic",
            repository="acme/app",
            run_id=f"run-{i}",
            finished_at=T0 + timedelta(minutes=i),
            results=tuple(CheckResult(f"check_{i}_{k}", Status.PASS, "") for k in range(5)),
        )
        for i in range(4)
    ]
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, batch_results=6)
        writes = _StatsWrites(session)
        ingestor.add_all(many[:3])
        assert writes.since()["inserted"] == 10  # after the second batch: 10 checks pending
        ingestor.add_all(many[3:])
        ingestor.flush()
        assert writes.since() == {"inserted": 20, "updated": 0}


@pytest.mark.parametrize("batch", [1, 4, 7])
def test_history_written_across_batches_equals_one_batchs(engine: Engine, batch: int) -> None:
    """The same runs ingested for two repositories, one in small batches and one in a single
    batch (and each in two flushes): every check's stored history is the same."""
    with Session(engine) as session, session.begin():
        for repo, size in (("acme/small", batch), ("acme/whole", 10_000)):
            ingestor = Ingestor(session, Settings(), clock=CLOCK, batch_results=size)
            ingestor.add_all(_runs(repo, 0, 9))
            ingestor.flush()
            ingestor.add_all(_runs(repo, 9, 14))
            ingestor.flush()
        rows = session.execute(
            select(
                t.repositories.c.name, t.checks.c.key, *(t.check_stats.c[f] for f in STATS_FIELDS)
            )
            .join(t.checks, t.checks.c.repository_id == t.repositories.c.id)
            .join(t.check_stats, t.check_stats.c.check_id == t.checks.c.id)
        ).all()
    by_repo: dict[str, dict[str, tuple[Any, ...]]] = {}
    run_key = STATS_FIELDS.index("last_run_key")
    for name, key, *values in rows:
        values[run_key] = values[run_key].split(":", 1)[1]  # without the repository's id
        by_repo.setdefault(name, {})[key] = tuple(values)
    assert by_repo["acme/small"] == by_repo["acme/whole"]
    assert len(by_repo["acme/whole"]) == 3
    assert {v[0] for v in by_repo["acme/whole"].values()} == {14}  # runs

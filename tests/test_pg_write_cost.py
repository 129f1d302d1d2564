"""What an issue's write costs PostgreSQL (migration 0022, issue #24): the on-call pass's update
of a new issue stays on its page (no index entry), and one trigram index holds an issue's
searched text. On SQLite the same ingest names the same experts and the search finds the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import Ingestor
from triagehub.engine.oncall.writes import OncallWrites
from triagehub.store import tables as t
from triagehub.store.fulltext import ISSUES, candidates, has_index
from triagehub.store.queries import IssueQuery, search_issues

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=1))
# Text that must arrive unchanged through an array parameter: quotes, braces, backslashes.
AWKWARD = 'it\'s "quoted" {a,b} \\N back\\slash\ttab\nline — é ✓ NULL'
RUNS, FAILING = 40, 5  # 200 new issues: pages of them, below the storm guard's run size


def _reports() -> list[RunReport]:
    return [
        RunReport(
            source="generic",
            repository="acme/app",
            run_id=f"run-{r}",
            finished_at=T0 + timedelta(minutes=r),
            results=tuple(
                CheckResult(
                    f"tests/test_area_{r}.py::test_case_{k}",
                    Status.FAIL,
                    f"AssertionError: widget_{r}_{k} expected status ready, got broken",
                )
                for k in range(FAILING)
            ),
        )
        for r in range(RUNS)
    ]


def test_naming_a_new_issues_expert_adds_no_index_entries(engine: Engine) -> None:
    """The on-call pass names the expert of the issues an ingest just created, in the ingest's
    transaction (``OncallWrites``): on PostgreSQL the new row versions stay on their pages."""
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK)
        ingestor.add_all(_reports())
        ingestor.flush()
        ids = sorted(session.execute(select(t.issues.c.id)).scalars())
        assert len(ids) == RUNS * FAILING
        writes = OncallWrites(CLOCK.now())
        for pk in ids:
            writes.name_expert(pk, "backend-expert")
        writes.flush(session)
        named = session.execute(select(t.issues.c.expert).distinct()).scalars().all()
        assert named == ["backend-expert"]
        if engine.dialect.name == "postgresql":
            updated, hot = session.execute(
                text(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'issues'"
                )
            ).one()
            assert updated >= len(ids)
            assert hot >= 0.9 * updated  # heap-only: no entry in any index of the table


def test_one_trigram_index_holds_an_issues_searched_text(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK)
        ingestor.add_all(_reports()[:3])
        ingestor.flush()
    with Session(engine) as session:
        assert has_index(session, ISSUES)
        if engine.dialect.name == "postgresql":
            names = session.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'issues'")
            ).scalars()
            assert sorted(n for n in names if n.endswith("_trgm")) == ["ix_issues_text_trgm"]
        ids = candidates(session, ISSUES, "widget_2_4")
        assert ids is not None and len(ids) == 1
        page = search_issues(session=session, query=IssueQuery(text="widget_2_4"), limit=10)
        assert [v.id for v in page.items] == ids


def test_jobs_of_a_pass_are_inserted_in_order_but_the_taken_keys(engine: Engine) -> None:
    """The on-call pass's jobs: one statement on PostgreSQL (``BulkWriter``), the same rows,
    ids and created keys as SQLAlchemy's ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite."""
    now = CLOCK.now()
    with Session(engine) as session, session.begin():
        first = OncallWrites(now)
        first.job("notify", "notify:1:alert:1", {"issue_id": 1, "text": AWKWARD})
        assert first.flush(session) == {"notify:1:alert:1"}
        again = OncallWrites(now)
        for key in ("notify:2:alert:2", "notify:1:alert:1", "notify:3:alert:3", "notify:2:alert:2"):
            again.job("notify", key, {"issue_id": int(key.split(":")[1]), "n": [1, None]})
        assert again.flush(session) == {"notify:2:alert:2", "notify:3:alert:3"}
        rows = session.execute(
            select(t.jobs.c.id, t.jobs.c.key, t.jobs.c.data, t.jobs.c.created_at).order_by(
                t.jobs.c.id
            )
        ).all()
        stored = session.execute(text("SELECT CAST(data AS TEXT) FROM jobs ORDER BY id"))
        assert stored.scalars().all()[2] == json.dumps({"issue_id": 3, "n": [1, None]})
    assert [r.key for r in rows] == ["notify:1:alert:1", "notify:2:alert:2", "notify:3:alert:3"]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert rows[0].data == {"issue_id": 1, "text": AWKWARD}
    assert rows[2].data == {"issue_id": 3, "n": [1, None]}
    assert {r.created_at for r in rows} == {now}

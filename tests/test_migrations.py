"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from triagehub.store import db
from triagehub.store.fulltext import owned_by_index
from triagehub.store.tables import metadata


def _declared(name: str | None, type_: str, parent_names: object) -> bool:
    return not owned_by_index(name, type_, parent_names)


def test_migrations_match_the_declared_tables(engine: Engine) -> None:
    """The search index's own tables and indexes (``store.fulltext``) are not declared."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _declared})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_first_use_migrates_to_head_and_upgrade_is_idempotent(engine: Engine) -> None:
    assert db.current_revision(engine) == db.head_revision()
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert {"issues", "occurrences", "check_stats", "issue_events"} <= set(
        inspect(engine).get_table_names()
    )


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()
    assert mode == "wal"


def test_migrations_keep_stored_data_down_and_up_again(engine: Engine) -> None:
    """A populated database survives every migration after 0006 in both directions (on SQLite
    the batch migrations copy tables that other tables' rows point at)."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from triagehub.config import Settings
    from triagehub.core.models import CheckResult, RunReport, Status
    from triagehub.engine.ingest import ingest_reports
    from triagehub.store import tables as t

    at = datetime(2026, 11, 1, tzinfo=UTC)
    reports = [
        RunReport(
            source="generic",
            repository="acme/app",
            run_id=str(n),
            finished_at=at,
            results=(
                CheckResult("unit", Status.FAIL, f"AssertionError: {n} != 2"),
                CheckResult("lint", Status.PASS),
            ),
        )
        for n in range(3)
    ]
    ingest_reports(engine, reports, Settings())

    def counted() -> tuple[int, ...]:
        with engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (t.runs, t.issues, t.occurrences, t.issue_events, t.check_stats)
            )

    before = counted()
    db.downgrade(engine, "0006")
    assert db.current_revision(engine) == "0006"
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert counted() == before


def test_the_versions_folder_names_the_head_alembic_finds() -> None:
    """`open_database` tells a current database by the file names, without Alembic: each
    revision's file starts with its id and the newest number is Alembic's head."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    for script in ScriptDirectory.from_config(cfg).walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
    assert db.newest_revision_file() == db.head_revision()


def test_stored_revisions_are_read_without_alembic(engine: Engine, tmp_path: object) -> None:
    assert db.stored_revisions(engine) == [db.head_revision()]
    fresh = db.make_engine(f"sqlite:///{tmp_path}/new.db")
    assert db.stored_revisions(fresh) == []
    fresh.dispose()


def test_a_database_behind_is_migrated_when_opened(engine: Engine) -> None:
    db.downgrade(engine, "0012")
    assert db.stored_revisions(engine) == ["0012"]
    reopened = db.open_database(engine.url.render_as_string(hide_password=False))
    assert db.stored_revisions(reopened) == [db.head_revision()]
    assert "check_pass_logs" in inspect(reopened).get_table_names()  # made by 0015
    reopened.dispose()

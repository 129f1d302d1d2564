"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from triagehub.store import db
from triagehub.store.tables import metadata


def test_migrations_match_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
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

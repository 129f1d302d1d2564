"""Search by index: issue titles, templates and sample messages, and check keys

SQLite: an FTS5 table per searched table (``issues_fts``, ``checks_fts``) with the ``trigram``
tokenizer (substring queries, case folded), ``detail=none`` (which rows hold a sequence, not
where: about a third of the size), external content (the text stays in its table only), kept in
step by triggers on insert, delete and a change of a searched column, and filled from the rows
already stored. FTS5 with the trigram tokenizer (SQLite 3.34+) is checked first; without it the
migration builds nothing and the search scans, as before.

PostgreSQL: ``pg_trgm`` GIN indexes on the same columns (the extension is created when missing;
without the right to create it the migration builds nothing and the search scans).

A later migration that rebuilds ``issues`` or ``checks`` on SQLite (a batch ``ALTER``) drops
their triggers with the old table: it must create them again (tests/test_migrations.py checks
that they exist at head).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("triagehub.store.migrations")

# table -> its searched columns (frozen here: the migration must not follow later code)
SEARCHED = {"issues": ("title", "template", "sample_message"), "checks": ("key",)}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)
    else:
        _upgrade_sqlite(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table, columns in SEARCHED.items():
        if bind.dialect.name == "postgresql":
            for column in columns:
                op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
            continue
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {table}_fts")


def _fts5_trigram(bind: Connection) -> str | None:
    """None when this SQLite has FTS5 with the trigram tokenizer, else what it lacks."""
    try:
        bind.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.triagehub_fts_probe USING fts5(x, tokenize='trigram')"
        )
    except DBAPIError as exc:
        version = bind.exec_driver_sql("SELECT sqlite_version()").scalar()
        return f"SQLite {version} has no FTS5 trigram tokenizer (3.34+ with FTS5): {exc.orig}"
    bind.exec_driver_sql("DROP TABLE temp.triagehub_fts_probe")
    return None


def _upgrade_sqlite(bind: Connection) -> None:
    missing = _fts5_trigram(bind)
    if missing is not None:
        log.warning("no search index: %s; free-text search scans the tables", missing)
        return
    for table, columns in SEARCHED.items():
        fts = f"{table}_fts"
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
            "content_rowid='id', tokenize='trigram', detail=none)"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {names} ON {table} WHEN {changed} BEGIN "
            f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END"
        )
        op.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")  # the rows stored before


def _upgrade_postgresql(bind: Connection) -> None:
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning(
            "no search index: the pg_trgm extension cannot be created (%s); free-text search "
            "scans the tables",
            str(exc.orig).strip().splitlines()[0],
        )
        return
    for table, columns in SEARCHED.items():
        for column in columns:
            op.execute(
                f"CREATE INDEX ix_{table}_{column}_trgm ON {table} "
                f"USING gin ({column} gin_trgm_ops)"
            )

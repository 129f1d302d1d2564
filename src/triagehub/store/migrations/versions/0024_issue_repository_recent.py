"""The issues list filtered by a repository alone: read in order from an index

A page of the issues list filtered by a repository (``repository=acme/app``, any state: 5 % of
``benchmarks/api_latency.py``'s 100,000 issues) had no index in its order: SQLite read the
repository's 5,000 issues through ``(repository_id, check_id)`` and sorted them for each page
(``USE TEMP B-TREE FOR ORDER BY``), and PostgreSQL walked ``(last_seen, id)`` backwards, fetching
every issue to test its repository (about 500 rows, 776 buffers, for a page of 51).
``(repository_id, state, last_seen, id)`` (0023) serves a repository with a state only.
``(repository_id, last_seen, id)`` serves the page in order on both: SQLite reads 51 entries and
no sort; PostgreSQL 362 buffers. (SQLite's indexes end with the rowid, the id, already: the
explicit ``id`` keeps one definition for both backends.)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_issues_repository_id_last_seen_id"


def upgrade() -> None:
    op.create_index(_INDEX, "issues", ["repository_id", "last_seen", "id"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="issues")

"""PostgreSQL: what an issue's write costs the server (issue #24)

Two changes, both on PostgreSQL only (SQLite's search index and pages are left as they are):

- One ``pg_trgm`` GIN index over an issue's searched text instead of one per column (0019's
  ``ix_issues_{title,template,sample_message}_trgm``). The index is on
  ``title || E'\\n' || template || E'\\n' || sample_message``: a template is its message with
  the volatile parts masked and a title is made from the template, so the three columns share
  most of their trigrams, and one index stores each trigram of a row version once instead of up
  to three times. The search asks it with the same expression (``store.fulltext``); a row holding
  the text in a column holds it in the joined text too, so the candidates are still a superset,
  and the search keeps its exact test on each column: the rows found do not change.
- ``fillfactor`` 50 for ``issues``. Every new issue is written twice in its ingest: inserted,
  then given its expert (or assignee) by the on-call pass of the same transaction. On full pages
  the second version goes to another page, and every index of the table (a dozen B-trees and the
  trigram index) gets an entry for it. With room on the page the update is a heap-only tuple
  (HOT: no index entry), as are the later updates of columns no index holds.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (frozen here: the migration must not follow later code)
COLUMNS = ("title", "template", "sample_message")
JOINED = " || E'\\n' || ".join(COLUMNS)
NEW = "ix_issues_text_trgm"
FILLFACTOR = 50


def _exists(name: str) -> bool:
    found = op.get_bind().exec_driver_sql("SELECT to_regclass(%(n)s) IS NOT NULL", {"n": name})
    return bool(found.scalar())


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE issues SET (fillfactor = {FILLFACTOR})")
    if not _exists(f"ix_issues_{COLUMNS[0]}_trgm"):
        return  # 0019 built no index (pg_trgm could not be created): the search scans
    op.execute(f"CREATE INDEX {NEW} ON issues USING gin (({JOINED}) gin_trgm_ops)")
    for column in COLUMNS:
        op.execute(f"DROP INDEX ix_issues_{column}_trgm")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE issues RESET (fillfactor)")
    if not _exists(NEW):
        return
    for column in COLUMNS:
        op.execute(
            f"CREATE INDEX ix_issues_{column}_trgm ON issues USING gin ({column} gin_trgm_ops)"
        )
    op.execute(f"DROP INDEX {NEW}")

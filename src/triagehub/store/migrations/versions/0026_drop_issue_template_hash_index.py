"""Drop the index on ``issues.template_hash``: no query reads issues by it

Issues are found by their fingerprint (unique) and their aliases; a template's hash is looked up
in ``patterns`` (``ix_patterns_template_hash``), never in ``issues``: no statement filters or sorts
issues by it, so no plan could use the index, while every new issue and every update of an issue
that is not HOT (on PostgreSQL: ``last_seen`` is in the list indexes) wrote an entry into it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_issues_template_hash"


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="issues")


def downgrade() -> None:
    op.create_index(_INDEX, "issues", ["template_hash"])

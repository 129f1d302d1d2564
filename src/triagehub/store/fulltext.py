"""Free-text search by index: which rows of a table hold a text in one of its searched columns
(a case-insensitive substring, the same test as a scan).

The indexes come from migration 0016: on SQLite an FTS5 table with the ``trigram`` tokenizer
(external content, ``detail=none``: it stores which rows hold each three-character sequence, not
where) kept in step with its table by triggers; on PostgreSQL ``pg_trgm`` GIN indexes, on the
column for checks and on the searched columns joined by new lines for issues (migration 0022:
one index entry per trigram of a row, not one per column holding it). Either index only narrows
the candidates: the condition this module returns always holds the scan's own test too
(``lower(column) LIKE lower('%text%')``), so the rows found are exactly the rows a scan finds,
whatever the query string holds (quotes, ``*``, ``NEAR``, ``-``, ``%``, ``_``: every query
character is matched literally, never parsed as query syntax).

The candidates are read first, at most :data:`MAX_CANDIDATES` of them: none means no row holds
the text (the answer, at once); a few are looked up by primary key; more means the text is
common and a scan in the caller's order fills a page after a few rows, so the plain test is
returned. Texts shorter than three characters have no trigram and are scanned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Table, and_, or_, select, text

from triagehub.store import tables as t
from triagehub.store.dialect import dialect_name

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

MIN_INDEXED = 3  # a trigram index cannot narrow a shorter text
MAX_CANDIDATES = 1000
MAX_TRIGRAMS = 16  # the sequences a query asks the index for (any subset narrows correctly)


@dataclass(frozen=True, slots=True)
class TextIndex:
    """A table's searched columns, its SQLite FTS5 table (``rowid`` = the table's ``id``), and
    its PostgreSQL trigram index with the SQL expression that index is on (a query must spell
    the expression the same way for the planner to use the index)."""

    table: Table
    columns: tuple[str, ...]
    fts: str
    trigram_index: str
    trigram_text: str


ISSUES = TextIndex(
    t.issues,
    ("title", "template", "sample_message"),
    "issues_fts",
    "ix_issues_text_trgm",
    "title || E'\\n' || template || E'\\n' || sample_message",
)
CHECKS = TextIndex(t.checks, ("key",), "checks_fts", "ix_checks_key_trgm", "key")

# What migration 0016 creates beside the declared tables (the FTS5 tables with their shadow
# tables, the GIN indexes): not part of ``tables.metadata``, so Alembic's comparison skips them.
_OWN_NAMES = re.compile(r"(issues|checks)_fts(_[a-z]+)?|ix_(issues|checks)_[a-z_]+_trgm")


def owned_by_index(name: str | None, type_: str, parent_names: object = None) -> bool:
    """Whether ``name`` is one of the search index's own objects (Alembic ``include_name``)."""
    return name is not None and type_ in ("table", "index") and bool(_OWN_NAMES.fullmatch(name))


def trigram_index_name(index: TextIndex, column: str) -> str:
    """The name of migration 0019's index on one column (0022 replaced those of ``issues``)."""
    return f"ix_{index.table.name}_{column}_trgm"


def contains(index: TextIndex, needle: str) -> ColumnElement[bool]:
    """The scan's test: one of the columns holds ``needle``, case-insensitively."""
    table = index.table
    return or_(*(table.c[c].icontains(needle, autoescape=True) for c in index.columns))


def trigrams(needle: str) -> list[str]:
    """The distinct three-character sequences of ``needle``, at most :data:`MAX_TRIGRAMS` of
    them spread over its length. Their case is left alone: the index folds it, one character
    for one, as it folded the stored text (Python's ``lower`` may turn one into two)."""
    found = list(dict.fromkeys(needle[i : i + 3] for i in range(len(needle) - 2)))
    if len(found) <= MAX_TRIGRAMS:
        return found
    step = (len(found) - 1) / (MAX_TRIGRAMS - 1)
    return [found[round(n * step)] for n in range(MAX_TRIGRAMS)]


def fts_query(needle: str) -> str:
    """An FTS5 query for the rows holding every trigram of ``needle``: each one a quoted string
    (``"`` doubled), so nothing of the text is read as FTS5 syntax."""
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in trigrams(needle))


def like_pattern(needle: str) -> str:
    """``%needle%`` for ``ILIKE`` with its default escape character (the backslash)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_condition(
    session: Session | Connection, index: TextIndex, needle: str, *, cap: int = MAX_CANDIDATES
) -> ColumnElement[bool] | None:
    """The WHERE term for the rows of ``index.table`` holding ``needle`` in a searched column,
    or None when the index shows that no row does (``cap``: the most candidates looked up by
    id; more, and the plain test is returned)."""
    exact = contains(index, needle)
    if len(needle) < MIN_INDEXED:
        return exact
    ids = candidates(session, index, needle, cap=cap)
    if ids is None:
        return exact
    if not ids:
        return None
    return and_(index.table.c.id.in_(ids), exact)


def candidates(
    session: Session | Connection, index: TextIndex, needle: str, *, cap: int = MAX_CANDIDATES
) -> list[int] | None:
    """The ids of the rows the index finds for ``needle`` (a superset of the rows holding it),
    or None when there is no index or more than ``cap`` of them."""
    if len(needle) < MIN_INDEXED:
        return None
    if dialect_name(session) == "postgresql":
        ids = _postgres_candidates(session, index, needle, cap)
    elif has_index(session, index):
        ids = _sqlite_candidates(session, index, needle, cap)
    else:
        return None
    return None if ids is None or len(ids) > cap else ids


def has_index(session: Session | Connection, index: TextIndex) -> bool:
    """Whether migration 0016 built ``index`` (it is skipped where the database cannot)."""
    if dialect_name(session) == "postgresql":
        found = session.execute(
            select(text("to_regclass(:n) IS NOT NULL")), {"n": index.trigram_index}
        )
        return bool(found.scalar())
    row = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": index.fts}
    ).first()
    return row is not None


def _sqlite_candidates(
    session: Session | Connection, index: TextIndex, needle: str, cap: int
) -> list[int]:
    stmt = text(f"SELECT rowid FROM {index.fts} WHERE {index.fts} MATCH :q LIMIT :n")
    rows = session.execute(stmt, {"q": fts_query(needle), "n": cap + 1})
    return [int(r) for r in rows.scalars()]


def _postgres_candidates(
    session: Session | Connection, index: TextIndex, needle: str, cap: int
) -> list[int] | None:
    """The rows ``ILIKE`` finds through the GIN index. The planner is told to read them
    (``enable_seqscan``/``enable_indexscan`` off for this statement, then put back):
    ``ILIKE '%text%'`` is estimated from statistics that know nothing of the text, and a
    misjudged scan under a ``LIMIT`` reads the whole table when no row matches, the case the
    index is for. Four round trips; None when the index is missing."""
    exists, seqscan, indexscan = session.execute(
        select(
            text("to_regclass(:n) IS NOT NULL"),
            text("current_setting('enable_seqscan')"),
            text("current_setting('enable_indexscan')"),
        ),
        {"n": index.trigram_index},
    ).one()
    if not exists:
        return None
    stmt = (
        select(index.table.c.id)
        .where(text(f"({index.trigram_text}) ILIKE :pattern"))
        .limit(cap + 1)
    )
    settings = (
        "SELECT set_config('enable_seqscan', :s, true), set_config('enable_indexscan', :i, true)"
    )
    session.execute(text(settings), {"s": "off", "i": "off"})
    try:
        found = session.execute(stmt, {"pattern": like_pattern(needle)})
        return [int(r) for r in found.scalars()]
    finally:
        session.execute(text(settings), {"s": seqscan, "i": indexscan})

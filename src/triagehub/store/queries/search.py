"""The REST API's issue search: filters, sort orders and keyset pages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.fulltext import ISSUES, candidates, text_condition
from triagehub.store.queries.issues import IssueView, issue_page_select, page_views
from triagehub.store.queries.paging import (
    MAX_TEXT_QUERY,
    Page,
    _after,
    _check_limit,
    _cut,
    _iso,
    _parse_sort,
    _repository_ids,
    decode_cursor,
    encode_cursor,
)

_LEVEL_ORDER = ("critical", "high", "medium", "low")  # the order of ``sort=priority``
ISSUE_SORTS = ("last_seen", "first_seen", "occurrences", "priority", "severity", "id")
_RANKED_SORTS = frozenset({"priority", "severity"})


@dataclass(frozen=True, slots=True)
class IssueQuery:
    """What ``search_issues`` matches: every given filter must hold (values of one filter are
    alternatives). ``since``/``until`` bound ``last_seen`` (``since`` ≤ last_seen < ``until``);
    ``text`` is a case-insensitive substring of the title, the template or the sample message.
    ``sort`` is one of :data:`ISSUE_SORTS`, ``-`` first for descending; ``priority`` and
    ``severity`` run from critical to low (``-priority`` from low to critical), newest activity
    first within a level."""

    repositories: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    history_classes: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    sort: str = "-last_seen"

    def digest(self) -> str:
        """A short digest of the filters (not the sort): cursors are bound to it."""
        parts = [
            ",".join(sorted(values))
            for values in (
                self.repositories,
                self.states,
                self.categories,
                self.kinds,
                self.severities,
                self.priorities,
                self.history_classes,
                self.decisions,
                self.assignees,
            )
        ]
        parts += [_iso(self.since) or "", _iso(self.until) or "", self.text or ""]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def _issue_filters(session: Session | Connection, query: IssueQuery) -> list[Any] | None:
    """The WHERE terms of ``query`` (None: it cannot match, e.g. an unknown repository or a
    text the search index finds nowhere)."""
    i = t.issues.c
    terms: list[Any] = []
    if query.repositories:
        ids = _repository_ids(session, query.repositories)
        if not ids:
            return None
        terms.append(i.repository_id.in_(ids) if len(ids) > 1 else i.repository_id == ids[0])
    for column, values in (
        (i.state, query.states),
        (i.category, query.categories),
        (i.kind, query.kinds),
        (i.severity, query.severities),
        (i.priority, query.priorities),
        (i.history_class, query.history_classes),
        (i.decision, query.decisions),
        (i.assignee, query.assignees),
    ):
        if values:
            unique = sorted(set(values))
            terms.append(column.in_(unique) if len(unique) > 1 else column == unique[0])
    if query.since is not None:
        terms.append(i.last_seen >= query.since)
    if query.until is not None:
        terms.append(i.last_seen < query.until)
    if query.text:
        text = query.text
        if len(text) > MAX_TEXT_QUERY:
            raise InputError("q", "", f"at most {MAX_TEXT_QUERY} characters")
        held = text_condition(session, ISSUES, text)  # by index (store.fulltext)
        if held is None:
            return None
        terms.append(held)
    return terms


def narrowed_by_index(*, session: Session, text: str) -> bool:
    """Whether the search index finds a few issues (at least one, not thousands) that may hold
    ``text``: a lookup worth making when it only adds candidates to others."""
    found = candidates(session, ISSUES, text)
    return bool(found)


def search_issues(
    *,
    session: Session | Connection,
    query: IssueQuery,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[IssueView]:
    """One page of the issues matching ``query``, in its sort order (see :class:`IssueQuery`).
    ``session``: a session or a connection (``store.db.read_connection``).

    Raises ``InputError`` for a bad sort, limit or cursor."""
    _check_limit(limit)
    name, descending = _parse_sort(query.sort, ISSUE_SORTS)
    sort_key = ("-" if descending else "") + name
    digest = query.digest()
    terms = _issue_filters(session, query)
    if terms is None:
        return Page([], None)
    base = issue_page_select(session).where(*terms)
    i = t.issues.c
    if name in _RANKED_SORTS:
        wanted = query.priorities if name == "priority" else query.severities
        return _search_ranked(
            session, base, name, descending, sort_key, digest, limit, cursor, wanted
        )
    column = i.id if name == "id" else getattr(i, name)
    shape: tuple[type, ...] = (int,) if name == "id" else (_value_type(name), int)
    stmt = base
    if cursor is not None:
        values = decode_cursor(cursor, f"issues:{sort_key}", digest, shape)
        if name == "id":
            stmt = stmt.where(i.id < values[0] if descending else i.id > values[0])
        else:
            stmt = stmt.where(_after(column, i.id, values[0], values[1], descending))
    order = (
        [i.id.desc() if descending else i.id.asc()]
        if name == "id"
        else [
            column.desc() if descending else column.asc(),
            i.id.desc() if descending else i.id.asc(),
        ]
    )
    views = page_views(session.execute(stmt.order_by(*order).limit(limit + 1)).all())

    def cursor_of(last: IssueView) -> str:
        values_out: list[Any] = (
            [last.id] if name == "id" else [_cursor_value(getattr(last, name)), last.id]
        )
        return encode_cursor(f"issues:{sort_key}", digest, values_out)

    page, next_cursor = _cut(views, limit, cursor_of)
    return Page(list(page), next_cursor)


def _value_type(name: str) -> type:
    return int if name == "occurrences" else datetime


def _cursor_value(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


def _search_ranked(
    session: Session | Connection,
    base: Any,
    name: str,
    descending: bool,
    sort_key: str,
    digest: str,
    limit: int,
    cursor: str | None,
    wanted: tuple[str, ...],
) -> Page[IssueView]:
    """Sorted by a level (priority, severity): one index-friendly query per level (only the
    levels the filters allow), newest activity first within a level, until the page is
    full."""
    i = t.issues.c
    column = getattr(i, name)
    levels = list(reversed(_LEVEL_ORDER)) if descending else list(_LEVEL_ORDER)
    start = 0
    after: tuple[datetime, int] | None = None
    if cursor is not None:
        level, seen, last_id = decode_cursor(
            cursor, f"issues:{sort_key}", digest, (str, datetime, int)
        )
        if level not in levels:
            raise InputError("cursor", "", "not a cursor this API gave")
        start = levels.index(level)
        after = (seen, last_id)
    rows: list[IssueView] = []
    for position in range(start, len(levels)):
        if wanted and levels[position] not in wanted:
            continue
        stmt = base.where(column == levels[position])
        if after is not None and position == start:
            stmt = stmt.where(_after(i.last_seen, i.id, after[0], after[1], True))
        room = limit + 1 - len(rows)
        rows.extend(
            page_views(
                session.execute(stmt.order_by(i.last_seen.desc(), i.id.desc()).limit(room)).all()
            )
        )
        if len(rows) > limit:
            break
    page, next_cursor = _cut(
        rows,
        limit,
        lambda last: encode_cursor(
            f"issues:{sort_key}", digest, [getattr(last, name), _iso(last.last_seen), last.id]
        ),
    )
    return Page(list(page), next_cursor)

"""The REST API's issue search: filters, sort orders and keyset pages."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.dialect import dialect_name
from triagehub.store.fulltext import ISSUES, candidates, text_condition
from triagehub.store.queries.issues import IssueView, page_select, page_views
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


# The filters of ``IssueQuery`` on a column of ``issues``, by bind parameter (the column's name).
_COLUMN_FILTERS = (
    ("state", "states"),
    ("category", "categories"),
    ("kind", "kinds"),
    ("severity", "severities"),
    ("priority", "priorities"),
    ("history_class", "history_classes"),
    ("decision", "decisions"),
    ("assignee", "assignees"),
)


@dataclass(frozen=True, slots=True)
class _Filters:
    """The WHERE terms of a query: the values of its column filters by bind parameter (a list:
    ``IN``), and its text's term (by index; its candidates are literals in it)."""

    values: dict[str, Any]
    text: Any = None

    @property
    def shape(self) -> tuple[tuple[str, bool], ...]:
        """What the statement's text depends on (which filters, ``=`` or ``IN``), not the
        values: the key of its cache."""
        return tuple((key, isinstance(value, list)) for key, value in self.values.items())


def _issue_filters(session: Session | Connection, query: IssueQuery) -> _Filters | None:
    """The WHERE terms of ``query`` (None: it cannot match, e.g. an unknown repository or a
    text the search index finds nowhere)."""
    values: dict[str, Any] = {}
    if query.repositories:
        ids = _repository_ids(session, query.repositories)
        if not ids:
            return None
        values["repository_id"] = ids if len(ids) > 1 else ids[0]
    for key, attribute in _COLUMN_FILTERS:
        if given := getattr(query, attribute):
            unique = sorted(set(given))
            values[key] = unique if len(unique) > 1 else unique[0]
    if query.since is not None:
        values["since"] = query.since
    if query.until is not None:
        values["until"] = query.until
    if not query.text:
        return _Filters(values)
    text = query.text
    if len(text) > MAX_TEXT_QUERY:
        raise InputError("q", "", f"at most {MAX_TEXT_QUERY} characters")
    held = text_condition(session, ISSUES, text)  # by index (store.fulltext)
    return None if held is None else _Filters(values, held)


@functools.cache
def _filtered_select(dialect: str, shape: tuple[tuple[str, bool], ...]) -> Select[Any]:
    """The page's select with the filters of ``shape`` as bind parameters: built once per
    dialect and shape, not per page (building a statement and its cache key cost a tenth of
    a page's CPU)."""
    i = t.issues.c
    terms: list[Any] = []
    for key, many in shape:
        if key in ("since", "until"):
            bound = bindparam(key, type_=i.last_seen.type)
            terms.append(i.last_seen >= bound if key == "since" else i.last_seen < bound)
        else:
            column = i[key]
            bound = bindparam(key, type_=column.type, expanding=many)
            terms.append(column.in_(bound) if many else column == bound)
    return page_select(dialect).where(*terms)


def _after_bound(column: Any, descending: bool) -> Any:
    """``_after`` with the cursor's values as the bind parameters ``after`` and ``after_id``."""
    i = t.issues.c
    value = bindparam("after", type_=column.type)
    return _after(column, i.id, value, bindparam("after_id", type_=i.id.type), descending)


@functools.cache
def _sorted_select(
    dialect: str, shape: tuple[tuple[str, bool], ...], name: str, descending: bool, after: bool
) -> Select[Any]:
    """A page of a plain sort (not a level), after a cursor's row or not, limited by the
    bind parameter ``limit``."""
    i = t.issues.c
    stmt = _filtered_select(dialect, shape)
    if name == "id":
        if after:
            bound = bindparam("after_id", type_=i.id.type)
            stmt = stmt.where(i.id < bound if descending else i.id > bound)
        order = [i.id.desc() if descending else i.id.asc()]
    else:
        column = getattr(i, name)
        if after:
            stmt = stmt.where(_after_bound(column, descending))
        order = [
            column.desc() if descending else column.asc(),
            i.id.desc() if descending else i.id.asc(),
        ]
    return stmt.order_by(*order).limit(bindparam("limit", type_=Integer))


@functools.cache
def _level_select(
    dialect: str, shape: tuple[tuple[str, bool], ...], name: str, after: bool
) -> Select[Any]:
    """A level's page (the bind parameter ``level``) of a ranked sort, newest activity first,
    after a cursor's row or not, limited by ``limit``."""
    i = t.issues.c
    stmt = _filtered_select(dialect, shape).where(
        getattr(i, name) == bindparam("level", type_=getattr(i, name).type)
    )
    if after:
        stmt = stmt.where(_after_bound(i.last_seen, True))
    return stmt.order_by(i.last_seen.desc(), i.id.desc()).limit(bindparam("limit", type_=Integer))


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
    filters = _issue_filters(session, query)
    if filters is None:
        return Page([], None)
    if name in _RANKED_SORTS:
        wanted = query.priorities if name == "priority" else query.severities
        return _search_ranked(
            session, filters, name, descending, sort_key, digest, limit, cursor, wanted
        )
    kinds: tuple[type, ...] = (int,) if name == "id" else (_value_type(name), int)
    params = {**filters.values, "limit": limit + 1}
    if cursor is not None:
        values = decode_cursor(cursor, f"issues:{sort_key}", digest, kinds)
        params["after_id"] = values[-1]
        if name != "id":
            params["after"] = values[0]
    stmt = _sorted_select(
        dialect_name(session), filters.shape, name, descending, cursor is not None
    )
    if filters.text is not None:
        stmt = stmt.where(filters.text)
    views = page_views(session.execute(stmt, params).all())

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
    filters: _Filters,
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
    dialect = dialect_name(session)
    rows: list[IssueView] = []
    for position in range(start, len(levels)):
        if wanted and levels[position] not in wanted:
            continue
        bounded = after is not None and position == start
        stmt = _level_select(dialect, filters.shape, name, bounded)
        if filters.text is not None:
            stmt = stmt.where(filters.text)
        params = {**filters.values, "level": levels[position], "limit": limit + 1 - len(rows)}
        if bounded and after is not None:
            params["after"], params["after_id"] = after
        rows.extend(page_views(session.execute(stmt, params).all()))
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

"""The issues of the All Work and Errors tabs: one keyset page of a query, or its search results."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import queries
from triagehub.store.queries import IssueQuery, IssueView
from triagehub.web import views
from triagehub.web.filters import PRIORITY_RANK, Filters


@dataclass(frozen=True, slots=True)
class IssueList:
    """The issues to show, their search scores, the cursor of the next page, the cursor of the
    page shown (None for the first page and for search results), and why the given cursor was
    refused (then the first page is shown)."""

    issues: list[IssueView] = field(default_factory=list)
    scores: dict[int, float] = field(default_factory=dict)
    next_cursor: str | None = None
    cursor: str | None = None
    refused: str | None = None


def find_issues(
    engine: Engine,
    query: IssueQuery,
    filters: Filters,
    *,
    cursor: str | None,
    by_priority: bool = False,
) -> IssueList:
    """With a search text (``filters.q``), every match, best first (``by_priority``: most urgent
    first, then best); else the page of ``query`` at ``cursor``, or its first page when the
    cursor is refused."""
    with Session(engine) as session:
        if filters.q:
            found = views.search_issues(session, query, filters.q)
            if by_priority:
                found.sort(key=lambda pair: (PRIORITY_RANK.get(pair[0].priority, 9), -pair[1]))
            return IssueList([v for v, _ in found], {v.id: s for v, s in found})
        try:
            page = queries.search_issues(
                session=session, query=query, limit=views.PAGE_SIZE, cursor=cursor
            )
        except InputError as exc:
            page = queries.search_issues(session=session, query=query, limit=views.PAGE_SIZE)
            return IssueList(
                page.items, next_cursor=page.next_cursor, refused=f"{exc} (showing the first page)"
            )
        return IssueList(page.items, next_cursor=page.next_cursor, cursor=cursor)

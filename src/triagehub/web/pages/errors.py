"""``/errors``, the Errors tab: every issue, sortable, one keyset page at a time; for a signed-in
writer, each row's actions (Start session, and a menu with the issue page's Triage, Classify
again, Create spec proposal, Start remediation session and Assign session forms, posting to the
same endpoints: :mod:`triagehub.web.pages.remediation`, ``POST /issues/{id}/triage``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from triagehub.core.models import Decision, Level
from triagehub.web import views
from triagehub.web.deps import PageDep
from triagehub.web.listing import IssueList, find_issues
from triagehub.web.pages.issue import spec_projects

router = APIRouter(include_in_schema=False)

SORTS = (
    *("-last_seen", "last_seen", "-first_seen", "first_seen", "-occurrences", "occurrences"),
    *("priority", "-priority", "severity", "-severity", "-id", "id"),
)


@router.get("/errors")
def errors(page: PageDep, sort: str = "-last_seen", cursor: str | None = None) -> Response:
    if page.denied:
        return page.denied
    filters = page.filters
    problems = list(filters.problems)
    if sort not in SORTS:
        problems.append(f"sort {sort[:40]!r} is not one of {', '.join(SORTS)}: ignored")
        sort = "-last_seen"
    states = filters.issue_states()
    listing = IssueList()
    if states is not None:
        query = views.issue_query(filters, states, sort)
        listing = find_issues(page.dash.engine, query, filters, cursor=cursor)
        cursor = listing.cursor
        if listing.refused:
            problems.append(listing.refused)
    else:
        problems.append("the status filter holds no issue state: no issues are shown")

    def sort_url(column: str) -> str:
        target = column if sort == f"-{column}" else f"-{column}"
        if column in ("priority", "severity"):
            target = f"-{column}" if sort == column else column
        return filters.url("/errors", sort=target)

    next_cursor = listing.next_cursor
    writes = page.viewer is not None and page.viewer.can_write
    return page.render(
        "errors.html",
        tab="errors",
        problems=problems,
        issues=listing.issues,
        scores=listing.scores,
        sort=sort,
        sort_url=sort_url,
        next_url=filters.url("/errors", sort=sort, cursor=next_cursor) if next_cursor else None,
        first_url=filters.url("/errors", sort=sort) if cursor else None,
        search=page.search_note(),
        decisions=[d.value for d in Decision],
        levels=[p.value for p in Level],
        projects=spec_projects(page) if writes and listing.issues else [],
    )

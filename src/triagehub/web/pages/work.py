"""``/``, the All Work tab: open issues and spec changes together, most urgent first, and the
latest spec events (changes created, task progress, archived)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.store import spec_events
from triagehub.web import views
from triagehub.web.deps import PageDep
from triagehub.web.listing import IssueList, find_issues

router = APIRouter(include_in_schema=False)

SPEC_EVENTS_SHOWN = 10


@router.get("/")
def all_work(page: PageDep, cursor: str | None = None, shown: int = -1) -> Response:
    if page.denied:
        return page.denied
    filters = page.filters
    problems = list(filters.problems)
    states = filters.issue_states()
    listing = IssueList()
    if states is not None:
        query = views.issue_query(filters, views.working_or(states), "priority")
        listing = find_issues(page.dash.engine, query, filters, cursor=cursor, by_priority=True)
        cursor = listing.cursor
        if listing.refused:
            problems.append(listing.refused)
            shown = -1
    issues, next_cursor = listing.issues, listing.next_cursor
    spec_list, spec_problems = page.dash.spec_items("archived" in filters.statuses)
    specs = views.filter_specs(spec_list, filters)
    if not 0 <= shown + 1 <= 3:
        shown = -1
    items, last_rank = views.merge_work(
        issues, specs, shown_rank=shown, last_page=next_cursor is None, scores=listing.scores
    )
    with Session(page.dash.engine) as session:
        events = spec_events.recent_events(session=session, limit=SPEC_EVENTS_SHOWN)
    return page.render(
        "work.html",
        tab="work",
        problems=problems + spec_problems,
        items=items,
        counts={"errors": len(issues), "specs": sum(1 for i in items if i.kind == "spec")},
        default_states=not states,
        next_url=(
            filters.url("/", cursor=next_cursor, shown=str(last_rank)) if next_cursor else None
        ),
        first_url=filters.url("/") if cursor else None,
        search=page.search_note(),
        spec_events=events,
    )

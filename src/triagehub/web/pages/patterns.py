"""``/patterns``, the Patterns tab: failure templates across checks and repositories."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from triagehub.store import queries
from triagehub.web import search
from triagehub.web.deps import PageDep

router = APIRouter(include_in_schema=False)


@router.get("/patterns")
def patterns(page: PageDep, scope: str = "all") -> Response:
    if page.denied:
        return page.denied
    filters = page.filters
    cross = scope == "cross"
    since, until, key = page.dash.window(filters)
    repository = filters.repositories[0] if len(filters.repositories) == 1 else None
    compute = page.dash.in_session(
        queries.list_patterns,
        since=since,
        repository=repository,
        min_repositories=2 if cross else 1,
        limit=500,
    )
    figure = page.dash.figures.get(("patterns", repository, cross, key), compute)
    shown: list[queries.PatternView] = []
    if figure.value is not None:
        shown = [
            p
            for p in figure.value
            if p.first_seen < until
            and (not filters.repositories or set(p.repositories) & set(filters.repositories))
        ]
        if filters.q:
            shown = [p for p, _ in search.rank(filters.q, shown, lambda p: [p.template])]
        shown = shown[:100]
    return page.render(
        "patterns.html",
        tab="patterns",
        problems=list(filters.problems),
        figure=figure,
        patterns=shown,
        cross=cross,
        since=since,
        until=until,
        scope_url=lambda value: filters.url("/patterns", scope=value),
    )

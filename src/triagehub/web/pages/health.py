"""``/health``, the Health tab: per repository health, the success metrics and their trends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from triagehub.store import metrics, queries
from triagehub.web import charts
from triagehub.web.cache import Figure
from triagehub.web.deps import Dashboard, PageDep
from triagehub.web.filters import CATEGORIES, WORKING

router = APIRouter(include_in_schema=False)

SPARKLINE_REPOSITORIES = 25


def _metrics(
    dash: Dashboard, since: datetime, until: datetime, key: str, repository: str | None
) -> tuple[tuple[str, str | None, str], Callable[[], metrics.Metrics]]:
    """The cache key and the computation of the metrics of one repository (or all)."""
    compute = dash.in_session(
        metrics.compute_metrics, repository=repository, since=since, until=until
    )
    return ("metrics", repository, key), compute


def _sparklines(
    dash: Dashboard, rows: list[metrics.RepositoryHealth], window: tuple[datetime, datetime, str]
) -> tuple[dict[str, Any], dict[str, metrics.Metrics]]:
    """Each repository's failures per day as a sparkline, when there are few repositories (the
    figures not computed yet are left out: the page fills them in)."""
    sparks: dict[str, Any] = {}
    per_repo: dict[str, metrics.Metrics] = {}
    if len(rows) <= SPARKLINE_REPOSITORIES:
        for h in rows:
            key, compute = _metrics(dash, *window, h.repository)
            found = dash.figures.get(key, compute, wait=False)
            if found.value is not None:
                per_repo[h.repository] = found.value
                sparks[h.repository] = charts.sparkline([d.failures for d in found.value.trend])
    return sparks, per_repo


def _by_category(gauges: Figure[queries.StoreGauges]) -> list[tuple[str, int]]:
    """The working issues per category."""
    if gauges.value is None:
        return []
    totals: dict[str, int] = {}
    for (state, category), n in gauges.value.issues.items():
        if state in WORKING:
            totals[category] = totals.get(category, 0) + n
    return [(c, totals.get(c, 0)) for c in CATEGORIES]


@router.get("/health")
def health(page: PageDep) -> Response:
    if page.denied:
        return page.denied
    dash, filters = page.dash, page.filters
    single = filters.repositories[0] if len(filters.repositories) == 1 else None
    since, until, key = window = dash.window(filters)
    health_rows, overall, gauges, brief = dash.figures.get_many(
        [
            (
                ("health", None, key),
                dash.in_session(
                    metrics.repository_health, since=since, until=until, repository=None
                ),
            ),
            _metrics(dash, since, until, key, single),
            (("gauges",), dash.in_session(queries.store_gauges)),
            (
                ("brief", single, key),
                dash.in_session(metrics.brief_metrics, repository=single, since=since, until=until),
            ),
        ]
    )
    rows = []
    if health_rows.value is not None:
        rows = [
            h
            for h in health_rows.value
            if not filters.repositories or h.repository in filters.repositories
        ]
    sparks, per_repo = _sparklines(dash, rows, window)
    trend = None
    if overall.value is not None:
        trend = charts.trend_chart(
            "Failures, new issues and resolutions per day",
            [(d.day, d.failures, d.new_issues, d.resolved) for d in overall.value.trend],
        )
    by_category = _by_category(gauges)
    return page.render(
        "health.html",
        tab="health",
        problems=list(filters.problems),
        since=since,
        until=until,
        health_rows=health_rows,
        rows=rows,
        overall=overall,
        gauges=gauges,
        sparks=sparks,
        per_repo=per_repo,
        sparks_wanted=len(rows) <= SPARKLINE_REPOSITORIES,
        trend=trend,
        by_category=by_category,
        segments=charts.stacked_bar(by_category),
        single=single,
        pending=health_rows.pending or overall.pending or gauges.pending,
        brief=brief,
    )

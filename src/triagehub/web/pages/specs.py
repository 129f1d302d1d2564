"""``/specs`` and ``/specs/{project}/{change}``, the Specs tab: OpenSpec changes, and one change."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import queries
from triagehub.web import views
from triagehub.web.deps import PageDep

router = APIRouter(include_in_schema=False)


@router.get("/specs")
def specs(page: PageDep) -> Response:
    if page.denied:
        return page.denied
    filters = page.filters
    reader = page.dash.reader
    items, problems = page.dash.spec_items("archived" in filters.statuses)
    shown = views.filter_specs(items, filters)
    capabilities = []
    for project in reader.projects():
        capabilities += reader.specs(project)
    return page.render(
        "specs.html",
        tab="specs",
        problems=list(filters.problems) + problems,
        items=shown,
        total=len(items),
        capabilities=capabilities,
        roots=reader.roots,
        projects=reader.projects(),
    )


@router.get("/specs/{project}/{change_id}")
def spec_change(page: PageDep, project: str, change_id: str) -> Response:
    if page.denied:
        return page.denied
    reader = page.dash.reader
    try:
        found = reader.project(project)
        change = reader.change(found, change_id)
        report = reader.validate_change(found, change.id)
    except InputError:
        return page.not_found(f"spec change {change_id}")
    linked = []
    with Session(page.dash.engine) as session:
        for pk in views.linked_issue_ids(change)[:20]:
            detail = queries.get_issue(session=session, issue_id=pk, occurrences=0, max_runs=0)
            if detail is not None:
                linked.append(detail.issue)
    return page.render("spec.html", tab="specs", change=change, report=report, linked=linked)

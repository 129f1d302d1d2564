"""The Specs tab: OpenSpec changes of every project under the roots (or of the project chosen in
the selector), their activity (spec events), and one change.

- ``GET /specs[?project=]``: the changes, most urgent first; with ``project`` only that
  project's, whatever the repository filter says (a change names no repository unless its
  proposal names an issue, so that filter would hide it).
- ``GET /specs/{project}/{change}``: one change with its validation and linked issues.
- ``POST /specs/changes``: create a change (project, change id, why, optional capability).
- ``POST /specs/{project}/{change}/archive``: archive it as ``openspec archive -y`` does.

The forms need what the issue page's forms need (:func:`triagehub.web.pages.issue.writer`: the
same site, a signed-in write token, the session's CSRF token); a refused form shows the page
again with the reason (401/403, 404, 409, 422); a done one redirects with a notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import queries, spec_events
from triagehub.web import views
from triagehub.web.auth import Viewer
from triagehub.web.deps import Page, PageDep
from triagehub.web.pages.issue import Refusal, writer
from triagehub.work.specs import ConflictError, NotFoundError, Project, archive_change
from triagehub.work.specs.activity import record_archived, record_created
from triagehub.work.specs.compose import create_proposal

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]
EVENTS_SHOWN = 15
DONE = {
    "created": "Change created.",
    "archived": "Change archived: its deltas are applied to the specs in force.",
}


def _status(exc: InputError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    return 409 if isinstance(exc, ConflictError) else 422


def _project_rows(page: Page) -> list[dict[str, Any]]:
    """The selector's projects with their active and archived change counts."""
    reader = page.dash.reader
    rows = []
    for project in reader.projects():
        changes = reader.changes(project, archived=True)
        active = sum(1 for c in changes if not c.archived)
        rows.append({"id": project.id, "active": active, "archived": len(changes) - active})
    return rows


def specs_response(
    page: Page,
    *,
    project: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    """The Specs tab (optionally one project's), with a notice or a refused form's error."""
    if page.denied:
        return page.denied
    filters = page.filters
    reader = page.dash.reader
    problems = list(filters.problems)
    projects = reader.projects()
    chosen: Project | None = None
    if project:
        chosen = next((p for p in projects if p.id == project), None)
        if chosen is None:
            problems.append(f"no OpenSpec project {project[:80]!r} under the roots: all shown")
    items, spec_problems = page.dash.spec_items("archived" in filters.statuses)
    if chosen is not None:
        items = [i for i in items if i.change.project == chosen.id]
    shown = views.filter_specs(items, filters, by_repository=chosen is None)
    capabilities = []
    for p in [chosen] if chosen else projects:
        capabilities += reader.specs(p)
    with Session(page.dash.engine) as session:
        events = spec_events.recent_events(
            session=session,
            limit=EVENTS_SHOWN,
            projects=None if chosen is None else [chosen.id],
        )
    return page.render(
        "specs.html",
        tab="specs",
        status_code=status_code,
        problems=problems + spec_problems,
        items=shown,
        total=len(items),
        capabilities=capabilities,
        roots=reader.roots,
        projects=projects,
        project_rows=_project_rows(page),
        chosen=chosen,
        events=events,
        notice=notice,
        error=error,
        form=form or {},
    )


@router.get("/specs")
def specs(page: PageDep, project: str | None = None, done: str | None = None) -> Response:
    return specs_response(page, project=project, notice=DONE.get(done or ""))


def change_response(
    page: Page,
    project: str,
    change_id: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if page.denied:
        return page.denied
    reader = page.dash.reader
    try:
        found = reader.project(project)
        change = reader.change(found, change_id)
        report = reader.validate_change(found, change.id)
    except InputError:
        return page.not_found(f"spec change {change_id[:80]}")
    linked = []
    with Session(page.dash.engine) as session:
        for pk in views.linked_issue_ids(change)[:20]:
            detail = queries.get_issue(session=session, issue_id=pk, occurrences=0, max_runs=0)
            if detail is not None:
                linked.append(detail.issue)
        events = [
            e
            for e in spec_events.recent_events(session=session, limit=50, projects=[found.id])
            if e.change_id == change.id
        ]
    return page.render(
        "spec.html",
        tab="specs",
        status_code=status_code,
        change=change,
        report=report,
        linked=linked,
        events=events,
        notice=notice,
        error=error,
    )


@router.get("/specs/{project}/{change_id}")
def spec_change(page: PageDep, project: str, change_id: str, done: str | None = None) -> Response:
    return change_response(page, project, change_id, notice=DONE.get(done or ""))


def _create(page: Page, viewer: Viewer, form: dict[str, str]) -> str:
    """Create the change the form describes; the path of its page."""
    dash = page.dash
    if not form["project"]:
        raise InputError("project", "", "choose the OpenSpec project of the change")
    chosen = dash.reader.project(form["project"])
    if not form["change_id"]:
        raise InputError("change id", "", "give the change an id (kebab-case, e.g. add-login)")
    create_proposal(
        chosen,
        form["change_id"],
        form["why"],
        clock=dash.clock,
        capability=form["capability"] or None,
    )
    dash.specs_changed(chosen.changes_dir)
    change = dash.reader.change(chosen, form["change_id"])
    record_created(
        dash.engine, chosen, change.id, actor=viewer.actor, clock=dash.clock, change=change
    )
    return f"/specs/{chosen.id}/{change.id}?done=created"


@router.post("/specs/changes")
def create(
    page: PageDep,
    csrf: Text = "",
    project: Text = "",
    change_id: Text = "",
    why: Text = "",
    capability: Text = "",
) -> Response:
    form = {
        "project": project.strip()[:200],
        "change_id": change_id.strip()[:300],
        "why": why[:5000],
        "capability": capability.strip()[:300],
    }
    viewer = writer(page, csrf)
    if isinstance(viewer, Refusal):
        return specs_response(
            page,
            project=form["project"],
            error=viewer.error,
            status_code=viewer.status_code,
            form=form,
        )
    try:
        target = _create(page, viewer, form)
    except InputError as exc:
        return specs_response(
            page, project=form["project"], error=str(exc), status_code=_status(exc), form=form
        )
    return RedirectResponse(target, status_code=303)


@router.post("/specs/{project}/{change_id}/archive")
def archive(page: PageDep, project: str, change_id: str, csrf: Text = "") -> Response:
    viewer = writer(page, csrf)
    if isinstance(viewer, Refusal):
        return change_response(
            page, project, change_id, error=viewer.error, status_code=viewer.status_code
        )
    dash = page.dash
    try:
        chosen = dash.reader.project(project)
        before = dash.reader.change(chosen, change_id)
        result = archive_change(chosen, change_id, clock=dash.clock)
    except InputError as exc:
        if isinstance(exc, NotFoundError):
            return page.not_found(f"spec change {change_id[:80]}")
        return change_response(page, project, change_id, error=str(exc), status_code=_status(exc))
    dash.specs_changed(chosen.changes_dir, chosen.specs_dir)
    record_archived(
        dash.engine,
        chosen,
        result,
        actor=viewer.actor,
        clock=dash.clock,
        change=None if before.archived else before,
    )
    return RedirectResponse(
        f"/specs/{chosen.id}/{result.archived_as}?done=archived", status_code=303
    )

"""The issue page's remediation forms (plain HTML forms: a signed-in session with a write token,
a valid CSRF token, the same site), calling what the REST API calls
(:mod:`triagehub.api.routes.remediation`):

- ``POST /issues/{id}/classify``: classify again; without ``apply`` the page shows the
  difference and a confirm form, with ``apply=1`` the new classification is written.
- ``POST /issues/{id}/spec-proposal``: an OpenSpec change from the failure, in the chosen project.
- ``POST /issues/{id}/remediation``: a remediation session and the hand-off to the agent.
- ``POST /issues/{id}/remediation/{session}/cancel``: cancel a pending remediation session.
- ``POST /issues/{id}/sessions``: link an existing agent session.

A refused form shows the issue page again with the reason (401/403 sign-in or CSRF, 404, 409,
422); a done one redirects to the issue page with a notice (``?done=``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from triagehub.engine.reclassify import classify_again
from triagehub.engine.remediation import (
    assign_session,
    cancel_remediation,
    spec_proposal,
    start_remediation,
)
from triagehub.errors import InputError
from triagehub.web.auth import Viewer
from triagehub.web.deps import Page, PageDep
from triagehub.web.pages.issue import Refusal, issue_response, parse_id, writer
from triagehub.work.specs import ConflictError, NotFoundError

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]


def _act(
    page: Page,
    issue_id: str,
    csrf: str,
    action: str,
    done: Callable[[int, Viewer], str | Response],
) -> Response:
    """Check the form's sender, run ``done`` (which returns the ``?done=`` of the redirect, or
    the answer itself) and answer its refusals on the issue page."""
    pk = parse_id(issue_id)
    if pk is None:
        return page.not_found(f"issue {issue_id[:40]}")
    viewer = writer(page, csrf)
    if isinstance(viewer, Refusal):
        return issue_response(
            page, pk, error=viewer.error, failed_action=action, status_code=viewer.status_code
        )
    try:
        outcome = done(pk, viewer)
    except NotFoundError as exc:
        if exc.source == "issue":
            return page.not_found(f"issue #{pk}")
        return issue_response(page, pk, error=str(exc), failed_action=action, status_code=404)
    except InputError as exc:
        code = 409 if isinstance(exc, ConflictError) else 422
        return issue_response(page, pk, error=str(exc), failed_action=action, status_code=code)
    if isinstance(outcome, Response):
        return outcome
    return RedirectResponse(f"/issues/{pk}?done={outcome}#remediation", status_code=303)


@router.post("/issues/{issue_id}/classify")
def classify(
    page: PageDep, issue_id: str, csrf: Text = "", apply: Text = "", reason: Text = ""
) -> Response:
    """Without ``apply``: the difference, shown on the issue page with a confirm form."""
    dash = page.dash

    def run(pk: int, viewer: Viewer) -> str | Response:
        result = classify_again(
            dash.engine,
            dash.settings,
            pk,
            apply=apply == "1",
            actor=viewer.actor,
            now=dash.clock.now(),
            reason=reason.strip() or None,
        )
        return "reclassified" if result.applied else issue_response(page, pk, preview=result)

    return _act(page, issue_id, csrf, "classify", run)


@router.post("/issues/{issue_id}/spec-proposal")
def create_spec(
    page: PageDep,
    issue_id: str,
    csrf: Text = "",
    project: Text = "",
    change_id: Text = "",
    reason: Text = "",
) -> Response:
    dash = page.dash

    def run(pk: int, viewer: Viewer) -> str:
        chosen = dash.reader.project(project.strip() or None)
        spec_proposal(
            dash.engine,
            chosen,
            pk,
            clock=dash.clock,
            actor=viewer.actor,
            change_id=change_id.strip() or None,
            reason=reason,
        )
        dash.specs_changed(chosen.changes_dir)
        return "spec"

    return _act(page, issue_id, csrf, "spec", run)


@router.post("/issues/{issue_id}/remediation")
def start(page: PageDep, issue_id: str, csrf: Text = "", reason: Text = "") -> Response:
    dash = page.dash

    def run(pk: int, viewer: Viewer) -> str:
        with Session(dash.engine) as session, session.begin():
            start_remediation(
                session,
                pk,
                actor=viewer.actor,
                by=viewer.name,
                now=dash.clock.now(),
                reason=reason,
            )
        return "remediation"

    return _act(page, issue_id, csrf, "remediation", run)


@router.post("/issues/{issue_id}/remediation/{session_id}/cancel")
def cancel(
    page: PageDep, issue_id: str, session_id: str, csrf: Text = "", reason: Text = ""
) -> Response:
    dash = page.dash

    def run(pk: int, viewer: Viewer) -> str:
        with Session(dash.engine) as session, session.begin():
            cancel_remediation(
                session, pk, session_id, actor=viewer.actor, now=dash.clock.now(), reason=reason
            )
        return "cancelled"

    return _act(page, issue_id, csrf, "cancel", run)


@router.post("/issues/{issue_id}/sessions")
def assign(
    page: PageDep, issue_id: str, csrf: Text = "", session_id: Text = "", reason: Text = ""
) -> Response:
    dash = page.dash

    def run(pk: int, viewer: Viewer) -> str:
        with Session(dash.engine) as session, session.begin():
            assign_session(
                session, pk, session_id, actor=viewer.actor, now=dash.clock.now(), reason=reason
            )
        return "session"

    return _act(page, issue_id, csrf, "session", run)

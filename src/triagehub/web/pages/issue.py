"""``/issues/{id}``: one issue (summary, excerpt, charts, runs, timeline, actions), and its
actions' forms: ``POST /issues/{id}/triage`` (without JavaScript) and ``/investigate``."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from triagehub.core.models import Decision, Level
from triagehub.engine.investigate import investigate
from triagehub.engine.reclassify import Reclassification
from triagehub.errors import InputError
from triagehub.store.evidence import latest_brief
from triagehub.store.remediation import remediation_attempts
from triagehub.web import charts, views
from triagehub.web.auth import Viewer, same_origin
from triagehub.web.deps import Page, PageDep
from triagehub.web.layout import label
from triagehub.web.triage import ACTIONS, apply_action
from triagehub.work import agents
from triagehub.work.evidence import build_pack

router = APIRouter(include_in_schema=False)

MAX_ID = 2**31 - 1
SIGN_IN_TO_WRITE = "Sign in with a write token to triage (triagehub token create --scope write)."
CROSS_SITE = "refused: the form was sent from another site"
EXPIRED = "the form expired: reload the page and try again"


# What the remediation forms' redirects (``?done=``) say.
DONE = {
    "reclassified": "Classified again: the new classification is saved.",
    "spec": "Spec proposal created and linked.",
    "remediation": "Remediation session started: the hand-off to the agent is queued.",
    "session": "Session assigned to this issue.",
    "cancelled": "Remediation session cancelled: its hand-off key attaches no agent session.",
}


class Refusal(NamedTuple):
    """Why a form is refused, and the status it is answered with."""

    error: str
    status_code: int


def parse_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_ID else None


def writer(page: Page, csrf: str) -> Viewer | Refusal:
    """The viewer who may send this form (same site, a write token, a valid CSRF token)."""
    viewer = page.viewer
    if not same_origin(page.request):
        return Refusal(CROSS_SITE, 403)
    if viewer is None or not viewer.can_write:
        return Refusal(SIGN_IN_TO_WRITE, 401 if viewer is None else 403)
    if not page.dash.auth.csrf_ok(viewer, csrf):
        return Refusal(EXPIRED, 403)
    return viewer


def spec_url(page: Page, change_id: str | None) -> str | None:
    """The page of the spec change an issue is linked to, in the first project that has it."""
    if not change_id:
        return None
    reader = page.dash.reader
    for project in reader.projects():
        try:
            reader.change(project, change_id)
        except InputError:
            continue
        return f"/specs/{project.id}/{change_id}"
    return None


def spec_projects(page: Page) -> list[str]:
    """The ids of the OpenSpec projects under the configured roots (the spec proposal's
    choices)."""
    try:
        return [p.id for p in page.dash.reader.projects()]
    except InputError:
        return []


def issue_response(
    page: Page,
    issue_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    failed_action: str | None = None,
    status_code: int = 200,
    preview: Reclassification | None = None,
) -> Response:
    now = page.dash.clock.now
    with Session(page.dash.engine) as session:
        found = views.issue_page(session, issue_id, now().date())
        sessions_ = agents.sessions_for_issue(session, issue_id, now=now())
        pack = build_pack(session=session, issue_id=issue_id) if found is not None else None
        brief = latest_brief(session=session, issue_id=issue_id) if found is not None else None
        attempts = remediation_attempts(session, [issue_id]).get(issue_id, [])
        activity = {
            r.session.session_id: agents.get_session(
                session, r.session.session_id, now=now(), events=8
            ).events
            for r in sessions_[:5]
        }
    if found is None:
        return page.not_found(f"issue #{issue_id}")
    return page.render(
        "issue.html",
        tab=None,
        status_code=status_code,
        page=found,
        issue=found.detail.issue,
        occurrence_chart=charts.daily_bars("Failures per day", found.by_day, unit="failures"),
        agent_sessions=sessions_,
        remediation_sessions=[r.session for r in sessions_],
        session_via=agents.LINK_REASONS,
        pack=pack,
        brief=brief,
        spec_url=spec_url(page, found.lifecycle.get("spec_change")),
        decisions=[d.value for d in Decision],
        levels=[p.value for p in Level],
        notice=notice,
        error=error,
        failed_action=failed_action,
        timeline_all=page.request.query_params.get("timeline") == "all",
        attempts=attempts,
        activity=activity,
        projects=spec_projects(page),
        preview=preview,
    )


@router.get("/issues/{issue_id}")
def issue(page: PageDep, issue_id: str, done: str | None = None) -> Response:
    if page.denied:
        return page.denied
    pk = parse_id(issue_id)
    if pk is None:
        return page.not_found(f"issue {issue_id[:40]}")
    notice = f"Saved: {label(done)}." if done in ACTIONS else DONE.get(done or "")
    return issue_response(page, pk, notice=notice)


@router.post("/issues/{issue_id}/triage")
def triage(
    page: PageDep,
    issue_id: str,
    action: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    decision: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
    snooze: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    occurrences: Annotated[str, Form()] = "",
) -> Response:
    """The form fallback of the issue page's actions: the same store functions as
    ``PATCH /api/v1/issues/{id}``, for a signed-in session with a write token."""
    pk = parse_id(issue_id)
    if pk is None:
        return page.not_found(f"issue {issue_id[:40]}")
    viewer = writer(page, csrf)
    if isinstance(viewer, Refusal):
        failed = None if viewer.error == CROSS_SITE else action
        return issue_response(
            page, pk, error=viewer.error, failed_action=failed, status_code=viewer.status_code
        )
    values = {
        "decision": decision,
        "priority": priority,
        "assignee": assignee,
        "state": state,
        "snooze": snooze,
        "until": until,
        "occurrences": occurrences,
    }
    now = page.dash.clock.now()
    try:
        apply_action(
            page.dash.engine,
            pk,
            action=action,
            reason=reason,
            values=values,
            actor=viewer.actor,
            now=now,
        )
    except LookupError:
        return page.not_found(f"issue #{pk}")
    except InputError as exc:
        conflict = exc.source == "state" or (exc.source == "snooze" and exc.location == str(pk))
        return issue_response(
            page,
            pk,
            error=str(exc),
            failed_action=action,
            status_code=409 if conflict else 422,
        )
    return RedirectResponse(f"/issues/{pk}?done={action}#actions", status_code=303)


@router.post("/issues/{issue_id}/investigate")
def issue_investigate(page: PageDep, issue_id: str, csrf: Annotated[str, Form()] = "") -> Response:
    """The issue page's Investigate button: Claude's brief (or why there is none), for a
    signed-in session with a write token; the page then shows the brief."""
    pk = parse_id(issue_id)
    if pk is None:
        return page.not_found(f"issue {issue_id[:40]}")
    viewer = writer(page, csrf)
    if isinstance(viewer, Refusal):
        return issue_response(page, pk, error=viewer.error, status_code=viewer.status_code)
    dash = page.dash
    try:
        result = investigate(dash.engine, dash.settings, pk, clock=dash.clock)
    except InputError:
        return page.not_found(f"issue #{pk}")
    if result.brief is not None:
        return RedirectResponse(f"/issues/{pk}#investigation-brief", status_code=303)
    notice = f"No brief ({result.status}: {result.detail}); the evidence pack is below."
    return issue_response(page, pk, notice=notice)

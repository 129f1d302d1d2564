"""The remediation workflow of an issue, each with a ``write`` token and on the timeline:

- ``POST /api/v1/issues/{id}/classify``: classify the latest failure again with the current
  rules; a dry run shows the difference, ``{"apply": true}`` writes it (``reclassified``).
- ``POST /api/v1/issues/{id}/spec-proposal``: an OpenSpec change scaffolded from the failure in
  the chosen project, linked to the issue (``spec_linked``).
- ``POST /api/v1/issues/{id}/remediation``: a pending ``error_remediation`` session and the
  hand-off to the coding agent (``remediation_started``, ``handed_off``).
- ``POST /api/v1/issues/{id}/remediation/{session}/cancel``: cancel a pending remediation
  session (``remediation_cancelled``); its key attaches no agent session any more.
- ``POST /api/v1/issues/{id}/sessions``: link an existing agent session (``session_assigned``).

The dashboard's forms (:mod:`triagehub.web.pages.remediation`) call the same engine functions.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.api.auth import WriteCaller
from triagehub.api.common import NO_NUL, PREFIX, IdPath, JSONBody
from triagehub.api.deps import ClockDep, EngineDep, ReaderDep, SettingsDep
from triagehub.api.problems import ApiProblem, input_problem, not_found
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.remediation import (
    AssignedSessionOut,
    AssignSessionIn,
    CancelledSessionOut,
    CancelRemediationIn,
    ClassifyIn,
    ReclassificationOut,
    RemediationIn,
    RemediationOut,
    SpecProposalIn,
    SpecProposalOut,
)
from triagehub.engine.reclassify import classify_again
from triagehub.engine.remediation import (
    assign_session,
    cancel_remediation,
    spec_proposal,
    start_remediation,
)
from triagehub.errors import InputError
from triagehub.work.specs import ConflictError, NotFoundError

router = APIRouter(prefix=PREFIX)
SessionPath = Annotated[
    str,
    PathParam(
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="The session's id, or the hand-off key it was started under.",
    ),
]
T = TypeVar("T")


def _checked(issue_id: int, fn: Callable[[], T]) -> T:
    """``fn()``, its ``InputError`` answered as its problem."""
    try:
        return fn()
    except InputError as exc:
        raise problem(exc, issue_id) from None


def _in_transaction(engine: Engine, issue_id: int, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in one transaction, its ``InputError`` answered as its problem."""

    def run() -> T:
        with Session(engine) as session, session.begin():
            return fn(session)

    return _checked(issue_id, run)


def problem(exc: InputError, issue_id: int) -> ApiProblem:
    """An unknown issue is a 404, a conflict a 409, other bad input a 422."""
    if isinstance(exc, NotFoundError):
        if exc.source == "issue":
            return not_found("issue", issue_id)
        return ApiProblem(404, "not-found", "Not Found", str(exc))
    return input_problem(exc, 409 if isinstance(exc, ConflictError) else 422)


@router.post(
    "/issues/{issue_id}/classify",
    tags=["issues"],
    response_model=None,
    responses={200: {"model": ReclassificationOut}, **problem_responses(400, 401, 403, 404, 422)},
)
def post_classify(
    caller: WriteCaller,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    issue_id: IdPath,
    body: ClassifyIn | None = None,
) -> Response:
    """Classify the issue's latest failure again with the rules configured now (the LLM's
    verdict and the fields a person set stay laid over it, as at ingest) and show the
    difference with what the issue holds: category, kind, severity, priority, history class,
    decision, expert, confidence, rationale. A dry run by default (nothing written);
    `apply: true` writes the new classification and records it on the timeline."""
    body = body or ClassifyIn()
    result = _checked(
        issue_id,
        lambda: classify_again(
            engine,
            settings,
            issue_id,
            apply=body.apply,
            actor=caller.actor,
            now=clock.now(),
            reason=body.reason,
        ),
    )
    return JSONBody(result.to_json())


@router.post(
    "/issues/{issue_id}/spec-proposal",
    tags=["issues"],
    response_model=None,
    status_code=201,
    responses={
        200: {"model": SpecProposalOut, "description": "Linked already: its change"},
        201: {"model": SpecProposalOut, "description": "Created and linked"},
        **problem_responses(400, 401, 403, 404, 409, 422),
    },
)
def post_spec_proposal(
    caller: WriteCaller,
    engine: EngineDep,
    clock: ClockDep,
    reader: ReaderDep,
    issue_id: IdPath,
    body: SpecProposalIn,
) -> Response:
    """Scaffold an OpenSpec change from the failure in the chosen project (`project`: an id of
    `GET /api/v1/specs`): a proposal whose Why holds the failure's title, key error lines,
    failing checks and the evidence pack's link, tasks, and one ADDED requirement, as
    `openspec new change` lays it out; the issue links to it. Choosing the spec path sets
    the decision to `needs_spec` (an override on the timeline) when it was another. An issue
    linked already answers its change (200); another `change_id` for it is a 409."""

    def run() -> tuple[dict[str, Any], bool]:
        project = reader.project(body.project)
        linked = spec_proposal(
            engine,
            project,
            issue_id,
            clock=clock,
            actor=caller.actor,
            change_id=body.change_id,
            capability=body.capability,
            reason=body.reason,
        )
        reader.invalidate(project.changes_dir)
        change = reader.change(project, linked.change_id)
        report = reader.validate_change(project, change.folder)
        answer = {
            **linked.to_json(),
            "project": project.id,
            "change": change.summary_json(),
            "validation": report.to_json(),
        }
        return answer, linked.created

    answer, created = _checked(issue_id, run)
    return JSONBody(answer, status_code=201 if created else 200)


@router.post(
    "/issues/{issue_id}/remediation",
    tags=["issues"],
    response_model=None,
    status_code=201,
    responses={201: {"model": RemediationOut}, **problem_responses(400, 401, 403, 404, 409, 422)},
)
def post_remediation(
    caller: WriteCaller,
    engine: EngineDep,
    clock: ClockDep,
    issue_id: IdPath,
    body: RemediationIn | None = None,
) -> Response:
    """Start a remediation session: a pending `error_remediation` session linked to the issue
    (its id is the hand-off key), and the hand-off to the configured coding agent
    (`lifecycle.agent_handle`) as `/triage fix` does it: a comment on the mirrored GitHub issue
    with the agent's mention, the brief or the evidence, the task and `agent_env`. The agent's
    hook events carrying `TRIAGEHUB_REMEDIATION` (or naming the issue) take the session over."""
    started = _in_transaction(
        engine,
        issue_id,
        lambda session: start_remediation(
            session,
            issue_id,
            actor=caller.actor,
            by=caller.token.name if caller.token else "api",
            now=clock.now(),
            reason=body.reason if body else None,
        ),
    )
    return JSONBody(started.to_json(), status_code=201)


@router.post(
    "/issues/{issue_id}/remediation/{session_id}/cancel",
    tags=["issues"],
    response_model=None,
    responses={
        200: {"model": CancelledSessionOut},
        **problem_responses(400, 401, 403, 404, 409, 422),
    },
)
def post_cancel_remediation(
    caller: WriteCaller,
    engine: EngineDep,
    clock: ClockDep,
    issue_id: IdPath,
    session_id: SessionPath,
    body: CancelRemediationIn | None = None,
) -> Response:
    """Cancel a pending remediation session of the issue (its id or hand-off key): it becomes
    `cancelled`, its hand-off key attaches no agent session any more (a hook event carrying
    it is refused, 409), a hand-off comment not posted yet is not posted, and its remediation
    attempt's outcome is `cancelled`. Cancelling it again answers the same (idempotent); a
    session an agent took over already is a 409, one the issue does not have a 404."""
    view = _in_transaction(
        engine,
        issue_id,
        lambda session: cancel_remediation(
            session,
            issue_id,
            session_id,
            actor=caller.actor,
            now=clock.now(),
            reason=body.reason if body else None,
        ),
    )
    return JSONBody({"issue_id": issue_id, "session": view.to_json()})


@router.post(
    "/issues/{issue_id}/sessions",
    tags=["issues"],
    response_model=None,
    responses={
        200: {"model": AssignedSessionOut},
        **problem_responses(400, 401, 403, 404, 409, 422),
    },
)
def post_assign_session(
    caller: WriteCaller,
    engine: EngineDep,
    clock: ClockDep,
    issue_id: IdPath,
    body: AssignSessionIn,
) -> Response:
    """Link an existing agent session (its id, or the hand-off key it was started under) to
    the issue. A `spec_implementation` session is refused (422); a session linked to another
    issue or to a spec change is a 409 (a session has exactly one work item)."""
    view = _in_transaction(
        engine,
        issue_id,
        lambda session: assign_session(
            session,
            issue_id,
            body.session_id,
            actor=caller.actor,
            now=clock.now(),
            reason=body.reason,
        ),
    )
    return JSONBody({"issue_id": issue_id, "session": view.to_json()})

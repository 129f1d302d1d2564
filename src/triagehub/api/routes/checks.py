"""``/api/v1/checks``: checks with their history, and one check with the issues it failed in."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.api.auth import ReadCaller
from triagehub.api.common import (
    NO_NUL,
    PREFIX,
    CursorParam,
    IdPath,
    JSONBody,
    Limit,
    RepositoryParam,
    page_json,
)
from triagehub.api.deps import EngineDep
from triagehub.api.problems import not_found
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.runs import CheckDetailOut, CheckPage
from triagehub.store import queries

router = APIRouter(prefix=PREFIX)


@router.get(
    "/checks",
    tags=["checks"],
    response_model=None,
    responses={200: {"model": CheckPage}, **problem_responses(401, 422)},
)
def list_checks(
    caller: ReadCaller,
    engine: EngineDep,
    repository: RepositoryParam = None,
    flaky: bool | None = None,
    failing: Annotated[bool | None, Query(description="The last run failed.")] = None,
    q: Annotated[str | None, Query(max_length=queries.MAX_TEXT_QUERY, pattern=NO_NUL)] = None,
    cursor: CursorParam = None,
    limit: Limit = 50,
) -> Response:
    """Checks with their history: runs, failures, last pass and failure, flaky flag and the
    outcomes of the latest runs."""
    with Session(engine) as session:
        page = queries.list_checks(
            session=session,
            repository=repository,
            flaky=flaky,
            failing=failing,
            text=q or None,
            limit=limit,
            cursor=cursor,
        )
    return JSONBody(page_json(page))


@router.get(
    "/checks/{check_id}",
    tags=["checks"],
    response_model=None,
    responses={200: {"model": CheckDetailOut}, **problem_responses(401, 404, 422)},
)
def get_check(caller: ReadCaller, engine: EngineDep, check_id: IdPath) -> Response:
    """A check with its history and the issues it failed in."""
    with Session(engine) as session:
        view = queries.get_check(session=session, check_id=check_id)
    if view is None:
        raise not_found("check", check_id)
    return JSONBody(view.to_json())

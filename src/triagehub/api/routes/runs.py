"""``/api/v1/runs``: runs, newest first, and one run with its failures."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from datetime import datetime
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
    check_range,
    page_json,
    utc,
)
from triagehub.api.deps import EngineDep
from triagehub.api.problems import not_found
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.runs import RunDetailOut, RunPage
from triagehub.store import queries

router = APIRouter(prefix=PREFIX)


@router.get(
    "/runs",
    tags=["runs"],
    response_model=None,
    responses={200: {"model": RunPage}, **problem_responses(401, 422)},
)
def list_runs(
    caller: ReadCaller,
    engine: EngineDep,
    repository: RepositoryParam = None,
    source: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
    status: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
    branch: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: CursorParam = None,
    limit: Limit = 50,
) -> Response:
    """Runs, newest first."""
    check_range(since, until)
    with Session(engine) as session:
        page = queries.list_runs(
            session=session,
            repository=repository,
            source=source,
            status=status,
            branch=branch,
            since=utc(since),
            until=utc(until),
            limit=limit,
            cursor=cursor,
        )
    return JSONBody(page_json(page))


@router.get(
    "/runs/{run_id}",
    tags=["runs"],
    response_model=None,
    responses={200: {"model": RunDetailOut}, **problem_responses(401, 404, 422)},
)
def get_run(caller: ReadCaller, engine: EngineDep, run_id: IdPath) -> Response:
    """A run and its failures."""
    with Session(engine) as session:
        view = queries.get_run(session=session, run_id=run_id)
    if view is None:
        raise not_found("run", run_id)
    return JSONBody(view.to_json())

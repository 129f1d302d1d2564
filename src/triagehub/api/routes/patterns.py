"""``/api/v1/patterns``: template families across checks and repositories."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.api.auth import ReadCaller
from triagehub.api.common import PREFIX, JSONBody, RepositoryParam, utc
from triagehub.api.deps import EngineDep
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.runs import PatternOut
from triagehub.store import queries

router = APIRouter(prefix=PREFIX)


@router.get(
    "/patterns",
    tags=["patterns"],
    response_model=None,
    responses={200: {"model": list[PatternOut]}, **problem_responses(401, 422)},
)
def list_patterns(
    caller: ReadCaller,
    engine: EngineDep,
    since: datetime | None = None,
    repository: RepositoryParam = None,
    min_repositories: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 100,
) -> Response:
    """Template families across checks and repositories, most frequent since `since`
    first (`min_repositories=2`: cross-repository patterns only)."""
    with Session(engine) as session:
        views = queries.list_patterns(
            session=session,
            since=utc(since),
            repository=repository,
            min_repositories=min_repositories,
            limit=limit,
        )
    return JSONBody([v.to_json() for v in views])

"""``/api/v1/repositories`` and ``/api/v1/metrics``: health and success metrics over a time range
(computed by :mod:`triagehub.store.metrics`)."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.api.auth import ReadCaller
from triagehub.api.common import (
    PREFIX,
    JSONBody,
    RepositoryParam,
    SinceParam,
    UntilParam,
    window,
)
from triagehub.api.deps import ClockDep, EngineDep
from triagehub.api.schemas.common import problem_responses
from triagehub.store.metrics import brief_metrics, compute_metrics, repository_health

router = APIRouter(prefix=PREFIX)


@router.get(
    "/repositories",
    tags=["metrics"],
    response_model=None,
    responses={200: {"model": list[dict[str, Any]]}, **problem_responses(401, 422)},
)
def list_repositories(
    caller: ReadCaller,
    engine: EngineDep,
    clock: ClockDep,
    repository: RepositoryParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
) -> Response:
    """Repositories with their health score and figures for the time range."""
    start, end = window(since, until, clock.now())
    with Session(engine) as session:
        health = repository_health(session, since=start, until=end, repository=repository)
    return JSONBody([h.to_json() for h in health])


@router.get(
    "/metrics",
    tags=["metrics"],
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **problem_responses(401, 422)},
)
def get_metrics(
    caller: ReadCaller,
    engine: EngineDep,
    clock: ClockDep,
    repository: RepositoryParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
) -> Response:
    """The success metrics over a time range, overall or for one repository: noise
    reduction, time to first triage and to resolution, auto-resolution and override rates,
    escalations, SLA breaches, run success rate and the trend per day."""
    start, end = window(since, until, clock.now())
    with Session(engine) as session:
        metrics = compute_metrics(session, repository=repository, since=start, until=end)
    return JSONBody(metrics.to_json())


@router.get(
    "/metrics/brief",
    tags=["metrics"],
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **problem_responses(401, 422)},
)
def get_brief_metrics(
    caller: ReadCaller,
    engine: EngineDep,
    clock: ClockDep,
    repository: RepositoryParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
) -> Response:
    """The brief's success metrics over a time range, each with its definition, target,
    verdict (``met``) and the previous range's value (``previous``, ``trend``)."""
    start, end = window(since, until, clock.now())
    with Session(engine) as session:
        found = brief_metrics(session, repository=repository, since=start, until=end)
    return JSONBody(
        {
            "repository": repository,
            "since": start.isoformat().replace("+00:00", "Z"),
            "until": end.isoformat().replace("+00:00", "Z"),
            "metrics": [m.to_json() for m in found],
        }
    )

"""The app's own pages outside the OpenAPI document: Prometheus ``GET /metrics`` (read access, as
the API's reads) and the offline ``GET /docs``."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from triagehub.api.deps import StateDep
from triagehub.api.docs import DOCS_HEADERS, DOCS_HTML

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request, state: StateDep) -> Response:
    state.auth.caller(request, need="read")
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML, headers=DOCS_HEADERS)

"""``/api/v1/hooks`` and ``/api/v1/agents``: AI agents' hook events (Claude Code's hook JSON, at
most 1 MB, with a ``write`` token: the hook script sends ``$TRIAGEHUB_API_TOKEN``) and their
sessions."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from triagehub.api.common import PREFIX
from triagehub.api.deps import ClockDep, EngineDep
from triagehub.api.routes.specs_common import ROUTER_OPTIONS, authorized, call, json_body
from triagehub.core.sanitize import clean_json
from triagehub.work import agents

MAX_HOOK_BYTES = 1_000_000

router = APIRouter(prefix=PREFIX, **ROUTER_OPTIONS)


@router.post("/hooks", status_code=202)
async def hooks(request: Request, engine: EngineDep, clock: ClockDep) -> Any:
    denied = await authorized(request)
    if denied is not None:
        return denied
    raw = await json_body(request, MAX_HOOK_BYTES)
    if isinstance(raw, JSONResponse):
        return raw

    def run() -> JSONResponse:
        # Cleaned at the boundary: no control character, no secret reaches the store.
        payload = clean_json(raw)
        with Session(engine) as session, session.begin():
            result = agents.ingest_hook(session, payload, now=clock.now())
        code = 200 if result.status == "duplicate" else 202
        return JSONResponse(result.to_json(), status_code=code)

    return await call(run)


@router.get("/agents")
async def list_agents(
    engine: EngineDep,
    clock: ClockDep,
    status: agents.SessionStatus | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> Any:
    def run() -> dict[str, Any]:
        with Session(engine) as session:
            views = agents.list_sessions(session, now=clock.now(), status=status, limit=limit)
        return {"sessions": [v.to_json() for v in views]}

    return await call(run)


@router.get("/agents/{session_id}")
async def show_agent(
    session_id: str,
    engine: EngineDep,
    clock: ClockDep,
    events: int = Query(default=50, ge=0, le=1000),
) -> Any:
    def run() -> dict[str, Any]:
        with Session(engine) as session:
            return agents.get_session(session, session_id, now=clock.now(), events=events).to_json()

    return await call(run)

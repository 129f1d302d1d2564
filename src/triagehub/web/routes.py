"""The dashboard's routes: server-rendered pages over the store's query functions.

| URL | page |
|---|---|
| ``/`` | All Work: open issues and spec changes together, most urgent first |
| ``/errors`` | Errors: every issue, sortable, one keyset page at a time |
| ``/specs``, ``/specs/{project}/{change}`` | OpenSpec changes, and one change |
| ``/sessions``, ``/sessions/{session_id}`` | AI agent sessions, and one session |
| ``/patterns`` | failure templates across checks and repositories |
| ``/health`` | per repository health, the success metrics and their trends (SVG) |
| ``/issues/{id}`` | one issue: summary, excerpt, charts, runs, timeline, actions |
| ``POST /issues/{id}/triage`` | the actions' form fallback (without JavaScript) |
| ``/login``, ``POST /logout`` | dashboard sessions (see :mod:`triagehub.web.auth`) |
| ``/static/{name}`` | the dashboard's own script and style sheet |

Every page takes the shared filters of :mod:`triagehub.web.filters` from its URL. Pages are sent
with a strict Content Security Policy: scripts and styles come from ``/static`` only.

Each page is a module-level router of :mod:`triagehub.web.pages`; they find what they share (the
engine, the settings, the clock, the templates...) on ``app.state`` through the dependencies of
:mod:`triagehub.web.deps`. This module assembles them for an app.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Engine

from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.web.deps import Dashboard
from triagehub.web.pages import ROUTERS
from triagehub.work.specs import OpenSpecReader


def web_router(
    engine: Engine, settings: Settings, clock: Clock, *, reader: OpenSpecReader | None = None
) -> APIRouter:
    """The dashboard's routes (kept out of the OpenAPI document); their lifespan puts the
    dashboard's services on ``app.state`` and stops them with the app. ``reader``: the API's
    OpenSpec reader, shared (warmed by its monitor); else the dashboard opens its own."""
    dashboard = Dashboard.open(engine, settings, clock, reader=reader)
    router = APIRouter(lifespan=dashboard.lifespan, include_in_schema=False)
    for page in ROUTERS:
        router.include_router(page)
    return router


__all__ = ["web_router"]

"""The dashboard's pages: one module-level router per page or tab, included by
:func:`triagehub.web.routes.web_router` in :data:`ROUTERS` order."""

from __future__ import annotations

from fastapi import APIRouter

from triagehub.web.pages import (
    errors,
    health,
    issue,
    login,
    patterns,
    remediation,
    sessions,
    specs,
    static,
    work,
)

ROUTERS: tuple[APIRouter, ...] = (
    static.router,
    work.router,
    errors.router,
    specs.router,
    sessions.router,
    patterns.router,
    health.router,
    issue.router,
    remediation.router,
    login.router,
)

__all__ = ["ROUTERS"]

"""The app's routers, one module per resource. ``API_ROUTERS`` are the ``/api/v1`` routers in
the order their routes were declared (FastAPI orders the OpenAPI paths by registration)."""

from __future__ import annotations

from fastapi import APIRouter

from triagehub.api.routes import (
    checks,
    evidence,
    export,
    ingestion,
    issues,
    metrics,
    patterns,
    remediation,
    runs,
    stream,
)

API_ROUTERS: tuple[APIRouter, ...] = (
    issues.router,
    patterns.router,
    runs.router,
    checks.router,
    metrics.router,
    ingestion.router,
    export.router,
    stream.router,
    evidence.router,
    remediation.router,
)

__all__ = ["API_ROUTERS"]

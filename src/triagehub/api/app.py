"""The FastAPI application: the shared objects on ``app.state`` (read by the routes' dependencies,
:mod:`triagehub.api.deps`), the lifespan that runs the job worker, the monitor (and its spec
scan), the OpenSpec watcher and ends the live streams, the routers in their order, the problem
handlers and the middleware.

``GET /healthz`` and the GitHub webhook receiver ``POST /webhooks/github`` are
:mod:`triagehub.api.routes.webhooks`; the REST API ``/api/v1`` is :mod:`triagehub.api.v1`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from triagehub import __version__
from triagehub.api.auth import ApiAuth
from triagehub.api.deps import ApiState, state_of
from triagehub.api.docs import problem_openapi
from triagehub.api.middleware import BodyLimit, PlainUrl
from triagehub.api.problems import install_problem_handlers
from triagehub.api.prometheus import app_metrics, install_metrics
from triagehub.api.routes import API_ROUTERS, agents, specs, support, webhooks
from triagehub.api.routes.webhooks import (
    MAX_PAYLOAD_BYTES,
    WEBHOOKS_OFF_REASON,
    WebhookConfig,
    signature_of,
)
from triagehub.api.stream import StreamHub
from triagehub.api.webhook_delivery import HANDLED, handle_delivery
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.engine.jobs import JobWorker
from triagehub.engine.monitor import MonitorLoop, notify_change
from triagehub.engine.spec_scan import SCAN_SECONDS, SpecScanLoop
from triagehub.web.routes import web_router
from triagehub.work.specs import OpenSpecReader
from triagehub.work.specs.monitor import SpecMonitor
from triagehub.work.specs.snapshot import default_snapshot_dir

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

__all__ = [
    "HANDLED",
    "MAX_PAYLOAD_BYTES",
    "WEBHOOKS_OFF_REASON",
    "WebhookConfig",
    "create_app",
    "handle_delivery",
    "signature_of",
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the worker, the monitor and the OpenSpec monitor (which warms the reader and starts
    its watcher in the background); on shutdown end the live streams and stop them, in the
    reverse order."""
    state = state_of(app)
    if state.worker is not None:
        state.worker.start()
    if state.monitor is not None:
        state.monitor.start()
    if state.spec_scan is not None:
        state.spec_scan.start()
    try:
        if state.spec_monitor is not None:
            state.spec_monitor.start()  # warms the reader in its own thread: nothing waits
        try:
            yield
        finally:
            state.hub.close()
            if state.spec_monitor is not None:
                await run_in_threadpool(state.spec_monitor.stop)
            state.reader.close()
    finally:
        if state.spec_scan is not None:
            state.spec_scan.stop()
        if state.monitor is not None:
            state.monitor.stop()
        if state.worker is not None:
            state.worker.stop()


def scan_soon(state: ApiState) -> None:
    """The reader's monitor saw changes appear, go or progress: record their spec events now."""
    if state.spec_scan is not None:
        state.spec_scan.wake()


def create_app(
    engine: Engine,
    settings: Settings,
    webhook: WebhookConfig,
    *,
    clock: Clock | None = None,
    run_worker: bool = True,
    run_monitor: bool = False,
    github: GitHubClient | None = None,
) -> FastAPI:
    """The FastAPI application. Without a secret the dashboard and the API work, and the webhook
    route answers 503 saying why, unless ``webhook.insecure`` (``--insecure-no-webhook-secret``)
    accepts unsigned deliveries."""
    the_clock = clock or SystemClock()
    reader = OpenSpecReader(
        settings.openspec.roots,
        scan_seconds=settings.openspec.scan_minutes * 60,
        snapshot_dir=default_snapshot_dir(),
    )
    app = FastAPI(
        title="triagehub",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # /docs is served by triagehub.api.routes.support (offline: no CDN assets)
        redoc_url=None,
    )
    reader = OpenSpecReader(
        settings.openspec.roots, scan_seconds=settings.openspec.scan_minutes * 60
    )
    scan_every = min(SCAN_SECONDS, settings.openspec.scan_minutes * 60)
    state = ApiState(
        engine=engine,
        settings=settings,
        clock=the_clock,
        auth=ApiAuth(engine, settings.api, the_clock),
        github=github,
        webhook=webhook,
        hub=StreamHub(settings.api.stream_poll_seconds),
        reader=reader,
        metrics=app_metrics(engine),
        worker=JobWorker(engine, settings, github=github) if run_worker else None,
        monitor=MonitorLoop(engine, settings, on_change=notify_change) if run_monitor else None,
        spec_monitor=SpecMonitor(reader) if reader.roots else None,
        spec_scan=(
            SpecScanLoop(engine, reader, the_clock, interval=scan_every)
            if run_monitor and settings.openspec.roots
            else None
        ),
    )
    if state.spec_monitor is not None and state.spec_scan is not None:
        state.spec_monitor.on_change(lambda _project, _folders: scan_soon(state))
    app.state.triagehub = state
    # FastAPI orders the OpenAPI paths by registration: the routers in the order their routes
    # were first declared in.
    for router in (specs.router, agents.router, webhooks.router, *API_ROUTERS, support.router):
        app.include_router(router)
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, limit=int(settings.api.max_upload_mb * 1024 * 1024))
    app.add_middleware(PlainUrl)
    install_metrics(app, state.metrics)  # added last: outermost, so it also times the 413s
    app.openapi = functools.partial(problem_openapi, app)  # type: ignore[method-assign]
    app.include_router(web_router(engine, settings, the_clock, reader=reader))
    return app

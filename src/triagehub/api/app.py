"""The HTTP interface: ``GET /healthz`` and the GitHub webhook receiver.

``POST /webhooks/github`` checks, in order: size (413), content type (415), the
``X-Hub-Signature-256`` HMAC with the webhook secret, compared in constant time (401), the event
and delivery headers (400), the delivery id (a redelivery is answered 200 "duplicate" and stored
once), the JSON (400), then the event: ``ping`` is answered; ``workflow_run``, ``workflow_job``
and ``check_run`` with action ``completed`` are translated and ingested in the same transaction as
the delivery record as a durable job (an invalid payload is 422 and stores nothing), answered 202
at once and ingested by the worker thread right after; anything else is 202 with the reason it
was ignored. ``issues`` and ``issue_comment`` deliveries about the GitHub issues triagehub syncs
are queued the same way
(:func:`triagehub.engine.sync.github_inbound.queue_issue_event`). Every error is a JSON
``{"error": ..., "reason": ...}``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from triagehub import __version__
from triagehub.api.evidence import evidence_router
from triagehub.api.specs import specs_router
from triagehub.api.v1 import ApiAuth, api_router, install_api_support
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.sanitize import clean_json
from triagehub.engine.ingest_jobs import GITHUB_EVENTS, INGEST_WEBHOOK
from triagehub.engine.jobs import JobWorker, enqueue
from triagehub.engine.monitor import MonitorLoop, notify_change
from triagehub.engine.sync.github_adopt import queue_adoption
from triagehub.engine.sync.github_inbound import ISSUE_EVENTS, queue_issue_event
from triagehub.errors import InputError
from triagehub.web.routes import web_router
from triagehub.work.agent_prs import PR_EVENT, record_pull_request

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient
from triagehub.store import tables as t
from triagehub.store.dialect import bounded_lock_wait, is_transient

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
HANDLED = GITHUB_EVENTS


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secret: bytes | None
    insecure: bool = False  # accept unsigned deliveries (no secret configured)


WEBHOOKS_OFF_REASON = (
    "TRIAGEHUB_WEBHOOK_SECRET is not set on the server: unsigned deliveries are refused (set it "
    "to the webhook's secret, or start the server with --insecure-no-webhook-secret)"
)


def signature_of(secret: bytes, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256`` value for a body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _problem(status: int, error: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": error, "reason": reason}, status_code=status)


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
    webhooks_off = webhook.secret is None and not webhook.insecure
    worker = JobWorker(engine, settings, github=github) if run_worker else None
    monitor = MonitorLoop(engine, settings, on_change=notify_change) if run_monitor else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        if monitor is not None:
            monitor.start()
        try:
            yield
        finally:
            if monitor is not None:
                monitor.stop()
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="triagehub",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # /docs is served by triagehub.api.v1 (offline: no CDN assets)
        redoc_url=None,
    )
    app.include_router(specs_router(engine, settings, clock))
    now = (clock or SystemClock()).now

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(select(1))
        return {"status": "ok", "version": __version__}

    @app.post("/webhooks/github", response_model=None)
    async def github_webhook(request: Request) -> JSONResponse:
        if webhooks_off:
            return _problem(503, "webhooks_disabled", WEBHOOKS_OFF_REASON)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_PAYLOAD_BYTES):
            return _problem(413, "payload_too_large", f"the limit is {MAX_PAYLOAD_BYTES} bytes")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _problem(
                415,
                "unsupported_media_type",
                f"content type {ctype or 'none'!r}: configure the webhook to send application/json",
            )
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_PAYLOAD_BYTES:
                return _problem(413, "payload_too_large", f"the limit is {MAX_PAYLOAD_BYTES} bytes")
        raw = bytes(body)
        if webhook.secret is not None:
            given = request.headers.get("x-hub-signature-256", "")
            if not given:
                return _problem(401, "unsigned", "X-Hub-Signature-256 is missing")
            if not hmac.compare_digest(given.encode(), signature_of(webhook.secret, raw).encode()):
                return _problem(401, "bad_signature", "X-Hub-Signature-256 does not match")
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        if not event or not delivery:
            return _problem(
                400, "missing_header", "X-GitHub-Event and X-GitHub-Delivery are required"
            )
        if len(delivery) > 100 or len(event) > 60:
            return _problem(400, "bad_header", "X-GitHub-Event or X-GitHub-Delivery is too long")
        if not (delivery.isprintable() and event.isprintable()):
            return _problem(
                400, "bad_header", "X-GitHub-Event or X-GitHub-Delivery holds a control character"
            )
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _problem(400, "malformed_json", str(exc))
        if not isinstance(payload, dict):
            return _problem(400, "malformed_json", "the payload is not a JSON object")
        # The database work runs in a worker thread, never on the event loop (a lock held
        # elsewhere must not stall /healthz and every other request), and waits for locks at
        # most WEBHOOK_LOCK_WAIT_S: GitHub gives up on a delivery after 10 s.
        return await run_in_threadpool(
            handle_delivery, engine, settings, event, delivery, payload, now
        )

    api_clock = clock or SystemClock()
    api_auth = ApiAuth(engine, settings.api, api_clock)
    app.include_router(api_router(engine, settings, api_clock, api_auth))
    app.include_router(evidence_router(engine, settings, api_clock, api_auth, github))
    install_api_support(app, engine, settings, api_auth)
    app.include_router(web_router(engine, settings, clock or SystemClock()))
    return app


def handle_delivery(
    engine: Engine,
    settings: Settings,
    event: str,
    delivery: str,
    payload: Mapping[str, Any],
    now: Callable[[], Any],
) -> JSONResponse:
    """Record a verified delivery and its ingest job in one transaction, and answer."""
    try:
        cleaned = clean_json(payload)
    except InputError as exc:
        return _problem(422, "invalid_payload", f"{exc.location}: {exc.reason}")
    assert isinstance(cleaned, dict)
    payload = cleaned  # stored and ingested cleaned: no NUL, no control character, no secret
    action = payload.get("action")
    action = action if isinstance(action, str) else None
    translate = HANDLED.get(event)
    status, detail, code = "ignored", "", 202
    if event == "ping":
        status, detail, code = "pong", "pong", 200
    elif event == PR_EVENT:
        pass  # recorded below, in the delivery's transaction
    elif translate is None and event not in ISSUE_EVENTS:
        detail = f"event {event!r} is not handled"
    elif action != "completed":
        detail = f"{event} action {action!r} is not handled (only 'completed')"
    try:
        with Session(engine) as session, session.begin(), bounded_lock_wait(session):
            seen = session.execute(
                select(t.webhook_deliveries.c.status).where(
                    t.webhook_deliveries.c.delivery_id == delivery
                )
            ).scalar()
            if seen is not None:
                return JSONResponse({"status": "duplicate", "delivery": delivery}, status_code=200)
            if event == PR_EVENT:  # a pull request fixing a mirrored issue (an agent's)
                status, detail = record_pull_request(session, settings, payload, now())
            elif event in ISSUE_EVENTS:  # people's changes on GitHub issues (actions.sync)
                adopted = queue_adoption(session, settings, event, delivery, payload, now())
                if adopted is not None:  # a person's labelled issue (sync.github_adopt)
                    status, detail = adopted
                else:
                    status, detail = queue_issue_event(session, event, delivery, payload, now())
            elif translate is not None and action == "completed":
                # Validate now (an invalid payload is refused with 422), ingest in the worker.
                if translate(payload) is None:
                    detail = "nothing to record"
                else:
                    enqueue(
                        session,
                        kind=INGEST_WEBHOOK,
                        key=f"github:{delivery}",
                        data={"event": event, "delivery": delivery, "payload": dict(payload)},
                        now=now(),
                    )
                    status, code = "queued", 202
            session.execute(
                insert(t.webhook_deliveries).values(
                    delivery_id=delivery,
                    event=event,
                    action=action,
                    status=status,
                    detail=detail,
                    received_at=now(),
                )
            )
    except InputError as exc:
        return _problem(422, "invalid_payload", f"{exc.location}: {exc.reason}")
    except OperationalError as exc:
        if not is_transient(exc):
            raise
        log.warning("webhook delivery %s not recorded: the database is busy (%s)", delivery, exc)
        return JSONResponse(
            {"error": "busy", "reason": "the database is busy; redeliver later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    except IntegrityError:
        # The same delivery arrived twice at once: the other request stored it.
        return JSONResponse({"status": "duplicate", "delivery": delivery}, status_code=200)
    body: dict[str, Any] = {"status": status, "delivery": delivery}
    if detail:
        body["reason"] = detail
    return JSONResponse(body, status_code=code)

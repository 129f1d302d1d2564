"""``GET /healthz`` and ``POST /webhooks/github``, the GitHub webhook receiver.

``POST /webhooks/github`` checks, in order: size (413), content type (415), the
``X-Hub-Signature-256`` HMAC with the webhook secret, compared in constant time (401), the event
and delivery headers (400), the delivery id (a redelivery is answered 200 "duplicate" and stored
once), the JSON (400), then the event (:mod:`triagehub.api.webhook_delivery`). Every error is a
JSON ``{"error": ..., "reason": ...}``.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

import hashlib
import hmac
from dataclasses import dataclass

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from triagehub import __version__
from triagehub.api.common import capped_body, declared_too_large
from triagehub.api.deps import EngineDep, StateDep
from triagehub.api.webhook_batch import writer_of
from triagehub.api.webhook_delivery import plain_problem

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
WEBHOOKS_OFF_REASON = (
    "TRIAGEHUB_WEBHOOK_SECRET is not set on the server: unsigned deliveries are refused (set it "
    "to the webhook's secret, or start the server with --insecure-no-webhook-secret)"
)
TOO_LARGE = f"the limit is {MAX_PAYLOAD_BYTES} bytes"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secret: bytes | None
    insecure: bool = False  # accept unsigned deliveries (no secret configured)


def signature_of(secret: bytes, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256`` value for a body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


router = APIRouter()


@router.get("/healthz")
def healthz(engine: EngineDep) -> dict[str, str]:
    with engine.connect() as conn:
        conn.execute(select(1))
    return {"status": "ok", "version": __version__}


@router.post("/webhooks/github", response_model=None)
async def github_webhook(request: Request, state: StateDep) -> JSONResponse:
    webhook = state.webhook
    if webhook.secret is None and not webhook.insecure:
        return plain_problem(503, "webhooks_disabled", WEBHOOKS_OFF_REASON)
    if declared_too_large(request, MAX_PAYLOAD_BYTES):
        return plain_problem(413, "payload_too_large", TOO_LARGE)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return plain_problem(
            415,
            "unsupported_media_type",
            f"content type {ctype or 'none'!r}: configure the webhook to send application/json",
        )
    raw = await capped_body(request, MAX_PAYLOAD_BYTES)
    if raw is None:
        return plain_problem(413, "payload_too_large", TOO_LARGE)
    refused = _refused(request, webhook, raw)
    if refused is not None:
        return refused
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return plain_problem(400, "malformed_json", str(exc))
    if not isinstance(payload, dict):
        return plain_problem(400, "malformed_json", "the payload is not a JSON object")
    # The database work runs in the app's delivery writer thread, in batches, never on the
    # event loop (a lock held elsewhere must not stall /healthz and every other request), and
    # waits for locks at most LOCK_WAIT_S (5 s): GitHub gives up on a delivery after 10 s.
    writer = writer_of(request.app, state.engine, state.settings, state.clock.now)
    return await writer.submit(event, delivery, payload)


def _refused(request: Request, webhook: WebhookConfig, raw: bytes) -> JSONResponse | None:
    """The signature's and the event and delivery headers' problem, if any."""
    if webhook.secret is not None:
        given = request.headers.get("x-hub-signature-256", "")
        if not given:
            return plain_problem(401, "unsigned", "X-Hub-Signature-256 is missing")
        if not hmac.compare_digest(given.encode(), signature_of(webhook.secret, raw).encode()):
            return plain_problem(401, "bad_signature", "X-Hub-Signature-256 does not match")
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    if not event or not delivery:
        return plain_problem(
            400, "missing_header", "X-GitHub-Event and X-GitHub-Delivery are required"
        )
    if len(delivery) > 100 or len(event) > 60:
        return plain_problem(400, "bad_header", "X-GitHub-Event or X-GitHub-Delivery is too long")
    if not (delivery.isprintable() and event.isprintable()):
        return plain_problem(
            400, "bad_header", "X-GitHub-Event or X-GitHub-Delivery holds a control character"
        )
    return None

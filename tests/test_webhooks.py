"""The GitHub webhook receiver, driven over HTTP with GitHub's real payload examples."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from triagehub.api.app import WebhookConfig, create_app, signature_of
from triagehub.config import Settings
from triagehub.engine.jobs import pending, process_jobs
from triagehub.store import tables as t
from triagehub.store.queries import counts, list_issues

GITHUB = Path(__file__).parent / "data" / "github"
SECRET = b"It's a Secret to Everybody"


def payload(name: str) -> bytes:
    return (GITHUB / name).read_bytes()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(engine, Settings(), WebhookConfig(SECRET), run_worker=False)
    with TestClient(app) as c:
        yield c


def post(
    client: TestClient,
    body: bytes,
    *,
    event: str,
    delivery: str = "d-1",
    secret: bytes | None = SECRET,
    headers: dict[str, str] | None = None,
) -> Any:
    h = {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery,
    }
    if secret is not None:
        h["x-hub-signature-256"] = signature_of(secret, body)
    h.update(headers or {})
    return client.post("/webhooks/github", content=body, headers=h)


def stored(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        deliveries = session.execute(
            select(func.count()).select_from(t.webhook_deliveries)
        ).scalar_one()
        return int(deliveries), counts(session=session).runs


def test_signature_matches_githubs_documented_vector() -> None:
    assert signature_of(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_healthz(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_ping_is_answered(client: TestClient) -> None:
    answer = post(client, b'{"zen": "Keep it logically awesome.", "hook_id": 1}', event="ping")
    assert answer.status_code == 200 and answer.json()["status"] == "pong"


def test_failed_job_is_acknowledged_then_ingested_once(client: TestClient, engine: Engine) -> None:
    body = payload("workflow_job.completed_failure.1.json")
    first = post(client, body, event="workflow_job", delivery="abc")
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "queued"
    again = post(client, body, event="workflow_job", delivery="abc")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert stored(engine) == (1, 0)
    assert pending(engine) == 1
    assert process_jobs(engine, Settings()) == 1
    assert stored(engine) == (1, 1)
    assert pending(engine) == 0 and process_jobs(engine, Settings()) == 0
    with Session(engine) as session:
        issues = list_issues(session=session)
    assert issues and all(i.source == "github-actions" for i in issues)


def test_forged_and_missing_signatures_are_refused(client: TestClient, engine: Engine) -> None:
    body = payload("workflow_job.completed_failure.1.json")
    forged = post(client, body, event="workflow_job", secret=b"not the secret")
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    unsigned = post(client, body, event="workflow_job", secret=None)
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "unsigned"
    assert stored(engine) == (0, 0)


def test_truncated_json_is_refused(client: TestClient, engine: Engine) -> None:
    body = payload("workflow_job.completed_failure.1.json")
    answer = post(client, body[: len(body) // 2], event="workflow_job")
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_json"
    assert stored(engine) == (0, 0)


def test_oversized_payload_is_refused(client: TestClient, engine: Engine) -> None:
    body = b'{"pad": "' + b"x" * (30 * 1024 * 1024) + b'"}'
    answer = post(client, body, event="workflow_job")
    assert answer.status_code == 413
    assert stored(engine) == (0, 0)


def test_wrong_content_type_is_refused(client: TestClient) -> None:
    answer = post(
        client,
        b"payload=%7B%7D",
        event="workflow_job",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 415 and "application/json" in answer.json()["reason"]


def test_missing_headers_are_refused(client: TestClient) -> None:
    answer = client.post(
        "/webhooks/github",
        content=b"{}",
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": signature_of(SECRET, b"{}"),
        },
    )
    assert answer.status_code == 400 and answer.json()["error"] == "missing_header"


def test_unknown_events_and_actions_are_acknowledged_and_ignored(
    client: TestClient, engine: Engine
) -> None:
    star = post(client, b'{"action": "created"}', event="star", delivery="s")
    assert star.status_code == 202 and "not handled" in star.json()["reason"]
    queued = post(
        client, payload("workflow_job.queued_None.5.json"), event="workflow_job", delivery="q"
    )
    assert queued.status_code == 202 and "only 'completed'" in queued.json()["reason"]
    assert stored(engine) == (2, 0)


def test_invalid_payload_is_422_and_stores_nothing(client: TestClient, engine: Engine) -> None:
    body = json.loads(payload("workflow_job.completed_failure.1.json"))
    body["workflow_job"]["steps"] = "not a list"
    answer = post(client, json.dumps(body).encode(), event="workflow_job", delivery="bad")
    assert answer.status_code == 422 and answer.json()["error"] == "invalid_payload"
    assert stored(engine) == (0, 0)


def test_without_a_secret_webhooks_answer_503_and_the_rest_works(engine: Engine) -> None:
    off = create_app(engine, Settings(), WebhookConfig(None), run_worker=False)
    with TestClient(off) as c:
        answer = post(c, b'{"zen": "x"}', event="ping", secret=None)
        assert answer.status_code == 503
        assert answer.json()["error"] == "webhooks_disabled"
        assert "TRIAGEHUB_WEBHOOK_SECRET" in answer.json()["reason"]
        assert c.get("/healthz").status_code == 200
        assert c.get("/api/v1/issues").status_code == 200
        assert c.get("/").status_code == 200
    assert stored(engine) == (0, 0)
    app = create_app(engine, Settings(), WebhookConfig(None, insecure=True), run_worker=False)
    with TestClient(app) as c:
        answer = post(c, b'{"zen": "x"}', event="ping", secret=None)
    assert answer.status_code == 200


def test_every_job_of_a_run_is_kept(client: TestClient, engine: Engine) -> None:
    first = json.loads(payload("workflow_job.completed_failure.1.json"))
    second = json.loads(payload("workflow_job.completed_failure.1.json"))
    second["workflow_job"]["id"] += 1
    second["workflow_job"]["name"] = "tests"
    for i, body in enumerate((first, second)):
        answer = post(client, json.dumps(body).encode(), event="workflow_job", delivery=f"j{i}")
        assert answer.json()["status"] == "queued"
    process_jobs(engine, Settings())
    assert stored(engine) == (2, 2)


def test_queued_deliveries_survive_a_restart(engine: Engine) -> None:
    stopped = create_app(engine, Settings(), WebhookConfig(SECRET), run_worker=False)
    with TestClient(stopped) as c:
        post(c, payload("workflow_job.completed_failure.1.json"), event="workflow_job")
    assert pending(engine) == 1  # the process "died" before its worker ran
    restarted = create_app(engine, Settings(), WebhookConfig(SECRET))  # with its worker
    with TestClient(restarted):
        deadline = time.monotonic() + 20
        while pending(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert pending(engine) == 0
    assert stored(engine) == (1, 1)


def test_a_delivery_waiting_on_a_lock_does_not_stall_other_requests(
    client: TestClient, engine: Engine
) -> None:
    """The webhook's database work runs off the event loop with a bounded lock wait: while it
    waits on a lock held elsewhere, /healthz is answered; the delivery then ends with 503 (busy,
    redeliver) or 202, never a hung request."""
    body = payload("workflow_job.completed_failure.1.json")
    holder = engine.connect()
    if engine.dialect.name == "sqlite":
        holder.exec_driver_sql("BEGIN IMMEDIATE")  # the database write lock
    else:
        holder.exec_driver_sql("BEGIN")
        holder.exec_driver_sql("LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE")
    answers: dict[str, int] = {}

    def deliver() -> None:
        answers["webhook"] = post(client, body, event="workflow_job", delivery="locked").status_code

    sender = threading.Thread(target=deliver)
    try:
        sender.start()
        while not sender.is_alive():
            time.sleep(0.01)
        time.sleep(0.2)  # let the delivery reach the lock
        health = client.get("/healthz")
        assert health.status_code == 200
        assert sender.is_alive(), "the delivery ended before the lock was released"
    finally:
        holder.rollback()
        holder.close()
        sender.join(timeout=60)
    assert answers["webhook"] in (202, 503)


def test_served_connections_send_without_waiting_for_acks() -> None:
    """``serve``'s socket gives every accepted connection TCP_NODELAY: a response is two writes
    (headers, body), and with Nagle's algorithm on, each one on a kept-alive connection waited
    for the client's delayed ACK (~40 ms)."""
    import asyncio
    import socket

    from triagehub.cli.server import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    options: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            options.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def connect_once() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.read()  # until the server closes it
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(connect_once())
    assert options and options[0] != 0

"""A small stateful fake of the dbt Cloud Administrative API v2 (runs and run artifacts).

A real HTTP server on 127.0.0.1 (an ephemeral port, ``fake.base_url`` is the access URL).
Usage::

    with FakeDbtCloud() as fake:
        fake.add_run(make_run(101, status=ERROR, finished_at=...), {"run_results.json": data})
        fake.script(Reply(429, headers={"Retry-After": "7"}))  # the next answers, in order
        fake.broken["/api/v2/accounts/43/runs/101/artifacts/run_results.json"] = Reply(503)
        client = DbtCloudClient(fake.token, fake.account_id, host=fake.base_url, ...)

What it does, as dbt Cloud documents it (https://docs.getdbt.com/dbt-cloud/api-v2):

* ``GET /api/v2/accounts/{account_id}/runs/``: the runs of ``fake.runs`` filtered by
  ``job_definition_id``, ordered by ``order_by`` (``id``, ``created_at``, ``finished_at``, each
  with ``-`` for descending; runs without a ``finished_at`` come first in descending order, as
  PostgreSQL sorts NULLs), paginated with ``limit`` (default and maximum 100; more is a 400) and
  ``offset``, in the envelope ``{"status": {...}, "data": [...], "extra": {"filters": ...,
  "order_by": ..., "pagination": {"count": n, "total_count": N}}}``.
* ``GET /api/v2/accounts/{account_id}/runs/{id}/``: one run.
* Both honour ``include_related`` (a JSON list such as ``["job","run_steps"]``, or a comma list):
  ``job``, ``trigger`` and ``run_steps`` are filled in only when asked (else ``null`` / ``[]``).
* ``GET /api/v2/accounts/{account_id}/runs/{id}/artifacts/{path}``: the bytes of
  ``fake.artifacts[(id, path)]`` (``application/json``), else 404.
* ``Authorization`` other than ``Token <fake.token>`` or ``Bearer <fake.token>`` answers 401
  ``Invalid token.``; another account id answers 404. Errors use dbt Cloud's envelope with
  ``status.user_message``.

``fake.script(*behaviours)`` queues answers taken, one per request, before any of the above:
:class:`Reply` (any status, body and headers) or :class:`Disconnect` (close the connection
without answering). ``fake.broken[path]`` answers every request for that exact path with a
:class:`Reply`. Every request is recorded in ``fake.requests``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TOKEN = "dbtc_FakeServiceToken0123456789abcdefABCDEF"
ACCOUNT_ID = 43
PROJECT_ID = 270542
ENVIRONMENT_ID = 218762
QUEUED, STARTING, RUNNING, SUCCESS, ERROR, CANCELLED = 1, 2, 3, 10, 20, 30
HUMANIZED = {
    QUEUED: "Queued",
    STARTING: "Starting",
    RUNNING: "Running",
    SUCCESS: "Success",
    ERROR: "Error",
    CANCELLED: "Cancelled",
}
MAX_LIMIT = 100
_RELATED = ("job", "trigger", "run_steps")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``body`` is JSON-encoded unless it is bytes."""

    status: int
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without answering (the client sees a transport error)."""


Behaviour = Reply | Disconnect


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names


def envelope_error(status: int, message: str) -> dict[str, Any]:
    return {
        "status": {
            "code": status,
            "is_success": False,
            "user_message": message,
            "developer_message": "",
        },
        "data": None,
    }


def cloud_time(moment: datetime | None) -> str | None:
    """A time as dbt Cloud writes it (``2026-11-20 06:41:00.123456+00:00``)."""
    return None if moment is None else moment.astimezone(UTC).isoformat(sep=" ")


def make_step(name: str, status: int = SUCCESS, logs: str = "", index: int = 1) -> dict[str, Any]:
    return {
        "id": 9_000_000 + index,
        "index": index,
        "name": name,
        "status": status,
        "status_humanized": HUMANIZED[status],
        "logs": logs,
        "debug_logs": "",
        "truncated_debug_logs": "",
    }


def make_run(
    run_id: int,
    *,
    status: int,
    finished_at: datetime | None,
    job_id: int = 1001,
    job_name: str = "Nightly build",
    branch: str = "main",
    git_sha: str | None = None,
    steps: list[dict[str, Any]] | None = None,
    status_message: str | None = None,
) -> dict[str, Any]:
    """A run object shaped like the API's (``job``, ``trigger``, ``run_steps`` included)."""
    created = (finished_at or datetime(2026, 11, 20, tzinfo=UTC)) - timedelta(minutes=10)
    complete = status in (SUCCESS, ERROR, CANCELLED)
    return {
        "id": run_id,
        "trigger_id": 5_000_000 + run_id,
        "account_id": ACCOUNT_ID,
        "environment_id": ENVIRONMENT_ID,
        "project_id": PROJECT_ID,
        "job_definition_id": job_id,
        "status": status,
        "status_humanized": HUMANIZED[status],
        "status_message": status_message,
        "dbt_version": "1.11.16",
        "git_branch": branch,
        "git_sha": git_sha or f"{run_id:040x}",
        "created_at": cloud_time(created),
        "updated_at": cloud_time(finished_at or created),
        "dequeued_at": cloud_time(created + timedelta(seconds=5)),
        "started_at": cloud_time(created + timedelta(seconds=30)),
        "finished_at": cloud_time(finished_at) if complete else None,
        "is_complete": complete,
        "is_success": status == SUCCESS,
        "is_error": status == ERROR,
        "is_cancelled": status == CANCELLED,
        "in_progress": status in (STARTING, RUNNING),
        "href": f"https://cloud.getdbt.com/deploy/{ACCOUNT_ID}/projects/{PROJECT_ID}/runs/{run_id}/",
        "job": {"id": job_id, "name": job_name, "account_id": ACCOUNT_ID},
        "trigger": {"id": 5_000_000 + run_id, "cause": "Kicked off from the scheduler"},
        "run_steps": steps if steps is not None else [],
    }


class FakeDbtCloud:
    def __init__(self, *, token: str = DEFAULT_TOKEN, account_id: int = ACCOUNT_ID) -> None:
        self.token = token
        self.account_id = account_id
        self.runs: list[dict[str, Any]] = []
        self.artifacts: dict[tuple[int, str], bytes] = {}
        self.broken: dict[str, Reply] = {}
        self.requests: list[Recorded] = []
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- set-up ---------------------------------------------------------------------------

    def add_run(self, run: dict[str, Any], artifacts: Mapping[str, bytes] | None = None) -> None:
        with self._lock:
            self.runs.append(run)
            for path, data in (artifacts or {}).items():
                self.artifacts[(run["id"], path)] = data

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def next_behaviour(self) -> Behaviour | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.runs)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _related(query: Mapping[str, str]) -> set[str]:
    raw = query.get("include_related", "").strip()
    if not raw:
        return set()
    if raw.startswith("["):
        value = json.loads(raw)
        return {str(v) for v in value} if isinstance(value, list) else set()
    return {part.strip() for part in raw.split(",") if part.strip()}


def _shown(run: Mapping[str, Any], related: set[str]) -> dict[str, Any]:
    out = dict(run)
    for name in _RELATED:
        if name not in related:
            out[name] = [] if name == "run_steps" else None
    return out


def _ordered(runs: list[dict[str, Any]], order_by: str) -> list[dict[str, Any]]:
    """``runs`` in ``order_by`` order; NULLs first descending, last ascending (as PostgreSQL)."""
    name = order_by.removeprefix("-")
    descending = order_by.startswith("-")
    nulls = [r for r in runs if r.get(name) is None]
    values = [r for r in runs if r.get(name) is not None]

    def key(run: Mapping[str, Any]) -> Any:
        value = run[name]
        return value if isinstance(value, int) else datetime.fromisoformat(value)

    values.sort(key=key, reverse=descending)
    return nulls + values if descending else values + nulls


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDbtCloud

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Recorded(
            method="GET",
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        self.fake.record(request)
        behaviour = self.fake.next_behaviour() or self.fake.broken.get(parts.path)
        if isinstance(behaviour, Disconnect):
            self.close_connection = True
            return
        if isinstance(behaviour, Reply):
            raw = behaviour.body
            if isinstance(raw, bytes):
                body = raw
            else:
                body = b"" if raw is None else json.dumps(raw).encode()
            headers = {"Content-Type": "application/json", **behaviour.headers}
            self._send(behaviour.status, body, headers)
            return
        auth = request.headers.get("authorization", "")
        if auth not in (f"Token {self.fake.token}", f"Bearer {self.fake.token}"):
            self._json(401, envelope_error(401, "Invalid token."))
            return
        self._route(request)

    def _route(self, request: Recorded) -> None:
        segments = [unquote(s) for s in request.path.strip("/").split("/")]
        if segments[:3] != ["api", "v2", "accounts"] or len(segments) < 5:
            self._json(404, envelope_error(404, "The requested resource was not found."))
            return
        if segments[3] != str(self.fake.account_id):
            self._json(404, envelope_error(404, "Account not found."))
            return
        rest = segments[4:]
        if rest == ["runs"]:
            self._list_runs(request.query)
        elif len(rest) == 2 and rest[0] == "runs" and rest[1].isdigit():
            self._get_run(int(rest[1]), request.query)
        elif len(rest) >= 4 and rest[0] == "runs" and rest[1].isdigit() and rest[2] == "artifacts":
            self._artifact(int(rest[1]), "/".join(rest[3:]))
        else:
            self._json(404, envelope_error(404, "The requested resource was not found."))

    def _list_runs(self, query: Mapping[str, str]) -> None:
        runs = self.fake.snapshot()
        job = query.get("job_definition_id")
        if job:
            runs = [r for r in runs if str(r["job_definition_id"]) == job]
        order_by = query.get("order_by", "id")
        if order_by.removeprefix("-") not in ("id", "created_at", "finished_at"):
            self._json(400, envelope_error(400, f"Invalid order_by: {order_by}"))
            return
        runs = _ordered(runs, order_by)
        try:
            limit = int(query.get("limit", MAX_LIMIT))
            offset = int(query.get("offset", 0))
        except ValueError:
            self._json(400, envelope_error(400, "limit and offset must be integers"))
            return
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            self._json(400, envelope_error(400, f"limit must be between 1 and {MAX_LIMIT}"))
            return
        related = _related(query)
        page = [_shown(r, related) for r in runs[offset : offset + limit]]
        self._json(
            200,
            {
                "status": {"code": 200, "is_success": True, "user_message": "Success!"},
                "data": page,
                "extra": {
                    "filters": {"account_id": self.fake.account_id, "limit": limit},
                    "order_by": order_by,
                    "pagination": {"count": len(page), "total_count": len(runs)},
                },
            },
        )

    def _get_run(self, run_id: int, query: Mapping[str, str]) -> None:
        for run in self.fake.snapshot():
            if run["id"] == run_id:
                data = _shown(run, _related(query))
                self._json(200, {"status": {"code": 200, "is_success": True}, "data": data})
                return
        self._json(404, envelope_error(404, "The requested resource was not found."))

    def _artifact(self, run_id: int, path: str) -> None:
        data = self.fake.artifacts.get((run_id, path))
        if data is None:
            self._json(404, envelope_error(404, "The requested resource was not found."))
            return
        self._send(200, data, {"Content-Type": "application/json"})

    def _json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

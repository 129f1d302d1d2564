"""The REST API, ``/api/v1``: issues, triage, patterns, runs, checks, repositories, metrics,
ingestion, export and the live event stream; plus what the app around it needs: one problem
shape for every error (:mod:`triagehub.api.problems`), bearer-token auth
(:mod:`triagehub.api.auth`), Prometheus ``/metrics`` and an offline ``/docs`` page. This module
names the pieces where they have always been imported from.

Thin by design: parameters are parsed and validated by the routes (one module per resource in
:mod:`triagehub.api.routes`), the reading is done by the query functions of
:mod:`triagehub.store.queries`, the writing by :mod:`triagehub.store.triage`,
:mod:`triagehub.store.lifecycle` and :mod:`triagehub.engine.ingest`.

**Errors** are RFC 9457 problem documents (``application/problem+json``): ``type``, ``title``,
``status``, ``detail``, ``instance``, and ``errors`` (``location``, ``message``) for invalid input.

**Auth**: ``Authorization: Bearer th_...`` with a token made by ``triagehub token create``. Write
endpoints need a ``write`` token (401 without a valid token, 403 with a ``read`` one); reads are
open unless ``api.require_token_for_reads`` is set. A token that is given must be valid.

**Live stream** (``GET /api/v1/stream``): server-sent events read from the database, so that
changes made by any process show up: every ``stream_poll_seconds`` the stream reads the timeline
(``issue_events``), the occurrences and the AI agents' hook events with ids above the last ones
sent. Each event's id is the cursor ``e<issue event>-o<occurrence>-a<agent event>`` of everything
sent so far: a client that reconnects with ``Last-Event-ID`` (browsers do it by themselves) gets
what it missed, in order. Ids left out of a batch (a transaction still committing on PostgreSQL,
whose sequence numbers can commit out of order) are looked for again for a minute. A comment line
every 15 s keeps proxies from closing an idle stream. A stream ends when the client goes away
and when the server shuts down (the app's lifespan, or SIGINT/SIGTERM under uvicorn).
"""

from triagehub.api.auth import ApiAuth, Caller, read_caller, write_caller
from triagehub.api.common import PREFIX, IdPath, JSONBody
from triagehub.api.problems import (
    PROBLEM_JSON,
    ApiProblem,
    install_problem_handlers,
    problem_response,
)
from triagehub.api.routes import API_ROUTERS
from triagehub.api.schemas.common import Problem, problem_responses
from triagehub.api.stream import _HUBS, STREAM_HOLE_TTL_S, StreamCursor, StreamHub, _Tail

__all__ = [
    "API_ROUTERS",
    "PREFIX",
    "PROBLEM_JSON",
    "STREAM_HOLE_TTL_S",
    "_HUBS",
    "ApiAuth",
    "ApiProblem",
    "Caller",
    "IdPath",
    "JSONBody",
    "Problem",
    "StreamCursor",
    "StreamHub",
    "_Tail",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
    "read_caller",
    "write_caller",
]

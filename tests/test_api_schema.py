"""Schemathesis against the app's own OpenAPI document: generated requests for every operation
(valid and invalid ones) find no server error and no response outside the documented status
codes, content types, headers and schemas. SQLite only; a few examples per operation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import SystemClock
from triagehub.config import Settings
from triagehub.engine.ingest import ingest_reports
from triagehub.sources.events import parse_objects
from triagehub.store import db as store_db
from triagehub.store.queries import create_api_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    folder: Path = tmp_path_factory.mktemp("schema")
    engine = store_db.open_database(f"sqlite:///{folder / 'triagehub.db'}")
    events = [
        {
            "repository": f"acme/r{n % 2}",
            "check": f"tests/test_{n}.py::t",
            "message": ["AssertionError: 1 != 2", "Connection refused"][n % 2],
            "at": f"2026-11-0{1 + n % 5}T00:00:00Z",
        }
        for n in range(12)
    ]
    ingest_reports(engine, parse_objects(events, "seed"), Settings())
    with Session(engine) as session, session.begin():
        _, token = create_api_token(
            session=session, name="schemathesis", scope="write", now=SystemClock().now()
        )
    app = create_app(engine, Settings(), WebhookConfig(None, insecure=True), run_worker=False)
    with TestClient(app):  # runs the lifespan
        # The endless event stream, and the webhook (its own error shape, tested elsewhere),
        # are left out.
        schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
            path_regex="^/(api/v1/stream|webhooks/)"
        )
        yield schema, token
    engine.dispose()


# The operations of triagehub.api.v1 (and the app's own /healthz); routes other modules add to
# the app are run too, but their findings are reported as expected failures of their own.
OWN = re.compile(
    r"^/(healthz|api/v1/(issues|patterns|runs|checks|repositories|metrics|events|reports|export))"
)


# schemathesis' own pytest integration (``from_fixture``) does not run on pytest 9.2 (it reads
# a private attribute pytest dropped), so the operations are driven with Hypothesis directly.
def run_operations(schema: Any, token: str, mode: GenerationMode, own: bool) -> list[str]:
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if bool(OWN.match(op.path)) == own]
    assert operations

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            pass  # nothing to generate (no negative request exists for /healthz)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
            failures.append(f"{operation.label}: {exc}")
    return failures


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_api_conforms_to_its_openapi(api_schema: tuple[Any, str], mode: GenerationMode) -> None:
    schema, token = api_schema
    failures = run_operations(schema, token, mode, own=True)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_other_routes_conform_to_the_openapi(
    api_schema: tuple[Any, str], mode: GenerationMode
) -> None:
    schema, token = api_schema
    failures = run_operations(schema, token, mode, own=False)
    assert not failures, "\n\n".join(failures)

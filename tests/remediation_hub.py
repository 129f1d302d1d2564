"""A hub for the remediation workflow's tests (#25): an app over a migrated store with an OpenSpec
project, write/read/revoked tokens, a Playwright failure ingested through the API, and helpers to
post the workflow's actions through the REST API and the dashboard's forms."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from test_api import make_tokens  # write: ci, read: grafana, revoked: old
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.store import tables as t

DATA = Path(__file__).resolve().parent / "data"
REPO = "acme/web"
CHECK = "demo.spec.js › triage demo › fails: wrong heading text"
# The Playwright report's run finished then (stats.startTime + duration).
FAILED_AT = datetime(2026, 11, 21, 23, 19, 43, 465357, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PROJECT = "web"

# action -> (path under /issues/{id}/, a good API body, the timeline entry it writes)
ACTIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "classify": ("classify", {"apply": True, "reason": "rules changed"}, "reclassified"),
    "spec": ("spec-proposal", {"project": PROJECT, "reason": "keeps failing"}, "spec_linked"),
    "remediation": ("remediation", {"reason": "agent, please fix"}, "remediation_started"),
    "session": ("sessions", {"session_id": "sess-manual", "reason": "mine"}, "session_assigned"),
}


def hub_settings(root: Path, **extra: Any) -> Settings:
    return parse_settings(
        {
            "openspec": {"roots": [str(root)]},
            "lifecycle": {"agent_handle": "claude"},
            "api": {"stream_poll_seconds": 0.05},
            **extra,
        },
        "<remediation test config>",
    )


def make_project(root: Path) -> Path:
    """An empty OpenSpec project ``web`` (as ``openspec init`` leaves its folders)."""
    project = root / PROJECT
    if (project / "openspec").is_dir():
        return project  # made by the real CLI (openspec init)
    for folder in ("specs", "changes/archive"):
        (project / "openspec" / folder).mkdir(parents=True, exist_ok=True)
    (project / "openspec" / "config.yaml").write_text("schema: spec-driven\n", encoding="utf-8")
    return project


class Hub:
    def __init__(self, client: TestClient, engine: Engine, tokens: dict[str, str], root: Path):
        self.client = client
        self.engine = engine
        self.tokens = tokens
        self.root = root
        self.issue_id = 0

    def auth(self, scope: str = "write") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def post(self, path: str, body: dict[str, Any] | None, scope: str | None = "write") -> Any:
        headers = self.auth(scope) if scope else {}
        return self.client.post(f"/api/v1{path}", json=body, headers=headers)

    def action(self, name: str, issue_id: int | None = None, **body: Any) -> Any:
        path, good, _ = ACTIONS[name]
        return self.post(f"/issues/{issue_id or self.issue_id}/{path}", {**good, **body})

    def hook(self, session_id: str, event: str, **triagehub: Any) -> Any:
        payload: dict[str, Any] = {"session_id": session_id, "hook_event_name": event}
        if event in ("PreToolUse", "PostToolUse"):
            payload.update(tool_name="Bash", tool_input={"command": "npx playwright test"})
        payload["triagehub"] = triagehub
        return self.client.post("/api/v1/hooks", json=payload, headers=self.auth())

    def events(self, kind: str, issue_id: int | None = None) -> list[dict[str, Any]]:
        e = t.issue_events.c
        with Session(self.engine) as session:
            return [
                dict(r)
                for r in session.execute(
                    select(e.kind, e.actor, e.at, e.data)
                    .where(e.issue_id == (issue_id or self.issue_id), e.kind == kind)
                    .order_by(e.id)
                ).mappings()
            ]

    def timeline_size(self) -> int:
        with Session(self.engine) as session:
            rows = session.execute(
                select(t.issue_events.c.id).where(t.issue_events.c.issue_id == self.issue_id)
            ).all()
        return len(rows)

    def issue(self, issue_id: int | None = None) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/issues/{issue_id or self.issue_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def sign_in(self, scope: str = "write") -> str:
        """Sign the client in; the session's CSRF token (from the issue page)."""
        answer = self.client.post(
            "/login", data={"token": self.tokens[scope], "next": "/"}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
        page = self.client.get(f"/issues/{self.issue_id}").text
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert match, "no CSRF token on the page of a signed-in session"
        return match.group(1)

    def form(self, name: str, data: dict[str, str], issue: str | None = None, **kw: Any) -> Any:
        path = ACTIONS[name][0]
        target = f"/issues/{issue or self.issue_id}/{path}"
        return self.client.post(target, data=data, follow_redirects=False, **kw)

    def events_api(self, events: list[dict[str, Any]]) -> None:
        answer = self.client.post("/api/v1/events", json=events, headers=self.auth())
        assert answer.status_code == 200, answer.text


def playwright_report(finished: datetime | None = None) -> bytes:
    """The recorded Playwright report; with ``finished``, the same run moved to end then (a new
    run with the same failures)."""
    raw = (DATA / "playwright" / "report.json").read_bytes()
    if finished is None:
        return raw
    report = json.loads(raw)
    duration = timedelta(milliseconds=float(report["stats"]["duration"]))
    report["stats"]["startTime"] = (finished - duration).isoformat().replace("+00:00", "Z")
    return json.dumps(report).encode()


def upload_report(client: TestClient, token: str, finished: datetime | None = None) -> None:
    report = playwright_report(finished)
    answer = client.post(
        "/api/v1/reports/playwright",
        params={"repository": REPO},
        files={"file": ("report.json", report, "application/json")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text


def issue_of(engine: Engine, check: str) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(t.issues.c.id)
                .join(t.checks, t.checks.c.id == t.issues.c.check_id)
                .where(t.checks.c.key == check)
            ).scalar_one()
        )


@contextmanager
def running_hub(
    engine: Engine,
    tmp_path: Path,
    settings: Settings | None = None,
    clock: FixedClock | None = None,
) -> Iterator[Hub]:
    """The hub with the Playwright failure ingested and a manual agent session (unlinked)."""
    root = tmp_path / "specs"
    make_project(root)
    app = create_app(
        engine,
        settings or hub_settings(root),
        WebhookConfig(None, insecure=True),
        clock=clock or FixedClock(NOW),
        run_worker=False,
    )
    tokens = make_tokens(engine)
    with TestClient(app) as client:
        hub = Hub(client, engine, tokens, root)
        upload_report(client, tokens["write"])
        hub.issue_id = issue_of(engine, CHECK)
        started = hub.hook("sess-manual", "SessionStart", session_type="manual")
        assert started.status_code == 202, started.text
        yield hub


def after(hours: float) -> str:
    return (FAILED_AT + timedelta(hours=hours)).isoformat()

"""Agent sessions from hook events: activity figures, idle detection on an injected clock, one
work item per session, redaction, the HTTP endpoint and the hook script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from served import serving
from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli.main import app as cli_app
from triagehub.clock import FixedClock, SystemClock
from triagehub.config import Settings
from triagehub.engine.ingest import ingest_files
from triagehub.errors import InputError
from triagehub.sources import get_format
from triagehub.store import tables as t
from triagehub.store.queries import create_api_token
from triagehub.work import agents
from triagehub.work.specs import ConflictError, NotFoundError

HOOK_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "triagehub-agent-hook"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def hook(event: str, session_id: str = "sess-1", **fields: Any) -> dict[str, Any]:
    """A Claude Code hook payload (the common fields plus the event's own)."""
    return {
        "session_id": session_id,
        "transcript_path": "/home/dev/.claude/projects/x/sess-1.jsonl",
        "cwd": "/home/dev/acme",
        "permission_mode": "default",
        "hook_event_name": event,
        **fields,
    }


class Recorder:
    """Feeds events at given offsets from T0 through one clock, one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = FixedClock(T0)

    def at(self, seconds: float, payload: dict[str, Any]) -> agents.HookResult:
        self.clock.set(T0 + timedelta(seconds=seconds))
        with Session(self.engine) as session, session.begin():
            return agents.ingest_hook(session, payload, now=self.clock.now())

    def view(self, session_id: str = "sess-1", *, seconds: float) -> agents.SessionView:
        with Session(self.engine) as session:
            now = T0 + timedelta(seconds=seconds)
            return agents.get_session(session, session_id, now=now).session


@pytest.fixture
def rec(engine: Engine) -> Recorder:
    return Recorder(engine)


def _token(engine: Engine, scope: str = "write") -> str:
    with Session(engine) as session, session.begin():
        _, raw = create_api_token(session=session, name=f"agent-{scope}", scope=scope, now=T0)
    return raw


def _issue(engine: Engine, tmp_path: Path) -> int:
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps(
            {
                "repository": "acme/shop",
                "check": "tests/test_pay.py::test_refund",
                "message": "AssertionError: refund not recorded",
                "at": "2026-11-20T07:00:00Z",
            }
        )
    )
    assert not ingest_files(engine, [events], Settings(), fmt=get_format("event")).errors
    with Session(engine) as session:
        return int(session.execute(select(t.issues.c.id)).scalar_one())


SCRIPT = [
    (0.0, hook("SessionStart", source="startup")),
    (1.0, hook("PreToolUse", tool_name="Bash", tool_use_id="t1", tool_input={"command": "ls"})),
    (3.0, hook("PostToolUse", tool_name="Bash", tool_use_id="t1", tool_response={"stdout": "a"})),
    (4.0, hook("PreToolUse", tool_name="Edit", tool_use_id="t2", tool_input={"file_path": "a.py"})),
    (
        4.5,
        hook(
            "PostToolUseFailure",
            tool_name="Edit",
            tool_use_id="t2",
            tool_input={"file_path": "a.py"},
            error="old_string not found in a.py",
        ),
    ),
    (5.0, hook("PreToolUse", tool_name="Read", tool_use_id="t3", tool_input={"file_path": "b"})),
]


def test_a_scripted_session_has_the_right_activity_figures(rec: Recorder) -> None:
    for offset, payload in SCRIPT:
        assert rec.at(offset, payload).status == "recorded"
    view = rec.view(seconds=6)
    assert view.status == "active"
    assert view.current_tool == "Read"
    assert view.tool_count == 2
    assert view.success_rate == 0.5
    assert view.avg_duration_ms == 1250.0  # (2000 + 500) / 2
    assert view.last_activity_at == T0 + timedelta(seconds=5)
    assert view.session_type == "manual" and view.work_item is None
    assert view.cwd == "/home/dev/acme"


def test_post_without_ids_matches_the_latest_pre_of_its_tool(rec: Recorder) -> None:
    rec.at(0, hook("PreToolUse", tool_name="Grep", tool_input={"pattern": "x"}))
    rec.at(0.25, hook("PostToolUse", tool_name="Grep", tool_response="ok"))
    rec.at(1, hook("PostToolUse", tool_name="Grep", tool_response="ok", duration_ms=40))
    view = rec.view(seconds=2)
    assert view.tool_count == 2 and view.avg_duration_ms == 145.0
    assert view.current_tool is None


def test_a_session_is_idle_after_five_minutes_without_activity(rec: Recorder) -> None:
    for offset, payload in SCRIPT:
        rec.at(offset, payload)
    assert rec.view(seconds=5 + 299).status == "active"
    assert rec.view(seconds=5 + 300).status == "idle"
    with Session(rec.engine) as session:
        now = T0 + timedelta(seconds=305)
        idle = agents.list_sessions(session, now=now, status=agents.SessionStatus.IDLE)
        active = agents.list_sessions(session, now=now, status=agents.SessionStatus.ACTIVE)
    assert [v.session_id for v in idle] == ["sess-1"] and active == []
    rec.at(400, hook("PreToolUse", tool_name="Bash", tool_use_id="t9"))
    assert rec.view(seconds=401).status == "active"


def test_a_completed_session_has_a_summary(rec: Recorder) -> None:
    for offset, payload in SCRIPT:
        rec.at(offset, payload)
    rec.at(6, hook("Stop", stop_hook_active=False))
    assert rec.view(seconds=6).current_tool is None
    result = rec.at(125, hook("SessionEnd", reason="prompt_input_exit"))
    assert result.session is not None and result.session.status == "completed"
    view = rec.view(seconds=3600)
    assert view.status == "completed"  # never idle
    assert view.summary is not None
    assert view.summary["tool_count"] == 2
    assert view.summary["success_rate"] == 0.5
    assert view.summary["tools"] == {"Bash": 1, "Edit": 1}
    assert view.summary["end_reason"] == "prompt_input_exit"
    assert view.summary["recent_failures"][0]["excerpt"] == "old_string not found in a.py"
    assert view.summary["text"].startswith("2 tool use(s) in 2 min, 50% succeeded")
    rec.at(200, hook("SessionStart", source="resume"))
    assert rec.view(seconds=200).status == "active" and rec.view(seconds=200).summary is None


def test_one_session_works_on_exactly_one_item(rec: Recorder, tmp_path: Path) -> None:
    issue_id = _issue(rec.engine, tmp_path)
    first = hook("SessionStart", triagehub={"issue_id": issue_id})
    assert rec.at(0, first).session is not None
    view = rec.view(seconds=0)
    assert view.session_type == "error_remediation"
    assert view.work_item == agents.WorkItem("issue", str(issue_id))
    rec.at(1, hook("PreToolUse", tool_name="Bash", triagehub={"issue_id": issue_id}))
    with pytest.raises(ConflictError) as caught:
        rec.at(2, hook("PreToolUse", tool_name="Bash", triagehub={"spec_change": "add-refunds"}))
    assert str(caught.value) == (
        "agent session sess-1: work item: already works on issue #"
        f"{issue_id}; a session has exactly one work item, so spec change add-refunds needs a "
        "new session"
    )
    with Session(rec.engine) as session:
        events = session.execute(select(func.count()).select_from(t.agent_events)).scalar_one()
    assert events == 2  # the refused event left nothing behind
    with pytest.raises(InputError, match="not both"):
        rec.at(3, hook("Stop", triagehub={"issue_id": issue_id, "spec_change": "x"}))


def test_a_spec_session_is_typed_and_checked(rec: Recorder) -> None:
    rec.at(0, hook("SessionStart", "s2", triagehub={"spec_change": "add-refunds"}))
    view = rec.view("s2", seconds=0)
    assert view.session_type == "spec_implementation"
    assert view.work_item is not None and view.work_item.to_json() == {
        "type": "spec_change",
        "id": "add-refunds",
    }
    with pytest.raises(InputError, match="spec_implementation session works on a spec change"):
        rec.at(
            0,
            hook(
                "SessionStart",
                "s3",
                triagehub={"session_type": "spec_implementation", "issue_id": 1},
            ),
        )
    with pytest.raises(NotFoundError, match="no such issue #999"):
        rec.at(0, hook("SessionStart", "s4", triagehub={"issue_id": 999}))
    with Session(rec.engine) as session, session.begin():
        linked = agents.set_work_item(session, "s2", now=T0, spec_change="add-refunds")
        assert linked.work_item is not None
        with pytest.raises(ConflictError):
            agents.set_work_item(session, "s2", now=T0, spec_change="other-change")


def test_outputs_and_commands_are_redacted(rec: Recorder) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    rec.at(
        0,
        hook(
            "PreToolUse",
            tool_name="Bash",
            tool_use_id="x",
            tool_input={"command": f"curl -H 'Authorization: Bearer {token}'"},
        ),
    )
    rec.at(
        1,
        hook(
            "PostToolUse",
            tool_name="Bash",
            tool_use_id="x",
            tool_response={"stdout": f"token={token}\n" + "x" * 5000},
        ),
    )
    with Session(rec.engine) as session:
        detail = agents.get_session(session, "sess-1", now=T0 + timedelta(seconds=2))
    dumped = json.dumps(detail.to_json())
    assert token not in dumped and "[REDACTED]" in dumped
    post = detail.events[-1]
    assert post.excerpt is not None and len(post.excerpt) <= agents.EXCERPT_CHARS


def test_a_replayed_event_is_stored_once(rec: Recorder) -> None:
    payload = hook("PreToolUse", tool_name="Bash", triagehub={"event_id": "e-1"})
    assert rec.at(0, payload).status == "recorded"
    assert rec.at(1, payload).status == "duplicate"
    assert rec.view(seconds=1).events == 1


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        ([], ""),
        ({"hook_event_name": "Stop"}, "session_id"),
        ({"session_id": "", "hook_event_name": "Stop"}, "session_id"),
        ({"session_id": "s"}, "hook_event_name"),
        ({"session_id": "s", "hook_event_name": "PreToolUse"}, "tool_name"),
        (
            {"session_id": "s", "event": "post_tool_use", "tool_name": "x", "duration_ms": -1},
            "duration_ms",
        ),
        (
            {"session_id": "s", "event": "session_start", "triagehub": {"issue_id": "abc"}},
            "triagehub.issue_id",
        ),
        (
            {"session_id": "s", "event": "session_start", "triagehub": {"spec_change": "../x"}},
            "triagehub.spec_change",
        ),
        (
            {"session_id": "s", "event": "session_start", "triagehub": {"session_type": "x"}},
            "triagehub.session_type",
        ),
        (
            {"session_id": "s", "event": "session_start", "triagehub": {"sent_at": "soon"}},
            "triagehub.sent_at",
        ),
    ],
)
def test_bad_hook_payloads_are_refused_with_the_field(
    rec: Recorder, payload: Any, location: str
) -> None:
    with pytest.raises(InputError) as caught:
        rec.at(0, payload)
    assert caught.value.location == location


def test_generic_events_and_sender_times_are_accepted(rec: Recorder) -> None:
    sent = (T0 - timedelta(seconds=30)).timestamp()
    rec.at(0, {"session_id": "g", "event": "session_start", "triagehub": {"sent_at": sent}})
    rec.at(
        0,
        {
            "session_id": "g",
            "event": "pre_tool_use",
            "tool_name": "x",
            "triagehub": {"sent_at": sent + 1},
        },
    )
    rec.at(
        0,
        {
            "session_id": "g",
            "event": "post_tool_use",
            "tool_name": "x",
            "success": False,
            "triagehub": {"sent_at": sent + 3},
        },
    )
    view = rec.view("g", seconds=0)
    assert view.started_at == T0 - timedelta(seconds=30)
    assert view.avg_duration_ms == 2000.0 and view.success_rate == 0.0


# -- HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(
        engine, Settings(), WebhookConfig(b"s"), clock=FixedClock(T0), run_worker=False
    )
    headers = {"Authorization": f"Bearer {_token(engine)}"}
    with TestClient(app, headers=headers) as c:
        yield c


def test_hook_endpoint_records_and_lists_sessions(client: TestClient) -> None:
    for _, payload in SCRIPT:
        response = client.post("/api/v1/hooks", json=payload)
        assert response.status_code == 202, response.text
    assert response.json()["session"]["current_tool"] == "Read"
    sessions = client.get("/api/v1/agents").json()["sessions"]
    assert [(s["session_id"], s["tool_count"], s["success_rate"]) for s in sessions] == [
        ("sess-1", 2, 0.5)
    ]
    shown = client.get("/api/v1/agents/sess-1").json()
    assert [e["kind"] for e in shown["recent_events"]][:3] == [
        "session_start",
        "pre_tool_use",
        "post_tool_use",
    ]
    assert client.get("/api/v1/agents/nope").status_code == 404
    assert client.get("/api/v1/agents?status=idle").json()["sessions"] == []


def test_hook_endpoint_refuses_bad_input_with_a_reason(client: TestClient) -> None:
    js = {"content-type": "application/json"}
    cases = [
        (client.post("/api/v1/hooks", content=b"{nope", headers=js), 400),
        (client.post("/api/v1/hooks", content=b"{}", headers={"content-type": "text/plain"}), 415),
        (client.post("/api/v1/hooks", content=b"x" * 1_000_001, headers=js), 413),
        (client.post("/api/v1/hooks", json={"hook_event_name": "Stop"}), 422),
        (client.post("/api/v1/hooks", json=[1, 2]), 422),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.json()["reason"]
    client.post("/api/v1/hooks", json=hook("SessionStart", triagehub={"spec_change": "a-b"}))
    conflict = client.post("/api/v1/hooks", json=hook("Stop", triagehub={"spec_change": "c-d"}))
    assert conflict.status_code == 409 and "exactly one work item" in conflict.json()["reason"]


def test_hook_endpoint_needs_a_write_token(engine: Engine) -> None:
    app = create_app(engine, Settings(), WebhookConfig(b"s"), run_worker=False)
    read, write = _token(engine, "read"), _token(engine, "write")
    with TestClient(app) as c:
        assert c.post("/api/v1/hooks", json=hook("Stop")).status_code == 401
        bad = {"authorization": "Bearer th_nope"}
        assert c.post("/api/v1/hooks", json=hook("Stop"), headers=bad).status_code == 401
        reader = {"authorization": f"Bearer {read}"}
        assert c.post("/api/v1/hooks", json=hook("Stop"), headers=reader).status_code == 403
        writer = {"authorization": f"Bearer {write}"}
        assert c.post("/api/v1/hooks", json=hook("Stop"), headers=writer).status_code == 202
        assert c.get("/api/v1/agents").status_code == 200  # reads need no token by default


# -- the hook script, against a real server -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hub(engine: Engine) -> Iterator[tuple[str, str]]:
    """triagehub's app served by uvicorn on a free local port."""
    app = create_app(engine, Settings(), WebhookConfig(b"s"), run_worker=False)
    with serving(app) as base:
        yield base, _token(engine)


def run_hook(payload: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGEHUB_")}
    return subprocess.run(
        [sys.executable, str(HOOK_SCRIPT)],
        input=payload,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_hook_script_posts_events_to_the_hub(
    hub: tuple[str, str], engine: Engine, tmp_path: Path
) -> None:
    issue_id = _issue(engine, tmp_path)
    url, token = hub
    env = {"TRIAGEHUB_URL": url, "TRIAGEHUB_API_TOKEN": token, "TRIAGEHUB_ISSUE": str(issue_id)}
    big = "y" * 50_000
    for payload in (
        hook("SessionStart", "hooked"),
        hook(
            "PreToolUse",
            "hooked",
            tool_name="Bash",
            tool_use_id="1",
            tool_input={"command": "make"},
        ),
        hook(
            "PostToolUse",
            "hooked",
            tool_name="Bash",
            tool_use_id="1",
            tool_response={"stdout": big},
        ),
    ):
        done = run_hook(json.dumps(payload), **env)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with Session(engine) as session:
        detail = agents.get_session(session, "hooked", now=SystemClock().now())
    assert detail.session.work_item == agents.WorkItem("issue", str(issue_id))
    assert detail.session.session_type == "error_remediation"
    assert detail.session.tool_count == 1 and detail.session.avg_duration_ms is not None
    assert detail.events[1].data == {"command": "make"}


def test_hook_script_attaches_its_session_to_the_remediation_hand_off(
    hub: tuple[str, str], engine: Engine, tmp_path: Path
) -> None:
    from triagehub.engine.remediation import start_remediation

    issue_id = _issue(engine, tmp_path)
    with Session(engine) as session, session.begin():
        started = start_remediation(session, issue_id, actor="token:ann", by="ann", now=T0)
    url, token = hub
    env = {"TRIAGEHUB_URL": url, "TRIAGEHUB_API_TOKEN": token, **started.env}
    done = run_hook(json.dumps(hook("SessionStart", "agent-own-id")), **env)
    assert (done.returncode, done.stderr) == (0, "")
    with Session(engine) as session:
        [related] = agents.sessions_for_issue(session, issue_id, now=SystemClock().now())
    view = related.session
    assert view.session_id == "agent-own-id" and view.status == "active"
    assert view.handoff_key == started.session.session_id


def test_hook_script_never_fails_the_agent(hub: tuple[str, str]) -> None:
    url, token = hub
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    down = run_hook(json.dumps(hook("Stop")), TRIAGEHUB_URL=f"http://127.0.0.1:{port}")
    assert down.returncode == 0 and down.stdout == "" and "not sent" in down.stderr
    assert time.monotonic() - started < 10
    garbage = run_hook("not json", TRIAGEHUB_URL=url, TRIAGEHUB_API_TOKEN=token)
    assert garbage.returncode == 0 and garbage.stdout == "" and "not sent" in garbage.stderr
    refused = run_hook(
        json.dumps({"hook_event_name": "Stop"}), TRIAGEHUB_URL=url, TRIAGEHUB_API_TOKEN=token
    )
    assert refused.returncode == 0 and "422" in refused.stderr
    no_token = run_hook(json.dumps(hook("Stop")), TRIAGEHUB_URL=url)
    assert no_token.returncode == 0 and "401" in no_token.stderr
    unset = run_hook(json.dumps(hook("Stop")))
    assert (unset.returncode, unset.stdout, unset.stderr) == (0, "", "")


# -- CLI ------------------------------------------------------------------------------------


def test_cli_lists_and_shows_sessions(rec: Recorder) -> None:
    for offset, payload in SCRIPT:
        rec.at(offset, payload)
    url = rec.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["--db", url, "agents", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert rows[0]["session_id"] == "sess-1" and rows[0]["tool_failures"] == 1
    assert rows[0]["status"] == "idle"  # the real clock is long past T0
    shown = runner.invoke(cli_app, ["--db", url, "agents", "show", "sess-1"])
    assert shown.exit_code == 0, shown.output
    assert "tools used: 2, succeeded 50%" in shown.stdout
    table = runner.invoke(cli_app, ["--db", url, "agents", "list"])
    assert "sess-1" in table.stdout

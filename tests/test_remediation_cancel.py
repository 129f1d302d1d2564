"""Cancelling a pending remediation session (#25), on SQLite and PostgreSQL, through the REST API
and the issue page's form: a write token (API) or a signed-in write session with its CSRF token
from the same site (form); 404 for an unknown issue or session, 409 for a session an agent took
over, 422 for bad input; idempotent; on the timeline; its attempt's outcome is ``cancelled`` and
its hand-off key attaches no agent session any more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from remediation_hub import Hub, issue_of, running_hub
from test_remediation_actions import assert_problem

KIND = "remediation_cancelled"
OTHER = "demo.spec.js › triage demo › times out: waits for missing element"


@pytest.fixture
def hub(engine: Engine, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(engine, tmp_path) as built:
        yield built


def started(hub: Hub) -> str:
    """A pending remediation session of the hub's issue: its hand-off key."""
    answer = hub.action("remediation")
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["session"]["session_id"]
    return key


def cancel_path(hub: Hub, key: str, issue_id: int | None = None) -> str:
    return f"/issues/{issue_id or hub.issue_id}/remediation/{key}/cancel"


def cancel(hub: Hub, key: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
    return hub.post(cancel_path(hub, key, kw.pop("issue_id", None)), body, **kw)


def test_cancel_makes_the_session_cancelled_and_writes_the_timeline(hub: Hub) -> None:
    key = started(hub)
    answer = cancel(hub, key, {"reason": "wrong agent"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issue_id"] == hub.issue_id
    assert body["session"]["session_id"] == key and body["session"]["status"] == "cancelled"
    [entry] = hub.events(KIND)
    assert entry["actor"] == "token:ci"
    assert entry["data"] == {"session": key, "reason": "wrong agent"}
    shown = hub.client.get(f"/api/v1/agents/{key}").json()
    assert shown["status"] == "cancelled" and shown["ended_at"] == body["session"]["ended_at"]
    assert shown["ended_at"] is not None
    listed = hub.client.get("/api/v1/agents", params={"status": "cancelled"}).json()["sessions"]
    assert [s["session_id"] for s in listed] == [key]
    assert hub.client.get("/api/v1/agents", params={"status": "pending"}).json()["sessions"] == []


def test_cancelling_again_answers_the_same_and_records_nothing(hub: Hub) -> None:
    key = started(hub)
    assert cancel(hub, key).status_code == 200
    again = cancel(hub, key)
    assert again.status_code == 200, again.text
    assert again.json()["session"]["status"] == "cancelled"
    [entry] = hub.events(KIND)
    assert entry["data"]["reason"] == "remediation session cancelled"


def test_the_attempt_of_a_cancelled_session_is_cancelled(hub: Hub) -> None:
    key = started(hub)
    assert cancel(hub, key).status_code == 200
    [attempt] = hub.issue()["remediation_attempts"]
    assert attempt["ref"] == key and attempt["outcome"] == "cancelled"
    assert attempt["status"] == "cancelled" and "cancelled" in attempt["reason"]


def test_the_cancelled_key_attaches_no_agent_session(hub: Hub) -> None:
    key = started(hub)
    assert cancel(hub, key).status_code == 200
    refused = hub.hook("sess-late", "SessionStart", remediation=key)
    assert_problem(refused, 409, "cancelled")
    assert hub.client.get("/api/v1/agents/sess-late").status_code == 404
    assert hub.events("agent_attached") == []
    # An event naming only the issue no longer takes the cancelled session over either.
    named = hub.hook("sess-other", "SessionStart", issue_id=hub.issue_id)
    assert named.status_code == 202, named.text
    assert hub.events("agent_attached") == []
    assert hub.client.get(f"/api/v1/agents/{key}").json()["status"] == "cancelled"


def test_a_session_the_agent_took_over_cannot_be_cancelled(hub: Hub) -> None:
    key = started(hub)
    assert hub.hook("sess-agent", "SessionStart", remediation=key).status_code == 202
    assert_problem(cancel(hub, key), 409, "active")
    assert_problem(cancel(hub, "sess-agent"), 409, "only a pending hand-off")
    assert hub.events(KIND) == []


def test_cancel_needs_a_write_token(hub: Hub) -> None:
    key = started(hub)
    path = cancel_path(hub, key)
    assert_problem(hub.post(path, None, scope=None), 401, "write token")
    assert_problem(hub.post(path, None, scope="read"), 403, "write token")
    assert_problem(hub.post(path, None, scope="revoked"), 401, "revoked")
    assert hub.events(KIND) == []
    assert hub.client.get(f"/api/v1/agents/{key}").json()["status"] == "pending"


@pytest.mark.parametrize(
    ("where", "status", "words"),
    [
        ("issue", 404, ["no issue 999999"]),
        ("session", 404, ["no agent session 'rem-0-nothing'"]),
        ("other-issue", 404, ["has no agent session"]),
    ],
)
def test_cancel_of_what_does_not_exist_is_404(
    hub: Hub, where: str, status: int, words: list[str]
) -> None:
    key = started(hub)
    if where == "issue":
        answer = cancel(hub, key, issue_id=999_999)
    elif where == "session":
        answer = cancel(hub, "rem-0-nothing")
    else:  # the session exists, for another issue
        answer = cancel(hub, key, issue_id=issue_of(hub.engine, OTHER))
    assert_problem(answer, status, *words)
    assert hub.client.get(f"/api/v1/agents/{key}").json()["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"reason": ""}, ["reason"]),
        ({"reason": "a\x00b"}, ["reason"]),
        ({"reason": "x" * 2001}, ["reason"]),
        ({"bogus": 1}, ["bogus"]),
    ],
)
def test_cancel_bad_input_is_422_and_writes_nothing(
    hub: Hub, body: dict[str, Any], words: list[str]
) -> None:
    key = started(hub)
    assert_problem(cancel(hub, key, body), 422, *words)
    assert hub.events(KIND) == []
    assert hub.client.get(f"/api/v1/agents/{key}").json()["status"] == "pending"


def test_cancel_form_needs_a_signed_in_write_session_and_its_csrf_token(hub: Hub) -> None:
    key = started(hub)
    target = cancel_path(hub, key)

    def send(data: dict[str, str], **kw: Any) -> Any:
        return hub.client.post(target, data=data, follow_redirects=False, **kw)

    anonymous = send({"csrf": "0" * 64})
    assert anonymous.status_code == 401 and "Sign in with a write token" in anonymous.text
    hub.sign_in("read")
    assert send({"csrf": "0" * 64}).status_code == 403
    csrf = hub.sign_in("write")
    page = hub.client.get(f"/issues/{hub.issue_id}").text
    assert f'action="{target}"' in page and "Cancel this session" in page
    missing = send({})
    assert missing.status_code == 403 and "the form expired" in missing.text
    cross = send({"csrf": csrf}, headers={"Origin": "https://evil.test"})
    assert cross.status_code == 403 and "another site" in cross.text
    assert hub.events(KIND) == []
    done = send({"csrf": csrf, "reason": "not now"})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/issues/{hub.issue_id}?done=cancelled#remediation"
    [entry] = hub.events(KIND)
    assert entry["actor"] == "token:ci" and entry["data"]["reason"] == "not now"
    after = hub.client.get(done.headers["location"]).text
    assert "Remediation session cancelled" in after and "Cancel this session" not in after
    assert "remediation session cancelled:" in after  # the timeline's headline
    assert send({"csrf": csrf}).status_code == 303  # idempotent: cancelled already
    assert len(hub.events(KIND)) == 1
    gone = hub.client.post(
        cancel_path(hub, "rem-0-nothing"), data={"csrf": csrf}, follow_redirects=False
    )
    assert gone.status_code == 404 and 'id="action-error"' in gone.text
    nowhere = hub.client.post(
        cancel_path(hub, key, 999_999), data={"csrf": csrf}, follow_redirects=False
    )
    assert nowhere.status_code == 404

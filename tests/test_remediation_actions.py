"""The remediation workflow's actions (#25) through the REST API and the dashboard's forms, on
SQLite and PostgreSQL: classify again, create a spec proposal, start a remediation session,
assign a session. Each needs a write token (API) or a signed-in write session with its CSRF
token from the same site (forms), answers bad input and unknown ids with a clear 4xx, writes
nothing when refused, and is recorded on the issue's timeline when done."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from remediation_hub import (
    ACTIONS,
    CHECK,
    NOW,
    PROJECT,
    Hub,
    hub_settings,
    issue_of,
    running_hub,
)
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock


@pytest.fixture
def hub(engine: Engine, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(engine, tmp_path) as built:
        yield built


def assert_problem(answer: Any, status: int, *words: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["detail"]
    for word in words:
        assert word in body["detail"], body
    return body


# -- REST API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIONS)
def test_api_action_needs_a_write_token(hub: Hub, name: str) -> None:
    path, body, _ = ACTIONS[name]
    before = hub.timeline_size()
    target = f"/issues/{hub.issue_id}/{path}"
    assert_problem(hub.post(target, body, scope=None), 401, "write token")
    assert_problem(hub.post(target, body, scope="read"), 403, "write token")
    assert_problem(hub.post(target, body, scope="revoked"), 401, "revoked")
    wrong = hub.client.post(
        f"/api/v1{target}", json=body, headers={"Authorization": "Bearer th_not-a-token"}
    )
    assert_problem(wrong, 401)
    assert hub.timeline_size() == before


@pytest.mark.parametrize("name", ACTIONS)
def test_api_action_on_an_unknown_issue_is_404(hub: Hub, name: str) -> None:
    assert_problem(hub.action(name, issue_id=999_999), 404, "no issue 999999")


@pytest.mark.parametrize("name", ACTIONS)
def test_api_action_is_recorded_on_the_timeline(hub: Hub, name: str) -> None:
    answer = hub.action(name)
    assert answer.status_code in (200, 201), answer.text
    [entry] = hub.events(ACTIONS[name][2])
    assert entry["actor"] == "token:ci"
    timeline = hub.issue()["timeline"]
    assert ACTIONS[name][2] in [e["kind"] for e in timeline]


@pytest.mark.parametrize(
    ("name", "body", "status", "words"),
    [
        ("classify", {"apply": "perhaps"}, 422, ["apply"]),
        ("classify", {"bogus": 1}, 422, ["bogus"]),
        ("spec", {"change_id": "Not A Valid Id"}, 422, ["change"]),
        ("spec", {"project": "nowhere"}, 404, ["no such OpenSpec project"]),
        ("remediation", {"reason": ""}, 422, ["reason"]),
        ("remediation", {"reason": "a\x00b"}, 422, ["reason"]),
        ("session", {"session_id": ""}, 422, ["session_id"]),
        ("session", {"session_id": "no-such-session"}, 404, ["no such session"]),
    ],
)
def test_api_bad_input_is_a_clear_4xx_and_writes_nothing(
    hub: Hub, name: str, body: dict[str, Any], status: int, words: list[str]
) -> None:
    before = hub.timeline_size()
    assert_problem(hub.action(name, **body), status, *words)
    assert hub.timeline_size() == before
    assert not list((hub.root / PROJECT / "openspec" / "changes").glob("fix-*"))


def test_api_body_that_is_not_json_is_refused(hub: Hub) -> None:
    answer = hub.client.post(
        f"/api/v1/issues/{hub.issue_id}/remediation",
        content=b"{not json",
        headers={**hub.auth(), "Content-Type": "application/json"},
    )
    assert_problem(answer, 422)


def test_a_spec_implementation_session_cannot_be_assigned(hub: Hub) -> None:
    assert hub.hook("sess-spec", "SessionStart", spec_change="add-cart").status_code == 202
    assert_problem(hub.action("session", session_id="sess-spec"), 422, "spec_implementation")
    assert hub.events("session_assigned") == []


def test_a_session_linked_to_another_issue_is_a_conflict(hub: Hub, engine: Engine) -> None:
    other = issue_of(engine, "demo.spec.js › triage demo › times out: waits for missing element")
    assert hub.hook("sess-other", "SessionStart", issue_id=other).status_code == 202
    assert_problem(hub.action("session", session_id="sess-other"), 409, f"issue #{other}")
    assert hub.events("session_assigned") == []


def test_assigning_a_session_again_changes_nothing(hub: Hub) -> None:
    assert hub.action("session").status_code == 200
    again = hub.action("session")
    assert again.status_code == 200, again.text
    assert again.json()["session"]["work_item"] == {"type": "issue", "id": hub.issue_id}
    assert len(hub.events("session_assigned")) == 1


def test_start_remediation_answers_the_pending_session_and_its_environment(hub: Hub) -> None:
    answer = hub.action("remediation")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    session = body["session"]
    key = session["session_id"]
    assert key.startswith(f"rem-{hub.issue_id}-") and session["handoff_key"] == key
    assert session["status"] == "pending" and session["session_type"] == "error_remediation"
    assert session["work_item"] == {"type": "issue", "id": hub.issue_id}
    assert body["agent_env"] == {
        "TRIAGEHUB_ISSUE": str(hub.issue_id),
        "TRIAGEHUB_REMEDIATION": key,
        "TRIAGEHUB_SESSION_TYPE": "error_remediation",
    }
    assert body["handed_off_on"] is None  # not mirrored on GitHub
    [started] = hub.events("remediation_started")
    assert started["data"]["session"] == key and started["data"]["reason"] == "agent, please fix"
    listed = hub.client.get("/api/v1/agents", params={"status": "pending"}).json()["sessions"]
    assert [s["session_id"] for s in listed] == [key]


# -- the dashboard's forms --------------------------------------------------------------------


FORMS: dict[str, dict[str, str]] = {
    "classify": {"apply": "1", "reason": "rules changed"},
    "spec": {"project": PROJECT, "reason": "keeps failing"},
    "remediation": {"reason": "agent, please fix"},
    "session": {"session_id": "sess-manual", "reason": "mine"},
}


@pytest.mark.parametrize("name", ACTIONS)
def test_form_needs_a_signed_in_write_session_and_its_csrf_token(hub: Hub, name: str) -> None:
    data = FORMS[name]
    before = hub.timeline_size()
    anonymous = hub.form(name, {**data, "csrf": "0" * 64})
    assert anonymous.status_code == 401 and "Sign in with a write token" in anonymous.text
    hub.sign_in("read")
    assert hub.form(name, {**data, "csrf": "0" * 64}).status_code == 403
    csrf = hub.sign_in("write")
    missing = hub.form(name, data)
    assert missing.status_code == 403 and "the form expired" in missing.text
    assert hub.form(name, {**data, "csrf": "f" * 64}).status_code == 403
    cross = hub.form(name, {**data, "csrf": csrf}, headers={"Origin": "https://evil.test"})
    assert cross.status_code == 403 and "another site" in cross.text
    assert hub.timeline_size() == before
    done = hub.form(name, {**data, "csrf": csrf})
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/issues/{hub.issue_id}?done=")
    [entry] = hub.events(ACTIONS[name][2])
    assert entry["actor"] == "token:ci"
    notice = hub.client.get(done.headers["location"]).text
    assert 'class="notice ok"' in notice


@pytest.mark.parametrize("name", ACTIONS)
def test_form_on_an_unknown_issue_is_a_not_found_page(hub: Hub, name: str) -> None:
    csrf = hub.sign_in()
    assert hub.form(name, {**FORMS[name], "csrf": csrf}, issue="999999").status_code == 404
    assert hub.form(name, {**FORMS[name], "csrf": csrf}, issue="x1").status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("session", {"session_id": "no-such-session"}, 404, "no such session"),
        ("spec", {"project": PROJECT, "change_id": "Bad Id"}, 422, "change"),
        ("spec", {"project": "nowhere"}, 404, "no such OpenSpec project"),
        ("remediation", {"reason": "x" * 2001}, 422, "2000"),
    ],
)
def test_form_bad_input_is_explained_on_the_page(
    hub: Hub, name: str, data: dict[str, str], status: int, words: str
) -> None:
    csrf = hub.sign_in()
    before = hub.timeline_size()
    answer = hub.form(name, {**data, "csrf": csrf})
    assert answer.status_code == status
    assert 'id="action-error"' in answer.text and words in answer.text
    assert hub.timeline_size() == before


def test_errors_tab_rows_start_a_remediation_session(hub: Hub) -> None:
    assert "Start session" not in hub.client.get("/errors").text  # not signed in
    csrf = hub.sign_in()
    page = hub.client.get("/errors").text
    assert f'action="/issues/{hub.issue_id}/remediation"' in page
    done = hub.client.post(
        f"/issues/{hub.issue_id}/remediation", data={"csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    [started] = hub.events("remediation_started")
    assert started["data"]["reason"] == "remediation session started"


def test_errors_tab_rows_offer_every_action_of_the_issue_page(hub: Hub) -> None:
    assert "row-menu" not in hub.client.get("/errors").text  # not signed in
    hub.sign_in("read")
    assert "row-menu" not in hub.client.get("/errors").text  # a read token cannot act
    csrf = hub.sign_in()
    page = hub.client.get("/errors").text
    pk = hub.issue_id
    menu = page[page.index(f'data-row-menu="{pk}"') :]
    menu = menu[: menu.index("</td>")]
    for action in ("triage", "classify", "spec-proposal", "remediation", "sessions"):
        assert f'action="/issues/{pk}/{action}"' in menu, action
    assert 'data-action="decision"' in menu and f'name="csrf" value="{csrf}"' in menu
    assert f'<option value="{PROJECT}">' in menu  # the spec proposal's project choice
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "each row's fields need their own ids"


def test_errors_tab_triage_sets_the_decision_and_priority(hub: Hub) -> None:
    csrf = hub.sign_in()
    form = {"action": "decision", "decision": "needs_spec", "priority": "critical"}
    target = f"/issues/{hub.issue_id}/triage"
    bad = hub.client.post(target, data={**form, "priority": "urgent", "reason": "x", "csrf": csrf})
    assert bad.status_code == 422 and "priority" in bad.text
    unknown = hub.client.post("/issues/999999/triage", data={**form, "reason": "x", "csrf": csrf})
    assert unknown.status_code == 404
    assert hub.events("overridden") == []
    done = hub.client.post(
        target,
        data={**form, "reason": "blocks the release", "csrf": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    issue = hub.issue()
    assert issue["decision"] == "needs_spec" and issue["priority"] == "critical"
    [entry] = hub.events("overridden")
    assert entry["data"]["reason"] == "blocks the release"
    assert {"decision", "priority"} <= set(entry["data"]["changes"])


def test_errors_tab_spec_proposal_and_session_forms_post_to_the_issue(hub: Hub) -> None:
    csrf = hub.sign_in()
    spec = hub.client.post(
        f"/issues/{hub.issue_id}/spec-proposal",
        data={"project": PROJECT, "csrf": csrf},
        follow_redirects=False,
    )
    assert spec.status_code == 303 and len(hub.events("spec_linked")) == 1
    assigned = hub.client.post(
        f"/issues/{hub.issue_id}/sessions",
        data={"session_id": "sess-manual", "csrf": csrf},
        follow_redirects=False,
    )
    assert assigned.status_code == 303 and len(hub.events("session_assigned")) == 1


def test_classify_again_shows_the_difference_then_applies_it(
    hub: Hub, engine: Engine, tmp_path: Path
) -> None:
    # A person set the severity; the rules then change: the failure is infrastructure now.
    patched = hub.client.patch(
        f"/api/v1/issues/{hub.issue_id}",
        json={"reason": "blocks the release", "severity": "high"},
        headers=hub.auth(),
    )
    assert patched.status_code == 200, patched.text
    rule = {"name": "demo-infra", "match": {"check": "demo.spec.js*"}}
    rule["set"] = {"category": "infrastructure_issue", "severity": "low"}
    settings = hub_settings(hub.root, classification_rules=[rule])
    app = create_app(
        engine,
        settings,
        WebhookConfig(None, insecure=True),
        clock=FixedClock(NOW),
        run_worker=False,
    )
    with TestClient(app) as client:
        auth = hub.auth()
        path = f"/api/v1/issues/{hub.issue_id}/classify"
        dry = client.post(path, headers=auth)
        assert dry.status_code == 200, dry.text
        diff = dry.json()
        assert diff["applied"] is False and diff["occurrence"]["check"] == CHECK
        assert diff["changes"]["category"] == {
            "from": "code_fix_required",
            "to": "infrastructure_issue",
        }
        assert "severity" not in diff["changes"] and diff["kept_by_person"] == ["severity"]
        assert "demo-infra" in diff["after"]["rationale"]
        assert hub.issue()["category"] == "code_fix_required"  # a dry run writes nothing
        assert hub.events("reclassified") == []
        applied = client.post(path, json={"apply": True, "reason": "new rule"}, headers=auth)
        assert applied.status_code == 200 and applied.json()["applied"] is True
    issue = hub.issue()
    assert issue["category"] == "infrastructure_issue" and issue["severity"] == "high"
    [entry] = hub.events("reclassified")
    assert entry["actor"] == "token:ci" and entry["data"]["reason"] == "new rule"
    assert entry["data"]["changes"]["category"]["to"] == "infrastructure_issue"


def test_classify_again_form_previews_then_confirms(hub: Hub) -> None:
    csrf = hub.sign_in()
    preview = hub.form("classify", {"csrf": csrf})
    assert preview.status_code == 200
    assert 'id="classify-preview"' in preview.text and "No change" in preview.text
    assert hub.events("reclassified") == []
    done = hub.form("classify", {"csrf": csrf, "apply": "1"})
    assert done.status_code == 303
    [entry] = hub.events("reclassified")
    assert entry["data"]["changes"] == {}
    page = hub.client.get(f"/issues/{hub.issue_id}").text
    assert "classified again: no change" in page

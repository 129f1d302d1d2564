"""The remediation workflow as a person walks it (#25), in Debian's Chromium driven by the Python
``playwright`` package against a real server: a Playwright failure is ingested, the person starts
a remediation session on the issue page, the agent's hook events arrive and show on the page
without a reload, the fix's checks pass K times, the issue resolves and the attempt shows as
successful.

Screenshots go to the test's ``tmp_path`` and, when ``TRIAGEHUB_ARTIFACTS`` is set, to
``$TRIAGEHUB_ARTIFACTS/remediation/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser_hub import Server, chromium_context, hub_server, page_errors, sign_in
from browser_hub import shot as browser_shot
from remediation_hub import (
    CHECK,
    NOW,
    REPO,
    after,
    issue_of,
    make_project,
)
from triagehub.clock import FixedClock
from triagehub.engine.monitor import run_tick


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real uvicorn server (a thread) over a SQLite store with an OpenSpec project."""
    root = tmp_path / "specs"
    make_project(root)
    with hub_server(tmp_path, root) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_context() as context:
        yield context.new_page()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    browser_shot(page, tmp_path, "remediation", name)


@pytest.mark.browser
def test_a_person_starts_a_remediation_session_and_follows_it_to_the_fix(
    server: Server, page: Any, tmp_path: Path
) -> None:
    errors = page_errors(page)
    # CI uploads the Playwright report of a failing run.
    server.upload_playwright_report()
    issue_id = issue_of(server.engine, CHECK)

    # The person signs in, opens the issue and starts a remediation session.
    sign_in(page, server)
    page.goto(f"{server.base}/issues/{issue_id}")
    remediation = page.locator("#remediation")
    remediation.locator("summary", has_text="Start remediation session").click()
    page.locator("#reason-remediation").fill("the heading changed: let the agent fix it")
    page.locator('form[data-remedy="remediation"] button').click()
    page.wait_for_url(re.compile(rf".*/issues/{issue_id}\?done=remediation.*"))
    assert "Remediation session started" in page.locator(".notice.ok").inner_text()
    env = page.locator("#attempts code.env").inner_text()
    key = re.search(r"TRIAGEHUB_REMEDIATION=(rem-\S+)", env)
    assert key, env
    assert page.locator("#attempts tr[data-outcome='pending']").count() == 1
    timeline = page.locator("ol.timeline").inner_text()
    assert "remediation session started: " + key.group(1) in timeline
    shot(page, tmp_path, "remediation-started")

    # The agent works: its hook events arrive and show on the page without a reload.
    page.locator("#live[data-state='live']").wait_for()
    page.evaluate("window.__sameDocument = true")
    bash: dict[str, Any] = {"tool_name": "Bash", "tool_input": {"command": "npx playwright test"}}
    script: list[tuple[str, float, dict[str, Any]]] = [
        ("SessionStart", 1.0, {}),
        ("PreToolUse", 1.1, bash),
        ("PostToolUse", 1.2, bash),
        ("SessionEnd", 2.0, {"reason": "exit"}),
    ]
    for n, (event, hours, extra) in enumerate(script):
        sent = server.post(
            "/api/v1/hooks",
            json={
                "session_id": "claude-browser",
                "hook_event_name": event,
                **extra,
                "triagehub": {
                    "remediation": key.group(1),
                    "event_id": f"e{n}",
                    "sent_at": after(hours),
                },
            },
        )
        assert sent.status_code == 202, sent.text
    attempts = page.locator("#attempts")
    attempts.get_by_text("npx playwright test").first.wait_for()
    attempts.locator("tr[data-outcome='pending']", has_text="completed").wait_for()
    assert "claude-browser" in attempts.inner_text()
    page.locator("ol.timeline").get_by_text("agent session attached: claude-browser").wait_for()
    shot(page, tmp_path, "remediation-agent-events")

    # The fix is in: the check passes K (3) times, the monitor resolves the issue.
    passes = [
        {"repository": REPO, "check": CHECK, "status": "pass", "at": after(h), "commit": f"fix{h}"}
        for h in (3, 4, 5)
    ]
    assert server.post("/api/v1/events", json=passes).status_code == 200
    run_tick(server.engine, server.settings, clock=FixedClock(NOW))
    attempts.locator("tr[data-outcome='succeeded']").wait_for()
    page.locator("p.badges .pill.s-resolved").wait_for()
    assert "3 green runs" in attempts.locator("tr[data-outcome='succeeded']").inner_text()
    assert page.evaluate("window.__sameDocument") is True  # live, no reload
    shot(page, tmp_path, "remediation-succeeded")
    assert not errors, errors


@pytest.mark.browser
def test_a_person_triages_and_starts_a_session_from_the_errors_tab_then_cancels_it(
    server: Server, page: Any, tmp_path: Path
) -> None:
    errors = page_errors(page)
    server.upload_playwright_report()
    issue_id = issue_of(server.engine, CHECK)
    sign_in(page, server)

    # Triage from the row's Actions menu (through the REST API with the tab's token).
    page.goto(f"{server.base}/errors")
    row = page.locator(f"tr[data-key='issue-{issue_id}']")
    menu = row.locator("details.row-menu")
    menu.locator("> summary").click()
    menu.locator("summary", has_text="Triage").click()
    menu.locator(f"#i{issue_id}-decision").select_option("needs_spec")
    menu.locator(f"#i{issue_id}-priority").select_option("critical")
    menu.locator(f"#i{issue_id}-reason-decision").fill("blocks the release")
    menu.locator('form[data-action="decision"] button').click()
    menu.locator(".form-status.ok").wait_for()
    shot(page, tmp_path, "errors-row-triaged")
    issue = httpx.get(f"{server.base}/api/v1/issues/{issue_id}", timeout=30).json()
    assert issue["decision"] == "needs_spec" and issue["priority"] == "critical"

    # Start a remediation session from the same menu: the issue page shows it pending.
    page.goto(f"{server.base}/errors")
    menu = page.locator(f"tr[data-key='issue-{issue_id}'] details.row-menu")
    menu.locator("> summary").click()
    menu.locator("summary", has_text="Start remediation session").click()
    menu.locator(f"#i{issue_id}-reason-remediation").fill("from the Errors tab")
    menu.locator('form[data-remedy="remediation"] button').click()
    page.wait_for_url(re.compile(rf".*/issues/{issue_id}\?done=remediation.*"))
    assert page.locator("#attempts tr[data-outcome='pending']").count() == 1
    assert "from the Errors tab" in page.locator("ol.timeline").inner_text()

    # The person changes their mind: Cancel this session.
    page.get_by_role("button", name=re.compile("Cancel the pending remediation session")).click()
    page.wait_for_url(re.compile(rf".*/issues/{issue_id}\?done=cancelled.*"))
    page.locator("#attempts tr[data-outcome='cancelled']").wait_for()
    assert "remediation session cancelled:" in page.locator("ol.timeline").inner_text()
    shot(page, tmp_path, "remediation-cancelled")
    assert not errors, errors

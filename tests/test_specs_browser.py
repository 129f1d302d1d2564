"""The spec path of the remediation workflow (#25) as a person walks it, in Debian's Chromium
driven by the Python ``playwright`` package against a real server: a Playwright failure is
ingested, the person creates a spec proposal on the issue page, finds it on the Specs tab through
the project selector (the real ``openspec list`` lists it too), archives it from the dashboard
(the real ``openspec list`` no longer lists it, the archive folder exists), and the spec events
arrive in the live feed of All Work, open in another tab, without a reload.

Screenshots go to the test's ``tmp_path`` and, when ``TRIAGEHUB_ARTIFACTS`` is set, to
``$TRIAGEHUB_ARTIFACTS/specs/``."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from remediation_hub import NOW, PROJECT, REPO, hub_settings, issue_of, playwright_report
from served import launch_chromium, need_chromium, serving
from test_api import make_tokens
from test_specs import cli_json, openspec_cli, run_cli  # noqa: F401 (the fixture)
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock
from triagehub.store import db as store_db

# The report's second failing test: the first one is the remediation browser test's.
SECOND = "demo.spec.js › triage demo › times out: waits for missing element"


@dataclass
class Server:
    base: str
    engine: Any
    tokens: dict[str, str]
    project: Path

    def post(self, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens['write']}"}
        return httpx.post(f"{self.base}{path}", headers=headers, timeout=30, **kw)


@pytest.fixture
def server(
    tmp_path: Path,
    openspec_cli: str,  # noqa: F811 (the fixture)
) -> Iterator[Server]:
    """A real uvicorn server (a thread) over a SQLite store with two OpenSpec projects, ``web``
    made by the real ``openspec init`` and ``billing``."""
    need_chromium()
    engine = store_db.open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    root = tmp_path / "specs"
    project = root / PROJECT
    project.mkdir(parents=True)
    run_cli(openspec_cli, "init", "--tools", "none", "--no-animation", ".", cwd=project)
    (root / "billing" / "openspec" / "changes").mkdir(parents=True)
    settings = hub_settings(root, api={"stream_poll_seconds": 0.2})
    app = create_app(
        engine,
        settings,
        WebhookConfig(None, insecure=True),
        clock=FixedClock(NOW),
        run_worker=False,
    )
    try:
        with serving(app) as base:
            yield Server(base, engine, make_tokens(engine), project)
    finally:
        engine.dispose()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            context = chromium.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            yield context
        finally:
            chromium.close()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("TRIAGEHUB_ARTIFACTS")
    if target:
        folder = Path(target) / "specs"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)


def active_changes(cli: str, project: Path) -> set[str]:
    return {c["name"] for c in cli_json(cli, "list", cwd=project)["changes"]}


@pytest.mark.browser
def test_a_person_turns_a_failure_into_a_spec_proposal_and_archives_it(
    server: Server,
    browser: Any,
    tmp_path: Path,
    openspec_cli: str,  # noqa: F811 (the fixture)
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    uploaded = server.post(
        "/api/v1/reports/playwright",
        params={"repository": REPO},
        files={"file": ("report.json", playwright_report(), "application/json")},
    )
    assert uploaded.status_code == 200, uploaded.text
    issue_id = issue_of(server.engine, SECOND)

    # The person signs in and makes the failure a spec proposal on the issue page.
    page.goto(f"{server.base}/login#token={server.tokens['write']}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base + "/")
    page.goto(f"{server.base}/issues/{issue_id}")
    page.locator("#remediation summary", has_text="Create spec proposal").click()
    page.locator("#spec-project").select_option(PROJECT)
    page.locator("#spec-change-id").fill("fix-missing-element")
    page.locator("#reason-spec").fill("keeps timing out: specify what the page must show")
    page.locator('form[data-remedy="spec"] button').click()
    page.wait_for_url(re.compile(rf".*/issues/{issue_id}\?done=spec.*"))
    assert "fix-missing-element" in active_changes(openspec_cli, server.project)

    # All Work, open in a second tab, follows the live stream.
    feed = browser.new_page()
    feed.goto(f"{server.base}/")
    feed.locator("#live[data-state='live']").wait_for()
    feed.evaluate("window.__sameDocument = true")
    assert "new change fix-missing-element" in feed.locator("#spec-activity").inner_text()

    # The Specs tab: choose the project, the change is there.
    page.goto(f"{server.base}/specs")
    options = page.locator("#project-select option").all_inner_texts()
    assert any(o.startswith("billing") for o in options)
    assert any(o.startswith(f"{PROJECT} · 1 active") for o in options)
    page.locator("#project-select").select_option(PROJECT)
    page.locator("form[data-project-picker] button").click()
    page.wait_for_url(re.compile(rf".*/specs\?.*project={PROJECT}.*"))
    row = page.locator(f"tr[data-key='spec-{PROJECT}-fix-missing-element']")
    row.wait_for()
    assert f"#{issue_id}" in row.inner_text()
    shot(page, tmp_path, "specs-tab-project")

    # The person archives it from its page.
    row.get_by_role("link", name="fix-missing-element").click()
    page.wait_for_url(re.compile(rf".*/specs/{PROJECT}/fix-missing-element$"))
    page.locator('form[data-spec-form="archive"] button').click()
    page.wait_for_url(re.compile(r".*-fix-missing-element\?done=archived$"))
    assert "Change archived" in page.locator(".notice.ok").inner_text()
    shot(page, tmp_path, "spec-archived")
    assert "fix-missing-element" not in active_changes(openspec_cli, server.project)
    archive = server.project / "openspec" / "changes" / "archive"
    assert [p.name for p in archive.iterdir() if p.name.endswith("-fix-missing-element")]

    # The archive arrives in All Work's live feed without a reload.
    feed.locator("#spec-activity li[data-spec-event='archived']").wait_for()
    assert "fix-missing-element archived as" in feed.locator("#spec-activity").inner_text()
    assert feed.evaluate("window.__sameDocument") is True
    shot(feed, tmp_path, "all-work-spec-activity")
    assert not errors, errors

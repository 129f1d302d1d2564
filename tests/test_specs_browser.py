"""The spec path of the remediation workflow (#25) as a person walks it, in Debian's Chromium
driven by the Python ``playwright`` package against a real server: a Playwright failure is
ingested, the person creates a spec proposal on the issue page, finds it on the Specs tab through
the project selector (the real ``openspec list`` lists it too), archives it from the dashboard
(the real ``openspec list`` no longer lists it, the archive folder exists), and the spec events
arrive in the live feed of All Work, open in another tab, without a reload.

Screenshots go to the test's ``tmp_path`` and, when ``TRIAGEHUB_ARTIFACTS`` is set, to
``$TRIAGEHUB_ARTIFACTS/specs/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_hub import Server, chromium_context, hub_server, page_errors, sign_in
from browser_hub import shot as browser_shot
from remediation_hub import PROJECT, issue_of
from test_specs import cli_json, openspec_cli, run_cli  # noqa: F401 (the fixture)

# The report's second failing test: the first one is the remediation browser test's.
SECOND = "demo.spec.js › triage demo › times out: waits for missing element"


@pytest.fixture
def server(
    tmp_path: Path,
    openspec_cli: str,  # noqa: F811 (the fixture)
) -> Iterator[Server]:
    """A real uvicorn server (a thread) over a SQLite store with two OpenSpec projects, ``web``
    made by the real ``openspec init`` and ``billing``."""
    root = tmp_path / "specs"
    project = root / PROJECT
    project.mkdir(parents=True)
    run_cli(openspec_cli, "init", "--tools", "none", "--no-animation", ".", cwd=project)
    (root / "billing" / "openspec" / "changes").mkdir(parents=True)
    with hub_server(tmp_path, root) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium_context() as context:
        yield context


def shot(page: Any, tmp_path: Path, name: str) -> None:
    browser_shot(page, tmp_path, "specs", name)


def project_of(server: Server) -> Path:
    return server.settings.openspec.roots[0] / PROJECT


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
    errors = page_errors(page)
    server.upload_playwright_report()
    issue_id = issue_of(server.engine, SECOND)

    # The person signs in and makes the failure a spec proposal on the issue page.
    sign_in(page, server)
    page.goto(f"{server.base}/issues/{issue_id}")
    page.locator("#remediation summary", has_text="Create spec proposal").click()
    page.locator("#spec-project").select_option(PROJECT)
    page.locator("#spec-change-id").fill("fix-missing-element")
    page.locator("#reason-spec").fill("keeps timing out: specify what the page must show")
    page.locator('form[data-remedy="spec"] button').click()
    page.wait_for_url(re.compile(rf".*/issues/{issue_id}\?done=spec.*"))
    assert "fix-missing-element" in active_changes(openspec_cli, project_of(server))

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
    assert "fix-missing-element" not in active_changes(openspec_cli, project_of(server))
    archive = project_of(server) / "openspec" / "changes" / "archive"
    assert [p.name for p in archive.iterdir() if p.name.endswith("-fix-missing-element")]

    # The archive arrives in All Work's live feed without a reload.
    feed.locator("#spec-activity li[data-spec-event='archived']").wait_for()
    assert "fix-missing-element archived as" in feed.locator("#spec-activity").inner_text()
    assert feed.evaluate("window.__sameDocument") is True
    shot(feed, tmp_path, "all-work-spec-activity")
    assert not errors, errors

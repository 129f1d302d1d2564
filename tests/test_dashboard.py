"""The web dashboard over the demo database: every page through FastAPI's TestClient (status,
escaping, filters in the URL, the form fallback's sign-in and CSRF), then as a person uses it,
in Debian's Chromium driven by the Python ``playwright`` package against a real server:
each tab, filters and search, triage with the timeline updating in place, a live update after
an ingest by another process, and an error message holding HTML and script shown as text.

Screenshots go to the test's ``tmp_path`` and, when ``TRIAGEHUB_ARTIFACTS`` is set, to
``$TRIAGEHUB_ARTIFACTS/dashboard/``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from served import launch_chromium, need_chromium, serving
from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli.main import app as cli_app
from triagehub.clock import FixedClock, SystemClock
from triagehub.config import Settings, parse_settings
from triagehub.demo.runner import run_demo
from triagehub.demo.scenario import DEMO_CONFIG_YAML
from triagehub.engine.ingest import ingest_reports
from triagehub.sources.events import parse_objects
from triagehub.store import db as store_db
from triagehub.store.queries import IssueQuery, create_api_token, revoke_api_token, search_issues
from triagehub.web.cache import Aggregates
from triagehub.work import agents

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

OPENSPEC = Path(__file__).parent / "data" / "openspec" / "before_archive"
END = SystemClock().now().replace(minute=0, second=0, microsecond=0)
XSS = (
    "assert \"<script>alert('xss')</script>\" == "
    "'<img src=x onerror=\"window.__xss = 1; alert(1)\">'"
)
XSS_CHECK = "tests/test_render.py::test_escapes_markup"
SESSION_KEY = "sess-dashboard-0001"
TABS = {
    "/": "All Work",
    "/errors": "Errors",
    "/specs": "Specs",
    "/sessions": "Sessions",
    "/patterns": "Patterns",
    "/health": "Health",
}


def demo_settings(openspec_root: Path, **api: Any) -> Settings:
    data = yaml.safe_load(DEMO_CONFIG_YAML)
    data["openspec"] = {"roots": [str(openspec_root)]}
    data["api"] = {"stream_poll_seconds": 0.2, **api}
    return parse_settings(data, "<test demo config>")


@dataclass
class Demo:
    url: str
    engine: Engine
    settings: Settings
    write_token: str
    xss_issue: int


def _build_demo(folder: Path) -> Demo:
    """The demo, a spec project, an agent session, a malicious error message and a token."""
    url = f"sqlite:///{folder / 'demo.db'}"
    run_demo(url, end=END)
    root = folder / "specs"
    shutil.copytree(OPENSPEC, root / "before_archive")
    settings = demo_settings(root)
    engine = store_db.open_database(url)
    event = {
        "repository": "acme/roy_kent",
        "check": XSS_CHECK,
        "message": XSS,
        "at": (END - timedelta(hours=2)).isoformat(),
        "commit": "deadbeef",
    }
    summary = ingest_reports(
        engine, parse_objects([event], "xss event"), settings, clock=FixedClock(END)
    )
    assert not summary.errors, summary.errors
    with Session(engine) as session, session.begin():
        _, token = create_api_token(session=session, name="alice", scope="write", now=END)
        for n, payload in enumerate(
            (
                {"hook_event_name": "SessionStart", "cwd": "/work/roy_kent"},
                {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t1"},
            )
        ):
            agents.ingest_hook(
                session,
                {
                    "session_id": SESSION_KEY,
                    **payload,
                    "triagehub": {
                        "issue_id": 2,
                        "session_type": "error_remediation",
                        "agent": "claude-code",
                        "event_id": f"e{n}",
                    },
                },
                now=SystemClock().now(),
            )
        found = search_issues(session=session, query=IssueQuery(text="__xss"), limit=5).items
    assert len(found) == 1
    return Demo(url, engine, settings, token, found[0].id)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    built = _build_demo(tmp_path_factory.mktemp("dashboard"))
    try:
        yield built
    finally:
        built.engine.dispose()


@pytest.fixture(scope="module")
def client(demo: Demo) -> Iterator[TestClient]:
    app = create_app(
        demo.engine, demo.settings, WebhookConfig(None, insecure=True), run_worker=False
    )
    with TestClient(app) as test_client:
        yield test_client


def rows(html: str) -> list[str]:
    """The data-key of every row of the page's tables."""
    return re.findall(r'<tr data-key="([^"]+)"', html)


def sign_in(client: TestClient, token: str) -> str:
    """Sign the client in; returns the session's CSRF token (from an issue page's form)."""
    answer = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/issues/1").text
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "no CSRF token on the page of a signed-in session"
    return match.group(1)


# -- every page, server-rendered ------------------------------------------------------------------


@pytest.mark.parametrize("path", [*TABS, "/issues/2", "/login", "/sessions/" + SESSION_KEY])
def test_every_page_renders_with_the_demo_data(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "<h1" in answer.text
    assert "<script>" not in answer.text  # scripts come from /static only


def test_each_tab_shows_its_items(client: TestClient, demo: Demo) -> None:
    work = client.get("/").text
    assert "add-failure-triage" in work and "issue-1" in rows(work)  # specs and errors together
    assert len(rows(client.get("/errors").text)) >= 18
    assert "spec-before_archive-add-failure-triage" in rows(client.get("/specs").text)
    assert f"session-{SESSION_KEY}" in rows(client.get("/sessions").text)
    assert rows(client.get("/patterns").text)
    assert "repo-acme/dbt_cloud" in rows(client.get("/health").text)


def test_spec_change_page_shows_tasks_and_validation(client: TestClient) -> None:
    page = client.get("/specs/before_archive/add-failure-triage")
    assert page.status_code == 200
    assert "Tasks" in page.text and "Validation" in page.text
    assert client.get("/specs/before_archive/no-such-change").status_code == 404


def test_all_work_puts_spec_changes_among_errors_by_priority(client: TestClient) -> None:
    keys = rows(client.get("/").text)
    spec = keys.index("spec-before_archive-add-failure-triage")  # no linked issue: medium
    priorities = re.findall(
        r'<td data-label="Priority"><span class="pill p-(\w+)"', client.get("/").text
    )
    assert priorities == sorted(priorities, key=["critical", "high", "medium", "low"].index)
    assert priorities[spec] == "medium"
    # Within its level the spec changes come first (among themselves by last change, which in a
    # fresh checkout is one file time for all): only specs stand between it and the errors above.
    first_medium = priorities.index("medium")
    assert first_medium > 0 and priorities[first_medium - 1] in ("critical", "high")
    assert all(key.startswith("spec-") for key in keys[first_medium : spec + 1])


def test_unknown_issue_is_a_not_found_page(client: TestClient) -> None:
    for path in ("/issues/999999", "/issues/abc", "/sessions/nope"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "Not found" in answer.text


def test_filters_are_kept_in_the_url_of_every_tab(client: TestClient) -> None:
    query = "repo=acme/dbt_cloud&status=open&status=regressed&priority=critical&q=stg"
    page = client.get(f"/errors?{query}").text
    for path in TABS:
        link = re.search(rf'<a href="({re.escape(path)}\?[^"]*)"', page)
        assert link, path
        params = parse_qs(urlparse(link.group(1).replace("&amp;", "&")).query)
        assert params["repo"] == ["acme/dbt_cloud"]
        assert params["status"] == ["open", "regressed"]
        assert params["priority"] == ["critical"] and params["q"] == ["stg"]
    assert '<option value="acme/dbt_cloud" selected>' in page
    assert 'value="open" checked' in page and 'value="regressed" checked' in page


def test_repository_and_status_filters_narrow_the_errors(client: TestClient) -> None:
    page = client.get("/errors?repo=acme/roy_kent&status=open").text
    repositories = re.findall(r'<td data-label="Repository">([^<]+)</td>', page)
    states = re.findall(r'<td data-label="State"><span class="pill s-(\w+)"', page)
    assert repositories and set(repositories) == {"acme/roy_kent"}
    assert set(states) == {"open"}
    # the demo's monitor ticks resolved some (healed): the filter shows those and only those
    resolved = client.get("/errors?status=resolved").text
    assert rows(resolved)
    assert set(re.findall(r'<td data-label="State"><span class="pill s-(\w+)"', resolved)) == {
        "resolved"
    }


def test_date_range_filters_by_last_activity(client: TestClient) -> None:
    future = (END + timedelta(days=3)).date().isoformat()
    assert not rows(client.get(f"/errors?since={future}").text)
    today = END.date().isoformat()
    assert rows(client.get(f"/errors?since={(END - timedelta(days=30)).date()}&until={today}").text)


def test_fuzzy_search_finds_a_misspelled_test_name(client: TestClient) -> None:
    page = client.get("/errors?q=dashbord").text
    titles = re.findall(r'class="title"><a href="/issues/\d+">([^<]+)</a>', page)
    assert titles and all("dashboard.spec.ts" in t for t in titles), titles
    assert "issue-1" in rows(page)


def test_search_finds_a_message_anywhere_in_the_history(client: TestClient) -> None:
    page = client.get("/errors?q=No%20space%20left").text
    assert "issue-3" in rows(page)  # the storm issue: its message holds the text
    assert "every title, message and test name of the history matches as exact text" in page
    assert "deep=1" not in page  # no slower whole-history search to ask for: it is indexed


def test_a_slow_figure_renders_a_placeholder_then_fills_in() -> None:
    figures = Aggregates(lambda: END, ttl=60, wait=0.05)
    release = threading.Event()

    def slow() -> int:
        release.wait(5)
        return 42

    try:
        first = figures.get("answer", slow)
        assert first.pending and first.value is None
        release.set()
        deadline = time.monotonic() + 5
        while figures.get("answer", slow).pending:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert figures.get("answer", slow).value == 42
    finally:
        figures.close()


def test_bad_filter_values_are_reported_not_refused(client: TestClient) -> None:
    answer = client.get("/errors?status=nonsense&since=2026-13-45&repo=not%20a%20repo&sort=x")
    assert answer.status_code == 200
    assert "nonsense" in answer.text and "is not a date" in answer.text
    assert "is not a repository" in answer.text


def test_error_message_with_markup_is_escaped(client: TestClient, demo: Demo) -> None:
    for path in (f"/issues/{demo.xss_issue}", "/errors", "/"):
        page = client.get(path).text
        assert "&lt;script&gt;alert(" in page, path
        assert "<script>alert" not in page and "<img src=x" not in page, path


def test_triage_form_needs_a_signed_in_write_session(client: TestClient, demo: Demo) -> None:
    form = {"action": "decision", "decision": "needs_spec", "reason": "seen it twice"}
    client.cookies.clear()
    assert client.post("/issues/6/triage", data=form).status_code == 401
    csrf = sign_in(client, demo.write_token)
    try:
        assert client.post("/issues/6/triage", data=form).status_code == 403  # no CSRF token
        cross = client.post(
            "/issues/6/triage", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.test"}
        )
        assert cross.status_code == 403
        done = client.post("/issues/6/triage", data={**form, "csrf": csrf}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"].startswith("/issues/6?done=")
        page = client.get("/issues/6").text
        assert "decision: needs spec" in page
        assert "seen it twice" in page and "token:alice" in page
    finally:
        client.cookies.clear()


def test_a_refused_state_change_is_explained(client: TestClient, demo: Demo) -> None:
    csrf = sign_in(client, demo.write_token)
    try:
        answer = client.post(
            "/issues/7/triage",
            data={"action": "state", "state": "auto_resolved", "reason": "x", "csrf": csrf},
        )
        assert answer.status_code == 409
        assert 'role="alert" id="action-error"' in answer.text
    finally:
        client.cookies.clear()


def test_a_revoked_token_signs_the_session_out(client: TestClient, demo: Demo) -> None:
    with Session(demo.engine) as session, session.begin():
        _, raw = create_api_token(session=session, name="bob", scope="write", now=END)
    sign_in(client, raw)
    try:
        assert "Signed in as <strong>bob</strong>" in client.get("/errors").text
        with Session(demo.engine) as session, session.begin():
            revoke_api_token(session=session, ref="bob", now=END)
        assert "Signed in as" not in client.get("/errors").text
        assert client.post("/login", data={"token": raw}).status_code == 401
    finally:
        client.cookies.clear()


def test_pages_need_a_sign_in_when_reads_need_a_token(demo: Demo, tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, require_token_for_reads=True)
    app = create_app(demo.engine, settings, WebhookConfig(None, insecure=True), run_worker=False)
    with TestClient(app) as locked:
        answer = locked.get("/errors?status=open", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2Ferrors%3Fstatus%3Dopen"
        sign_in(locked, demo.write_token)
        assert locked.get("/errors").status_code == 200


def test_static_files_are_served_offline_with_cache_headers(client: TestClient) -> None:
    page = client.get("/").text
    script = re.search(r'src="(/static/app\.js\?v=\w+)"', page)
    assert script
    answer = client.get(script.group(1))
    assert answer.status_code == 200 and "immutable" in answer.headers["cache-control"]
    assert "EventSource" in answer.text
    assert client.get("/static/app.css").headers["cache-control"] == "no-cache"
    assert client.get("/static/routes.py").status_code == 404
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another site


def test_dashboard_routes_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    mine = ("/", "/errors", "/issues/{issue_id}", "/issues/{issue_id}/triage", "/login", "/health")
    assert not set(mine) & set(paths)


def test_demo_without_a_terminal_prints_a_hint_and_ends(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["--db", f"sqlite:///{tmp_path / 'd.db'}", "demo"])
    assert result.exit_code == 0, result.output
    assert "triagehub demo --serve" in result.output


# -- in Chromium ----------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    demo: Demo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real uvicorn server (a thread) over a demo database of its own."""
    need_chromium()
    built = _build_demo(tmp_path_factory.mktemp("dashboard-browser"))
    app = create_app(
        built.engine, built.settings, WebhookConfig(None, insecure=True), run_worker=False
    )
    try:
        with serving(app) as base:
            yield Server(base, built)
    finally:
        built.engine.dispose()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = launch_chromium(p)
        try:
            yield launched
        finally:
            launched.close()


class Watch:
    """A page's dialogs, uncaught errors and console errors (none must happen)."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self.on_dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self.on_console)

    def on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("TRIAGEHUB_ARTIFACTS")
    if target:
        folder = Path(target) / "dashboard"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)
    return path


@pytest.mark.browser
def test_browser_loads_each_tab_with_the_demo_data(
    page: Any, server: Server, tmp_path: Path, browser: Any
) -> None:
    watch = Watch(page)
    page.goto(server.base + "/")
    expect_rows = {
        "/": 10,
        "/errors": 18,
        "/specs": 1,
        "/sessions": 1,
        "/patterns": 1,
        "/health": 3,
    }
    for path, name in TABS.items():
        page.get_by_role("navigation", name="Dashboard sections").get_by_role(
            "link", name=name, exact=True
        ).click()
        page.wait_for_url(server.base + path)
        assert page.get_by_role("heading", level=1).inner_text() == name
        assert page.locator('nav.tabs a[aria-current="page"]').inner_text() == name
        page.locator("tr[data-key]").nth(expect_rows[path] - 1).wait_for()
        if path == "/health":  # figures computed off the request path fill the page in by itself
            page.locator("svg.spark").nth(2).wait_for()
            assert page.locator("[data-pending]").count() == 0
        shot(page, tmp_path, f"tab-{name.lower().replace(' ', '-')}")
    page.locator("#live[data-state='live']").wait_for()
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(server.base + "/errors")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, tmp_path, "phone-errors")
    phone.close()
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)


@pytest.mark.browser
def test_browser_filters_and_searches_with_the_filters_in_the_url(
    page: Any, server: Server, tmp_path: Path
) -> None:
    page.goto(server.base + "/errors")
    page.get_by_label("Repository").select_option("acme/roy_kent")
    page.locator("details.status-picker summary").click()
    page.get_by_role("checkbox", name="open", exact=True).check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*repo=acme%2Froy_kent.*status=open.*"))
    repositories = page.locator('td[data-label="Repository"]').all_inner_texts()
    assert repositories and set(repositories) == {"acme/roy_kent"}
    assert page.get_by_role("list", name="Active filters").get_by_role("link").count() == 2
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url(server.base + "/errors")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-q"
    page.keyboard.type("dashbord")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*q=dashbord.*"))
    titles = page.locator('td[data-label="Title"] a').all_inner_texts()
    assert titles and all("dashboard.spec.ts" in t for t in titles), titles
    shot(page, tmp_path, "search-dashbord")
    page.get_by_role("link", name="All Work", exact=True).click()
    page.wait_for_url(re.compile(r".*/\?q=dashbord$"))
    assert page.get_by_label("Search titles and test names").input_value() == "dashbord"


@pytest.mark.browser
def test_browser_sets_a_decision_and_the_timeline_updates_in_place(
    page: Any, server: Server, tmp_path: Path
) -> None:
    watch = Watch(page)
    page.goto(server.base + "/login#token=" + server.demo.write_token)
    assert page.get_by_label("API token").input_value() == server.demo.write_token
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base + "/")
    page.goto(server.base + "/issues/7")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Decision").select_option("needs_spec")
    page.locator("#reason-decision").fill("the lint rule keeps firing on new code")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/issues/7") and r.request.method == "PATCH"
    ) as patched:
        page.get_by_role("button", name="Set decision").click()
    assert patched.value.status == 200
    timeline = page.locator("ol.timeline")
    timeline.get_by_text("the lint rule keeps firing on new code").wait_for()
    assert "decision one_off_fix → needs_spec" in timeline.locator("li").first.inner_text()
    assert "token:alice" in timeline.locator("li").first.inner_text()
    assert page.evaluate("window.__sameDocument") is True  # no reload
    assert "decision: needs spec" in page.locator("p.badges").inner_text()
    shot(page, tmp_path, "issue-decision-set")
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)


@pytest.mark.browser
def test_browser_form_fallback_works_without_javascript(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(server.base + "/login?next=/issues/10")
        page.get_by_label("API token").fill(server.demo.write_token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(server.base + "/issues/10")
        page.locator("details.action > summary", has_text=re.compile(r"^Assign$")).click()
        page.get_by_label("Assign to").fill("dana")
        page.locator("#reason-assign").fill("owns the models module")
        page.get_by_role("button", name="Assign", exact=True).click()
        page.wait_for_url(re.compile(r".*/issues/10\?done=assign.*"))
        assert "owns the models module" in page.locator("ol.timeline").inner_text()
        assert "dana" in page.locator("dl.facts").inner_text()
        shot(page, tmp_path, "issue-assigned-without-js")
    finally:
        context.close()


@pytest.mark.browser
def test_browser_shows_a_live_update_after_an_ingest_in_another_process(
    page: Any, server: Server, tmp_path: Path
) -> None:
    page.goto(server.base + "/errors")
    page.locator("#live[data-state='live']").wait_for()
    page.evaluate("window.__sameDocument = true")
    check = "tests/test_live.py::test_arrives_without_reload"
    event = {
        "repository": "acme/roy_kent",
        "check": check,
        "message": "AssertionError: the live canary failed",
        "at": SystemClock().now().isoformat(),
        "commit": "cafe0001",
    }
    events = tmp_path / "live.json"
    events.write_text(json.dumps([event]), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "triagehub", "--db", server.demo.url, "ingest", str(events)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = page.locator("tr[data-key]", has_text="the live canary failed")
    row.wait_for(timeout=15_000)
    assert "changed" in (row.get_attribute("class") or "")
    assert page.evaluate("window.__sameDocument") is True
    assert re.search(r"\d+ updates?", page.locator("#live").inner_text())
    shot(page, tmp_path, "live-update")


@pytest.mark.browser
def test_browser_shows_script_in_an_error_message_as_text(
    page: Any, server: Server, tmp_path: Path
) -> None:
    watch = Watch(page)
    for path in (f"/issues/{server.demo.xss_issue}", "/errors?q=test_escapes_markup"):
        page.goto(server.base + path)
        page.locator("#live[data-state='live']").wait_for()
    assert page.locator("td.title", has_text="<script>alert('xss')</script>").count() == 1
    page.goto(server.base + f"/issues/{server.demo.xss_issue}")
    excerpt = page.locator("pre.excerpt").first.inner_text()
    assert "<script>alert('xss')</script>" in excerpt and "onerror=" in excerpt
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert not watch.dialogs, watch.dialogs
    assert not watch.errors, watch.errors
    shot(page, tmp_path, "issue-markup-as-text")

"""What the dashboard's browser tests share: a real uvicorn server (a thread) over a SQLite store
with OpenSpec projects, Debian's Chromium through Playwright, signing in with the write token,
CI's Playwright report uploaded through the API, and screenshots kept as CI artifacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from remediation_hub import NOW, REPO, hub_settings, playwright_report
from served import launch_chromium, need_chromium, serving
from test_api import make_tokens
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.store import db as store_db


@dataclass
class Server:
    base: str
    engine: Any
    settings: Settings
    tokens: dict[str, str]

    def post(self, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens['write']}"}
        return httpx.post(f"{self.base}{path}", headers=headers, timeout=30, **kw)

    def upload_playwright_report(self) -> None:
        """CI uploads the Playwright report of a failing run."""
        uploaded = self.post(
            "/api/v1/reports/playwright",
            params={"repository": REPO},
            files={"file": ("report.json", playwright_report(), "application/json")},
        )
        assert uploaded.status_code == 200, uploaded.text


@contextmanager
def hub_server(tmp_path: Path, specs_root: Path) -> Iterator[Server]:
    """The server, its clock fixed at ``NOW``, reading the OpenSpec projects under
    ``specs_root``; skips without Chromium."""
    need_chromium()
    engine = store_db.open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    settings = hub_settings(specs_root, api={"stream_poll_seconds": 0.2})
    app = create_app(
        engine,
        settings,
        WebhookConfig(None, insecure=True),
        clock=FixedClock(NOW),
        run_worker=False,
    )
    try:
        with serving(app) as base:
            yield Server(base, engine, settings, make_tokens(engine))
    finally:
        engine.dispose()


@contextmanager
def chromium_context() -> Iterator[Any]:
    """A Playwright browser context in Debian's Chromium (1280×900, 15 s timeouts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            context = chromium.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            yield context
        finally:
            chromium.close()


def page_errors(page: Any) -> list[str]:
    """The page's script errors and console errors, collected from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def sign_in(page: Any, server: Server) -> None:
    """Sign in with the write token, as a person does from the link the CLI prints."""
    page.goto(f"{server.base}/login#token={server.tokens['write']}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base + "/")


def shot(page: Any, tmp_path: Path, folder: str, name: str) -> None:
    """A full-page screenshot, copied to ``$TRIAGEHUB_ARTIFACTS/<folder>/`` when CI sets it."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("TRIAGEHUB_ARTIFACTS")
    if target:
        into = Path(target) / folder
        into.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, into / path.name)

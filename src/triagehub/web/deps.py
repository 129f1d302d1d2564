"""The dashboard's FastAPI dependencies: the services one app holds on ``app.state`` (engine,
settings, clock, templates, sign-in, the figures' cache, the OpenSpec reader) and the context
of one page (its viewer and filters, and the rendering in the shared layout)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.store import metrics
from triagehub.web import views
from triagehub.web.auth import DashboardAuth, Viewer
from triagehub.web.cache import Aggregates
from triagehub.web.filters import (
    CATEGORIES,
    ISSUE_STATES,
    PRIORITIES,
    SESSION_STATUSES,
    SPEC_STATUSES,
    Filters,
    parse_filters,
)
from triagehub.web.layout import (
    SECURITY_HEADERS,
    TABS,
    StaticFile,
    ago,
    environment,
    static_files,
    window,
)
from triagehub.work.specs import OpenSpecReader
from triagehub.work.specs.snapshot import default_snapshot_dir

T = TypeVar("T")
STATE_KEY = "triagehub_dashboard"  # the attribute of ``app.state`` that holds the Dashboard
REPOSITORIES_TTL = 300.0  # seconds the repository list of the filter is kept
SPECS_TTL = 10.0  # seconds the spec changes and their issues' priorities are kept
SPECS_WAIT = 10.0  # the first read of the spec changes is waited for


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What every page of one app shares; put on ``app.state`` by :meth:`lifespan`."""

    engine: Engine
    settings: Settings
    clock: Clock
    env: Environment
    static: dict[str, StaticFile]
    auth: DashboardAuth
    figures: Aggregates
    reader: OpenSpecReader

    @classmethod
    def open(
        cls, engine: Engine, settings: Settings, clock: Clock, reader: OpenSpecReader | None = None
    ) -> Dashboard:
        """``reader``: shared with the API (warmed by its monitor); else one of its own."""
        return cls(
            engine=engine,
            settings=settings,
            clock=clock,
            env=environment(),
            static=static_files(),
            auth=DashboardAuth(engine, settings.api, clock),
            figures=Aggregates(clock.now),
            reader=reader
            or OpenSpecReader(
                settings.openspec.roots,
                scan_seconds=settings.openspec.scan_minutes * 60,
                snapshot_dir=default_snapshot_dir(),
            ),
        )

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """The app's lifespan: the pages find the dashboard on ``app.state``; at the end the
        figures' workers and the reader's watch stop."""
        setattr(app.state, STATE_KEY, self)
        try:
            yield
        finally:
            self.figures.close()
            self.reader.close()

    def in_session(self, read: Callable[..., T], **arguments: Any) -> Callable[[], T]:
        """``read(session=..., **arguments)`` in a session of its own, for the figures' cache
        (which calls it in a worker thread)."""

        def compute() -> T:
            with Session(self.engine) as session:
                return read(session=session, **arguments)

        return compute

    def window(self, filters: Filters) -> tuple[datetime, datetime, str]:
        return window(filters, self.clock.now())

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.static[name].digest}"

    def known_repositories(self) -> list[str]:
        until = self.clock.now()
        with Session(self.engine) as session:
            found = metrics.repository_health(
                session, since=until - timedelta(hours=1), until=until
            )
        return [h.repository for h in found]

    def repository_names(self, filters: Filters) -> list[str]:
        """For the repository filter: the repositories of the store (read in the background,
        every few minutes), the configured ones and the ones asked for."""
        known = set(self.settings.repositories) | set(filters.repositories)
        names = self.figures.get(("repositories",), self.known_repositories, ttl=REPOSITORIES_TTL)
        return sorted(known | set(names.value or ()))

    def spec_items(self, archived: bool) -> tuple[list[views.SpecItem], list[str]]:
        """The spec changes with their linked issues: read again in the background once
        :data:`SPECS_TTL` old (the files are watched by the reader's cache; the issues' priority
        may lag that long)."""
        compute = self.in_session(views.spec_items, reader=self.reader, archived=archived)
        found = self.figures.get(("specs", archived), compute, wait=SPECS_WAIT, ttl=SPECS_TTL)
        if found.value is None:
            return [], [found.error or "the spec changes are still being read"]
        items, problems = found.value
        return list(items), list(problems)

    def specs_changed(self, *folders: Path) -> None:
        """After the dashboard wrote OpenSpec files (these folders): the reader and the spec
        changes are read again at the next page."""
        for folder in folders:
            self.reader.invalidate(folder)
        self.figures.forget(("specs", False), ("specs", True))


def get_dashboard(request: Request) -> Dashboard:
    """The app's :class:`Dashboard` (set on ``app.state`` when the app starts)."""
    found = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(found, Dashboard):
        raise RuntimeError("the dashboard is not started: its router's lifespan has not run")
    return found


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


def here(request: Request) -> str:
    """The path and query of the request, to come back to after signing in."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def render(
    dash: Dashboard,
    request: Request,
    template: str,
    *,
    tab: str | None,
    filters: Filters,
    viewer: Viewer | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page in the shared layout (tabs, filters, sign-in) with its own ``values``."""
    now = dash.clock.now()
    path = here(request)
    body = dash.env.get_template(template).render(
        tab=tab,
        tabs=TABS,
        filters=filters,
        viewer=viewer,
        now=now,
        ago=lambda value: ago(value, now),
        static_url=dash.static_url,
        here=path,
        filter_action=next((p for k, p, _ in TABS if k == tab), "/errors"),
        login_url="/login?next=" + quote(path, safe=""),
        repositories=dash.repository_names(filters),
        issue_states=ISSUE_STATES,
        spec_statuses=SPEC_STATUSES,
        session_statuses=SESSION_STATUSES,
        categories=CATEGORIES,
        priorities=PRIORITIES,
        reads_need_sign_in=dash.auth.reads_need_sign_in,
        **values,
    )
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


@dataclass(frozen=True, slots=True)
class Page:
    """One request to a page: the dashboard, the signed-in viewer and the URL's filters."""

    request: Request
    dash: Dashboard
    viewer: Viewer | None
    filters: Filters

    @property
    def denied(self) -> RedirectResponse | None:
        """The redirect to the sign-in page when reads need one and nobody is signed in."""
        if self.viewer is None and self.dash.auth.reads_need_sign_in:
            target = "/login?next=" + quote(here(self.request), safe="")
            return RedirectResponse(target, status_code=303)
        return None

    def render(
        self, template: str, *, tab: str | None, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        return render(
            self.dash,
            self.request,
            template,
            tab=tab,
            filters=self.filters,
            viewer=self.viewer,
            status_code=status_code,
            **values,
        )

    def not_found(self, what: str) -> HTMLResponse:
        return self.render("not_found.html", tab=None, status_code=404, what=what)

    def search_note(self) -> dict[str, Any]:
        return {"window": views.SEARCH_WINDOW}


def get_page(request: Request, dash: DashboardDep) -> Page:
    return Page(
        request=request,
        dash=dash,
        viewer=dash.auth.viewer(request),
        filters=parse_filters(list(request.query_params.multi_items())),
    )


PageDep = Annotated[Page, Depends(get_page)]

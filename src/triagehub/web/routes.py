"""The dashboard's routes: server-rendered pages over the store's query functions.

| URL | page |
|---|---|
| ``/`` | All Work: open issues and spec changes together, most urgent first |
| ``/errors`` | Errors: every issue, sortable, one keyset page at a time |
| ``/specs``, ``/specs/{project}/{change}`` | OpenSpec changes, and one change |
| ``/sessions``, ``/sessions/{session_id}`` | AI agent sessions, and one session |
| ``/patterns`` | failure templates across checks and repositories |
| ``/health`` | per repository health, the success metrics and their trends (SVG) |
| ``/issues/{id}`` | one issue: summary, excerpt, charts, runs, timeline, actions |
| ``POST /issues/{id}/triage`` | the actions' form fallback (without JavaScript) |
| ``/login``, ``POST /logout`` | dashboard sessions (see :mod:`triagehub.web.auth`) |
| ``/static/{name}`` | the dashboard's own script and style sheet |

Every page takes the shared filters of :mod:`triagehub.web.filters` from its URL. Pages are sent
with a strict Content Security Policy: scripts and styles come from ``/static`` only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.core.lifecycle import Actor
from triagehub.core.models import Category, Decision, IssueState
from triagehub.core.timeparse import as_utc
from triagehub.engine.investigate import investigate
from triagehub.errors import InputError
from triagehub.store import lifecycle as store_lifecycle
from triagehub.store import metrics, queries
from triagehub.store.evidence import latest_brief
from triagehub.store.triage import apply_override
from triagehub.web import charts, search, views
from triagehub.web.auth import (
    COOKIE,
    SESSION_SECONDS,
    DashboardAuth,
    Viewer,
    local_path,
    same_origin,
)
from triagehub.web.cache import Aggregates, Figure
from triagehub.web.filters import (
    CATEGORIES,
    ISSUE_STATES,
    PRIORITIES,
    PRIORITY_RANK,
    SESSION_STATUSES,
    SPEC_STATUSES,
    WORKING,
    Filters,
    parse_filters,
)
from triagehub.work import agents
from triagehub.work.evidence import build_pack
from triagehub.work.specs import OpenSpecReader

log = logging.getLogger(__name__)

TABS = (
    ("work", "/", "All Work"),
    ("errors", "/errors", "Errors"),
    ("specs", "/specs", "Specs"),
    ("sessions", "/sessions", "Sessions"),
    ("patterns", "/patterns", "Patterns"),
    ("health", "/health", "Health"),
)
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css", "icon.svg": "image/svg+xml"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
DEFAULT_WINDOW = timedelta(days=7)
MAX_ID = 2**31 - 1
SORTS = (
    *("-last_seen", "last_seen", "-first_seen", "first_seen", "-occurrences", "occurrences"),
    *("priority", "-priority", "severity", "-severity", "-id", "id"),
)
ACTIONS = ("decision", "assign", "state", "snooze", "false_positive")
SPARKLINE_REPOSITORIES = 25
REPOSITORIES_TTL = 300.0  # seconds the repository list of the filter is kept
SPECS_TTL = 10.0  # seconds the spec changes and their issues' priorities are kept
SPECS_WAIT = 10.0  # the first read of the spec changes is waited for
SIGN_IN_TO_WRITE = "Sign in with a write token to triage (triagehub token create --scope write)."


# -- rendering helpers ---------------------------------------------------------------------------


def _label(value: object) -> str:
    return str(value).replace("_", " ") if value is not None else "—"


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else ""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} d"


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "—"
    seconds = (now - as_utc(value)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = "just now" if not future else "in a minute"
        return text
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = int(seconds // size)
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    return "just now"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("triagehub.web", "templates"),
        autoescape=True,  # every value is escaped: text from the store is never markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(label=_label, when=_when, iso=_iso, pct=_pct, hours=_hours)
    env.tests["weblink"] = views.is_web_url  # `{% if url is weblink %}`: only http(s) is a link
    return env


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    digest: str


def _static_files() -> dict[str, StaticFile]:
    folder = resources.files("triagehub.web") / "static"
    found = {}
    for name, media_type in STATIC_FILES.items():
        body = (folder / name).read_bytes()
        found[name] = StaticFile(body, media_type, hashlib.sha256(body).hexdigest()[:12])
    return found


def _window(filters: Filters, now: datetime) -> tuple[datetime, datetime, str]:
    """The time range of the figures (default: the last 7 days) and its cache key."""
    until = filters.until_at or now
    since = filters.since_at or until - DEFAULT_WINDOW
    key = f"{filters.since or ''}..{filters.until or ''}"
    return since, until, key


# -- the router ----------------------------------------------------------------------------------


def web_router(engine: Engine, settings: Settings, clock: Clock) -> APIRouter:
    """The dashboard's routes (kept out of the OpenAPI document)."""
    env = _environment()
    static = _static_files()
    auth = DashboardAuth(engine, settings.api, clock)
    figures = Aggregates(clock.now)
    reader = OpenSpecReader(
        settings.openspec.roots, scan_seconds=settings.openspec.scan_minutes * 60
    )

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            figures.close()
            reader.close()

    router = APIRouter(lifespan=lifespan, include_in_schema=False)

    def static_url(name: str) -> str:
        return f"/static/{name}?v={static[name].digest}"

    def window(filters: Filters) -> tuple[datetime, datetime, str]:
        return _window(filters, clock.now())

    def health_compute(
        since: datetime, until: datetime, repository: str | None
    ) -> Callable[[], list[metrics.RepositoryHealth]]:
        def compute() -> list[metrics.RepositoryHealth]:
            with Session(engine) as session:
                return metrics.repository_health(
                    session, since=since, until=until, repository=repository
                )

        return compute

    def metrics_compute(
        since: datetime, until: datetime, repository: str | None
    ) -> Callable[[], metrics.Metrics]:
        def compute() -> metrics.Metrics:
            with Session(engine) as session:
                return metrics.compute_metrics(
                    session, repository=repository, since=since, until=until
                )

        return compute

    def brief_compute(
        since: datetime, until: datetime, repository: str | None
    ) -> Callable[[], list[metrics.BriefMetric]]:
        def compute() -> list[metrics.BriefMetric]:
            with Session(engine) as session:
                return metrics.brief_metrics(
                    session, repository=repository, since=since, until=until
                )

        return compute

    def metrics_figure(
        filters: Filters, repository: str | None, *, wait: bool = True
    ) -> Figure[Any]:
        since, until, key = window(filters)
        compute = metrics_compute(since, until, repository)
        return figures.get(("metrics", repository, key), compute, wait=wait)

    def known_repositories() -> list[str]:
        until = clock.now()
        with Session(engine) as session:
            found = metrics.repository_health(
                session, since=until - timedelta(hours=1), until=until
            )
        return [h.repository for h in found]

    def repository_names(filters: Filters) -> list[str]:
        """For the repository filter: the repositories of the store (read in the background,
        every few minutes), the configured ones and the ones asked for."""
        known = set(settings.repositories) | set(filters.repositories)
        names = figures.get(("repositories",), known_repositories, ttl=REPOSITORIES_TTL)
        return sorted(known | set(names.value or ()))

    def render(
        request: Request,
        template: str,
        *,
        tab: str | None,
        filters: Filters,
        viewer: Viewer | None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        now = clock.now()
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        body = env.get_template(template).render(
            tab=tab,
            tabs=TABS,
            filters=filters,
            viewer=viewer,
            now=now,
            ago=lambda value: _ago(value, now),
            static_url=static_url,
            here=here,
            filter_action=next((p for k, p, _ in TABS if k == tab), "/errors"),
            login_url="/login?next=" + quote(here, safe=""),
            repositories=repository_names(filters),
            issue_states=ISSUE_STATES,
            spec_statuses=SPEC_STATUSES,
            session_statuses=SESSION_STATUSES,
            categories=CATEGORIES,
            priorities=PRIORITIES,
            reads_need_sign_in=auth.reads_need_sign_in,
            **values,
        )
        return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)

    def gate(request: Request) -> tuple[Viewer | None, Response | None]:
        """The signed-in viewer, or the redirect to the sign-in page when reads need one."""
        viewer = auth.viewer(request)
        if viewer is None and auth.reads_need_sign_in:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return None, RedirectResponse("/login?next=" + quote(here, safe=""), status_code=303)
        return viewer, None

    def search_note(filters: Filters, path: str, deep: bool, **extra: str) -> dict[str, Any]:
        return {
            "deep": deep,
            "window": views.SEARCH_WINDOW,
            "deep_url": filters.url(path, deep="1", **extra),
        }

    def spec_items(archived: bool) -> tuple[list[views.SpecItem], list[str]]:
        """The spec changes with their linked issues: read again in the background once
        :data:`SPECS_TTL` old (the files are watched by the reader's cache; the issues' priority
        may lag that long)."""

        def compute() -> tuple[list[views.SpecItem], list[str]]:
            with Session(engine) as session:
                return views.spec_items(session, reader, archived=archived)

        found = figures.get(("specs", archived), compute, wait=SPECS_WAIT, ttl=SPECS_TTL)
        if found.value is None:
            return [], [found.error or "the spec changes are still being read"]
        items, problems = found.value
        return list(items), list(problems)

    def filters_of(request: Request) -> Filters:
        return parse_filters(list(request.query_params.multi_items()))

    def not_found(request: Request, viewer: Viewer | None, what: str) -> HTMLResponse:
        return render(
            request,
            "not_found.html",
            tab=None,
            filters=filters_of(request),
            viewer=viewer,
            status_code=404,
            what=what,
        )

    # -- static -------------------------------------------------------------------------------

    @router.get("/static/{name}")
    def static_file(name: str, v: str | None = None) -> Response:
        found = static.get(name)
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        cache = "public, max-age=31536000, immutable" if v == found.digest else "no-cache"
        return Response(
            found.body,
            media_type=found.media_type,
            headers={
                "Cache-Control": cache,
                "ETag": f'"{found.digest}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    # -- All Work -----------------------------------------------------------------------------

    @router.get("/")
    def all_work(request: Request, cursor: str | None = None, shown: int = -1) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        filters = filters_of(request)
        problems = list(filters.problems)
        deep = request.query_params.get("deep") in ("1", "true", "yes")
        states = filters.issue_states()
        issues: list[queries.IssueView] = []
        scores: dict[int, float] = {}
        next_cursor = None
        with Session(engine) as session:
            if states is not None:
                query = views.issue_query(filters, views.working_or(states), "priority")
                if filters.q:
                    found = views.search_issues(session, query, filters.q, deep=deep)
                    found.sort(key=lambda pair: (PRIORITY_RANK.get(pair[0].priority, 9), -pair[1]))
                    issues = [v for v, _ in found]
                    scores = {v.id: s for v, s in found}
                    cursor = None
                else:
                    try:
                        page = queries.search_issues(
                            session=session, query=query, limit=views.PAGE_SIZE, cursor=cursor
                        )
                    except InputError as exc:
                        problems.append(f"{exc} (showing the first page)")
                        page = queries.search_issues(
                            session=session, query=query, limit=views.PAGE_SIZE
                        )
                        cursor, shown = None, -1
                    issues, next_cursor = page.items, page.next_cursor
        spec_list, spec_problems = spec_items("archived" in filters.statuses)
        specs = views.filter_specs(spec_list, filters)
        if not 0 <= shown + 1 <= 3:
            shown = -1
        items, last_rank = views.merge_work(
            issues, specs, shown_rank=shown, last_page=next_cursor is None, scores=scores
        )
        return render(
            request,
            "work.html",
            tab="work",
            filters=filters,
            viewer=viewer,
            problems=problems + spec_problems,
            items=items,
            counts={"errors": len(issues), "specs": sum(1 for i in items if i.kind == "spec")},
            default_states=not states,
            next_url=(
                filters.url("/", cursor=next_cursor, shown=str(last_rank)) if next_cursor else None
            ),
            first_url=filters.url("/") if cursor else None,
            search=search_note(filters, "/", deep),
        )

    # -- Errors -------------------------------------------------------------------------------

    @router.get("/errors")
    def errors(request: Request, sort: str = "-last_seen", cursor: str | None = None) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        filters = filters_of(request)
        problems = list(filters.problems)
        deep = request.query_params.get("deep") in ("1", "true", "yes")
        if sort not in SORTS:
            problems.append(f"sort {sort[:40]!r} is not one of {', '.join(SORTS)}: ignored")
            sort = "-last_seen"
        states = filters.issue_states()
        issues: list[queries.IssueView] = []
        scores: dict[int, float] = {}
        next_cursor = None
        if states is not None:
            query = views.issue_query(filters, states, sort)
            with Session(engine) as session:
                if filters.q:
                    found = views.search_issues(session, query, filters.q, deep=deep)
                    issues = [v for v, _ in found]
                    scores = {v.id: s for v, s in found}
                    cursor = None
                else:
                    try:
                        page = queries.search_issues(
                            session=session, query=query, limit=views.PAGE_SIZE, cursor=cursor
                        )
                    except InputError as exc:
                        problems.append(f"{exc} (showing the first page)")
                        page = queries.search_issues(
                            session=session, query=query, limit=views.PAGE_SIZE
                        )
                        cursor = None
                    issues, next_cursor = page.items, page.next_cursor
        else:
            problems.append("the status filter holds no issue state: no issues are shown")

        def sort_url(column: str) -> str:
            target = column if sort == f"-{column}" else f"-{column}"
            if column in ("priority", "severity"):
                target = f"-{column}" if sort == column else column
            return filters.url("/errors", sort=target)

        return render(
            request,
            "errors.html",
            tab="errors",
            filters=filters,
            viewer=viewer,
            problems=problems,
            issues=issues,
            scores=scores,
            sort=sort,
            sort_url=sort_url,
            next_url=filters.url("/errors", sort=sort, cursor=next_cursor) if next_cursor else None,
            first_url=filters.url("/errors", sort=sort) if cursor else None,
            search=search_note(filters, "/errors", deep, sort=sort),
        )

    # -- Specs --------------------------------------------------------------------------------

    @router.get("/specs")
    def specs(request: Request) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        filters = filters_of(request)
        include_archived = "archived" in filters.statuses
        items, problems = spec_items(include_archived)
        shown = views.filter_specs(items, filters)
        capabilities = []
        for project in reader.projects():
            capabilities += reader.specs(project)
        return render(
            request,
            "specs.html",
            tab="specs",
            filters=filters,
            viewer=viewer,
            problems=list(filters.problems) + problems,
            items=shown,
            total=len(items),
            capabilities=capabilities,
            roots=reader.roots,
            projects=reader.projects(),
        )

    @router.get("/specs/{project}/{change_id}")
    def spec_change(request: Request, project: str, change_id: str) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        try:
            found = reader.project(project)
            change = reader.change(found, change_id)
            report = reader.validate_change(found, change.id)
        except InputError:
            return not_found(request, viewer, f"spec change {change_id}")
        linked = []
        with Session(engine) as session:
            for pk in views.linked_issue_ids(change)[:20]:
                detail = queries.get_issue(session=session, issue_id=pk, occurrences=0, max_runs=0)
                if detail is not None:
                    linked.append(detail.issue)
        return render(
            request,
            "spec.html",
            tab="specs",
            filters=filters_of(request),
            viewer=viewer,
            change=change,
            report=report,
            linked=linked,
        )

    # -- Sessions -----------------------------------------------------------------------------

    @router.get("/sessions")
    def sessions(request: Request) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        filters = filters_of(request)
        wanted = filters.session_statuses()
        status = None
        if wanted and len(wanted) == 1:
            status = agents.SessionStatus(wanted[0])
        with Session(engine) as session:
            found = agents.list_sessions(session, now=clock.now(), status=status, limit=200)
        shown = views.filter_sessions(found, filters)
        problems = list(filters.problems)
        if wanted is None:
            problems.append("the status filter holds no session status: no sessions are shown")
        return render(
            request,
            "sessions.html",
            tab="sessions",
            filters=filters,
            viewer=viewer,
            problems=problems,
            sessions=shown,
        )

    @router.get("/sessions/{session_id}")
    def session_detail(request: Request, session_id: str) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        try:
            with Session(engine) as session:
                detail = agents.get_session(session, session_id, now=clock.now(), events=200)
        except InputError:
            return not_found(request, viewer, "agent session")
        return render(
            request,
            "session.html",
            tab="sessions",
            filters=filters_of(request),
            viewer=viewer,
            detail=detail,
        )

    # -- Patterns -----------------------------------------------------------------------------

    @router.get("/patterns")
    def patterns(request: Request, scope: str = "all") -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        filters = filters_of(request)
        cross = scope == "cross"
        since, until, key = window(filters)
        repository = filters.repositories[0] if len(filters.repositories) == 1 else None

        def compute() -> list[queries.PatternView]:
            with Session(engine) as session:
                return queries.list_patterns(
                    session=session,
                    since=since,
                    repository=repository,
                    min_repositories=2 if cross else 1,
                    limit=500,
                )

        figure = figures.get(("patterns", repository, cross, key), compute)
        shown: list[queries.PatternView] = []
        if figure.value is not None:
            shown = [
                p
                for p in figure.value
                if p.first_seen < until
                and (not filters.repositories or set(p.repositories) & set(filters.repositories))
            ]
            if filters.q:
                shown = [p for p, _ in search.rank(filters.q, shown, lambda p: [p.template])]
            shown = shown[:100]
        return render(
            request,
            "patterns.html",
            tab="patterns",
            filters=filters,
            viewer=viewer,
            problems=list(filters.problems),
            figure=figure,
            patterns=shown,
            cross=cross,
            since=since,
            until=until,
            scope_url=lambda value: filters.url("/patterns", scope=value),
        )

    # -- Health -------------------------------------------------------------------------------

    @router.get("/health")
    def health(request: Request) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        filters = filters_of(request)
        single = filters.repositories[0] if len(filters.repositories) == 1 else None
        since, until, key = window(filters)
        health_rows, overall, gauges, brief = figures.get_many(
            [
                (("health", None, key), health_compute(since, until, None)),
                (("metrics", single, key), metrics_compute(since, until, single)),
                (("gauges",), lambda: _gauges(engine)),
                (("brief", single, key), brief_compute(since, until, single)),
            ]
        )
        rows = []
        if health_rows.value is not None:
            rows = [
                h
                for h in health_rows.value
                if not filters.repositories or h.repository in filters.repositories
            ]
        sparks: dict[str, Any] = {}
        per_repo: dict[str, metrics.Metrics] = {}
        if len(rows) <= SPARKLINE_REPOSITORIES:
            for h in rows:
                found = metrics_figure(filters, h.repository, wait=False)
                if found.value is not None:
                    per_repo[h.repository] = found.value
                    sparks[h.repository] = charts.sparkline([d.failures for d in found.value.trend])
        trend = None
        if overall.value is not None:
            trend = charts.trend_chart(
                "Failures, new issues and resolutions per day",
                [(d.day, d.failures, d.new_issues, d.resolved) for d in overall.value.trend],
            )
        by_category: list[tuple[str, int]] = []
        if gauges.value is not None:
            totals: dict[str, int] = {}
            for (state, category), n in gauges.value.issues.items():
                if state in WORKING:
                    totals[category] = totals.get(category, 0) + n
            by_category = [(c, totals.get(c, 0)) for c in CATEGORIES]
        pending = health_rows.pending or overall.pending or gauges.pending
        return render(
            request,
            "health.html",
            tab="health",
            filters=filters,
            viewer=viewer,
            problems=list(filters.problems),
            since=since,
            until=until,
            health_rows=health_rows,
            rows=rows,
            overall=overall,
            gauges=gauges,
            sparks=sparks,
            per_repo=per_repo,
            sparks_wanted=len(rows) <= SPARKLINE_REPOSITORIES,
            trend=trend,
            by_category=by_category,
            segments=charts.stacked_bar(by_category),
            single=single,
            pending=pending,
            brief=brief,
        )

    # -- the issue page -----------------------------------------------------------------------

    def issue_response(
        request: Request,
        viewer: Viewer | None,
        issue_id: int,
        *,
        notice: str | None = None,
        error: str | None = None,
        failed_action: str | None = None,
        status_code: int = 200,
    ) -> Response:
        with Session(engine) as session:
            page = views.issue_page(session, issue_id, clock.now().date())
            sessions_ = agents.sessions_for_issue(session, issue_id, now=clock.now())
            pack = build_pack(session=session, issue_id=issue_id) if page is not None else None
            brief = latest_brief(session=session, issue_id=issue_id) if page is not None else None
        if page is None:
            return not_found(request, viewer, f"issue #{issue_id}")
        spec_url = None
        change_id = page.lifecycle.get("spec_change")
        if change_id:
            for project in reader.projects():
                try:
                    reader.change(project, change_id)
                except InputError:
                    continue
                spec_url = f"/specs/{project.id}/{change_id}"
                break
        return render(
            request,
            "issue.html",
            tab=None,
            filters=filters_of(request),
            viewer=viewer,
            status_code=status_code,
            page=page,
            issue=page.detail.issue,
            occurrence_chart=charts.daily_bars("Failures per day", page.by_day, unit="failures"),
            agent_sessions=sessions_,
            pack=pack,
            brief=brief,
            spec_url=spec_url,
            decisions=[d.value for d in Decision],
            notice=notice,
            error=error,
            failed_action=failed_action,
            timeline_all=request.query_params.get("timeline") == "all",
        )

    def parse_id(raw: str) -> int | None:
        return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_ID else None

    @router.get("/issues/{issue_id}")
    def issue(request: Request, issue_id: str, done: str | None = None) -> Response:
        viewer, denied = gate(request)
        if denied:
            return denied
        pk = parse_id(issue_id)
        if pk is None:
            return not_found(request, viewer, f"issue {issue_id[:40]}")
        notice = f"Saved: {_label(done)}." if done in ACTIONS else None
        return issue_response(request, viewer, pk, notice=notice)

    @router.post("/issues/{issue_id}/triage")
    def triage(
        request: Request,
        issue_id: str,
        action: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
        decision: Annotated[str, Form()] = "",
        assignee: Annotated[str, Form()] = "",
        state: Annotated[str, Form()] = "",
        snooze: Annotated[str, Form()] = "",
        until: Annotated[str, Form()] = "",
        occurrences: Annotated[str, Form()] = "",
    ) -> Response:
        """The form fallback of the issue page's actions: the same store functions as
        ``PATCH /api/v1/issues/{id}``, for a signed-in session with a write token."""
        viewer = auth.viewer(request)
        pk = parse_id(issue_id)
        if pk is None:
            return not_found(request, viewer, f"issue {issue_id[:40]}")
        if not same_origin(request):
            return issue_response(
                request,
                viewer,
                pk,
                error="refused: the form was sent from another site",
                status_code=403,
            )
        if viewer is None or not viewer.can_write:
            return issue_response(
                request,
                viewer,
                pk,
                error=SIGN_IN_TO_WRITE,
                failed_action=action,
                status_code=401 if viewer is None else 403,
            )
        if not auth.csrf_ok(viewer, csrf):
            return issue_response(
                request,
                viewer,
                pk,
                error="the form expired: reload the page and try again",
                failed_action=action,
                status_code=403,
            )
        now = clock.now()
        try:
            _apply_action(
                engine,
                pk,
                action=action,
                reason=reason,
                values={
                    "decision": decision,
                    "assignee": assignee,
                    "state": state,
                    "snooze": snooze,
                    "until": until,
                    "occurrences": occurrences,
                },
                actor=viewer.actor,
                now=now,
            )
        except LookupError:
            return not_found(request, viewer, f"issue #{pk}")
        except InputError as exc:
            conflict = exc.source == "state" or (exc.source == "snooze" and exc.location == str(pk))
            return issue_response(
                request,
                viewer,
                pk,
                error=str(exc),
                failed_action=action,
                status_code=409 if conflict else 422,
            )
        return RedirectResponse(f"/issues/{pk}?done={action}#actions", status_code=303)

    @router.post("/issues/{issue_id}/investigate")
    def issue_investigate(
        request: Request, issue_id: str, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        """The issue page's Investigate button: Claude's brief (or why there is none), for a
        signed-in session with a write token; the page then shows the brief."""
        viewer = auth.viewer(request)
        pk = parse_id(issue_id)
        if pk is None:
            return not_found(request, viewer, f"issue {issue_id[:40]}")
        if not same_origin(request):
            error, code = "refused: the form was sent from another site", 403
        elif viewer is None or not viewer.can_write:
            error, code = SIGN_IN_TO_WRITE, 401 if viewer is None else 403
        elif not auth.csrf_ok(viewer, csrf):
            error, code = "the form expired: reload the page and try again", 403
        else:
            try:
                result = investigate(engine, settings, pk, clock=clock)
            except InputError:
                return not_found(request, viewer, f"issue #{pk}")
            if result.brief is not None:
                return RedirectResponse(f"/issues/{pk}#investigation-brief", status_code=303)
            notice = f"No brief ({result.status}: {result.detail}); the evidence pack is below."
            return issue_response(request, viewer, pk, notice=notice)
        return issue_response(request, viewer, pk, error=error, status_code=code)

    # -- sign in ------------------------------------------------------------------------------

    @router.get("/login")
    def login_page(request: Request, next: str | None = None) -> Response:
        return render(
            request,
            "login.html",
            tab=None,
            filters=Filters(),
            viewer=auth.viewer(request),
            next_path=local_path(next),
            error=None,
        )

    @router.post("/login")
    def login(
        request: Request,
        token: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        target = local_path(next)
        error = None
        if not same_origin(request):
            error = "refused: the form was sent from another site"
        else:
            signed = auth.sign_in(token)
            if signed is not None:
                cookie, _viewer = signed
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(
                    COOKIE,
                    cookie,
                    max_age=SESSION_SECONDS,
                    httponly=True,
                    samesite="lax",
                    secure=request.url.scheme == "https",
                    path="/",
                )
                return response
            error = "unknown or revoked token"
        return render(
            request,
            "login.html",
            tab=None,
            filters=Filters(),
            viewer=None,
            next_path=target,
            error=error,
            status_code=401 if error == "unknown or revoked token" else 403,
        )

    @router.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        viewer = auth.viewer(request)
        if viewer is not None and not auth.csrf_ok(viewer, csrf):
            return Response("the form expired: reload the page", status_code=403)
        if viewer is not None:
            auth.sign_out(request)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router


def _gauges(engine: Engine) -> queries.StoreGauges:
    with Session(engine) as session:
        return queries.store_gauges(session=session)


def _apply_action(
    engine: Engine,
    issue_id: int,
    *,
    action: str,
    reason: str,
    values: dict[str, str],
    actor: str,
    now: datetime,
) -> None:
    """One triage action, as ``PATCH /api/v1/issues/{id}`` does it: fields through
    ``apply_override`` (with the state when both change), a state alone through the lifecycle,
    a snooze through the lifecycle; all in one transaction, with the reason on the timeline.
    Raises ``LookupError`` for an unknown issue, ``InputError`` for a refused change."""
    reason = reason.strip()
    if not reason or len(reason) > 2000 or "\x00" in reason:
        raise InputError("reason", "", "give a reason (1 to 2000 characters)")
    if action not in ACTIONS:
        raise InputError("action", action[:40], f"expected one of {', '.join(ACTIONS)}")
    changes: dict[str, str] = {}
    target: IssueState | None = None
    snooze: dict[str, Any] | None = None
    if action == "decision":
        if values["decision"] not in {d.value for d in Decision}:
            raise InputError("decision", values["decision"][:40], "choose a decision")
        changes["decision"] = values["decision"]
    elif action == "assign":
        who = values["assignee"].strip()
        if not who or len(who) > 100 or "\x00" in who:
            raise InputError("assignee", "", "give who to assign (1 to 100 characters)")
        changes["assignee"] = who
    elif action == "state":
        try:
            target = IssueState(values["state"])
        except ValueError:
            raise InputError("state", values["state"][:40], "choose a state") from None
    elif action == "false_positive":
        changes["category"] = Category.FALSE_POSITIVE.value
        target = IssueState.FALSE_POSITIVE
    else:
        snooze = _snooze_of(values)
    with Session(engine) as session, session.begin():
        if queries.issue_lifecycle(session=session, issue_id=issue_id) is None:
            raise LookupError(issue_id)
        if changes:
            if target is not None:
                changes["state"] = target.value
            apply_override(
                session=session,
                issue_id=issue_id,
                changes=changes,
                reason=reason,
                actor=actor,
                now=now,
            )
        elif target is not None:
            store_lifecycle.change_state(
                session, issue_id, target, actor=Actor.HUMAN, reason=reason, now=now, who=actor
            )
        if snooze is not None:
            store_lifecycle.snooze(session, issue_id, reason=reason, now=now, who=actor, **snooze)


def _snooze_of(values: dict[str, str]) -> dict[str, Any]:
    how = values["snooze"]
    if how == "until":
        raw = values["until"].strip()
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            raise InputError("snooze", "until", "give a date and time (UTC)") from None
        return {"until": at.replace(tzinfo=UTC) if at.tzinfo is None else as_utc(at)}
    if how == "occurrences":
        raw = values["occurrences"].strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
            raise InputError("snooze", "occurrences", "give a number of occurrences (1 or more)")
        return {"occurrences": int(raw)}
    if how == "forever":
        return {"forever": True}
    raise InputError("snooze", how[:40], "choose until a time, N more occurrences or forever")


__all__ = ["web_router"]

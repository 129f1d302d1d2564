"""What the pages show, assembled from the store's query functions (no SQL here): work items,
spec changes with the issues they link, the issue page's timeline, runs and chart data."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from triagehub.core.lifecycle import Actor, check_transition
from triagehub.core.models import IssueState
from triagehub.errors import InputError
from triagehub.store import queries
from triagehub.store.queries import EventView, IssueDetail, IssueQuery, IssueView
from triagehub.web import search
from triagehub.web.filters import PRIORITY_RANK, WORKING, Filters
from triagehub.work.agents import SessionView
from triagehub.work.specs import Change, OpenSpecReader

PAGE_SIZE = 50
SEARCH_WINDOW = 400  # the most recently active issues a fuzzy search scores
SEARCH_EXACT = 8  # issues beyond the window found by an exact test name
SEARCH_CHECKS = 4  # checks whose name holds the text, read for their issues
SEARCH_DEEP = 100  # issues found by the exact text of their title or message (indexed)
SEARCH_TYPO = 50  # issues holding half of a query word, scored for typos (indexed)
SEARCH_SHOWN = 100
DEFAULT_SPEC_PRIORITY = "medium"
_ISSUE_REF = re.compile(r"triagehub issue #(\d{1,10})")


def issue_query(filters: Filters, states: Sequence[str], sort: str) -> IssueQuery:
    return IssueQuery(
        repositories=filters.repositories,
        states=tuple(states),
        categories=filters.categories,
        priorities=filters.priorities,
        since=filters.since_at,
        until=filters.until_at,
        sort=sort,
    )


def _matches(view: IssueView, query: IssueQuery) -> bool:
    """Whether an issue found another way holds the filters of ``query``."""
    return (
        (not query.repositories or view.repository in query.repositories)
        and (not query.states or view.state in query.states)
        and (not query.categories or view.category in query.categories)
        and (not query.priorities or view.priority in query.priorities)
        and (query.since is None or view.last_seen >= query.since)
        and (query.until is None or view.last_seen < query.until)
    )


def search_issues(session: Session, query: IssueQuery, text: str) -> list[tuple[IssueView, float]]:
    """Issues matching ``query`` and the search ``text``, best first:

    - fuzzily (typos allowed), the titles and test names of the :data:`SEARCH_WINDOW` most
      recently active issues that match the filters;
    - exactly (a substring), the titles, templates and sample messages of the whole history, by
      the search index (the API's ``q``), and the test names of every check with the issues
      these checks failed in;
    - fuzzily again, beyond the window, the :data:`SEARCH_TYPO` newest issues whose text holds
      either half of a long word of the query (one typo leaves one half whole), when the index
      narrows that half to a few issues.
    """
    recent = queries.search_issues(
        session=session, query=replace(query, sort="-last_seen"), limit=SEARCH_WINDOW
    ).items
    pool = {v.id: v for v in recent}
    exact = _by_check_name(session, query, text, pool)
    newest = replace(query, sort="-last_seen")
    for view in queries.search_issues(
        session=session, query=replace(newest, text=text), limit=SEARCH_DEEP
    ).items:
        pool.setdefault(view.id, view)
        exact.add(view.id)
    for half in search.halves(text):
        if not queries.narrowed_by_index(session=session, text=half):
            continue  # a common half: its newest issues are the window's
        for view in queries.search_issues(
            session=session, query=replace(newest, text=half), limit=SEARCH_TYPO
        ).items:
            pool.setdefault(view.id, view)
    scored = dict(
        (v.id, score)
        for v, score in search.rank(
            text, list(pool.values()), lambda v: [v.title, *v.checks[:20], v.repository]
        )
    )
    for pk in exact:
        scored[pk] = 100.0
    ordered = sorted(scored.items(), key=lambda kv: (-kv[1], -pool[kv[0]].last_seen.timestamp()))
    return [(pool[pk], score) for pk, score in ordered[:SEARCH_SHOWN]]


def _by_check_name(
    session: Session, query: IssueQuery, text: str, pool: dict[int, IssueView]
) -> set[int]:
    """The issues of the checks whose name holds ``text`` (added to ``pool``)."""
    exact: set[int] = set()
    repository = query.repositories[0] if len(query.repositories) == 1 else None
    checks = queries.list_checks(
        session=session, repository=repository, text=text, limit=SEARCH_CHECKS
    ).items
    for check in checks:
        found = queries.get_check(session=session, check_id=check.id, max_issues=10)
        for summary in (found.issues or []) if found else []:
            pk = int(summary["id"])
            if pk not in pool and len(exact) < SEARCH_EXACT:
                detail = queries.get_issue(session=session, issue_id=pk, occurrences=0, max_runs=0)
                if detail is None or not _matches(detail.issue, query):
                    continue
                pool[pk] = detail.issue
            if pk in pool:
                exact.add(pk)
    return exact


# -- spec changes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkedIssue:
    id: int
    title: str
    repository: str
    state: str
    priority: str


@dataclass(frozen=True, slots=True)
class SpecItem:
    change: Change
    priority: str
    issues: tuple[LinkedIssue, ...] = ()

    @property
    def url(self) -> str:
        return f"/specs/{self.change.project}/{self.change.id}"

    @property
    def repositories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.repository for i in self.issues))

    def texts(self) -> list[str]:
        return [self.change.id, self.change.why or "", self.change.project]


def linked_issue_ids(change: Change) -> list[int]:
    text = f"{change.why or ''}\n{change.what_changes or ''}"
    return list(dict.fromkeys(int(n) for n in _ISSUE_REF.findall(text)))


def spec_items(
    session: Session, reader: OpenSpecReader, *, archived: bool
) -> tuple[list[SpecItem], list[str]]:
    """Every change of every project under the roots, with the issues its proposal names
    (``triagehub issue #N``, as changes made from issues say) and the priority it takes from
    the most urgent of them (:data:`DEFAULT_SPEC_PRIORITY` without any); and the problems."""
    problems = list(reader.root_problems())
    items: list[SpecItem] = []
    seen: dict[int, LinkedIssue | None] = {}
    for project in reader.projects():
        problems += [f"{project.id}: {p}" for p in reader.symlinked_changes(project)]
        for change in reader.changes(project, archived=archived):
            linked: list[LinkedIssue] = []
            for pk in linked_issue_ids(change)[:20]:
                if pk not in seen:
                    detail = queries.get_issue(
                        session=session, issue_id=pk, occurrences=0, max_runs=0
                    )
                    seen[pk] = (
                        LinkedIssue(
                            pk,
                            detail.issue.title,
                            detail.issue.repository,
                            detail.issue.state,
                            detail.issue.priority,
                        )
                        if detail
                        else None
                    )
                found = seen[pk]
                if found is not None:
                    linked.append(found)
            priority = min(
                (i.priority for i in linked),
                key=lambda p: PRIORITY_RANK.get(p, 9),
                default=DEFAULT_SPEC_PRIORITY,
            )
            items.append(SpecItem(change, priority, tuple(linked)))
    return items, problems


def filter_specs(
    items: Iterable[SpecItem], filters: Filters, *, by_repository: bool = True
) -> list[SpecItem]:
    """The changes these filters keep (``by_repository`` False: the repository filter is not
    applied, as when one OpenSpec project is chosen)."""
    statuses = filters.spec_statuses()
    if statuses is None or filters.categories:
        return []  # the status filter excludes spec changes; spec changes have no category
    out = []
    for item in items:
        change = item.change
        if statuses and change.status not in statuses:
            continue
        if not statuses and change.archived:
            continue
        if filters.priorities and item.priority not in filters.priorities:
            continue
        if (
            by_repository
            and filters.repositories
            and not set(item.repositories) & set(filters.repositories)
        ):
            continue
        if not filters.in_range(change.last_modified):
            continue
        out.append(item)
    if filters.q:
        return [i for i, _ in search.rank(filters.q, out, SpecItem.texts)]
    out.sort(key=lambda i: (PRIORITY_RANK.get(i.priority, 9), -i.change.last_modified.timestamp()))
    return out


# -- All Work -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkItem:
    kind: str  # "error" or "spec"
    priority: str
    issue: IssueView | None = None
    spec: SpecItem | None = None
    score: float | None = None

    @property
    def rank(self) -> int:
        return PRIORITY_RANK.get(self.priority, 9)


def merge_work(
    issues: Sequence[IssueView],
    specs: Sequence[SpecItem],
    *,
    shown_rank: int,
    last_page: bool,
    scores: dict[int, float] | None = None,
) -> tuple[list[WorkItem], int]:
    """One page of All Work: these issues (already in priority order) and the spec changes of
    the priority levels this page covers, each level's specs first. Returns the items and the
    last level covered (``shown_rank`` of the next page)."""
    last_rank = 3 if last_page or not issues else PRIORITY_RANK.get(issues[-1].priority, 3)
    items = [WorkItem("error", v.priority, issue=v, score=(scores or {}).get(v.id)) for v in issues]
    items += [
        WorkItem("spec", s.priority, spec=s)
        for s in specs
        if shown_rank < PRIORITY_RANK.get(s.priority, 3) <= last_rank
    ]
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda i: (i.rank, 0 if i.kind == "spec" else 1, order[id(i)]))
    return items, last_rank


# -- agent sessions -----------------------------------------------------------------------------


def filter_sessions(views: Iterable[SessionView], filters: Filters) -> list[SessionView]:
    statuses = filters.session_statuses()
    if statuses is None:
        return []
    out = [
        v
        for v in views
        if (not statuses or v.status in statuses) and filters.in_range(v.last_activity_at)
    ]
    if filters.q:

        def texts(v: SessionView) -> list[str]:
            work = v.work_item
            return [
                v.session_id,
                v.agent,
                v.cwd or "",
                v.current_tool or "",
                f"{work.kind} {work.id}" if work else "",
            ]

        return [v for v, _ in search.rank(filters.q, out, texts)]
    return out


# -- the issue page -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    kind: str
    at: datetime
    actor: str
    headline: str
    reason: str | None
    details: tuple[tuple[str, str], ...] = ()
    links: tuple[str, ...] = ()


def _short(value: Any, limit: int = 160) -> str:
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {v}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _urls(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            found += _urls(item)
    elif isinstance(value, list):
        for item in value:
            found += _urls(item)
    return found


# Timeline kinds of the remediation workflow that name an agent session.
_SESSION_HEADLINES = {
    "remediation_started": "remediation session started:",
    "agent_attached": "agent session attached:",
    "session_assigned": "agent session assigned:",
    "remediation_cancelled": "remediation session cancelled:",
}


def describe(event: EventView) -> TimelineEntry:
    """A timeline entry in words: a headline, the reason, and the rest as details."""
    data = dict(event.data or {})
    reason = data.pop("reason", None)
    kind = event.kind
    headline = kind.replace("_", " ")
    if kind == "occurred":
        n = data.get("count", 1)
        headline = f"failed {n} time{'s' if n != 1 else ''} in run {data.get('run')}"
        if data.get("attempt", 1) != 1:
            headline += f" (attempt {data.get('attempt')})"
    elif kind == "state_changed":
        headline = f"state {data.pop('from', '?')} → {data.pop('to', '?')}"
    elif kind == "pruned":  # ``db prune``: the occurrences that left the timeline
        headline, reason = str(reason or "occurrences pruned"), None
    elif kind in ("overridden", "reclassified"):
        changes = data.pop("changes", None) or {}
        if isinstance(changes, dict) and changes:
            parts = []
            for name, change in changes.items():
                if name == "rationale":
                    parts.append("rationale")
                elif isinstance(change, dict):
                    parts.append(f"{name} {change.get('from')} → {change.get('to')}")
                else:
                    parts.append(f"{name} → {change}")
            verb = "set " if kind == "overridden" else "classified again: "
            headline = verb + "; ".join(parts)
        elif kind == "reclassified":
            headline = "classified again: no change"
        else:
            headline = "overridden by a human"
    elif kind in _SESSION_HEADLINES:
        headline = f"{_SESSION_HEADLINES[kind]} {data.pop('session', '')}".strip()
    elif kind == "escalated":
        headline = f"escalated ({data.pop('trigger', 'unknown')})"
    elif kind == "snoozed":
        if "until" in data:
            headline = f"snoozed until {data.pop('until')}"
        elif "occurrences" in data:
            headline = f"snoozed for {data.pop('occurrences')} more occurrences"
    details = tuple(
        (str(k).replace("_", " "), _short(v))
        for k, v in data.items()
        if v not in (None, "", [], {})
    )
    return TimelineEntry(
        kind,
        event.at,
        event.actor,
        headline,
        str(reason) if reason else None,
        details,
        tuple(dict.fromkeys(_urls(event.data))),
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    run: str
    attempt: int
    branch: str | None
    commit: str | None
    at: datetime
    count: int
    checks: tuple[str, ...]
    url: str | None


def runs_of(detail: IssueDetail, limit: int = 25) -> list[RunRow]:
    """The runs the issue failed in, newest first, with their links where an occurrence gave
    one."""
    urls = {(o.run, o.attempt): o.url for o in detail.recent_occurrences if o.url}
    rows = []
    for event in reversed(detail.timeline):
        if event.kind != "occurred" or event.id is not None:
            continue
        d = event.data
        key = (str(d.get("run")), int(d.get("attempt") or 1))
        rows.append(
            RunRow(
                key[0],
                key[1],
                d.get("branch"),
                d.get("commit"),
                event.at,
                int(d.get("count") or 0),
                tuple(d.get("checks") or ()),
                urls.get(key),
            )
        )
        if len(rows) >= limit:
            break
    return rows


def occurrences_by_day(detail: IssueDetail, today: date) -> list[tuple[date, int]]:
    """Failures per day (from the timeline's runs), over the issue's life up to 60 days (at
    least 14), ending today or at its last failure."""
    counts: dict[date, int] = {}
    for event in detail.timeline:
        if event.kind == "occurred" and event.id is None:
            day = event.at.date()
            counts[day] = counts.get(day, 0) + int(event.data.get("count") or 1)
    end = max(
        detail.issue.last_seen.date(),
        min(today, detail.issue.last_seen.date() + timedelta(days=30)),
    )
    start = max(detail.issue.first_seen.date(), end - timedelta(days=59))
    start = min(start, end - timedelta(days=13))
    days = (end - start).days + 1
    return [
        (start + timedelta(days=n), counts.get(start + timedelta(days=n), 0)) for n in range(days)
    ]


def allowed_states(current: str) -> list[str]:
    """The states a human may move an issue to from ``current``."""
    out = []
    for target in IssueState:
        try:
            check_transition(IssueState(current), target, Actor.HUMAN)
        except InputError:
            continue
        out.append(target.value)
    return out


@dataclass(frozen=True, slots=True)
class Evidence:
    label: str
    url: str


def is_web_url(url: object) -> bool:
    """Only ``http(s)://host...`` becomes a link: a ``javascript:``, ``data:`` or ``vbscript:``
    URL (or anything else from outside) is shown as text."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def evidence_of(detail: IssueDetail, timeline: Sequence[TimelineEntry]) -> list[Evidence]:
    found: dict[str, str] = {}
    for o in detail.recent_occurrences:
        if o.url is not None and is_web_url(o.url):
            found.setdefault(o.url, f"run {o.run} (attempt {o.attempt})")
        for link in o.links:
            if is_web_url(link):
                found.setdefault(link, f"artifact of run {o.run}")
    for entry in timeline:
        for link in entry.links:
            if is_web_url(link):
                found.setdefault(link, f"{entry.kind.replace('_', ' ')} {entry.at:%Y-%m-%d}")
    return [Evidence(label, url) for url, label in found.items()][:30]


@dataclass(slots=True)
class IssuePage:
    detail: IssueDetail
    lifecycle: dict[str, Any]
    timeline: list[TimelineEntry] = field(default_factory=list)
    similar: list[IssueView] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    by_day: list[tuple[date, int]] = field(default_factory=list)
    states: list[str] = field(default_factory=list)


def issue_page(session: Session, issue_id: int, today: date) -> IssuePage | None:
    detail = queries.get_issue(session=session, issue_id=issue_id, occurrences=20)
    lifecycle = queries.issue_lifecycle(session=session, issue_id=issue_id)
    if detail is None or lifecycle is None:
        return None
    timeline = [describe(e) for e in detail.timeline]
    similar = []
    for pk in detail.issue.similar_issues[:10]:
        other = queries.get_issue(session=session, issue_id=pk, occurrences=0, max_runs=0)
        if other is not None:
            similar.append(other.issue)
    return IssuePage(
        detail=detail,
        lifecycle=lifecycle,
        timeline=timeline,
        similar=similar,
        runs=runs_of(detail),
        evidence=evidence_of(detail, timeline),
        by_day=occurrences_by_day(detail, today),
        states=allowed_states(detail.issue.state),
    )


def working_or(states: tuple[str, ...]) -> tuple[str, ...]:
    return states or WORKING

"""Reading a triagehub issue for the GitHub sync: the snapshot its body renders, the timeline
events to comment on, and the agent notification still to post."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.config import GitHubSyncConfig, Settings
from triagehub.engine.notify import AgentIssue, normalize_handle
from triagehub.engine.sync import render
from triagehub.engine.sync.github_links import FROM_GITHUB, sync_config
from triagehub.store import tables as t
from triagehub.store.queries import IssueDetail, get_issue
from triagehub.work.agent_prs import related_prs as linked_pr_urls

COMMENT_KINDS: Final = (
    "state_changed",
    "escalated",
    "sla_breached",
    "snoozed",
    "unsnoozed",
    "rerun_requested",
    "overridden",
)


@dataclass
class SyncView:
    """An issue as the sync sends it: its row, its snapshot, the events to comment on."""

    row: dict[str, Any]
    snapshot: render.IssueSnapshot
    events: list[render.TimelineEntry]
    max_event_id: int
    agent: AgentIssue | None
    handle: str | None


_AUTO_ACTIONS = {"rerun_requested", "escalated", "sla_breached"}


def _auto_actions(timeline: Iterable[Any]) -> list[str]:
    found: list[str] = []
    for event in timeline:
        if event.id is None:
            continue
        data = event.data or {}
        if event.kind in _AUTO_ACTIONS:
            tag = data.get("trigger") or data.get("run")
            found.append(f"{event.kind}:{tag}" if tag else event.kind)
        elif event.kind == "state_changed" and event.actor in ("rule", "triagehub"):
            found.append(str(data.get("to")))
    return list(dict.fromkeys(found))[:30]


def load_view(session: Session, settings: Settings, issue_id: int) -> SyncView | None:
    """The issue ``issue_id`` as the sync sends it (None: no such issue)."""
    found = (
        session.execute(
            select(t.issues, t.repositories.c.name.label("repository"))
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .where(t.issues.c.id == issue_id)
        )
        .mappings()
        .first()
    )
    detail = get_issue(session=session, issue_id=issue_id, occurrences=10, max_runs=1)
    if found is None or detail is None:
        return None
    row = dict(found)
    snapshot = _snapshot(session, settings, row, detail)
    cursor = row["github_event_cursor"] or 0
    stored = [e for e in detail.timeline if e.id is not None]
    events = [
        render.TimelineEntry(e.id or 0, e.kind, e.at, e.actor, e.data or {})
        for e in sorted(stored, key=lambda e: e.id or 0)
        if (e.id or 0) > cursor and e.kind in COMMENT_KINDS and not e.actor.startswith(FROM_GITHUB)
    ]
    max_event_id = max((e.id or 0 for e in stored), default=0)
    handle = settings.lifecycle.agent_handle
    agent = None
    if handle and row["github_agent_at"] is None:
        mention = normalize_handle(handle)
        key = f"notify:{issue_id}:agent:{mention}"
        if session.execute(select(t.jobs.c.id).where(t.jobs.c.key == key)).scalar() is not None:
            agent = _agent_issue(snapshot, row)
            handle = mention
    return SyncView(row, snapshot, events, max_event_id, agent, handle)


def _repositories(session: Session, row: Mapping[str, Any]) -> list[str]:
    """The issue's repository, then the others its pattern failed in."""
    repositories = [row["repository"]]
    if row["pattern_id"] is not None:
        repositories += session.execute(
            select(t.repositories.c.name)
            .join(t.issues, t.issues.c.repository_id == t.repositories.c.id)
            .where(t.issues.c.pattern_id == row["pattern_id"])
            .distinct()
            .order_by(t.repositories.c.name)
        ).scalars()
    return list(dict.fromkeys(repositories))


def _similar(session: Session, similar_issues: Iterable[int]) -> list[tuple[str, str | None]]:
    """The similar issues as ``owner/name#12`` (with the URL) or ``triagehub issue 7``."""
    similar: list[tuple[str, str | None]] = []
    ids = list(similar_issues)
    if ids:
        for other in session.execute(
            select(t.issues.c.id, t.issues.c.github_repo, t.issues.c.github_number)
            .add_columns(t.issues.c.github_url)
            .where(t.issues.c.id.in_(ids))
            .order_by(t.issues.c.id)
        ):
            if other.github_number is not None:
                similar.append((f"{other.github_repo}#{other.github_number}", other.github_url))
            else:
                similar.append((f"triagehub issue {other.id}", None))
    return similar


def _snapshot(
    session: Session, settings: Settings, row: Mapping[str, Any], detail: IssueDetail
) -> render.IssueSnapshot:
    """What the body says about the issue."""
    issue_id = int(row["id"])
    view = detail.issue
    runs: dict[tuple[str, int], render.RunLink] = {}
    for occ in detail.recent_occurrences:
        runs.setdefault(
            (occ.run, occ.attempt),
            render.RunLink(
                occ.run, occ.attempt, occ.commit, occ.branch, occ.url, occ.check, occ.occurred_at
            ),
        )
    excerpt = next((o.log_excerpt for o in detail.recent_occurrences if o.log_excerpt.strip()), "")
    return render.IssueSnapshot(
        issue_id=issue_id,
        repository=row["repository"],
        title=row["title"],
        state=row["state"],
        source=row["source"],
        scope=row["scope"],
        category=row["category"],
        kind=row["kind"],
        severity=row["severity"],
        priority=row["priority"],
        history_class=row["history_class"],
        decision=row["decision"],
        rationale=row["rationale"],
        confidence=float(row["confidence"]),
        classification_source=row["classification_source"],
        fingerprint=row["fingerprint"],
        sample_message=row["sample_message"],
        occurrences=int(row["occurrences"]),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        expert=row["expert"],
        assignee=row["assignee"],
        checks=view.checks,
        checks_count=int(row["checks_count"]),
        affected_models=list(row["affected_models"] or []),
        repositories=_repositories(session, row),
        runs=list(runs.values()),
        log_excerpt=excerpt,
        similar=_similar(session, view.similar_issues),
        auto_actions=_auto_actions(detail.timeline),
        spec_change=row["spec_change"],
        sla_due_at=row["sla_due_at"],
        snoozed_until=row["snoozed_until"],
        metadata_tag=(sync_config(settings, row["repository"]) or GitHubSyncConfig()).metadata_tag,
        related_prs=_merge_prs(
            linked_pr_urls(session, issue_id),  # recorded pull requests (agent_prs)
            related_prs(
                row["repository"],
                [occ.branch for occ in detail.recent_occurrences],
                [e.data or {} for e in detail.timeline if e.kind == "pr_linked"],
            ),
        ),
        first_response_at=min(
            (e.at for e in detail.timeline if e.id is not None and is_human(e.actor)),
            default=None,
        ),
        resolved_at=row["resolved_at"],
        resolved_by_human=_closed_by_human(detail.timeline),
    )


MACHINE_ACTORS: Final = frozenset({"rule", "triagehub", "llm", "sync"})
_PR_BRANCH = re.compile(r"^(?:refs/)?pull/(\d+)/(?:merge|head)$")


def is_human(actor: str) -> bool:
    """Whether a timeline actor is a person (``human``, ``github:<login>``, an API token)."""
    return actor not in MACHINE_ACTORS


def related_prs(
    repository: str, branches: Iterable[str | None], linked: Iterable[Mapping[str, Any]]
) -> list[str]:
    """``owner/name#12`` for the pull requests the failing runs ran on (``refs/pull/12/merge``)
    and those linked to the issue (``pr_linked`` events: ``{"repository", "number"}``)."""
    found: list[str] = []
    for data in linked:
        if data.get("url"):  # a recorded pull request (agent_prs): listed by its URL
            continue
        number, repo = data.get("number"), data.get("repository") or repository
        if isinstance(number, int) and isinstance(repo, str):
            found.append(f"{repo}#{number}")
    for branch in branches:
        match = _PR_BRANCH.match(branch or "")
        if match:
            found.append(f"{repository}#{match.group(1)}")
    return list(dict.fromkeys(found))


def _merge_prs(urls: list[str], refs: list[str]) -> list[str]:
    """The recorded pull requests' URLs, then the ``owner/name#12`` references that no URL
    already names (``https://github.com/owner/name/pull/12``)."""
    named = set()
    for url in urls:
        match = _PR_URL.search(url)
        if match:
            named.add(f"{match.group(1).lower()}#{match.group(2)}")
    return list(dict.fromkeys([*urls, *(r for r in refs if r.lower() not in named)]))


_PR_URL = re.compile(r"/([^/]+/[^/]+)/pull/(\d+)(?:$|[/?#])")


def _closed_by_human(timeline: Iterable[Any]) -> bool:
    closing = [
        e
        for e in timeline
        if e.kind == "state_changed"
        and str((e.data or {}).get("to"))
        in ("resolved", "auto_resolved", "ignored", "false_positive")
    ]
    return bool(closing) and is_human(str(closing[-1].actor))


def _agent_issue(issue: render.IssueSnapshot, row: Mapping[str, Any]) -> AgentIssue:
    """The agent notification's content, escaped for GitHub (the handle is the one mention)."""
    message = issue.sample_message.replace("<!--", "<!\u200b--").replace("-->", "--\u200b>")
    return AgentIssue(
        issue_id=issue.issue_id,
        title=render.inline(issue.title),
        repository=render.inline(issue.repository),
        category=issue.category,
        kind=issue.kind,
        priority=issue.priority,
        message=message,
        occurrences=issue.occurrences,
        first_seen=issue.first_seen,
        last_seen=issue.last_seen,
        link=render.safe_url(row["github_url"]),
        repositories=[render.inline(r) for r in issue.repositories],
        commits=[
            render.inline(f"{issue.repository}@{run.commit}") for run in issue.runs if run.commit
        ],
        checks=[render.inline(c, 150) for c in issue.checks],
        links=[u for u in (render.safe_url(run.url) for run in issue.runs) if u][:5],
        rationale=render.inline(issue.rationale, 1000),
    )

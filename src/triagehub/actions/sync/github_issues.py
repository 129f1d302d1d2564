"""GitHub issue sync: every triaged issue mirrored as a GitHub issue, and humans' changes on
GitHub brought back.

Out (triagehub -> GitHub), through the outbox (job kind ``github_sync``)
    Each monitor tick (:func:`enqueue_github_sync`, also ``triagehub sync github``) queues one
    job per issue that changed since its last sync: ``github_sync:{issue_id}:{updated_at}``, so
    a repeated tick adds nothing. Eligible are the issues of repositories with ``github_issues``
    in ``triagehub.yaml``: an unlinked issue in a working state whose category is listed and
    whose priority is at least ``min_priority`` gets a GitHub issue; a linked issue is synced on
    every change, whatever its category or priority became. The job reads the issue as it is
    when it runs (so several jobs of one issue converge on the latest state) and then:

    1. **creates** the GitHub issue when there is none: first it looks for one it created before
       (the target's issues created since the triagehub issue, matched by the fingerprint of
       their metadata block), so that a retry after a lost answer or a crash between "created"
       and "link stored" adopts it instead of creating a second one; the create request itself
       is never retried by the client;
    2. **comments** on the timeline events since the last sync (state changes with their reason,
       escalations, SLA breaches, snoozes, re-runs, overrides made in triagehub), one comment per
       sync, and the agent notification (``lifecycle.agent_handle``) once per issue; before
       posting, the issue's recent comments are read so that a comment is never posted twice;
    3. **closes / reopens** it when the state crossed closed/open (``completed`` or
       ``not_planned``), with the body in the same edit;
    4. **edits** the title and body when they changed, at most once per
       ``update_every_minutes`` (the throttled edit is queued for when the window ends:
       ``github_sync:{issue_id}:body:{time}``);
    5. **labels** it: the brief's ``category:*``, ``priority:*``, ``history:*`` and
       ``triagehub:classified`` labels, created in the repository on first use with their colours
       and descriptions; only triagehub's labels are added or removed, people's labels stay.

    What was sent is recorded on the issue row (``github_*`` columns) in the job's outcome
    transaction. Errors: a rate limit is raised with its ``retry_after`` (the outbox waits that
    long); 404 and 410 (deleted or transferred away) and 403 (locked, no access) on the issue are
    recorded on the timeline (``sync_failed``) and the link is marked ``gone`` / ``forbidden``:
    no retry, no further sync; a 403 on a comment (a locked conversation) is recorded and the
    rest of the sync goes on.

In (GitHub -> triagehub)
    ``issues`` (closed, reopened, labeled, unlabeled, assigned, unassigned, deleted, transferred)
    and ``issue_comment`` (created) webhooks are accepted by ``POST /webhooks/github``
    (:func:`queue_issue_event`) and applied by the job kind ``github_issue_event``; ``triagehub
    sync github --pull`` finds the same changes by listing the target repositories' recently
    updated issues (:func:`pull_changes`). Applied: closing -> ``resolved`` (``ignored`` when
    closed as not planned), reopening -> ``open``, a new ``category:``/``priority:`` label -> a
    human override, assignment -> the assignee (an override: it feeds the accuracy figures),
    ``/triage ignore|false-positive|needs-spec|one-off-fix|assign @x|snooze 7d`` comments.
    Ignored: GitHub issues no triagehub issue is linked to, the hub's own changes (the login that
    created its issues and comments, bots, and texts carrying its markers), changes that are
    already true. Changes made this way are written with actor ``github:<login>``, and are not
    commented back.

Adoption: ``triagehub sync github --adopt`` (:func:`adopt_issues`) searches the targets for
issues triagehub wrote (their metadata block) and links the unlinked issues with the same
fingerprint to them, e.g. after the database was lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, String, and_, cast, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from triagehub.actions.notify import AgentIssue, agent_notification_text, normalize_handle
from triagehub.actions.sync import render
from triagehub.actions.sync.github_adopt import ADOPTED
from triagehub.actions.sync.github_inbound import (
    ISSUE_EVENT,
    ISSUE_EVENTS,
    Inbound,
    PullSummary,
    apply_inbound,
    pull_changes,
    queue_issue_event,
)
from triagehub.actions.sync.github_links import (
    FORBIDDEN,
    FROM_GITHUB,
    GONE,
    LINKED,
    LOGIN_CURSOR,
    configured,
    github_state_of,
    iso,
    login_of,
    managed_of,
    sync_config,
    target_of,
    time_of,
    wants,
)
from triagehub.clock import Clock, SystemClock
from triagehub.config import GitHubSyncConfig, Settings
from triagehub.core.lifecycle import WORKING_STATES
from triagehub.core.models import IssueState
from triagehub.core.redact import redact
from triagehub.engine.jobs import (
    RUNNING,
    Deferred,
    Job,
    JobContext,
    Outcome,
    Recording,
    enqueue,
    job_handler,
    process_jobs,
)
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event
from triagehub.store.queries import get_issue
from triagehub.work.agent_prs import related_prs as linked_pr_urls

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient, JSONObject

log = logging.getLogger(__name__)

SYNC: Final = "github_sync"
COMMENT_KINDS: Final = (
    "state_changed",
    "escalated",
    "sla_breached",
    "snoozed",
    "unsnoozed",
    "rerun_requested",
    "overridden",
)
DEFAULT_UPDATE_EVERY = timedelta(minutes=15)
LOOKUP_LIMIT: Final = 500  # issues read back when looking for one created before
_WORKING: Final = [s.value for s in WORKING_STATES]


def sync_key(issue_id: int, updated_at: datetime) -> str:
    """The job key of the sync of an issue as of ``updated_at``: a tick queues it once."""
    return f"{SYNC}:{issue_id}:{iso(updated_at)}"


# -- queueing (the monitor's step) ----------------------------------------------------------------


def enqueue_github_sync(
    session: Session, settings: Settings, now: datetime, *, repository: str | None = None
) -> list[int]:
    """Queue a sync job for each issue to create or changed since its last sync, and for each
    linked issue whose agent notification is not on GitHub yet; return the issue ids queued.
    Runs in the caller's transaction; a repeated call adds nothing."""
    configs = configured(settings, repository)
    if not configs:
        return []
    i = t.issues.c
    categories = sorted({c.value for cfg in configs.values() for c in cfg.categories})
    rows = session.execute(
        select(i.id, i.updated_at, i.github_number, i.category, i.priority, t.repositories.c.name)
        .join(t.repositories, t.repositories.c.id == i.repository_id)
        .where(
            t.repositories.c.name.in_(sorted(configs)),
            or_(i.github_status.is_(None), i.github_status == LINKED),
            or_(
                and_(
                    i.github_number.is_(None),
                    i.state.in_(_WORKING),
                    i.category.in_(categories),
                ),
                and_(
                    i.github_number.is_not(None),
                    or_(
                        i.github_synced_version.is_(None),
                        i.updated_at > i.github_synced_version,
                    ),
                ),
            ),
        )
        .order_by(i.id)
    ).all()
    queued: list[int] = []
    for row in rows:
        if row.github_number is None and not wants(configs[row.name], row.category, row.priority):
            continue
        key = sync_key(row.id, row.updated_at)
        if enqueue(session, kind=SYNC, key=key, data={"issue_id": row.id}, now=now):
            queued.append(row.id)
    handle = settings.lifecycle.agent_handle
    if handle:
        mention = normalize_handle(handle)
        notify_key = literal("notify:") + cast(i.id, String) + literal(f":agent:{mention}")
        waiting = session.execute(
            select(i.id)
            .join(t.repositories, t.repositories.c.id == i.repository_id)
            .join(t.jobs, t.jobs.c.key == notify_key)
            .where(
                t.repositories.c.name.in_(sorted(configs)),
                i.github_status == LINKED,
                i.github_agent_at.is_(None),
            )
        ).scalars()
        for issue_id in waiting:
            key = f"{SYNC}:{issue_id}:agent:{mention}"
            if enqueue(session, kind=SYNC, key=key, data={"issue_id": issue_id}, now=now):
                queued.append(issue_id)
    return queued


# -- reading an issue for the sync -----------------------------------------------------------------


@dataclass
class _View:
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


def _load(session: Session, settings: Settings, issue_id: int) -> _View | None:
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
    view = detail.issue
    repositories = [row["repository"]]
    if row["pattern_id"] is not None:
        repositories += session.execute(
            select(t.repositories.c.name)
            .join(t.issues, t.issues.c.repository_id == t.repositories.c.id)
            .where(t.issues.c.pattern_id == row["pattern_id"])
            .distinct()
            .order_by(t.repositories.c.name)
        ).scalars()
    similar: list[tuple[str, str | None]] = []
    if view.similar_issues:
        for other in session.execute(
            select(t.issues.c.id, t.issues.c.github_repo, t.issues.c.github_number)
            .add_columns(t.issues.c.github_url)
            .where(t.issues.c.id.in_(view.similar_issues))
            .order_by(t.issues.c.id)
        ):
            if other.github_number is not None:
                similar.append((f"{other.github_repo}#{other.github_number}", other.github_url))
            else:
                similar.append((f"triagehub issue {other.id}", None))
    runs: dict[tuple[str, int], render.RunLink] = {}
    for occ in detail.recent_occurrences:
        runs.setdefault(
            (occ.run, occ.attempt),
            render.RunLink(
                occ.run, occ.attempt, occ.commit, occ.branch, occ.url, occ.check, occ.occurred_at
            ),
        )
    excerpt = next((o.log_excerpt for o in detail.recent_occurrences if o.log_excerpt.strip()), "")
    snapshot = render.IssueSnapshot(
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
        repositories=list(dict.fromkeys(repositories)),
        runs=list(runs.values()),
        log_excerpt=excerpt,
        similar=similar,
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
    return _View(row, snapshot, events, max_event_id, agent, handle)


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


# -- the sync job ---------------------------------------------------------------------------------


@dataclass
class _Result:
    """What a sync did, recorded on the issue row in the outcome transaction."""

    issue_id: int
    target: str
    version: datetime
    number: int | None = None
    node_id: str | None = None
    url: str | None = None
    action: str | None = None  # created | adopted
    status: str | None = None  # gone | forbidden: stop syncing
    state: str | None = None
    labels: list[str] | None = None
    body_hash: str | None = None
    body_at: datetime | None = None
    cursor: int | None = None
    agent_at: datetime | None = None
    login: str | None = None
    follow_up_at: datetime | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    skipped: str | None = None

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {"issue": self.issue_id, "target": self.target}
        if self.number is not None:
            data["number"] = self.number
        if self.skipped:
            data["skipped"] = self.skipped
        if self.done:
            data["done"] = self.done
        if self.status:
            data["status"] = self.status
        if self.follow_up_at is not None:
            data["body_edit_at"] = iso(self.follow_up_at)
        return data

    def link(self, issue: JSONObject) -> None:
        number = issue.get("number")
        if not isinstance(number, int):
            raise ExternalServiceError("github", None, "the issue in GitHub's answer has no number")
        self.number = number
        node_id, url = issue.get("node_id"), issue.get("html_url")
        self.node_id = node_id if isinstance(node_id, str) else None
        self.url = url if isinstance(url, str) else None


def _fatal(exc: ExternalServiceError) -> str | None:
    """The link status an error on the GitHub issue leads to (None: not a permanent refusal)."""
    if exc.retry_after is not None:
        return None
    if exc.status in (404, 410):
        return GONE
    if exc.status == 403:
        return FORBIDDEN
    return None


class _Syncer:
    """One sync of one issue (network only: nothing is written to the store here)."""

    def __init__(
        self,
        github: GitHubClient,
        ctx: JobContext,
        view: _View,
        config: GitHubSyncConfig | None,
        now: datetime,
    ) -> None:
        self.github = github
        self.ctx = ctx
        self.view = view
        self.config = config
        self.now = now
        row = view.row
        linked = row["github_number"] is not None
        target = str(row["github_repo"]) if linked else ""
        if not linked and config is not None:
            target = target_of(row["repository"], config)
        self.result = _Result(issue_id=int(row["id"]), target=target, version=row["updated_at"])
        self._comments: list[JSONObject] | None = None

    # -- steps ---------------------------------------------------------------------------------

    def run(self) -> _Result:
        row, res = self.view.row, self.result
        title = render.render_title(self.view.snapshot)
        body = render.render_body(self.view.snapshot)
        digest = render.body_hash(title, body)
        labels = render.managed_labels(row["category"], row["priority"], row["history_class"])
        if row["github_number"] is None:
            if (
                self.config is None
                or IssueState(row["state"]).is_closed
                or not wants(self.config, row["category"], row["priority"])
            ):
                res.skipped = "not eligible for a GitHub issue"
                return res
            found = self._find_created_before()
            if found is None:
                self._ensure_labels(labels)
                created = self.github.create_issue(
                    res.target, title=title, body=body, labels=labels
                )
                res.link(created)
                res.action, res.login = "created", login_of(created)
                res.state, res.labels, res.body_hash, res.body_at = "open", labels, digest, self.now
                res.cursor = self.view.max_event_id
                self._comments = []  # a new issue has no comments yet
                res.done.append("created")
            else:
                res.link(found)
                res.action = "adopted"
                res.state = "closed" if found.get("state") == "closed" else "open"
                res.labels = managed_of(found)
                res.cursor = self.view.max_event_id
                res.done.append("adopted")
            gh_state, gh_labels = res.state, list(res.labels or [])
            body_hash, body_at = res.body_hash, res.body_at
            cursor = self.view.max_event_id
        else:
            res.number = int(row["github_number"])
            res.node_id, res.url = row["github_node_id"], row["github_url"]
            gh_state, gh_labels = row["github_state"] or "open", list(row["github_labels"] or [])
            body_hash, body_at = row["github_body_hash"], row["github_body_at"]
            cursor = int(row["github_event_cursor"] or 0)
        try:
            self._update(
                title, body, digest, labels, gh_state, gh_labels, body_hash, body_at, cursor
            )
        except ExternalServiceError as exc:
            status = _fatal(exc)
            if status is None:
                raise
            res.status = status
            res.problems.append(
                {"status": exc.status, "reason": redact(str(exc))[:500], "stopped": True}
            )
        return res

    def _update(
        self,
        title: str,
        body: str,
        digest: str,
        labels: list[str],
        gh_state: str,
        gh_labels: list[str],
        body_hash: str | None,
        body_at: datetime | None,
        cursor: int,
    ) -> None:
        res, view = self.result, self.view
        number = res.number
        assert number is not None
        new_cursor = max(cursor, view.max_event_id)
        entries = [e for e in view.events if e.id > cursor]
        text = render.events_comment(entries, new_cursor) if entries else None
        if text is not None and not self._posted("events", new_cursor):
            self._comment(text, "events")
        res.cursor = new_cursor
        if view.agent is not None and view.handle:
            if not self._posted("agent", None):
                text = render.agent_comment(agent_notification_text(view.agent, view.handle))
                self._comment(text, "agent")
            res.agent_at = self.now

        want_state, reason = github_state_of(view.row["state"])
        patch: dict[str, str] = {}
        if want_state != gh_state:
            patch["state"] = want_state
            patch["state_reason"] = reason or "reopened"
        if digest != body_hash and body_hash != ADOPTED:  # an adopted issue keeps its body
            every = (
                timedelta(minutes=self.config.update_every_minutes)
                if self.config is not None
                else DEFAULT_UPDATE_EVERY
            )
            if patch or body_at is None or self.now >= body_at + every:
                patch.update(title=title, body=body)
            else:
                res.follow_up_at = body_at + every
        if patch:
            self.github.update_issue(res.target, number, **patch)
            if "state" in patch:
                res.state = want_state
                res.done.append("closed" if want_state == "closed" else "reopened")
            if "body" in patch:
                res.body_hash, res.body_at = digest, self.now
                res.done.append("edited")
        res.state = res.state or gh_state

        add = [name for name in labels if name not in gh_labels]
        remove = [name for name in gh_labels if name not in labels and render.is_managed(name)]
        if add:
            self._ensure_labels(add)
            self.github.add_labels(res.target, number, add)
        for name in remove:
            self.github.remove_label(res.target, number, name)
        if add or remove:
            res.done.append("labels")
        res.labels = labels

    # -- helpers -------------------------------------------------------------------------------

    def _find_created_before(self) -> JSONObject | None:
        """An issue of the target carrying this issue's fingerprint, created since the issue
        (what a create whose answer was lost, or whose link was never stored, left behind)."""
        row = self.view.row
        bound = row["created_at"] - timedelta(minutes=5)
        issues = self.github.list_issues(
            self.result.target, state="all", since=bound, sort="created", direction="desc"
        )
        for item in islice(issues, LOOKUP_LIMIT):
            created = time_of(item.get("created_at"))
            if created is not None and created < bound:
                break
            if "pull_request" in item:
                continue
            meta = render.parse_metadata(item.get("body"))
            if meta is not None and meta.get("error_fingerprint") == row["fingerprint"]:
                return item
        return None

    def _ensure_labels(self, names: Sequence[str]) -> None:
        """Create the brief's labels the target does not have yet (once per target and batch)."""
        cache: dict[str, set[str]] = self.ctx.cache.setdefault("github_labels", {})
        key = self.result.target.lower()
        if key not in cache:
            cache[key] = {
                str(label.get("name", "")).lower()
                for label in self.github.list_labels(self.result.target)
            }
        known = cache[key]
        for name in names:
            if name.lower() in known or name not in render.LABELS:
                continue
            color, description = render.LABELS[name]
            self.github.create_label(
                self.result.target, name=name, color=color, description=description
            )
            known.add(name.lower())

    def _posted(self, kind: str, cursor: int | None) -> bool:
        """Whether a triagehub comment of this kind (covering ``cursor``) is on the issue."""
        if self._comments is None:
            synced = self.view.row["github_synced_at"]
            since = synced - timedelta(hours=1) if synced is not None else None
            number = self.result.number
            assert number is not None
            self._comments = [
                c
                for c in self.github.list_comments(self.result.target, number, since=since)
                if str(c.get("body") or "").startswith(render.COMMENT_MARKER_PREFIX)
            ]
        for comment in self._comments:
            for found, at in render.comment_markers(comment.get("body")):
                if found == kind and (cursor is None or (at is not None and at >= cursor)):
                    return True
        return False

    def _comment(self, text: str, kind: str) -> None:
        number = self.result.number
        assert number is not None
        try:
            answer = self.github.create_comment(self.result.target, number, text)
        except ExternalServiceError as exc:
            if exc.status == 403 and exc.retry_after is None:  # a locked conversation
                self.result.problems.append(
                    {"status": 403, "reason": redact(str(exc))[:500], "what": f"{kind} comment"}
                )
                return
            raise
        self.result.login = self.result.login or login_of(answer)
        self.result.done.append(f"{kind} comment")
        if self._comments is not None:
            self._comments.append(answer)


def _others_running(engine: Engine, job: Job, now: datetime) -> float | None:
    """Seconds to wait when an earlier sync job of the same issue is being worked on by another
    worker (syncs of one issue never run at the same time), else None."""
    jobs = t.jobs
    with Session(engine) as session:
        lease_end = session.execute(
            select(func.min(jobs.c.next_try_at)).where(
                jobs.c.kind == SYNC,
                jobs.c.key.like(f"{SYNC}:{int(job.data['issue_id'])}:%"),
                jobs.c.id < job.id,
                jobs.c.status == RUNNING,
                jobs.c.next_try_at > now,
            )
        ).scalar()
    if not isinstance(lease_end, datetime):
        return None
    return min(max((lease_end - now).total_seconds(), 1.0), 30.0)


@job_handler(SYNC)
def sync_issue(job: Job, ctx: JobContext) -> Outcome:
    """One ``github_sync`` job (see the module docstring)."""
    issue_id = int(job.data["issue_id"])
    synced: dict[int, int] = ctx.cache.setdefault("github_synced", {})
    if issue_id in synced:  # read after this job was queued: nothing newer to send
        return Outcome(result={"issue": issue_id, "skipped": f"synced by job {synced[issue_id]}"})
    now = ctx.clock.now()
    wait = _others_running(ctx.engine, job, now)
    if wait is not None:
        raise Deferred(wait, f"another worker is syncing issue {issue_id}")
    with Session(ctx.engine) as session:
        view = _load(session, ctx.settings, issue_id)
    if view is None:
        return Outcome(result={"issue": issue_id, "skipped": "no such issue"})
    status = view.row["github_status"]
    if status in (GONE, FORBIDDEN):
        return Outcome(result={"issue": issue_id, "skipped": f"the GitHub issue is {status}"})
    config = sync_config(ctx.settings, view.row["repository"])
    if config is None and view.row["github_number"] is None:
        return Outcome(result={"issue": issue_id, "skipped": "github_issues is not configured"})
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot sync GitHub issues")
    try:
        result = _Syncer(ctx.github, ctx, view, config, now).run()
    except ExternalServiceError as exc:
        if _fatal(exc) is None:
            raise
        # Refused before any link existed (the target repository is missing or not writable):
        # recorded, not retried; the next change of the issue tries again.
        problem = {"status": exc.status, "reason": redact(str(exc))[:500], "what": "create"}
        return Outcome(
            result={"issue": issue_id, "failed": problem["reason"]},
            record=lambda rec: _record_problems(rec, issue_id, [problem]),
        )
    synced[issue_id] = job.id
    if result.skipped:
        return Outcome(result=result.summary())
    return Outcome(result=result.summary(), record=lambda rec: _record_sync(rec, result))


def _record_problems(rec: Recording, issue_id: int, problems: Iterable[Mapping[str, Any]]) -> None:
    for problem in problems:
        record_event(
            rec.session, issue_id, "sync_failed", at=rec.now, actor="triagehub", data=dict(problem)
        )


def _remember_login(session: Session, login: str, now: datetime) -> None:
    cursors = t.cursors
    current = session.execute(
        select(cursors.c.value).where(cursors.c.name == LOGIN_CURSOR)
    ).scalar()
    if current == login:
        return
    if current is None:
        session.execute(insert(cursors).values(name=LOGIN_CURSOR, value=login, updated_at=now))
    else:
        session.execute(
            update(cursors)
            .where(cursors.c.name == LOGIN_CURSOR)
            .values(value=login, updated_at=now)
        )


def _record_sync(rec: Recording, res: _Result) -> None:
    """Store what a sync sent (the issue's ``updated_at`` is left alone: this is no change)."""
    values: dict[str, Any] = {"github_synced_at": rec.now, "github_synced_version": res.version}
    if res.number is not None:
        values.update(
            github_repo=res.target.lower(),
            github_number=res.number,
            github_node_id=res.node_id,
            github_url=res.url,
            github_status=res.status or LINKED,
        )
    for column, value in (
        ("github_state", res.state),
        ("github_labels", res.labels),
        ("github_body_hash", res.body_hash),
        ("github_body_at", res.body_at),
        ("github_event_cursor", res.cursor),
        ("github_agent_at", res.agent_at),
    ):
        if value is not None:
            values[column] = value
    rec.session.execute(update(t.issues).where(t.issues.c.id == res.issue_id).values(values))
    if res.action is not None:
        record_event(
            rec.session,
            res.issue_id,
            "synced",
            at=rec.now,
            actor="triagehub",
            data={
                "action": res.action,
                "repository": res.target,
                "number": res.number,
                "url": res.url,
            },
        )
    _record_problems(rec, res.issue_id, res.problems)
    if res.login:
        _remember_login(rec.session, res.login, rec.now)
    if res.follow_up_at is not None and res.status is None:
        enqueue(
            rec.session,
            kind=SYNC,
            key=f"{SYNC}:{res.issue_id}:body:{iso(res.follow_up_at)}",
            data={"issue_id": res.issue_id},
            now=rec.now,
            not_before=res.follow_up_at,
        )


# -- adoption -------------------------------------------------------------------------------------


def adoption_query(target: str) -> str:
    """The search for the issues triagehub wrote in a repository (its body's footer)."""
    return f'repo:{target} is:issue in:body "triagehub issue" fingerprint'


def adopt_issues(
    engine: Engine,
    settings: Settings,
    github: GitHubClient,
    *,
    now: datetime,
    repository: str | None = None,
) -> list[tuple[int, str, int]]:
    """Link the unlinked issues to the GitHub issues triagehub wrote for their fingerprint
    (found by search); return (issue id, target, number) of each link made."""
    configs = configured(settings, repository)
    by_target: dict[str, list[str]] = {}
    for name, cfg in configs.items():
        by_target.setdefault(target_of(name, cfg).lower(), []).append(name)
    linked: list[tuple[int, str, int]] = []
    for target, names in sorted(by_target.items()):
        found: dict[str, JSONObject] = {}
        for item in github.search_issues(adoption_query(target)):
            meta = render.parse_metadata(item.get("body"))
            fingerprint = meta.get("error_fingerprint") if meta else None
            number = item.get("number")
            if not isinstance(fingerprint, str) or not isinstance(number, int):
                continue
            if fingerprint not in found or number < int(found[fingerprint]["number"]):
                found[fingerprint] = item
        if not found:
            continue
        with Session(engine) as session, session.begin():
            i = t.issues.c
            rows = session.execute(
                select(i.id, i.fingerprint)
                .join(t.repositories, t.repositories.c.id == i.repository_id)
                .where(
                    t.repositories.c.name.in_(names),
                    i.github_number.is_(None),
                    i.fingerprint.in_(sorted(found)),
                )
            ).all()
            for issue_id, fingerprint in rows:
                item = found[fingerprint]
                last_event = session.execute(
                    select(func.max(t.issue_events.c.id)).where(
                        t.issue_events.c.issue_id == issue_id
                    )
                ).scalar()
                session.execute(
                    update(t.issues)
                    .where(t.issues.c.id == issue_id)
                    .values(
                        github_repo=target,
                        github_number=item["number"],
                        github_node_id=item.get("node_id"),
                        github_url=item.get("html_url"),
                        github_status=LINKED,
                        github_state="closed" if item.get("state") == "closed" else "open",
                        github_labels=managed_of(item),
                        github_event_cursor=last_event or 0,
                        github_synced_at=now,
                        github_synced_version=None,  # the next tick brings body and labels up
                    )
                )
                record_event(
                    session,
                    issue_id,
                    "synced",
                    at=now,
                    actor="triagehub",
                    data={
                        "action": "adopted",
                        "repository": target,
                        "number": item["number"],
                        "url": item.get("html_url"),
                    },
                )
                linked.append((issue_id, target, int(item["number"])))
    return linked


# -- `triagehub sync github` ----------------------------------------------------------------------


@dataclass
class SyncRun:
    adopted: list[tuple[int, str, int]] = field(default_factory=list)
    pulled: PullSummary | None = None
    queued: list[int] = field(default_factory=list)
    jobs_done: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "adopted": [{"issue": i, "repository": r, "number": n} for i, r, n in self.adopted],
            "pulled": asdict(self.pulled) if self.pulled is not None else None,
            "queued": self.queued,
            "jobs_done": self.jobs_done,
        }


def run_github_sync(
    engine: Engine,
    settings: Settings,
    github: GitHubClient,
    *,
    clock: Clock | None = None,
    repository: str | None = None,
    adopt: bool = False,
    pull: bool = False,
    max_batches: int = 50,
) -> SyncRun:
    """``triagehub sync github``: adopt (``--adopt``), bring people's changes back (``--pull``),
    queue the syncs now due, and work the outbox until nothing more is due."""
    clock_ = clock or SystemClock()
    run = SyncRun()
    configured(settings, repository)  # an unknown --repo is refused before any request
    if adopt:
        run.adopted = adopt_issues(
            engine, settings, github, now=clock_.now(), repository=repository
        )
    if pull:
        run.pulled = pull_changes(engine, settings, github, now=clock_.now(), repository=repository)
    with Session(engine) as session, session.begin():
        run.queued = enqueue_github_sync(session, settings, clock_.now(), repository=repository)
    for _ in range(max_batches):
        done = process_jobs(engine, settings, github=github, clock=clock_)
        run.jobs_done += done
        if not done:
            break
    return run


__all__ = [
    "ISSUE_EVENT",
    "ISSUE_EVENTS",
    "SYNC",
    "Inbound",
    "PullSummary",
    "SyncRun",
    "adopt_issues",
    "apply_inbound",
    "enqueue_github_sync",
    "pull_changes",
    "queue_issue_event",
    "run_github_sync",
    "sync_issue",
]

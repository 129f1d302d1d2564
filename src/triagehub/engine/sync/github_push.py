"""The ``github_sync`` job: one issue's GitHub issue created (or found again), commented,
closed or reopened, edited and labelled; what was sent is recorded on the issue row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from triagehub.config import GitHubSyncConfig
from triagehub.core.models import IssueState
from triagehub.core.redact import redact
from triagehub.engine.jobs import (
    Deferred,
    Job,
    JobContext,
    Outcome,
    Recording,
    enqueue,
    job_handler,
    running_before,
)
from triagehub.engine.notify import agent_notification_text
from triagehub.engine.sync import render
from triagehub.engine.sync.github_adopt import ADOPTED
from triagehub.engine.sync.github_links import (
    FORBIDDEN,
    GONE,
    LINKED,
    LOGIN_CURSOR,
    github_state_of,
    iso,
    login_of,
    managed_of,
    sync_config,
    target_of,
    time_of,
    wants,
)
from triagehub.engine.sync.github_view import SyncView, load_view
from triagehub.engine.sync.labels import ensure_labels, update_labels
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient, JSONObject

SYNC: Final = "github_sync"
DEFAULT_UPDATE_EVERY = timedelta(minutes=15)
LOOKUP_LIMIT: Final = 500  # issues read back when looking for one created before


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
        view: SyncView,
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
                ensure_labels(self.github, self.ctx.cache, res.target, labels)
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
        res = self.result
        number = res.number
        assert number is not None
        self._post_comments(cursor)
        self._edit(title, body, digest, gh_state, body_hash, body_at)
        if update_labels(self.github, self.ctx.cache, res.target, number, labels, gh_labels):
            res.done.append("labels")
        res.labels = labels

    def _post_comments(self, cursor: int) -> None:
        """The events comment since ``cursor`` and the agent notification, each at most once."""
        res, view = self.result, self.view
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

    def _edit(
        self,
        title: str,
        body: str,
        digest: str,
        gh_state: str,
        body_hash: str | None,
        body_at: datetime | None,
    ) -> None:
        """Close or reopen, and edit the title and body (throttled), in one request."""
        res = self.result
        number = res.number
        assert number is not None
        want_state, reason = github_state_of(self.view.row["state"])
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


@job_handler(SYNC)
def sync_issue(job: Job, ctx: JobContext) -> Outcome:
    """One ``github_sync`` job (see the module docstring)."""
    issue_id = int(job.data["issue_id"])
    synced: dict[int, int] = ctx.cache.setdefault("github_synced", {})
    if issue_id in synced:  # read after this job was queued: nothing newer to send
        return Outcome(result={"issue": issue_id, "skipped": f"synced by job {synced[issue_id]}"})
    now = ctx.clock.now()
    wait = running_before(ctx.engine, job, f"{SYNC}:{issue_id}:", now)
    if wait is not None:
        raise Deferred(wait, f"another worker is syncing issue {issue_id}")
    with Session(ctx.engine) as session:
        view = load_view(session, ctx.settings, issue_id)
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

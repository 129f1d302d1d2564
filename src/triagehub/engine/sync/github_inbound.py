"""People's changes on GitHub issues, brought back to their triagehub issues: from the
``issues`` and ``issue_comment`` webhooks (:func:`queue_issue_event`, applied by the job kind
``github_issue_event``) or, as a fallback, by polling
(:mod:`triagehub.engine.sync.github_pull`). See :mod:`triagehub.engine.sync.github_issues`
for the whole sync.

Applied (:func:`apply_inbound`, in the caller's transaction, each change written with actor
``github:<login>``): closing -> ``resolved`` (``ignored`` when closed as not planned); reopening ->
``open``; a new ``category:``/``priority:`` label -> a human override; assignment -> the assignee
(an override too); ``/triage ignore|false-positive|needs-spec|one-off-fix|assign @x|snooze 7d``
comment lines. What is already true is left alone; what the state machine refuses is noted, not
raised. Not applied: GitHub issues no triagehub issue is linked to, changes made by triagehub's
own login or by bots, and texts that carry triagehub's markers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from triagehub.core.lifecycle import Actor, check_transition
from triagehub.core.models import Category, IssueState, Level
from triagehub.core.redact import redact
from triagehub.engine.investigate import FIX_LABEL, INVESTIGATE_LABEL, queue_investigation
from triagehub.engine.jobs import DONE, Job, JobContext, Outcome, Recording, enqueue, job_handler
from triagehub.engine.remediation import start_remediation
from triagehub.engine.sync import render
from triagehub.engine.sync.github_links import (
    FROM_GITHUB,
    GONE,
    iso,
    issue_row,
    label_names,
    linked_row,
    own_logins,
    text_or_none,
)
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, record_event, snooze
from triagehub.store.triage import apply_override
from triagehub.work.specs import ConflictError

log = logging.getLogger(__name__)

ISSUE_EVENT: Final = "github_issue_event"
COMMENT_SEEN: Final = "github_comment"
MAX_COMMENT: Final = 20_000  # characters of a comment kept to read its /triage lines
ISSUE_ACTIONS: Final = frozenset(
    {
        "closed",
        "reopened",
        "labeled",
        "unlabeled",
        "assigned",
        "unassigned",
        "deleted",
        "transferred",
    }
)
ISSUE_EVENTS: Final[Mapping[str, frozenset[str]]] = {
    "issues": ISSUE_ACTIONS,
    "issue_comment": frozenset({"created"}),
}


# -- the changes ---------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """One change a person made on a GitHub issue (from a webhook or found by polling)."""

    kind: str  # closed, reopened, labeled, unlabeled, assigned, unassigned, deleted, ...
    login: str
    label: str | None = None
    labels: tuple[str, ...] | None = None  # the issue's labels after the change
    state_reason: str | None = None
    assignee: str | None = None
    comment_id: int | None = None
    body: str | None = None
    new_repo: str | None = None
    new_number: int | None = None
    new_url: str | None = None
    new_node_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Inbound:
        values = dict(data)
        if values.get("labels") is not None:
            values["labels"] = tuple(values["labels"])
        return cls(**values)


def change_from_webhook(event: str, payload: Mapping[str, Any]) -> tuple[str, int, Inbound] | str:
    """The change an ``issues`` / ``issue_comment`` delivery carries, with the repository and
    issue number; or a string saying why it is not one to apply."""
    action = payload.get("action")
    if action not in ISSUE_EVENTS.get(event, frozenset()):
        return f"{event} action {action!r} is not handled"
    repository = payload.get("repository")
    issue = payload.get("issue")
    repo = text_or_none(repository.get("full_name")) if isinstance(repository, Mapping) else None
    number = issue.get("number") if isinstance(issue, Mapping) else None
    if repo is None or not isinstance(number, int) or not isinstance(issue, Mapping):
        return "the payload has no repository.full_name or issue.number"
    sender = payload.get("sender")
    sender = sender if isinstance(sender, Mapping) else {}
    if sender.get("type") == "Bot":
        return "a change made by a bot"
    login = text_or_none(sender.get("login")) or "unknown"
    labels = tuple(label_names(issue))
    if event == "issue_comment":
        comment = payload.get("comment")
        if not isinstance(comment, Mapping):
            return "the payload has no comment"
        if render.is_own_text(comment.get("body")):
            return "triagehub's own comment"
        comment_id = comment.get("id")
        return (
            repo,
            number,
            Inbound(
                "comment",
                login,
                comment_id=comment_id if isinstance(comment_id, int) else None,
                body=redact(str(comment.get("body") or ""))[:MAX_COMMENT],
            ),
        )
    label = payload.get("label")
    assignee = payload.get("assignee")
    change = Inbound(
        str(action),
        login,
        label=text_or_none(label.get("name")) if isinstance(label, Mapping) else None,
        labels=labels,
        state_reason=text_or_none(issue.get("state_reason")),
        assignee=text_or_none(assignee.get("login")) if isinstance(assignee, Mapping) else None,
    )
    if action == "transferred":
        changes = payload.get("changes")
        new_issue = changes.get("new_issue") if isinstance(changes, Mapping) else None
        new_repo = changes.get("new_repository") if isinstance(changes, Mapping) else None
        if not isinstance(new_issue, Mapping) or not isinstance(new_repo, Mapping):
            return "a transfer without changes.new_issue / new_repository"
        new_number = new_issue.get("number")
        change = Inbound(
            "transferred",
            login,
            new_repo=text_or_none(new_repo.get("full_name")),
            new_number=new_number if isinstance(new_number, int) else None,
            new_url=text_or_none(new_issue.get("html_url")),
            new_node_id=text_or_none(new_issue.get("node_id")),
        )
    return repo, number, change


def queue_issue_event(
    session: Session, event: str, delivery: str, payload: Mapping[str, Any], now: datetime
) -> tuple[str, str]:
    """Queue the change of a verified ``issues`` / ``issue_comment`` delivery (in the caller's
    transaction) when it is a person's change on a linked issue; return (status, reason)."""
    parsed = change_from_webhook(event, payload)
    if isinstance(parsed, str):
        return "ignored", parsed
    repo, number, change = parsed
    if change.login.lower() in own_logins(session):
        return "ignored", "triagehub's own change"
    if linked_row(session, repo, number) is None:
        return "ignored", f"{repo}#{number} is not linked to a triagehub issue"
    enqueue(
        session,
        kind=ISSUE_EVENT,
        key=f"{ISSUE_EVENT}:{delivery}",
        data={
            "repository": repo,
            "number": number,
            "delivery": delivery,
            "change": change.to_json(),
        },
        now=now,
    )
    return "queued", ""


@job_handler(ISSUE_EVENT)
def apply_issue_event(job: Job, ctx: JobContext) -> Outcome:
    """One ``github_issue_event`` job: the change is applied in the outcome transaction."""
    repo, number = str(job.data["repository"]), int(job.data["number"])
    change = Inbound.from_json(job.data["change"])

    def record(rec: Recording) -> None:
        notes = apply_inbound(rec.session, repo, number, [change], rec.now)
        log.info("GitHub %s on %s#%s: %s", change.kind, repo, number, "; ".join(notes))

    return Outcome(result={"issue": f"{repo}#{number}", "change": change.kind}, record=record)


def _set_link(session: Session, issue_id: int, **values: Any) -> None:
    session.execute(update(t.issues).where(t.issues.c.id == issue_id).values(values))


def _label_field(label: str) -> tuple[str, str] | None:
    prefix, _, value = label.strip().lower().partition(":")
    if prefix == "category" and value in {c.value for c in Category if c is not Category.PENDING}:
        return "category", value
    if prefix == "priority" and value in {level.value for level in Level}:
        return "priority", value
    return None


def _comment_seen(session: Session, comment_id: int, now: datetime) -> bool:
    """Whether this comment was applied before; if not, remember it (in the jobs table, as a
    ``done`` row: webhooks and polling may both bring it)."""
    key = f"{COMMENT_SEEN}:{comment_id}"
    if session.execute(select(t.jobs.c.id).where(t.jobs.c.key == key)).scalar() is not None:
        return True
    session.execute(
        insert(t.jobs).values(
            kind=COMMENT_SEEN,
            key=key,
            data={"comment": comment_id},
            status=DONE,
            attempts=0,
            next_try_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return False


def _override(
    session: Session,
    row: Mapping[str, Any],
    changes: dict[str, str],
    state: IssueState | None,
    *,
    reason: str,
    who: str,
    now: datetime,
) -> list[str]:
    changes = {k: v for k, v in changes.items() if row.get(k) != v}
    current = IssueState(row["state"])
    if state is not None and current is not state:
        try:
            check_transition(current, state, Actor.HUMAN)
            changes["state"] = state.value
        except InputError as exc:
            if not changes:
                return [f"not applied: {exc.reason}"]
    if not changes:
        return ["already so"]
    diff = apply_override(
        session=session, issue_id=row["id"], changes=changes, reason=reason, actor=who, now=now
    )
    return [f"{name}: {d['from']} -> {d['to']}" for name, d in diff.items()]


def _queue_investigation(
    session: Session, row: Mapping[str, Any], *, handoff: bool, login: str, now: datetime
) -> list[str]:
    if handoff:  # the dashboard's "Start remediation session" does the same (one path)
        try:
            started = start_remediation(
                session,
                int(row["id"]),
                actor=f"{FROM_GITHUB}{login}",
                by=login,
                now=now,
                reason=f"/triage fix or {FIX_LABEL} by @{login} on GitHub",
            )
        except ConflictError:
            return ["hand-off to the coding agent queued already"]
        return [f"hand-off to the coding agent queued (session {started.session.session_id})"]
    queued = queue_investigation(
        session,
        int(row["id"]),
        handoff=False,
        repo=row.get("github_repo"),
        number=row.get("github_number"),
        by=login,
        now=now,
    )
    return ["investigation queued" if queued else "investigation queued already"]


def _command(
    session: Session, row: Mapping[str, Any], command: render.Command, login: str, now: datetime
) -> list[str]:
    who = f"{FROM_GITHUB}{login}"
    reason = f"{command.line} by @{login} on GitHub"
    name = command.name
    if name == "ignore":
        return _override(
            session,
            row,
            {"decision": "ignore"},
            IssueState.IGNORED,
            reason=reason,
            who=who,
            now=now,
        )
    if name == "false-positive":
        return _override(
            session,
            row,
            {"category": Category.FALSE_POSITIVE.value},
            IssueState.FALSE_POSITIVE,
            reason=reason,
            who=who,
            now=now,
        )
    if name in ("needs-spec", "one-off-fix"):
        decision = name.replace("-", "_")
        return _override(
            session, row, {"decision": decision}, None, reason=reason, who=who, now=now
        )
    if name == "assign" and command.argument:
        return _override(
            session, row, {"assignee": command.argument}, None, reason=reason, who=who, now=now
        )
    if name in ("investigate", "fix"):
        return _queue_investigation(session, row, handoff=name == "fix", login=login, now=now)
    if name == "snooze" and command.argument:
        seconds = render.parse_duration(command.argument)
        if seconds is None:
            return [f"not a duration: {command.argument}"]
        until = now + timedelta(seconds=seconds)
        snooze(session, row["id"], until=until, reason=reason, now=now, who=who)
        return [f"snoozed until {iso(until)}"]
    return [f"not applied: {command.line}"]


def _actors(change: Inbound) -> tuple[str, str]:
    """The timeline actor of a change (``github:<login>``) and its mention (``@login``)."""
    return f"{FROM_GITHUB}{change.login}", f"@{change.login}"


def _closed(session: Session, row: Mapping[str, Any], change: Inbound, now: datetime) -> list[str]:
    issue_id, state = int(row["id"]), IssueState(row["state"])
    who, at = _actors(change)
    _set_link(session, issue_id, github_state="closed")
    if state.is_closed:
        return ["already closed"]
    not_planned = change.state_reason == "not_planned"
    target = IssueState.IGNORED if not_planned else IssueState.RESOLVED
    reason = f"closed on GitHub by {at}" + (" as not planned" if not_planned else "")
    change_state(session, issue_id, target, actor=Actor.HUMAN, reason=reason, now=now, who=who)
    return [f"{state.value} -> {target.value}"]


def _reopened(
    session: Session, row: Mapping[str, Any], change: Inbound, now: datetime
) -> list[str]:
    issue_id, state = int(row["id"]), IssueState(row["state"])
    who, at = _actors(change)
    _set_link(session, issue_id, github_state="open")
    if not state.is_closed:
        return ["already open"]
    reason = f"reopened on GitHub by {at}"
    change_state(
        session, issue_id, IssueState.OPEN, actor=Actor.HUMAN, reason=reason, now=now, who=who
    )
    return [f"{state.value} -> open"]


def _labeled(session: Session, row: Mapping[str, Any], change: Inbound, now: datetime) -> list[str]:
    """``labeled`` and ``unlabeled``: the labels noted, a new category/priority label applied."""
    who, at = _actors(change)
    if change.labels is not None:
        managed = sorted(name for name in change.labels if render.is_managed(name))
        _set_link(session, int(row["id"]), github_labels=managed)
    if change.kind == "unlabeled" or not change.label:
        return ["labels noted"]
    if change.label.strip().lower() in (INVESTIGATE_LABEL, FIX_LABEL):
        handoff = change.label.strip().lower() == FIX_LABEL
        return _queue_investigation(session, row, handoff=handoff, login=change.login, now=now)
    target_field = _label_field(change.label)
    if target_field is None:
        return [f"label {change.label!r} is not a category or priority label"]
    name, value = target_field
    reason = f"label {change.label} set on GitHub by {at}"
    return _override(session, row, {name: value}, None, reason=reason, who=who, now=now)


def _assigned(
    session: Session, row: Mapping[str, Any], change: Inbound, now: datetime
) -> list[str]:
    who, at = _actors(change)
    if not change.assignee:
        return ["no assignee"]
    reason = f"assigned to @{change.assignee} on GitHub by {at}"
    return _override(
        session, row, {"assignee": change.assignee}, None, reason=reason, who=who, now=now
    )


def _unassigned(
    session: Session, row: Mapping[str, Any], change: Inbound, now: datetime
) -> list[str]:
    return ["unassigned on GitHub: the triagehub assignee is kept"]


def _deleted(session: Session, row: Mapping[str, Any], change: Inbound, now: datetime) -> list[str]:
    issue_id = int(row["id"])
    who, at = _actors(change)
    _set_link(session, issue_id, github_status=GONE)
    record_event(
        session,
        issue_id,
        "sync_failed",
        at=now,
        actor=who,
        data={
            "status": None,
            "reason": f"the GitHub issue was deleted by {at}",
            "stopped": True,
        },
    )
    return ["unlinked: deleted on GitHub"]


def _transferred(
    session: Session, row: Mapping[str, Any], change: Inbound, now: datetime
) -> list[str]:
    issue_id = int(row["id"])
    who, _ = _actors(change)
    if not change.new_repo or change.new_number is None:
        return ["transfer without a destination"]
    _set_link(
        session,
        issue_id,
        github_repo=change.new_repo.lower(),
        github_number=change.new_number,
        github_url=change.new_url,
        github_node_id=change.new_node_id,
    )
    record_event(
        session,
        issue_id,
        "synced",
        at=now,
        actor=who,
        data={
            "action": "transferred",
            "repository": change.new_repo,
            "number": change.new_number,
            "url": change.new_url,
        },
    )
    return [f"moved to {change.new_repo}#{change.new_number}"]


def _commented(
    session: Session, row: Mapping[str, Any], change: Inbound, now: datetime
) -> list[str]:
    """The ``/triage`` lines of a comment, each applied (once per comment)."""
    issue_id = int(row["id"])
    if change.comment_id is not None and _comment_seen(session, change.comment_id, now):
        return ["comment applied before"]
    notes: list[str] = []
    for command in render.parse_commands(change.body):
        if isinstance(command, str):
            notes.append(command)
            continue
        current = issue_row(session, issue_id) or row
        try:
            notes += _command(session, current, command, change.login, now)
        except InputError as exc:
            notes.append(f"{command.line}: not applied: {exc.reason}")
    return notes or ["no /triage command"]


_Applier = Callable[[Session, Mapping[str, Any], Inbound, datetime], list[str]]
_APPLIERS: Final[Mapping[str, _Applier]] = {
    "closed": _closed,
    "reopened": _reopened,
    "labeled": _labeled,
    "unlabeled": _labeled,
    "assigned": _assigned,
    "unassigned": _unassigned,
    "deleted": _deleted,
    "transferred": _transferred,
    "comment": _commented,
}


def _apply(session: Session, row: Mapping[str, Any], change: Inbound, now: datetime) -> list[str]:
    applier = _APPLIERS.get(change.kind)
    if applier is None:
        return [f"{change.kind}: nothing to do"]
    return applier(session, row, change, now)


def apply_inbound(
    session: Session, repo: str, number: int, changes: Sequence[Inbound], now: datetime
) -> list[str]:
    """Apply people's changes on a GitHub issue to its triagehub issue (in the caller's
    transaction); return what happened, one note per change. A change the state machine refuses
    is noted, not raised (nothing of it is written)."""
    row = linked_row(session, repo, number)
    if row is None:
        return [f"{repo}#{number} is not linked to a triagehub issue"]
    notes: list[str] = []
    for change in changes:
        try:
            notes += _apply(session, row, change, now)
        except InputError as exc:
            notes.append(f"{change.kind}: not applied: {exc.reason}")
        row = issue_row(session, int(row["id"])) or row
    return notes

"""AI agent sessions, from the agents' hook events.

An agent (Claude Code, or anything that posts the same JSON) reports its session through hooks:
``SessionStart``, ``PreToolUse``, ``PostToolUse`` / ``PostToolUseFailure``, ``Stop`` (a turn
ended) and ``SessionEnd``; ``scripts/triagehub-agent-hook`` posts them to ``POST /api/v1/hooks``
with a ``triagehub`` object saying what the session works on. The generic spelling
``{"event": "session_start" | "session_stop" | "pre_tool_use" | "post_tool_use", ...}`` works
too.

A session has a type (``manual``, ``spec_implementation``, ``error_remediation``), a status
(``active``, ``idle`` when nothing happened for 5 minutes or more - computed from an injected
clock at read time - and ``completed``) and exactly one work item: an issue id or an OpenSpec
change id. A second, different work item is refused. Activity figures (current tool, last
activity, tool count, success rate, average duration) are kept on the session row with
atomic SQL updates; a completed session gets a summary. Output excerpts and commands are
redacted (``core.redact``) before they are stored.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triagehub.core.redact import redact
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.work.specs.errors import ConflictError, NotFoundError
from triagehub.work.specs.paths import change_id_problem

log = logging.getLogger(__name__)

IDLE_AFTER = timedelta(minutes=5)
EXCERPT_CHARS = 1000
DETAIL_CHARS = 300
SOURCE = "hook payload"


class SessionType(enum.StrEnum):
    MANUAL = "manual"
    SPEC_IMPLEMENTATION = "spec_implementation"
    ERROR_REMEDIATION = "error_remediation"


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    IDLE = "idle"  # derived: active, but nothing for IDLE_AFTER
    COMPLETED = "completed"


class EventKind(enum.StrEnum):
    SESSION_START = "session_start"
    SESSION_STOP = "session_stop"
    PRE_TOOL_USE = "pre_tool_use"
    POST_TOOL_USE = "post_tool_use"
    TURN_STOP = "turn_stop"
    PROMPT = "prompt"
    NOTIFICATION = "notification"
    OTHER = "other"


# Claude Code's hook_event_name -> kind (generic names map to themselves).
HOOK_EVENTS: dict[str, EventKind] = {
    "SessionStart": EventKind.SESSION_START,
    "SessionEnd": EventKind.SESSION_STOP,
    "PreToolUse": EventKind.PRE_TOOL_USE,
    "PostToolUse": EventKind.POST_TOOL_USE,
    "PostToolUseFailure": EventKind.POST_TOOL_USE,
    "Stop": EventKind.TURN_STOP,
    "SubagentStop": EventKind.TURN_STOP,
    "UserPromptSubmit": EventKind.PROMPT,
    "Notification": EventKind.NOTIFICATION,
    "session_end": EventKind.SESSION_STOP,
    **{k.value: k for k in EventKind},
}


class TriagehubFields(BaseModel):
    """What the hook script adds: the work item and type of the session, a unique event id (a
    replayed event is stored once) and when the event happened."""

    model_config = ConfigDict(extra="ignore")

    session_type: SessionType | None = None
    issue_id: int | None = Field(default=None, ge=1)
    spec_change: str | None = Field(default=None, max_length=200)
    agent: str | None = Field(default=None, min_length=1, max_length=40)
    event_id: str | None = Field(default=None, min_length=1, max_length=200)
    sent_at: datetime | float | str | None = None

    @field_validator("spec_change")
    @classmethod
    def _change_id(cls, value: str | None) -> str | None:
        if value is not None:
            problem = change_id_problem(value)
            if problem:
                raise ValueError(f"{problem} (expected an OpenSpec change id such as add-auth)")
        return value


class HookPayload(BaseModel):
    """A hook event: Claude Code's stdin JSON (extra fields kept out), or the generic form."""

    model_config = ConfigDict(extra="ignore")

    session_id: str = Field(min_length=1, max_length=200)
    hook_event_name: str | None = Field(default=None, max_length=60)
    event: str | None = Field(default=None, max_length=60)
    tool_name: str | None = Field(default=None, max_length=100)
    tool_use_id: str | None = Field(default=None, max_length=200)
    tool_input: Any = None
    tool_response: Any = None
    error: Any = None
    is_interrupt: bool | None = None
    success: bool | None = None
    duration_ms: float | None = Field(default=None, ge=0, le=7 * 24 * 3600 * 1000)
    output: Any = None
    cwd: str | None = Field(default=None, max_length=4096)
    source: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=60)
    timestamp: datetime | float | str | None = None
    triagehub: TriagehubFields = Field(default_factory=TriagehubFields)

    @property
    def event_name(self) -> str:
        return self.hook_event_name or self.event or ""


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_hook(payload: Any) -> HookPayload:
    """Validate a hook event; an :class:`InputError` names the field and what was expected."""
    if not isinstance(payload, Mapping):
        raise InputError(SOURCE, "", f"expected a JSON object, got {type(payload).__name__}")
    try:
        hook = HookPayload.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(x for x in first["loc"] if isinstance(x, int | str))
        more = len(exc.errors()) - 1
        reason = first["msg"] + (f" (and {more} more error(s))" if more else "")
        raise InputError(SOURCE, _location(loc) or "body", reason) from None
    if not hook.event_name:
        raise InputError(
            SOURCE,
            "hook_event_name",
            "missing: expected a Claude Code hook event (SessionStart, PreToolUse, PostToolUse, "
            "PostToolUseFailure, Stop, SessionEnd, ...) or event: session_start|session_stop|"
            "pre_tool_use|post_tool_use",
        )
    tool_event = HOOK_EVENTS.get(hook.event_name) in (
        EventKind.PRE_TOOL_USE,
        EventKind.POST_TOOL_USE,
    )
    if tool_event and not hook.tool_name:
        raise InputError(SOURCE, "tool_name", f"required for {hook.event_name}")
    if hook.triagehub.issue_id is not None and hook.triagehub.spec_change is not None:
        raise InputError(
            SOURCE,
            "triagehub",
            "give issue_id or spec_change, not both: a session works on exactly one work item",
        )
    return hook


# -- excerpts ---------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        parts = [
            str(value[k])
            for k in ("stdout", "stderr", "output", "error", "message", "result", "content")
            if value.get(k) not in (None, "", [])
        ]
        if parts:
            return "\n".join(parts)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str | None:
    """A redacted excerpt of a tool's output: head and tail when it is long."""
    text = redact(_text_of(value)).strip()
    if not text:
        return None
    if len(text) <= limit:
        return text
    head = limit // 2
    return f"{text[:head]}\n…\n{text[-(limit - head - 3) :]}"


def _tool_detail(tool_name: str | None, tool_input: Any) -> dict[str, Any]:
    if not isinstance(tool_input, Mapping):
        return {}
    for key in ("command", "file_path", "path", "pattern", "url", "query", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            text = redact(value)
            return {key: text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"}
    return {"input_keys": sorted(str(k) for k in tool_input)[:20]}


def _succeeded(hook: HookPayload) -> bool:
    if hook.success is not None:
        return hook.success
    if hook.event_name == "PostToolUseFailure" or hook.is_interrupt:
        return False
    if hook.error not in (None, "", False):
        return False
    response = hook.tool_response
    if isinstance(response, Mapping):
        if response.get("success") is False or response.get("is_error") is True:
            return False
        if response.get("interrupted") is True:
            return False
        for key in ("exit_code", "exitCode", "returncode"):
            code = response.get(key)
            if isinstance(code, int) and code != 0:
                return False
    return True


def _event_time(hook: HookPayload, now: datetime) -> datetime:
    value = hook.triagehub.sent_at if hook.triagehub.sent_at is not None else hook.timestamp
    if value is None:
        return now
    try:
        if isinstance(value, datetime):
            at = value if value.tzinfo else value.replace(tzinfo=UTC)
        else:
            at = parse_time(value)
    except ValueError:
        raise InputError(
            SOURCE, "triagehub.sent_at", f"not a time: {str(value)[:60]!r} (ISO 8601 or epoch)"
        ) from None
    # A sender's clock far in the future would keep the session active forever.
    return min(at.astimezone(UTC), now + timedelta(minutes=1))


# -- views ------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True, slots=True)
class WorkItem:
    kind: str  # "issue" or "spec_change"
    id: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "id": int(self.id) if self.kind == "issue" else self.id}


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: str
    agent: str
    session_type: str
    status: str
    work_item: WorkItem | None
    cwd: str | None
    started_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None
    current_tool: str | None
    tool_count: int
    tool_successes: int
    success_rate: float | None
    avg_duration_ms: float | None
    idle_for_s: float
    events: int
    summary: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "agent": self.agent,
            "session_type": self.session_type,
            "status": self.status,
            "work_item": self.work_item.to_json() if self.work_item else None,
            "cwd": self.cwd,
            "started_at": _iso(self.started_at),
            "last_activity_at": _iso(self.last_activity_at),
            "ended_at": _iso(self.ended_at),
            "current_tool": self.current_tool,
            "tool_count": self.tool_count,
            "tool_failures": self.tool_count - self.tool_successes,
            "success_rate": self.success_rate,
            "avg_duration_ms": self.avg_duration_ms,
            "idle_for_s": self.idle_for_s,
            "events": self.events,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    kind: str
    hook_event: str
    at: datetime
    tool_name: str | None
    tool_use_id: str | None
    duration_ms: float | None
    success: bool | None
    excerpt: str | None
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "hook_event": self.hook_event,
            "at": _iso(self.at),
            "tool_name": self.tool_name,
            "tool_use_id": self.tool_use_id,
            "duration_ms": self.duration_ms,
            "success": self.success,
            "excerpt": self.excerpt,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class SessionDetail:
    session: SessionView
    events: list[EventView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.session.to_json(), "recent_events": [e.to_json() for e in self.events]}


@dataclass(frozen=True, slots=True)
class HookResult:
    status: str  # "recorded" or "duplicate"
    session_id: str
    kind: str
    session: SessionView | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "session_id": self.session_id}
        data["event"] = self.kind
        if self.session is not None:
            data["session"] = self.session.to_json()
        return data


def _view(row: Mapping[str, Any], now: datetime) -> SessionView:
    status = row["status"]
    last = row["last_activity_at"]
    idle_for = max(0.0, (now - last).total_seconds())
    if status == SessionStatus.ACTIVE and now - last >= IDLE_AFTER:
        status = SessionStatus.IDLE.value
    work: WorkItem | None = None
    if row["issue_id"] is not None:
        work = WorkItem("issue", str(row["issue_id"]))
    elif row["spec_change"]:
        work = WorkItem("spec_change", row["spec_change"])
    tools = row["tool_count"]
    durations = row["durations_count"]
    return SessionView(
        session_id=row["session_key"],
        agent=row["agent"],
        session_type=row["session_type"],
        status=str(status),
        work_item=work,
        cwd=row["cwd"],
        started_at=row["started_at"],
        last_activity_at=last,
        ended_at=row["ended_at"],
        current_tool=row["current_tool"],
        tool_count=tools,
        tool_successes=row["tool_successes"],
        success_rate=round(row["tool_successes"] / tools, 4) if tools else None,
        avg_duration_ms=round(row["duration_total_ms"] / durations, 1) if durations else None,
        idle_for_s=round(idle_for, 1),
        events=row["events_count"],
        summary=row["summary"],
    )


# -- ingest -----------------------------------------------------------------------------------


def _session_row(session: Session, key: str, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(t.agent_sessions).where(t.agent_sessions.c.session_key == key)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _check_type(session_type: SessionType, issue_id: int | None, spec: str | None) -> None:
    if session_type is SessionType.SPEC_IMPLEMENTATION and issue_id is not None:
        raise InputError(
            SOURCE,
            "triagehub.session_type",
            "a spec_implementation session works on a spec change, not an issue",
        )
    if session_type is SessionType.ERROR_REMEDIATION and spec is not None:
        raise InputError(
            SOURCE,
            "triagehub.session_type",
            "an error_remediation session works on an issue, not a spec change",
        )


def _work_item_values(
    session: Session, row: Mapping[str, Any], issue_id: int | None, spec: str | None
) -> dict[str, Any]:
    """The columns that link the session to the work item given, refusing a second one."""
    if issue_id is None and spec is None:
        return {}
    current = (
        WorkItem("issue", str(row["issue_id"]))
        if row["issue_id"] is not None
        else WorkItem("spec_change", row["spec_change"])
        if row["spec_change"]
        else None
    )
    wanted = (
        WorkItem("issue", str(issue_id))
        if issue_id is not None
        else WorkItem("spec_change", str(spec))
    )
    if current is not None:
        if current != wanted:
            shown = (
                f"issue #{current.id}" if current.kind == "issue" else f"spec change {current.id}"
            )
            new = f"issue #{wanted.id}" if wanted.kind == "issue" else f"spec change {wanted.id}"
            raise ConflictError(
                f"agent session {row['session_key']}",
                "work item",
                f"already works on {shown}; a session has exactly one work item, so {new} "
                "needs a new session",
            )
        return {}
    _check_type(SessionType(row["session_type"]), issue_id, spec)
    if issue_id is not None:
        found = session.execute(select(t.issues.c.id).where(t.issues.c.id == issue_id)).first()
        if found is None:
            raise NotFoundError(SOURCE, "triagehub.issue_id", f"no such issue #{issue_id}")
        return {"issue_id": issue_id}
    return {"spec_change": spec}


def _infer_type(fields: TriagehubFields) -> SessionType:
    if fields.session_type is not None:
        return fields.session_type
    if fields.spec_change is not None:
        return SessionType.SPEC_IMPLEMENTATION
    if fields.issue_id is not None:
        return SessionType.ERROR_REMEDIATION
    return SessionType.MANUAL


def _ensure_session(
    session: Session, hook: HookPayload, at: datetime, now: datetime
) -> dict[str, Any]:
    row = _session_row(session, hook.session_id, lock=True)
    if row is not None:
        return row
    fields = hook.triagehub
    session_type = _infer_type(fields)
    _check_type(session_type, fields.issue_id, fields.spec_change)
    values = {
        "session_key": hook.session_id,
        "agent": fields.agent or "claude-code",
        "session_type": session_type.value,
        "status": SessionStatus.ACTIVE.value,
        "issue_id": None,
        "spec_change": None,
        "cwd": hook.cwd,
        "started_at": at,
        "last_activity_at": at,
        "events_count": 0,
        "tool_count": 0,
        "tool_successes": 0,
        "duration_total_ms": 0.0,
        "durations_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with session.begin_nested():
            session.execute(insert(t.agent_sessions).values(**values))
    except IntegrityError:
        pass  # another request created it at the same moment
    row = _session_row(session, hook.session_id, lock=True)
    assert row is not None
    return row


def _matching_pre(
    session: Session, session_pk: int, hook: HookPayload
) -> tuple[datetime, int] | None:
    query = select(t.agent_events.c.at, t.agent_events.c.id).where(
        t.agent_events.c.session_id == session_pk,
        t.agent_events.c.kind == EventKind.PRE_TOOL_USE.value,
    )
    if hook.tool_use_id:
        query = query.where(t.agent_events.c.tool_use_id == hook.tool_use_id)
    else:
        query = query.where(t.agent_events.c.tool_name == hook.tool_name)
    row = session.execute(query.order_by(t.agent_events.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    if not hook.tool_use_id:
        # Without ids, only the latest pre of this tool that no post has answered yet.
        answered = session.execute(
            select(func.count())
            .select_from(t.agent_events)
            .where(
                t.agent_events.c.session_id == session_pk,
                t.agent_events.c.kind == EventKind.POST_TOOL_USE.value,
                t.agent_events.c.tool_name == hook.tool_name,
                t.agent_events.c.id > row.id,
            )
        ).scalar_one()
        if answered:
            return None
    return row.at, row.id


def summarize(
    session: Session, session_pk: int, row: Mapping[str, Any], ended: datetime
) -> dict[str, Any]:
    """A completed session's summary: duration, tool figures, most used and failed tools."""
    per_tool = session.execute(
        select(t.agent_events.c.tool_name, func.count())
        .where(
            t.agent_events.c.session_id == session_pk,
            t.agent_events.c.kind == EventKind.POST_TOOL_USE.value,
        )
        .group_by(t.agent_events.c.tool_name)
    ).all()
    tools = sorted(((str(name), int(n)) for name, n in per_tool), key=lambda x: (-x[1], x[0]))
    failures = session.execute(
        select(t.agent_events.c.tool_name, t.agent_events.c.at, t.agent_events.c.excerpt)
        .where(
            t.agent_events.c.session_id == session_pk,
            t.agent_events.c.kind == EventKind.POST_TOOL_USE.value,
            t.agent_events.c.success.is_(False),
        )
        .order_by(t.agent_events.c.id.desc())
        .limit(3)
    ).all()
    count = int(row["tool_count"])
    successes = int(row["tool_successes"])
    durations = int(row["durations_count"])
    seconds = max(0.0, (ended - row["started_at"]).total_seconds())
    rate = round(successes / count, 4) if count else None
    avg = round(float(row["duration_total_ms"]) / durations, 1) if durations else None
    work = (
        f"issue #{row['issue_id']}"
        if row["issue_id"] is not None
        else f"spec change {row['spec_change']}"
        if row["spec_change"]
        else "no linked work item"
    )
    minutes = f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
    most = ", ".join(f"{name} ({n})" for name, n in tools[:3]) or "no tools"
    text = f"{count} tool use(s) in {minutes}"
    if rate is not None:
        text += f", {rate:.0%} succeeded"
    if avg is not None:
        text += f", {avg / 1000:.1f} s on average"
    text += f"; most used: {most}; {row['session_type']} session on {work}"
    return {
        "text": text,
        "duration_s": round(seconds, 1),
        "tool_count": count,
        "tool_failures": count - successes,
        "success_rate": rate,
        "avg_duration_ms": avg,
        "tools": dict(tools[:10]),
        "recent_failures": [
            {"tool": name, "at": _iso(at), "excerpt": (text_ or "")[:300]}
            for name, at, text_ in failures
        ],
        "end_reason": row.get("end_reason"),
    }


def ingest_hook(session: Session, payload: Any, *, now: datetime) -> HookResult:
    """Record one hook event in the caller's transaction; idempotent for a given
    ``triagehub.event_id``. Raises :class:`InputError` (or its ``ConflictError`` /
    ``NotFoundError`` refinements) for bad input, leaving nothing written."""
    hook = parse_hook(payload)
    kind = HOOK_EVENTS.get(hook.event_name, EventKind.OTHER)
    at = _event_time(hook, now)
    event_key = (
        hashlib.sha256(f"{hook.session_id}\0{hook.triagehub.event_id}".encode()).hexdigest()
        if hook.triagehub.event_id
        else None
    )
    if event_key is not None:
        seen = session.execute(
            select(t.agent_events.c.id).where(t.agent_events.c.event_key == event_key)
        ).first()
        if seen is not None:
            return HookResult("duplicate", hook.session_id, kind.value)
    row = _ensure_session(session, hook, at, now)
    pk = int(row["id"])
    values: dict[str, Any] = _work_item_values(
        session, row, hook.triagehub.issue_id, hook.triagehub.spec_change
    )
    values["updated_at"] = now
    values["events_count"] = t.agent_sessions.c.events_count + 1
    if at > row["last_activity_at"]:
        values["last_activity_at"] = at
    if hook.cwd and not row["cwd"]:
        values["cwd"] = hook.cwd
    duration: float | None = None
    success: bool | None = None
    text: str | None = None
    data: dict[str, Any] = {}
    if kind is EventKind.SESSION_START:
        data = {"source": hook.source} if hook.source else {}
        if row["status"] == SessionStatus.COMPLETED:  # resumed
            values.update(status=SessionStatus.ACTIVE.value, ended_at=None, end_reason=None)
            values["summary"] = None
    elif kind is EventKind.PRE_TOOL_USE:
        data = _tool_detail(hook.tool_name, hook.tool_input)
        values.update(current_tool=hook.tool_name, current_tool_use_id=hook.tool_use_id)
    elif kind is EventKind.POST_TOOL_USE:
        data = _tool_detail(hook.tool_name, hook.tool_input)
        success = _succeeded(hook)
        text = excerpt(hook.error if hook.error not in (None, "") else hook.tool_response)
        if text is None and hook.output is not None:
            text = excerpt(hook.output)
        duration = hook.duration_ms
        if duration is None:
            pre = _matching_pre(session, pk, hook)
            if pre is not None:
                duration = max(0.0, (at - pre[0]).total_seconds() * 1000)
        values["tool_count"] = t.agent_sessions.c.tool_count + 1
        if success:
            values["tool_successes"] = t.agent_sessions.c.tool_successes + 1
        if duration is not None:
            values["duration_total_ms"] = t.agent_sessions.c.duration_total_ms + duration
            values["durations_count"] = t.agent_sessions.c.durations_count + 1
        same_call = (
            hook.tool_use_id == row["current_tool_use_id"]
            if hook.tool_use_id and row["current_tool_use_id"]
            else hook.tool_name == row["current_tool"]
        )
        if same_call:
            values.update(current_tool=None, current_tool_use_id=None)
    elif kind is EventKind.TURN_STOP:
        values.update(current_tool=None, current_tool_use_id=None)
    elif kind is EventKind.SESSION_STOP:
        data = {"reason": hook.reason} if hook.reason else {}
        values.update(
            status=SessionStatus.COMPLETED.value,
            ended_at=at,
            end_reason=hook.reason,
            current_tool=None,
            current_tool_use_id=None,
        )
    elif kind is EventKind.NOTIFICATION:
        text = excerpt(payload.get("message") if isinstance(payload, Mapping) else None, 300)
    if kind is EventKind.OTHER:
        data = {"hook_event_name": hook.event_name[:60]}
    session.execute(
        insert(t.agent_events).values(
            session_id=pk,
            event_key=event_key,
            kind=kind.value,
            hook_event=hook.event_name[:40],
            tool_name=hook.tool_name,
            tool_use_id=hook.tool_use_id,
            at=at,
            duration_ms=duration,
            success=success,
            excerpt=text,
            data=data,
        )
    )
    session.execute(update(t.agent_sessions).where(t.agent_sessions.c.id == pk).values(**values))
    fresh = _session_row(session, hook.session_id)
    assert fresh is not None
    if kind is EventKind.SESSION_STOP:
        summary = summarize(session, pk, fresh, at)
        session.execute(
            update(t.agent_sessions).where(t.agent_sessions.c.id == pk).values(summary=summary)
        )
        fresh["summary"] = summary
    return HookResult("recorded", hook.session_id, kind.value, _view(fresh, now))


def set_work_item(
    session: Session,
    session_id: str,
    *,
    now: datetime,
    issue_id: int | None = None,
    spec_change: str | None = None,
) -> SessionView:
    """Link a session to its one work item (refused when it already has another)."""
    if (issue_id is None) == (spec_change is None):
        raise InputError("work item", "", "give an issue id or a spec change id (one of them)")
    if spec_change is not None:
        problem = change_id_problem(spec_change)
        if problem:
            raise InputError("work item", "spec_change", problem)
    row = _session_row(session, session_id, lock=True)
    if row is None:
        raise NotFoundError("agent session", session_id[:200], "no such session")
    values = _work_item_values(session, row, issue_id, spec_change)
    if values:
        values["updated_at"] = now
        session.execute(
            update(t.agent_sessions).where(t.agent_sessions.c.id == row["id"]).values(**values)
        )
    fresh = _session_row(session, session_id)
    assert fresh is not None
    return _view(fresh, now)


# -- queries ----------------------------------------------------------------------------------


def list_sessions(
    session: Session,
    *,
    now: datetime,
    status: SessionStatus | None = None,
    limit: int = 100,
) -> list[SessionView]:
    """Sessions, most recently active first; ``status`` idle/active use the idle threshold."""
    query = select(t.agent_sessions)
    cutoff = now - IDLE_AFTER
    if status is SessionStatus.COMPLETED:
        query = query.where(t.agent_sessions.c.status == SessionStatus.COMPLETED.value)
    elif status is SessionStatus.ACTIVE:
        query = query.where(
            t.agent_sessions.c.status == SessionStatus.ACTIVE.value,
            t.agent_sessions.c.last_activity_at > cutoff,
        )
    elif status is SessionStatus.IDLE:
        query = query.where(
            t.agent_sessions.c.status == SessionStatus.ACTIVE.value,
            t.agent_sessions.c.last_activity_at <= cutoff,
        )
    query = query.order_by(
        t.agent_sessions.c.last_activity_at.desc(), t.agent_sessions.c.id.desc()
    ).limit(limit)
    return [_view(dict(row), now) for row in session.execute(query).mappings()]


def get_session(
    session: Session, session_id: str, *, now: datetime, events: int = 50
) -> SessionDetail:
    row = _session_row(session, session_id)
    if row is None:
        raise NotFoundError("agent session", session_id[:200], "no such session")
    recent = [
        EventView(
            r.id,
            r.kind,
            r.hook_event,
            r.at,
            r.tool_name,
            r.tool_use_id,
            r.duration_ms,
            r.success,
            r.excerpt,
            r.data,
        )
        for r in session.execute(
            select(t.agent_events)
            .where(t.agent_events.c.session_id == row["id"])
            .order_by(t.agent_events.c.id.desc())
            .limit(events)
        )
    ]
    recent.reverse()
    return SessionDetail(_view(row, now), recent)


def sessions_for_issue(session: Session, issue_id: int, *, now: datetime) -> list[SessionView]:
    rows = session.execute(
        select(t.agent_sessions)
        .where(t.agent_sessions.c.issue_id == issue_id)
        .order_by(t.agent_sessions.c.started_at.desc())
    ).mappings()
    return [_view(dict(r), now) for r in rows]

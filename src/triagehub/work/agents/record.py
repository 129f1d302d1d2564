"""Recording one hook event: the session row, its work item, the event and the summary."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triagehub.core.timeparse import iso_z
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.work.agents.handoff import claim_handoff
from triagehub.work.agents.hooks import (
    HOOK_EVENTS,
    SOURCE,
    EventKind,
    HookPayload,
    SessionStatus,
    SessionType,
    TriagehubFields,
    event_time,
    excerpt,
    parse_hook,
    succeeded,
    tool_detail,
)
from triagehub.work.agents.links import link_hook_event
from triagehub.work.agents.views import HookResult, WorkItem, session_view
from triagehub.work.specs.errors import ConflictError, NotFoundError


def session_row(session: Session, key: str, *, lock: bool = False) -> dict[str, Any] | None:
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


def work_item_values(
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
    row = session_row(session, hook.session_id, lock=True)
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
    row = session_row(session, hook.session_id, lock=True)
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
            {"tool": name, "at": iso_z(at), "excerpt": (text_ or "")[:300]}
            for name, at, text_ in failures
        ],
        "end_reason": row.get("end_reason"),
    }


@dataclass(slots=True)
class _Event:
    """What one hook event records besides the session's counters."""

    duration: float | None = None
    success: bool | None = None
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _event_key(hook: HookPayload) -> str | None:
    """The idempotency key of an event that names its ``triagehub.event_id``."""
    if not hook.triagehub.event_id:
        return None
    return hashlib.sha256(f"{hook.session_id}\0{hook.triagehub.event_id}".encode()).hexdigest()


def _session_values(
    session: Session, row: Mapping[str, Any], hook: HookPayload, at: datetime, now: datetime
) -> dict[str, Any]:
    """The session columns every event updates (and the work item it links, if any)."""
    values: dict[str, Any] = work_item_values(
        session, row, hook.triagehub.issue_id, hook.triagehub.spec_change
    )
    values["updated_at"] = now
    values["events_count"] = t.agent_sessions.c.events_count + 1
    if at > row["last_activity_at"]:
        values["last_activity_at"] = at
    if hook.cwd and not row["cwd"]:
        values["cwd"] = hook.cwd
    return values


def _post_tool_use(
    session: Session,
    pk: int,
    row: Mapping[str, Any],
    hook: HookPayload,
    at: datetime,
    values: dict[str, Any],
) -> _Event:
    """A finished tool call: its outcome, output excerpt and duration, and the tool figures."""
    event = _Event(data=tool_detail(hook.tool_name, hook.tool_input), success=succeeded(hook))
    event.text = excerpt(hook.error if hook.error not in (None, "") else hook.tool_response)
    if event.text is None and hook.output is not None:
        event.text = excerpt(hook.output)
    event.duration = hook.duration_ms
    if event.duration is None:
        pre = _matching_pre(session, pk, hook)
        if pre is not None:
            event.duration = max(0.0, (at - pre[0]).total_seconds() * 1000)
    values["tool_count"] = t.agent_sessions.c.tool_count + 1
    if event.success:
        values["tool_successes"] = t.agent_sessions.c.tool_successes + 1
    if event.duration is not None:
        values["duration_total_ms"] = t.agent_sessions.c.duration_total_ms + event.duration
        values["durations_count"] = t.agent_sessions.c.durations_count + 1
    same_call = (
        hook.tool_use_id == row["current_tool_use_id"]
        if hook.tool_use_id and row["current_tool_use_id"]
        else hook.tool_name == row["current_tool"]
    )
    if same_call:
        values.update(current_tool=None, current_tool_use_id=None)
    return event


def _apply_event(
    session: Session,
    pk: int,
    row: Mapping[str, Any],
    hook: HookPayload,
    kind: EventKind,
    at: datetime,
    payload: Any,
    values: dict[str, Any],
) -> _Event:
    """What an event of ``kind`` records, updating the session's ``values`` in place."""
    if kind is EventKind.SESSION_START:
        if row["status"] == SessionStatus.COMPLETED:  # resumed
            values.update(status=SessionStatus.ACTIVE.value, ended_at=None, end_reason=None)
            values["summary"] = None
        return _Event(data={"source": hook.source} if hook.source else {})
    if kind is EventKind.PRE_TOOL_USE:
        values.update(current_tool=hook.tool_name, current_tool_use_id=hook.tool_use_id)
        return _Event(data=tool_detail(hook.tool_name, hook.tool_input))
    if kind is EventKind.POST_TOOL_USE:
        return _post_tool_use(session, pk, row, hook, at, values)
    if kind is EventKind.TURN_STOP:
        values.update(current_tool=None, current_tool_use_id=None)
        return _Event()
    if kind is EventKind.SESSION_STOP:
        values.update(
            status=SessionStatus.COMPLETED.value,
            ended_at=at,
            end_reason=hook.reason,
            current_tool=None,
            current_tool_use_id=None,
        )
        return _Event(data={"reason": hook.reason} if hook.reason else {})
    if kind is EventKind.NOTIFICATION:
        message = payload.get("message") if isinstance(payload, Mapping) else None
        return _Event(text=excerpt(message, 300))
    if kind is EventKind.OTHER:
        return _Event(data={"hook_event_name": hook.event_name[:60]})
    return _Event()


def ingest_hook(session: Session, payload: Any, *, now: datetime) -> HookResult:
    """Record one hook event in the caller's transaction; idempotent for a given
    ``triagehub.event_id``. Raises :class:`InputError` (or its ``ConflictError`` /
    ``NotFoundError`` refinements) for bad input, leaving nothing written."""
    hook = parse_hook(payload)
    kind = HOOK_EVENTS.get(hook.event_name, EventKind.OTHER)
    at = event_time(hook, now)
    event_key = _event_key(hook)
    if event_key is not None:
        seen = session.execute(
            select(t.agent_events.c.id).where(t.agent_events.c.event_key == event_key)
        ).first()
        if seen is not None:
            return HookResult("duplicate", hook.session_id, kind.value)
    claim_handoff(session, hook, at, now)
    row = _ensure_session(session, hook, at, now)
    pk = int(row["id"])
    values = _session_values(session, row, hook, at, now)
    event = _apply_event(session, pk, row, hook, kind, at, payload, values)
    session.execute(
        insert(t.agent_events).values(
            session_id=pk,
            event_key=event_key,
            kind=kind.value,
            hook_event=hook.event_name[:40],
            tool_name=hook.tool_name,
            tool_use_id=hook.tool_use_id,
            at=at,
            duration_ms=event.duration,
            success=event.success,
            excerpt=event.text,
            data=event.data,
        )
    )
    session.execute(update(t.agent_sessions).where(t.agent_sessions.c.id == pk).values(**values))
    fresh = session_row(session, hook.session_id)
    assert fresh is not None
    # The issues this session works on: its work item, and those the event references.
    link_hook_event(session, pk, fresh["issue_id"], payload, at, now=now)
    if kind is EventKind.SESSION_STOP:
        summary = summarize(session, pk, fresh, at)
        session.execute(
            update(t.agent_sessions).where(t.agent_sessions.c.id == pk).values(summary=summary)
        )
        fresh["summary"] = summary
    return HookResult("recorded", hook.session_id, kind.value, session_view(fresh, now))

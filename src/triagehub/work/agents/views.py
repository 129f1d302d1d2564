"""What the API and dashboard show of agent sessions and their events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triagehub.core.timeparse import iso_z
from triagehub.work.agents.hooks import IDLE_AFTER, SessionStatus


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
    handoff_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "agent": self.agent,
            "session_type": self.session_type,
            "status": self.status,
            "work_item": self.work_item.to_json() if self.work_item else None,
            "cwd": self.cwd,
            "started_at": iso_z(self.started_at),
            "last_activity_at": iso_z(self.last_activity_at),
            "ended_at": iso_z(self.ended_at),
            "current_tool": self.current_tool,
            "tool_count": self.tool_count,
            "tool_failures": self.tool_count - self.tool_successes,
            "success_rate": self.success_rate,
            "avg_duration_ms": self.avg_duration_ms,
            "idle_for_s": self.idle_for_s,
            "events": self.events,
            "summary": self.summary,
            "handoff_key": self.handoff_key,
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
            "at": iso_z(self.at),
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
class RelatedSession:
    """A session linked to an issue, and why: ``via`` (``work_item``, ``issue_id``,
    ``fingerprint``, ``github_issue``, ``pull_request``, ``branch``) and what it named."""

    session: SessionView
    via: str
    ref: str
    linked_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            **self.session.to_json(),
            "via": self.via,
            "ref": self.ref,
            "linked_at": iso_z(self.linked_at),
        }


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


def session_view(row: Mapping[str, Any], now: datetime) -> SessionView:
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
        handoff_key=row.get("handoff_key"),
    )

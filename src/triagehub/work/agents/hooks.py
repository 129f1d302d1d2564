"""The agents' hook payloads: event kinds, validation, excerpts and tool details."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triagehub.core.models import SessionStatus as SessionStatus
from triagehub.core.redact import redact
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.work.specs.paths import change_id_problem

IDLE_AFTER = timedelta(minutes=5)
EXCERPT_CHARS = 1000
DETAIL_CHARS = 300
SOURCE = "hook payload"


class SessionType(enum.StrEnum):
    MANUAL = "manual"
    SPEC_IMPLEMENTATION = "spec_implementation"
    ERROR_REMEDIATION = "error_remediation"


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
    """What the hook script adds: the work item and type of the session, the key of the
    remediation hand-off it answers (``TRIAGEHUB_REMEDIATION``), a unique event id (a replayed
    event is stored once) and when the event happened."""

    model_config = ConfigDict(extra="ignore")

    session_type: SessionType | None = None
    remediation: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"
    )
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
    if hook.triagehub.remediation is not None and hook.triagehub.spec_change is not None:
        raise InputError(
            SOURCE,
            "triagehub.remediation",
            "a remediation hand-off works on an issue, not a spec change (drop spec_change)",
        )
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


def tool_detail(tool_name: str | None, tool_input: Any) -> dict[str, Any]:
    if not isinstance(tool_input, Mapping):
        return {}
    for key in ("command", "file_path", "path", "pattern", "url", "query", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            text = redact(value)
            return {key: text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"}
    return {"input_keys": sorted(str(k) for k in tool_input)[:20]}


def succeeded(hook: HookPayload) -> bool:
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


def event_time(hook: HookPayload, now: datetime) -> datetime:
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

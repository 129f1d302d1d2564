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

Besides its one work item, a session is linked to every issue its events reference (an issue id
or fingerprint, the GitHub issue, the linked pull request or its branch): :mod:`.links`, with
the references read by :mod:`.refs`. The links are listed as the issue's related sessions and
written once on its timeline (``session_linked``).
"""

from __future__ import annotations

from triagehub.work.agents.hooks import (
    DETAIL_CHARS,
    EXCERPT_CHARS,
    HOOK_EVENTS,
    IDLE_AFTER,
    EventKind,
    HookPayload,
    SessionStatus,
    SessionType,
    TriagehubFields,
    excerpt,
    parse_hook,
)
from triagehub.work.agents.links import LINK_REASONS
from triagehub.work.agents.record import ingest_hook, summarize
from triagehub.work.agents.sessions import (
    get_session,
    list_sessions,
    sessions_for_issue,
    set_work_item,
)
from triagehub.work.agents.views import (
    EventView,
    HookResult,
    RelatedSession,
    SessionDetail,
    SessionView,
    WorkItem,
    session_view,
)

__all__ = [
    "DETAIL_CHARS",
    "EXCERPT_CHARS",
    "HOOK_EVENTS",
    "IDLE_AFTER",
    "LINK_REASONS",
    "EventKind",
    "EventView",
    "HookPayload",
    "HookResult",
    "RelatedSession",
    "SessionDetail",
    "SessionStatus",
    "SessionType",
    "SessionView",
    "TriagehubFields",
    "WorkItem",
    "excerpt",
    "get_session",
    "ingest_hook",
    "list_sessions",
    "parse_hook",
    "session_view",
    "sessions_for_issue",
    "set_work_item",
    "summarize",
]

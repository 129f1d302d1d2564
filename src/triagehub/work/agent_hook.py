#!/usr/bin/env python3
"""Post an AI agent's hook event to triagehub (``POST $TRIAGEHUB_URL/api/v1/hooks``).

Drop it into an agent's hook configuration (Claude Code: ``.claude/settings.json``, events
SessionStart, PreToolUse, PostToolUse, PostToolUseFailure, Stop and SessionEnd). It reads the
hook's JSON on stdin, adds a ``triagehub`` object from the environment and posts it with a short
timeout. It never blocks or fails the agent: whatever happens it prints nothing on stdout and
exits 0; problems go to stderr.

Environment:
  TRIAGEHUB_URL            the hub, e.g. http://127.0.0.1:8000 (unset: do nothing)
  TRIAGEHUB_API_TOKEN      a write token of the hub's REST API (Authorization: Bearer)
  TRIAGEHUB_SESSION_TYPE   manual, spec_implementation or error_remediation (default: inferred)
  TRIAGEHUB_ISSUE          the triagehub issue id this session works on
  TRIAGEHUB_SPEC_CHANGE    or the OpenSpec change id it implements
  TRIAGEHUB_REMEDIATION    the key a remediation hand-off gave (rem-<issue>-...): the session
                           takes over the pending session recorded for that issue
  TRIAGEHUB_AGENT          the agent's name (default: claude-code)
  TRIAGEHUB_HOOK_TIMEOUT   seconds to wait for the hub (default 2)

Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

MAX_STRING = 8_000
MAX_BODY = 900_000


def _trim(value: object, depth: int = 0) -> object:
    """Long strings cut to head and tail, deep structures flattened: the hub stores excerpts."""
    if isinstance(value, str):
        if len(value) <= MAX_STRING:
            return value
        half = MAX_STRING // 2
        return f"{value[:half]}\n…[{len(value) - MAX_STRING} characters cut]…\n{value[-half:]}"
    if depth > 8:
        return "…"
    if isinstance(value, dict):
        return {str(k): _trim(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_trim(v, depth + 1) for v in value[:200]]
    return value


def _payload(raw: str) -> dict[str, object]:
    event = json.loads(raw)
    if not isinstance(event, dict):
        raise ValueError("the hook input is not a JSON object")
    event = _trim(event)
    assert isinstance(event, dict)
    # real time: the hook runs in the agent's process, standard library only (no triagehub clock)
    extra: dict[str, object] = {"event_id": uuid.uuid4().hex, "sent_at": time.time()}
    for key, env in (
        ("session_type", "TRIAGEHUB_SESSION_TYPE"),
        ("spec_change", "TRIAGEHUB_SPEC_CHANGE"),
        ("agent", "TRIAGEHUB_AGENT"),
        ("remediation", "TRIAGEHUB_REMEDIATION"),
    ):
        if os.environ.get(env):
            extra[key] = os.environ[env]
    issue = os.environ.get("TRIAGEHUB_ISSUE", "").strip().lstrip("#")
    if issue:
        extra["issue_id"] = int(issue)
    event["triagehub"] = extra
    return event


def _encode(event: dict[str, object]) -> bytes:
    body = json.dumps(event, ensure_ascii=False, default=str).encode("utf-8")
    if len(body) > MAX_BODY:
        for key in ("tool_response", "tool_input"):
            if key in event:
                event[key] = json.dumps(event[key], default=str)[:MAX_STRING]
        body = json.dumps(event, ensure_ascii=False, default=str).encode("utf-8")
    return body


def main() -> int:
    url = os.environ.get("TRIAGEHUB_URL", "").strip().rstrip("/")
    raw = sys.stdin.read() if not sys.stdin.isatty() else ""
    if not url:
        return 0
    try:
        timeout = float(os.environ.get("TRIAGEHUB_HOOK_TIMEOUT", "2"))
    except ValueError:
        timeout = 2.0
    body = _encode(_payload(raw))
    headers = {"Content-Type": "application/json", "User-Agent": "triagehub-agent-hook"}
    token = os.environ.get("TRIAGEHUB_API_TOKEN", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{url}/api/v1/hooks", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        sys.stderr.write(f"triagehub-agent-hook: the hub answered {exc.code}: {detail}\n")
    return 0


if __name__ == "__main__":
    try:
        main()
    except BaseException as exc:  # never fail the agent: report and exit 0
        sys.stderr.write(f"triagehub-agent-hook: not sent: {type(exc).__name__}: {exc}\n")
    sys.exit(0)

"""Install the agent hook for Claude Code: the hook script beside the settings file and one
entry per hook event in ``settings.json``, merged with what is there (idempotent; nothing else
changes)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from triagehub.errors import InputError

HOOK_NAME = "triagehub-agent-hook"
# The events the hub reads (see triagehub.work.agents); tool events match every tool. The
# prompt is read for the issues it names (the session is linked to them) and not stored.
HOOK_EVENTS = (
    "SessionStart",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Stop",
    "SessionEnd",
    "UserPromptSubmit",
)
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure"})


@dataclass(frozen=True)
class Installed:
    script: Path
    settings: Path
    added: tuple[str, ...]  # the events that gained the hook (empty: it was already there)


def hook_source() -> str:
    return (resources.files("triagehub.work") / "agent_hook.py").read_text(encoding="utf-8")


def _load(settings: Path) -> dict[str, Any]:
    if not settings.exists():
        return {}
    try:
        data = json.loads(settings.read_text(encoding="utf-8") or "{}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(settings), "", f"cannot read the settings as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(str(settings), "", "expected a JSON object")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise InputError(str(settings), "hooks", "expected an object of hook events")
    for event in HOOK_EVENTS:
        if not isinstance(hooks.get(event, []), list):
            raise InputError(str(settings), f"hooks.{event}", "expected a list of matchers")
    return data


def _has_command(entries: list[Any], command: str) -> bool:
    return any(
        isinstance(entry, dict)
        and any(isinstance(h, dict) and h.get("command") == command for h in entry.get("hooks", []))
        for entry in entries
    )


def _write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if mode is not None:
            Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_hook(settings: Path) -> Installed:
    """Write the hook script to ``<settings dir>/hooks/`` and add it to every hook event of
    ``settings`` (created if missing). Running it again changes nothing."""
    data = _load(settings)
    script = settings.parent / "hooks" / HOOK_NAME
    _write_atomically(
        script,
        hook_source(),
        stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH,
    )
    command = str(script.resolve())
    hooks: dict[str, Any] = data.setdefault("hooks", {})
    added = []
    for event in HOOK_EVENTS:
        entries: list[Any] = hooks.setdefault(event, [])
        if _has_command(entries, command):
            continue
        entry: dict[str, Any] = {"hooks": [{"type": "command", "command": command}]}
        if event in TOOL_EVENTS:
            entry = {"matcher": "*", **entry}
        entries.append(entry)
        added.append(event)
    if added or not settings.exists():
        _write_atomically(settings, json.dumps(data, indent=2) + "\n")
    return Installed(script, settings, tuple(added))

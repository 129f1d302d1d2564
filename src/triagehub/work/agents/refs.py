"""What an agent's hook event references: triagehub issues, GitHub issues and pull requests,
issue fingerprints and git branches, read from the event's text (pure: no database).

The text is the event's prompt, tool input and tool output (every string in them, capped). What
counts as a reference:

* a triagehub issue id: ``triagehub issue #12``, ``/api/v1/issues/12``, a dashboard URL
  (``https://hub.example.com/issues/12``: the host directly followed by ``/issues``),
  ``triagehub issues show 12`` (and ``triage``, ``state``, ``snooze``), ``triagehub investigate
  12``, ``TRIAGEHUB_ISSUE=12``;
* an issue's fingerprint (64 hex digits, as the GitHub issue's metadata block carries it);
* a GitHub issue or pull request: its URL (``https://github.com/o/r/issues/1``, ``.../pull/7``,
  the API's ``/repos/o/r/issues/1``, GitHub Enterprise hosts too) or ``o/r#1``; a bare ``#1``
  names no repository and is not read;
* a git branch, where git or gh names one: ``git checkout -b X``, ``git switch -c X``, ``git
  push -u origin X``, ``gh pr create --head X``, ``On branch X``, ``Switched to a new branch
  'X'``, ``* [new branch] X -> X``. Base branches (``main``, ``master``, ...) name no work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

MAX_TEXT: Final = 64_000  # characters of one event read for references
MAX_REFS: Final = 50  # of each kind per event
_BASE_BRANCHES: Final = frozenset(
    {"main", "master", "develop", "development", "dev", "trunk", "head", "gh-pages", "staging"}
)
_TEXT_KEYS: Final = ("prompt", "tool_input", "tool_response", "error", "output", "message")

_ISSUE_ID: Final = (
    re.compile(r"\btriagehub issue #?(\d{1,10})\b", re.IGNORECASE),
    re.compile(r"/api/v1/issues/(\d{1,10})\b"),
    re.compile(r"\bhttps?://[^\s/\"'<>]+/issues/(\d{1,10})\b"),
    re.compile(
        r"\btriagehub\s+(?:issues\s+(?:show|triage|state|snooze)|investigate)\s+(\d{1,10})\b"
    ),
    re.compile(r"\bTRIAGEHUB_ISSUE=[\"']?#?(\d{1,10})\b"),
)
_FINGERPRINT: Final = re.compile(r"(?<![0-9a-fA-F])([0-9a-f]{64})(?![0-9a-fA-F])")
_NAME: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
_GH_URL: Final = re.compile(
    rf"\bhttps?://[^\s/\"'<>]+/(?:api/v3/)?(?:repos/)?({_NAME})/({_NAME})/(?:issues|pulls?)/"
    r"(\d{1,9})\b"
)
_GH_SHORT: Final = re.compile(rf"(?<![\w/.@-])({_NAME})/({_NAME})#(\d{{1,9}})\b")
_BRANCH: Final = r"([A-Za-z0-9_][A-Za-z0-9_./+-]{1,200})"
_BRANCHES: Final = (
    re.compile(rf"\bgit\s+(?:checkout|switch)\s+(?:-[bBcC]\s+|--create\s+)?{_BRANCH}"),
    re.compile(rf"\bgit\s+push(?:\s+-{{1,2}}[\w-]+)*\s+[\w.-]+\s+\+?{_BRANCH}"),
    re.compile(rf"--head[=\s]+[\"']?{_BRANCH}"),
    re.compile(rf"\bOn branch {_BRANCH}"),
    re.compile(rf"Switched to (?:a new )?branch '{_BRANCH}'"),
    re.compile(rf"\*\s+\[new branch\]\s+{_BRANCH}\s+->"),
)


@dataclass(slots=True)
class Refs:
    """The references of one event (each list in the order found, without repeats)."""

    issue_ids: list[int] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    github: list[str] = field(default_factory=list)  # ``owner/name#12``, lower case
    branches: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.issue_ids or self.fingerprints or self.github or self.branches)


def event_text(payload: Mapping[str, Any]) -> str:
    """The event's prompt, tool input and output (every string inside), at most
    :data:`MAX_TEXT` characters."""
    parts: list[str] = []
    size = 0

    def walk(value: Any, depth: int) -> None:
        nonlocal size
        if size >= MAX_TEXT or depth > 8:
            return
        if isinstance(value, str):
            parts.append(value[: MAX_TEXT - size])
            size += len(parts[-1]) + 1
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    for key in _TEXT_KEYS:
        walk(payload.get(key), 0)
    return "\n".join(parts)


def _add(found: list[Any], value: Any) -> None:
    if value not in found and len(found) < MAX_REFS:
        found.append(value)


def _branch(raw: str) -> str | None:
    name = raw.rstrip(".,;:)'\"").removeprefix("refs/heads/")
    name = name.split(":", 1)[0]  # a refspec's source
    if len(name) < 3 or name.lower() in _BASE_BRANCHES or name.startswith(("-", ".", "/")):
        return None
    if name.endswith((".lock", "/")) or ".." in name:
        return None
    return name


def find_refs(text: str) -> Refs:
    """The references in ``text`` (see the module docstring)."""
    refs = Refs()
    for pattern in _ISSUE_ID:
        for match in pattern.finditer(text):
            number = int(match.group(1))
            if 1 <= number <= 2**31 - 1:
                _add(refs.issue_ids, number)
    for match in _FINGERPRINT.finditer(text):
        _add(refs.fingerprints, match.group(1))
    for pattern in (_GH_URL, _GH_SHORT):
        for match in pattern.finditer(text):
            owner, name, digits = match.groups()
            if (owner.lower(), name.lower()) == ("api", "v1"):  # the hub's own API
                continue
            _add(refs.github, f"{owner}/{name.removesuffix('.git')}#{int(digits)}".lower())
    for pattern in _BRANCHES:
        for match in pattern.finditer(text):
            branch = _branch(match.group(1))
            if branch is not None:
                _add(refs.branches, branch)
    return refs

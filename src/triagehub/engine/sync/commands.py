"""The ``/triage`` commands people write in comments on GitHub issues, parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Command:
    """One ``/triage ...`` line of a comment: ``ignore``, ``false-positive``, ``needs-spec``,
    ``one-off-fix``, ``assign`` (``argument``: the login) or ``snooze`` (``argument``: e.g.
    ``7d``)."""

    name: str
    argument: str | None = None
    line: str = ""


COMMANDS: Final = (
    "ignore",
    "false-positive",
    "needs-spec",
    "one-off-fix",
    "assign",
    "snooze",
    "investigate",
    "fix",
)
_COMMAND_RE = re.compile(r"^\s*/triage\s+(\S+)(?:\s+(\S+))?\s*$", re.IGNORECASE)
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_LOGIN_RE = re.compile(r"@?([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))")


def parse_commands(body: object) -> list[Command | str]:
    """The ``/triage`` lines of a comment (outside code blocks and quotes), in order: a
    :class:`Command`, or a string saying why a line was not understood."""
    if not isinstance(body, str):
        return []
    found: list[Command | str] = []
    fenced = False
    for raw in body.splitlines():
        if _FENCE_RE.match(raw):
            fenced = not fenced
            continue
        if fenced or raw.lstrip().startswith(">"):
            continue
        match = _COMMAND_RE.match(raw)
        if match is None:
            if raw.strip().lower().startswith("/triage"):
                found.append(f"not understood: {raw.strip()[:100]!r}")
            continue
        name, argument = match.group(1).lower().replace("_", "-"), match.group(2)
        if name not in COMMANDS:
            found.append(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
        elif name == "assign":
            login = _LOGIN_RE.fullmatch(argument or "")
            if login is None:
                found.append("/triage assign needs a GitHub login: /triage assign @login")
            else:
                found.append(Command(name, login.group(1), raw.strip()))
        elif name == "snooze":
            if argument is None or parse_duration(argument) is None:
                found.append("/triage snooze needs a duration such as 7d, 12h or 2w")
            else:
                found.append(Command(name, argument, raw.strip()))
        elif argument is not None:
            found.append(f"/triage {name} takes no argument")
        else:
            found.append(Command(name, None, raw.strip()))
    return found


_DURATION_RE = re.compile(r"(\d{1,4})([mhdw])", re.IGNORECASE)
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float | None:
    """``30m``, ``12h``, ``7d``, ``2w`` in seconds (None if not a duration, or 0)."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _SECONDS[match.group(2).lower()]

"""Names and paths from outside, checked before they touch the filesystem.

Change ids follow the OpenSpec CLI's grammar (kebab-case, at most 200 characters); capability ids
are one or more folder names. Every path built from them is resolved and must stay inside the
project: ``..``, absolute paths and symbolic links that lead out of the project are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from triagehub.errors import InputError

KEBAB_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ARCHIVE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-")
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
MAX_CHANGE_ID = 200


def change_id_problem(name: str) -> str | None:
    """Why ``name`` is not a valid change id (the OpenSpec CLI's wording), or None."""
    if not name:
        return "Change name cannot be empty"
    if len(name) > MAX_CHANGE_ID:
        return f"Change name is too long ({MAX_CHANGE_ID} characters max)"
    if KEBAB_ID.match(name):
        return None
    if re.search(r"[A-Z]", name):
        return "Change name must be lowercase (use kebab-case)"
    if re.search(r"\s", name):
        return "Change name cannot contain spaces (use hyphens instead)"
    if "_" in name:
        return "Change name cannot contain underscores (use hyphens instead)"
    if name.startswith("-"):
        return "Change name cannot start with a hyphen"
    if name.endswith("-"):
        return "Change name cannot end with a hyphen"
    if "--" in name:
        return "Change name cannot contain consecutive hyphens"
    if re.search(r"[^a-z0-9-]", name):
        return "Change name can only contain lowercase letters, numbers, and hyphens"
    return "Change name must follow kebab-case convention (e.g., add-auth, refactor-db)"


def check_change_id(name: str, *, source: str = "change id") -> str:
    """``name`` if it is a valid change id, else an :class:`InputError` saying why."""
    problem = change_id_problem(name)
    if problem is not None:
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InputError(
            source, repr(shown), f"{problem} (expected kebab-case such as add-auth, no paths)"
        )
    return name


def check_capability_id(name: str, *, source: str = "capability") -> tuple[str, ...]:
    """The folder names of a capability id (``failure-ingest`` or ``area/failure-ingest``)."""
    parts = tuple(name.split("/")) if name else ()
    if not parts or len(parts) > 8 or not all(_SEGMENT.match(p) and p != ".." for p in parts):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InputError(
            source,
            repr(shown),
            "expected a capability folder name such as failure-ingest (letters, digits, '.', "
            "'_', '-'; nested areas separated by '/'; no '..' or absolute paths)",
        )
    return parts


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved, following symlinks) lies inside ``root`` (resolved)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def inside(root: Path, *parts: str, source: str) -> Path:
    """``root/parts...``, refused with an :class:`InputError` when it resolves outside root."""
    path = root.joinpath(*parts)
    if not is_within(path, root):
        raise InputError(
            source,
            "/".join(parts),
            f"resolves outside {root} (a symbolic link or '..' leading out of the project is "
            "not followed)",
        )
    return path

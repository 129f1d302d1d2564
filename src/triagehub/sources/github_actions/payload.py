"""Validated reads of webhook and REST JSON: every wrong or missing field raises an
``InputError`` naming its JSON path."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from triagehub.core.sanitize import INT64_MAX
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.jsontypes import json_type as _type

MAX_NAME_CHARS = 1_000  # workflow, job, step and check names in payloads

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")


class Node:
    """A JSON object and its path, for validated reads."""

    __slots__ = ("origin", "path", "value")

    def __init__(self, value: Mapping[str, Any], path: str, origin: str) -> None:
        self.value = value
        self.path = path
        self.origin = origin

    @classmethod
    def root(cls, value: object, origin: str, path: str = "") -> Node:
        if not isinstance(value, Mapping):
            raise InputError(origin, path, f"expected a JSON object, got {_type(value)}")
        return cls(value, path, origin)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> InputError:
        return InputError(self.origin, self.where(key), reason)

    def has(self, key: str) -> bool:
        return key in self.value

    def node(self, key: str, *, required: bool = True) -> Node | None:
        value = self.value.get(key)
        if value is None:
            if required:
                raise self.error(key, "missing required field")
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected an object, got {_type(value)}")
        return Node(value, self.where(key), self.origin)

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        max_chars: int = MAX_NAME_CHARS,
        empty: bool = True,
    ) -> str | None:
        value = self.value.get(key)
        if value is None:
            if required:
                raise self.error(key, "missing required field")
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type(value)}")
        if len(value) > max_chars:
            raise self.error(key, f"is {len(value):,} characters; the limit is {max_chars:,}")
        if not empty and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def integer(
        self, key: str, *, required: bool = False, minimum: int = 0, maximum: int = INT64_MAX
    ) -> int | None:
        value = self.value.get(key)
        if value is None:
            if required:
                raise self.error(key, "missing required field")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_type(value)}")
        if value < minimum:
            raise self.error(key, f"expected an integer ≥ {minimum}, got {value}")
        if value > maximum:
            raise self.error(key, f"expected an integer ≤ {maximum}, got {value}")
        return value

    def time(self, key: str) -> datetime | None:
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected an ISO 8601 time string, got {_type(value)}")
        try:
            return parse_time(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def items(self, key: str) -> list[Node]:
        value = self.value.get(key)
        if value is None:
            return []
        return items_of(value, self.where(key), self.origin)


def items_of(value: object, path: str, origin: str) -> list[Node]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputError(origin, path, f"expected an array, got {_type(value)}")
    return [Node.root(item, origin, f"{path}[{i}]") for i, item in enumerate(value)]


def repository_of(*candidates: Node | None) -> str:
    """``repository.full_name`` of the first candidate that has a ``repository``."""
    holder = next((c for c in candidates if c is not None and c.has("repository")), None)
    if holder is None:
        last = next(c for c in reversed(candidates) if c is not None)
        raise last.error("repository", "missing required field")
    repo = holder.node("repository")
    assert repo is not None
    name = repo.text("full_name", required=True)
    assert name is not None
    if not _REPOSITORY.match(name):
        raise repo.error("full_name", f"expected OWNER/NAME, got {name[:200]!r}")
    return name

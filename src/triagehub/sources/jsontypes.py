"""How error messages name the type of a JSON value ("expected a string, got an array")."""

from __future__ import annotations

from collections.abc import Mapping

_NAMES: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return _NAMES.get(type(value), type(value).__name__)

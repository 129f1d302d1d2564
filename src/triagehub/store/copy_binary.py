"""PostgreSQL: when the rows of a ``COPY`` may go in its binary format, and as which types.

In the text format each value is written as text by psycopg and parsed back by the server
(``float8in``, ``timestamptz_in``, ``int4in``...). In the binary format psycopg packs ints,
floats and times as the server keeps them (its dumpers in C) and the server copies them in:
less CPU on both sides for the same stored values. The binary format needs each field in its
column's exact binary type, so rows go binary only where every value is one whose binary form
is its column's value and nothing else:

- ``int`` (not ``bool``) within the column's range, for ``SMALLINT``/``INTEGER``/``BIGINT``;
- ``float`` for ``FLOAT``/``DOUBLE PRECISION`` (the 8 bytes of the double: exact);
- ``bool`` for ``BOOLEAN``;
- an aware ``datetime`` for ``TIMESTAMP WITH TIME ZONE`` (its instant, as the server keeps it;
  a naive one is read in the session's zone as text, so it is not written here);
- ``str`` without NUL for ``VARCHAR``/``TEXT``/``JSON``: sent as ``text``, whose binary form is
  the UTF-8 text itself, which is also ``varchar``'s and ``json``'s binary form (the server
  checks the length and the JSON as it does for text);
- ``None`` anywhere (NULL).

Anything else (another type, column or value) gives ``None``: the rows go as text, as before.
``tests/test_bulk.py`` checks that both formats store the same text in every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect

_NONE = type(None)
_TZINFO = attrgetter("tzinfo")
_COMPILED: dict[Column[Any], str] = {}  # the tables' columns: a bounded set
_INTS = {"SMALLINT": ("int2", 15), "INTEGER": ("int4", 31), "BIGINT": ("int8", 63)}
_OTHERS: dict[str, tuple[str, type]] = {
    "FLOAT": ("float8", float),
    "DOUBLE PRECISION": ("float8", float),
    "BOOLEAN": ("bool", bool),
    "TIMESTAMP WITH TIME ZONE": ("timestamptz", datetime),
    "TEXT": ("text", str),
    "JSON": ("text", str),
}


def _column_type(compiled: str, values: Sequence[Any]) -> str | None:
    """The binary type of a column (its SQL type ``compiled``) for ``values``, or ``None``."""
    kinds = set(map(type, values))
    nulls = _NONE in kinds
    kinds.discard(_NONE)
    if not kinds:
        return "text"  # NULLs only: any type will do, a NULL has no bytes
    if len(kinds) > 1:
        return None
    kind = kinds.pop()
    present = [v for v in values if v is not None] if nulls else values
    if compiled in _INTS:
        name, bits = _INTS[compiled]
        if kind is not int or min(present) < -(2**bits) or max(present) >= 2**bits:
            return None
        return name
    if compiled.startswith("VARCHAR"):
        compiled = "TEXT"
    found = _OTHERS.get(compiled)
    if found is None or kind is not found[1]:
        return None
    if kind is str and "\x00" in "".join(present):
        return None  # psycopg refuses it as text: let it
    if kind is datetime and None in set(map(_TZINFO, present)):
        return None
    return found[0]


def _compiled(column: Column[Any], dialect: Dialect) -> str:
    """The column's SQL type on ``dialect``, compiled once per column."""
    found = _COMPILED.get(column)
    if found is None:
        found = _COMPILED[column] = column.type.compile(dialect=dialect)
    return found


def binary_types(
    table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], dialect: Dialect
) -> list[str] | None:
    """The types to give ``Copy.set_types`` for a binary ``COPY`` of ``rows`` into ``columns``
    of ``table``, or ``None`` where they go as text (see the module's docstring)."""
    width = len(columns)
    if not rows or any(len(row) != width for row in rows):
        return None
    found: list[str] = []
    for name, values in zip(columns, zip(*rows, strict=True), strict=True):
        kind = _column_type(_compiled(table.c[name], dialect), values)
        if kind is None:
            return None
        found.append(kind)
    return found

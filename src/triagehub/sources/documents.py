"""Reading one bounded JSON document from a file; every failure an ``InputError`` naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from triagehub.errors import InputError
from triagehub.sources.jsontypes import json_type


def read_bounded(path: Path, max_bytes: int, *, over: str, empty: str) -> bytes:
    """The bytes of a file of at most ``max_bytes``; ``over`` and ``empty`` end the errors of a
    larger file and of a blank one."""
    origin = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise InputError(origin, "", f"over {max_bytes >> 20} MiB; {over}")
    if not raw.strip():
        raise InputError(origin, "", f"the file is empty; {empty}")
    return raw


def decode_object(raw: bytes, origin: str, *, what: str = "") -> dict[str, Any]:
    """A JSON document that must be an object (``what`` says which, in the error)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            origin, "", f"malformed JSON (is the file truncated or still being written?): {exc}"
        ) from None
    if not isinstance(doc, dict):
        raise InputError(origin, "", f"expected a JSON object{what}, got {json_type(doc)}")
    return doc

"""Generic failure events: the format every other source can be expressed in.

A file holds one event, a JSON array of events, or JSON Lines. An event is either a whole run::

    {"source": "generic", "repository": "acme/dbt_cloud",
     "run": {"id": "8812", "attempt": 1, "commit": "3f2c1e9", "branch": "main", "url": "...",
             "started_at": "...", "finished_at": "...", "status": "failure"},
     "results": [{"check": "...", "status": "fail", "message": "...", "log": "...",
                  "duration_s": 3.2}]}

or the one-failure shorthand ``{"repository": ..., "check": ..., "message": ..., "log": ...}``
(optionally ``status``, ``commit``, ``branch``, ``url``, ``at``, ``source``, ``duration_s``), whose
run id is derived from its content so that ingesting it twice is still a no-op.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from triagehub.core.fingerprint import content_id
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.jsontypes import json_type as _type

MAX_MESSAGE_BYTES = 1024 * 1024  # 1 MiB
MAX_LOG_BYTES = 8 * 1024 * 1024  # 8 MiB
MAX_CHECK_CHARS = 1000
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
# Texts this long or shorter are within their limit in bytes whatever they hold (UTF-8: at
# most 4 bytes a character): the size check ``_str`` makes before encoding one.
_MESSAGE_CHARS = MAX_MESSAGE_BYTES // 4
_LOG_CHARS = MAX_LOG_BYTES // 4

_T = TypeVar("_T")

REPOSITORY = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
_STATUSES = ", ".join(s.value for s in Status)
_EVENT_KEYS = frozenset({"source", "repository", "run", "results"})
_SHORT_KEYS = frozenset(
    {
        "source",
        "repository",
        "check",
        "status",
        "message",
        "log",
        "duration_s",
        "exit_code",
        "commit",
        "branch",
        "url",
        "at",
    }
)
_RUN_KEYS = frozenset(
    {"id", "attempt", "commit", "branch", "url", "started_at", "finished_at", "status"}
)
_RESULT_KEYS = frozenset({"check", "status", "message", "log", "duration_s", "exit_code"})


class _Where:
    """Builds the file + location of an error."""

    def __init__(self, origin: str, prefix: str) -> None:
        self.origin = origin
        self.prefix = prefix

    def error(self, path: str, reason: str) -> InputError:
        location = f"{self.prefix}{path}" if path else self.prefix.rstrip(":. ")
        return InputError(self.origin, location, reason)


def _str(
    w: _Where,
    obj: dict[str, Any],
    key: str,
    path: str,
    *,
    required: bool = False,
    max_bytes: int | None = None,
    allow_int: bool = False,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise w.error(f"{path}{key}", "missing required field")
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        expected = "a string or an integer" if allow_int else "a string"
        raise w.error(f"{path}{key}", f"expected {expected}, got {_type(value)}")
    if max_bytes is not None and len(value) > max_bytes // 4 and len(value.encode()) > max_bytes:
        size = len(value.encode()) / (1024 * 1024)
        limit = max_bytes / (1024 * 1024)
        raise w.error(f"{path}{key}", f"is {size:.1f} MiB; the limit is {limit:g} MiB")
    if required and not value.strip():
        raise w.error(f"{path}{key}", "must not be empty")
    return value


def _time(w: _Where, obj: dict[str, Any], key: str, path: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise w.error(f"{path}{key}", str(exc)) from None


def _unknown(w: _Where, obj: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    extra = set(obj) - allowed
    if extra:
        name = sorted(extra)[0]
        raise w.error(
            f"{path}{name}", f"unknown field; expected one of {', '.join(sorted(allowed))}"
        )


def _status(w: _Where, obj: dict[str, Any], path: str, default: Status | None = None) -> Status:
    value = obj.get("status")
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        if value is None:
            raise w.error(f"{path}status", f"missing required field; expected one of {_STATUSES}")
        raise w.error(f"{path}status", f"expected a string, got {_type(value)}")
    try:
        return Status(value.lower())
    except ValueError:
        raise w.error(
            f"{path}status", f"unknown status {value!r}; expected one of {_STATUSES}"
        ) from None


def _duration(w: _Where, obj: dict[str, Any], path: str) -> float | None:
    value = obj.get("duration_s")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise w.error(f"{path}duration_s", f"expected a number of seconds, got {_type(value)}")
    if value < 0:
        raise w.error(f"{path}duration_s", "must not be negative")
    return float(value)


def _repository(w: _Where, obj: dict[str, Any], default: str | None) -> str:
    repo = _str(w, obj, "repository", "") or default
    if repo is None:
        raise w.error("repository", "missing required field (or pass --repo OWNER/NAME)")
    if not REPOSITORY.match(repo):
        raise w.error("repository", f"expected OWNER/NAME, got {repo!r}")
    return repo


def _required(w: _Where, obj: dict[str, Any], key: str, kind: type[_T], expected: str) -> _T:
    """A required field of a JSON type (``dict`` or ``list``), named ``expected`` in errors."""
    value = obj.get(key)
    if not isinstance(value, kind):
        raise w.error(
            key,
            f"expected {expected}, got {_type(value)}"
            if value is not None
            else "missing required field",
        )
    return value


_STATUS_OF = {s.value: s for s in Status}


def _result(w: _Where, obj: Any, path: str) -> CheckResult:
    """One result: the common, valid shape read at once (``_plain_result``), anything else
    checked field by field (``_checked_result``: the same result, or the error)."""
    found = _plain_result(obj)
    return found if found is not None else _checked_result(w, obj, path)


def _plain_result(obj: Any) -> CheckResult | None:
    """The result ``_checked_result`` makes of ``obj`` when every field has its plain type
    and size (no error to word); None for anything else (``tests/test_events_fast.py``)."""
    if type(obj) is not dict or not obj.keys() <= _RESULT_KEYS:
        return None
    get = obj.get
    check, status = get("check"), get("status")
    if type(check) is not str or len(check) > MAX_CHECK_CHARS or type(status) is not str:
        return None
    stripped = check.strip()
    found = _STATUS_OF.get(status.lower())
    message, log = get("message"), get("log")
    duration, exit_code = get("duration_s"), get("exit_code")
    if (
        not stripped
        or found is None
        or not (message is None or (type(message) is str and len(message) <= _MESSAGE_CHARS))
        or not (log is None or (type(log) is str and len(log) <= _LOG_CHARS))
        or not (duration is None or (type(duration) in (int, float) and duration >= 0))
        or not (exit_code is None or type(exit_code) is int)
    ):
        return None
    return CheckResult(
        check=stripped,
        status=found,
        message=message or "",
        log=log or "",
        duration_s=None if duration is None else float(duration),
        exit_code=exit_code,
    )


def _checked_result(w: _Where, obj: Any, path: str) -> CheckResult:
    if not isinstance(obj, dict):
        raise w.error(path.rstrip("."), f"expected an object, got {_type(obj)}")
    _unknown(w, obj, _RESULT_KEYS, path)
    check = _str(w, obj, "check", path, required=True)
    assert check is not None
    if len(check) > MAX_CHECK_CHARS:
        raise w.error(f"{path}check", f"is {len(check)} characters; the limit is {MAX_CHECK_CHARS}")
    return CheckResult(
        check=check.strip(),
        status=_status(w, obj, path),
        message=_str(w, obj, "message", path, max_bytes=MAX_MESSAGE_BYTES) or "",
        log=_str(w, obj, "log", path, max_bytes=MAX_LOG_BYTES) or "",
        duration_s=_duration(w, obj, path),
        exit_code=_exit_code(w, obj, path),
    )


def _exit_code(w: _Where, obj: dict[str, Any], path: str) -> int | None:
    value = obj.get("exit_code")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise w.error(f"{path}exit_code", f"expected an integer, got {_type(value)}")
    return value


def event_to_report(obj: Any, w: _Where, default_repository: str | None) -> RunReport:
    """Validate one parsed event and translate it."""
    if not isinstance(obj, dict):
        raise w.error("", f"expected an event object, got {_type(obj)}")
    source = _str(w, obj, "source", "") or "generic"
    repository = _repository(w, obj, default_repository)
    if "results" in obj or "run" in obj:
        return _run_event(w, obj, source, repository)
    if "check" in obj:
        return _short_event(w, obj, source, repository)
    raise w.error("", "not an event: expected `run` and `results`, or the shorthand with `check`")


def _run_event(w: _Where, obj: dict[str, Any], source: str, repository: str) -> RunReport:
    """A whole run: ``run`` and ``results``."""
    _unknown(w, obj, _EVENT_KEYS, "")
    run = _required(w, obj, "run", dict, "an object")
    _unknown(w, run, _RUN_KEYS, "run.")
    run_id = _str(w, run, "id", "run.", required=True, allow_int=True)
    assert run_id is not None
    attempt = run.get("attempt", 1)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise w.error("run.attempt", f"expected a positive integer, got {attempt!r}")
    results = _required(w, obj, "results", list, "an array")
    return RunReport(
        source=source,
        repository=repository,
        run_id=run_id,
        attempt=attempt,
        commit=_str(w, run, "commit", "run."),
        branch=_str(w, run, "branch", "run."),
        url=_str(w, run, "url", "run."),
        started_at=_time(w, run, "started_at", "run."),
        finished_at=_time(w, run, "finished_at", "run."),
        status=_str(w, run, "status", "run."),
        # (``_result`` inlined: the path of a result is worded only for one that is not plain)
        results=tuple(
            _plain_result(r) or _checked_result(w, r, f"results[{i}].")
            for i, r in enumerate(results)
        ),
    )


def _short_event(w: _Where, obj: dict[str, Any], source: str, repository: str) -> RunReport:
    """The one-failure shorthand (``check``, ``message``, ...), its run id from its content."""
    _unknown(w, obj, _SHORT_KEYS, "")
    result = _result(
        w,
        {k: obj[k] for k in _RESULT_KEYS if k in obj} | {"status": obj.get("status", "fail")},
        "",
    )
    at = _time(w, obj, "at", "")
    commit = _str(w, obj, "commit", "")
    run_id = "event-" + content_id(
        source,
        repository,
        result.check,
        result.status.value,
        result.message,
        result.log,
        commit or "",
        at.isoformat() if at else "",
    )
    return RunReport(
        source=source,
        repository=repository,
        run_id=run_id,
        commit=commit,
        branch=_str(w, obj, "branch", ""),
        url=_str(w, obj, "url", ""),
        finished_at=at,
        status="failure" if result.status.is_failure else "success",
        results=(result,),
    )


def _decode(raw: bytes, origin: str, line_no: int | None) -> Any:
    where = f"line {line_no}" if line_no is not None else ""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        loc = f"{where}, byte {exc.start}" if where else f"byte {exc.start}"
        raise InputError(
            origin, loc, "not valid UTF-8 text (is the file binary or in another encoding?)"
        ) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        raise InputError(origin, where, f"malformed JSON: {reason}") from None


def parse_file(path: Path, *, default_repository: str | None = None) -> Iterator[RunReport]:
    """Stream the events of a file (JSON Lines are read line by line, in bounded memory)."""
    origin = str(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
    with fh:
        first = fh.readline()
        stripped = first.lstrip(b"\xef\xbb\xbf \t\r\n")
        while not stripped and first:
            first = fh.readline()
            stripped = first.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped:
            raise InputError(origin, "", "the file is empty; expected JSON events")
        jsonl = False
        if stripped.startswith(b"{"):
            try:
                orjson.loads(stripped)
                jsonl = True
            except orjson.JSONDecodeError:
                jsonl = False
        if jsonl:
            yield from _parse_lines(first, fh, origin, default_repository)
            return
        rest = fh.read(MAX_DOCUMENT_BYTES)
        if fh.read(1):
            raise InputError(origin, "", "a single JSON document over 512 MiB: use JSON Lines")
        doc = _decode(stripped + rest, origin, None)
        items = doc if isinstance(doc, list) else [doc]
        for i, item in enumerate(items):
            prefix = f"[{i}]." if isinstance(doc, list) else ""
            yield event_to_report(item, _Where(origin, prefix), default_repository)


def _parse_lines(
    first: bytes, fh: Any, origin: str, default_repository: str | None
) -> Iterator[RunReport]:
    line_no = 0
    for raw in _chain(first, fh):
        line_no += 1
        if not raw.strip():
            continue
        obj = _decode(raw, origin, line_no)
        yield event_to_report(obj, _Where(origin, f"line {line_no}: "), default_repository)


def _chain(first: bytes, fh: Any) -> Iterator[bytes]:
    yield first
    yield from fh


def parse_objects(
    objs: Iterable[Any], origin: str, *, default_repository: str | None = None
) -> Iterator[RunReport]:
    """Translate already-decoded events (from an API body, a generator)."""
    for i, obj in enumerate(objs):
        yield event_to_report(obj, _Where(origin, f"[{i}]."), default_repository)

"""Playwright Test: the JSON reporter's report (``--reporter=json``) as one ``RunReport``.

A pure translator (no database, no network, no classification). :func:`sniff` recognises a report
from its first bytes; :func:`parse_report` reads one. Malformed or truncated JSON and fields of the
wrong type raise :class:`~triagehub.errors.InputError` naming the file and the JSON path
(``suites[0].specs[2].tests[0].results``), never a traceback.

**Check ids.** One result per test, i.e. per spec and project (a spec runs once in every project)::

    [{projectName}] {file} › {describe} › ... › {title}

e.g. ``[chromium] checkout/cart.spec.js › checkout › cart › heading names the cart``. ``file`` is
the spec file relative to the config's test directory, as Playwright writes it; the titles are the
nested ``test.describe`` blocks (anonymous ones are left out) and the test's own title. Line numbers
are left out on purpose: they shift with every edit above the test. A report of a config without
named projects has no ``[...]`` prefix. Spec files that fail to load (a syntax error, an import
error, a throw at import time: the report's top-level ``errors[]``) give one ERROR result per file,
``[load] {file}`` (the file relative to ``config.rootDir``; ``[load] report`` when the error has no
location). Playwright's own ``No tests found``, which follows when every file failed to load, is
dropped when other load errors explain it.

**Status.** From the test's outcome (``status``) and its last attempt's ``status``: a last attempt
``interrupted`` is ERROR; ``expected`` is PASS (SKIP when the test was expected to be skipped);
``flaky`` (failed, then passed on retry) is FLAKY; ``unexpected`` is FAIL, also when it timed out
(the message then says so: Playwright's ``Test timeout of 1000ms exceeded.``); ``skipped`` is SKIP.
``attempts`` is the number of results (retries + 1).

**Message, log, links.** The message is the real error of the last failing attempt without its
code frame, ANSI colour codes stripped: when an attempt has several errors, an assertion, exception
or missing selector wins over the test timeout that followed it (Playwright lists the timeout
first), and the timeout is kept in the log as context. The log holds every error of that attempt
(message, code frame, ``file:line:column``, stack frames), then one line per other attempt
(``attempt N``), all bounded in size. ``links`` are the attachments (trace, screenshot, video,
error context) of the failing attempts: their path, or their name when they have none.
``duration_s`` is the last attempt's. A pass or a skip carries none of these.

**Run.** ``started_at`` is ``stats.startTime``, ``finished_at`` that plus ``stats.duration``. The
run id, unless given, is a digest of the file's content, so ingesting a report twice is a no-op.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from triagehub.core.fingerprint import strip_ansi
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.documents import decode_object, read_bounded
from triagehub.sources.events import MAX_DOCUMENT_BYTES, REPOSITORY
from triagehub.sources.jsontypes import json_type as _type
from triagehub.sources.sniff import playwright as sniff

__all__ = ["SOURCE", "parse_report", "sniff"]

SOURCE = "playwright"
"""The ``RunReport.source`` of every report this module makes (and its registry name)."""

# Bounds, well inside the generic event limits (events.MAX_MESSAGE_BYTES = 1 MiB and
# events.MAX_LOG_BYTES = 8 MiB, even at 4 bytes a character).
MAX_REPORT_BYTES = MAX_DOCUMENT_BYTES
MAX_MESSAGE_CHARS = 64 * 1024
MAX_LOG_CHARS = 256 * 1024
MAX_ERROR_CHARS = 32 * 1024  # one error's text in the log
MAX_ERRORS_PER_ATTEMPT = 20
MAX_BRIEF_CHARS = 300  # an earlier attempt's line in the log
MAX_LINKS = 50
MAX_CHECK_CHARS = 1000

_SEP = " › "
_TRUNCATED = "\n… (truncated)"
_OUTCOMES = ("expected", "unexpected", "flaky", "skipped")
_RESULT_STATUSES = ("passed", "failed", "timedOut", "interrupted", "skipped")
_NOT_FAILED = ("passed", "skipped")
# The start of a code frame (`  12 | code`, `> 13 | code`) or of stack frames in a message.
_FRAME = re.compile(r"^ {0,8}>? {0,8}\d+ \||^\s+at \S", re.MULTILINE)
_TIMED_OUT = re.compile(r"time(?:d)?[ -]?out", re.IGNORECASE)
# An error that says only that the test ran out of time (or what its end tore down).
_BARE_TIMEOUT = re.compile(
    r"\s*(?:Error: )?(?:Test timeout of \S+ exceeded|Test finished within timeout of|"
    r"Fixture \S+ timeout of|Timeout of \S+ exceeded|(?:page|browserContext|browser)\.\w+: "
    r"Target (?:page, context or browser|closed) has been closed)",
    re.IGNORECASE,
)
_NO_TESTS = "Error: No tests found"
_SEVERITY = {Status.SKIP: 0, Status.PASS: 1, Status.FLAKY: 2, Status.FAIL: 3, Status.ERROR: 4}


def parse_report(
    path: Path,
    *,
    repository: str,
    run_id: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
    url: str | None = None,
) -> RunReport:
    """The report of one Playwright JSON report file."""
    origin = str(path)
    if not isinstance(repository, str) or not REPOSITORY.match(repository):
        raise InputError(origin, "", f"repository: expected OWNER/NAME, got {repository!r}")
    raw = read_bounded(
        path,
        MAX_REPORT_BYTES,
        over="not a Playwright report",
        empty="expected a Playwright JSON report",
    )
    doc = _Doc(origin)
    top = decode_object(raw, origin, what=" (a Playwright report)")
    config = doc.obj(top.get("config"), "config", hint=" (is this a Playwright JSON report?)")
    root = doc.opt_str(config, "rootDir", "config.") or ""
    if "suites" not in top and "errors" not in top:
        raise InputError(
            origin, "suites", "missing required field (is this a Playwright JSON report?)"
        )

    results: dict[str, CheckResult] = {}
    for res in _walk(doc, top):
        _keep(results, res)
    for res in _load_errors(doc, top, root):
        _keep(results, res)

    started, finished = _times(doc, top)
    report_id = run_id if run_id else "playwright-" + hashlib.sha256(raw).hexdigest()[:20]
    return RunReport(
        source=SOURCE,
        repository=repository,
        run_id=report_id[:200],
        commit=commit,
        branch=branch,
        url=url,
        started_at=started,
        finished_at=finished,
        status="failure" if any(r.status.is_failure for r in results.values()) else "success",
        results=tuple(results.values()),
    )


# --------------------------------------------------------------------------------------------
# Reading and validating
# --------------------------------------------------------------------------------------------


class _Doc:
    """Typed access to the parsed report; every mistake names the file and the JSON path."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def error(self, path: str, reason: str) -> InputError:
        return InputError(self.origin, path, reason)

    def obj(self, value: Any, path: str, *, hint: str = "") -> dict[str, Any]:
        if value is None:
            raise self.error(path, f"missing required object{hint}")
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {_type(value)}{hint}")
        return value

    def opt_obj(self, parent: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any] | None:
        value = parent.get(key)
        if value is None:
            return None
        return self.obj(value, prefix + key)

    def arr(self, parent: Mapping[str, Any], key: str, prefix: str) -> list[Any]:
        """An optional array (missing or null: empty)."""
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(prefix + key, f"expected an array, got {_type(value)}")
        return value

    def req_arr(self, parent: Mapping[str, Any], key: str, prefix: str) -> list[Any]:
        if parent.get(key) is None:
            raise self.error(prefix + key, "missing required array")
        return self.arr(parent, key, prefix)

    def opt_str(self, parent: Mapping[str, Any], key: str, prefix: str) -> str | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(prefix + key, f"expected a string, got {_type(value)}")
        return value

    def req_str(self, parent: Mapping[str, Any], key: str, prefix: str) -> str:
        value = self.opt_str(parent, key, prefix)
        if value is None:
            raise self.error(prefix + key, "missing required string")
        return value

    def opt_num(self, parent: Mapping[str, Any], key: str, prefix: str) -> float | None:
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(prefix + key, f"expected a number, got {_type(value)}")
        return float(value)

    def opt_int(self, parent: Mapping[str, Any], key: str, prefix: str) -> int | None:
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(prefix + key, f"expected an integer, got {_type(value)}")
        return value

    def choice(
        self, parent: Mapping[str, Any], key: str, prefix: str, allowed: tuple[str, ...]
    ) -> str:
        value = self.req_str(parent, key, prefix)
        if value not in allowed:
            raise self.error(
                prefix + key,
                f"unknown status {value[:100]!r}; expected one of {', '.join(allowed)}",
            )
        return value


def _times(doc: _Doc, top: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    stats = doc.opt_obj(top, "stats", "")
    if stats is None:
        return None, None
    start_text = stats.get("startTime")
    if start_text is None:
        return None, None
    try:
        started = parse_time(start_text)
    except ValueError as exc:
        raise doc.error("stats.startTime", str(exc)) from None
    duration = doc.opt_num(stats, "duration", "stats.")
    if duration is None or duration < 0:
        return started, None
    try:
        return started, started + timedelta(milliseconds=duration)
    except OverflowError:
        raise doc.error("stats.duration", f"{duration!r} ms is out of range") from None


# --------------------------------------------------------------------------------------------
# Suites, specs, tests
# --------------------------------------------------------------------------------------------


def _walk(doc: _Doc, top: Mapping[str, Any]) -> Iterator[CheckResult]:
    """Every test of every spec, depth first (iteratively: a deep nesting cannot overflow)."""
    stack: list[tuple[Any, str, tuple[str, ...], str | None]] = [
        (suite, f"suites[{i}]", (), None)
        for i, suite in reversed(list(enumerate(doc.arr(top, "suites", ""))))
    ]
    while stack:
        raw, path, titles, file = stack.pop()
        suite = doc.obj(raw, path)
        title = doc.opt_str(suite, "title", f"{path}.") or ""
        suite_file = doc.opt_str(suite, "file", f"{path}.") or file
        if file is None:  # a file suite: its title is the file, not a describe block
            suite_file = suite_file or title
            inner = titles
        else:
            inner = (*titles, title) if title else titles
        for j, spec in enumerate(doc.arr(suite, "specs", f"{path}.")):
            yield from _spec(doc, spec, f"{path}.specs[{j}]", inner, suite_file or "")
        children = doc.arr(suite, "suites", f"{path}.")
        for k in range(len(children) - 1, -1, -1):
            stack.append((children[k], f"{path}.suites[{k}]", inner, suite_file or ""))


def _spec(
    doc: _Doc, raw: Any, path: str, titles: tuple[str, ...], file: str
) -> Iterator[CheckResult]:
    spec = doc.obj(raw, path)
    title = doc.req_str(spec, "title", f"{path}.")
    spec_file = doc.opt_str(spec, "file", f"{path}.") or file
    name = _SEP.join(part for part in (spec_file, *titles, title) if part)
    for i, test in enumerate(doc.req_arr(spec, "tests", f"{path}.")):
        yield _test(doc, test, f"{path}.tests[{i}]", name)


@dataclass(frozen=True, slots=True)
class _Error:
    headline: str  # the message without its code frame
    text: str  # everything, for the log


@dataclass(frozen=True, slots=True)
class _Attempt:
    number: int  # retry + 1
    status: str
    duration_ms: float | None
    errors: tuple[_Error, ...]
    links: tuple[str, ...]

    @property
    def failed(self) -> bool:
        return self.status not in _NOT_FAILED


def _test(doc: _Doc, raw: Any, path: str, name: str) -> CheckResult:
    test = doc.obj(raw, path)
    prefix = f"{path}."
    project = doc.opt_str(test, "projectName", prefix) or ""
    outcome = doc.choice(test, "status", prefix, _OUTCOMES)
    expected = doc.opt_str(test, "expectedStatus", prefix) or "passed"
    timeout = doc.opt_num(test, "timeout", prefix)
    attempts = [
        _attempt(doc, r, f"{prefix}results[{i}]", i)
        for i, r in enumerate(doc.req_arr(test, "results", prefix))
    ]
    check = (f"[{project}] {name}" if project else name)[:MAX_CHECK_CHARS]
    last = attempts[-1] if attempts else None

    if last is not None and last.status == "interrupted":
        status = Status.ERROR
    elif outcome == "skipped":
        status = Status.SKIP
    elif outcome == "expected":
        skipped = expected == "skipped" or (last is not None and last.status == "skipped")
        status = Status.SKIP if skipped else Status.PASS
    elif outcome == "flaky":
        status = Status.FLAKY
    else:
        status = Status.FAIL
    duration = last.duration_ms / 1000 if last and last.duration_ms is not None else None
    if status in (Status.PASS, Status.SKIP):
        return CheckResult(
            check=check, status=status, duration_s=duration, attempts=max(1, len(attempts))
        )

    failing = [a for a in attempts if a.failed]
    if status is Status.FAIL and last is not None and not last.failed:
        failing.append(last)  # expected to fail (test.fail()), but passed
    key = failing[-1] if failing else last
    message = _message(key, expected, timeout)
    links = tuple(dict.fromkeys(link for a in failing for link in a.links))[:MAX_LINKS]
    return CheckResult(
        check=check,
        status=status,
        message=message,
        log=_log(key, attempts, message),
        duration_s=duration,
        links=links,
        attempts=max(1, len(attempts)),
    )


def _attempt(doc: _Doc, raw: Any, path: str, index: int) -> _Attempt:
    result = doc.obj(raw, path)
    prefix = f"{path}."
    status = doc.choice(result, "status", prefix, _RESULT_STATUSES)
    retry = doc.opt_int(result, "retry", prefix)
    duration = doc.opt_num(result, "duration", prefix)
    links: list[str] = []
    for i, att in enumerate(doc.arr(result, "attachments", prefix)):
        where = f"{prefix}attachments[{i}]"
        att_obj = doc.obj(att, where)
        link = doc.opt_str(att_obj, "path", f"{where}.") or doc.opt_str(
            att_obj, "name", f"{where}."
        )
        if link:
            links.append(link)
    return _Attempt(
        number=(retry if retry is not None and retry >= 0 else index) + 1,
        status=status,
        duration_ms=duration if duration is not None and duration >= 0 else None,
        errors=_errors(doc, result, prefix),
        links=tuple(links),
    )


def _errors(doc: _Doc, result: Mapping[str, Any], prefix: str) -> tuple[_Error, ...]:
    """The errors of one attempt. ``errors[]`` lists them all (each message with its code frame
    and location); ``error`` is the first one with its parts apart (message, stack, snippet)."""
    single = doc.opt_obj(result, "error", prefix)
    items: list[tuple[dict[str, Any], str]] = [
        (doc.obj(e, f"{prefix}errors[{i}]"), f"{prefix}errors[{i}].")
        for i, e in enumerate(doc.arr(result, "errors", prefix))
    ]
    if single is not None:
        first = _clean(doc.opt_str(single, "message", f"{prefix}error.") or "")
        if not items:
            items = [(single, f"{prefix}error.")]
        else:
            head = _clean(doc.opt_str(items[0][0], "message", items[0][1]) or "")
            if first and head.startswith(first.rstrip()):
                items[0] = (single, f"{prefix}error.")
    errors = [_error(doc, e, where) for e, where in items[:MAX_ERRORS_PER_ATTEMPT]]
    # The real error first: an assertion, exception or missing selector wins over the time limit
    # the test hit after it (Playwright lists the timeout first); the timeout stays as context.
    errors.sort(key=lambda e: _BARE_TIMEOUT.match(e.headline) is not None)
    return tuple(errors)


def _error(doc: _Doc, err: Mapping[str, Any], prefix: str) -> _Error:
    message = _clean(doc.opt_str(err, "message", prefix) or doc.opt_str(err, "value", prefix) or "")
    stack = _clean(doc.opt_str(err, "stack", prefix) or "")
    snippet = _clean(doc.opt_str(err, "snippet", prefix) or "")
    location = doc.opt_obj(err, "location", prefix)
    if not message and stack:
        message = stack.split("\n    at ", 1)[0]
    m = _FRAME.search(message)
    headline = (message[: m.start()] if m else message).strip() or message.strip()
    text = message.rstrip()
    if snippet.strip() and snippet.strip() not in message:
        text += "\n\n" + snippet.rstrip()
    frames = [ln for ln in stack.splitlines() if ln.lstrip().startswith("at ")]
    frames = [ln for ln in frames if ln.strip() not in message]
    where = _location(doc, location, f"{prefix}location.") if location is not None else ""
    if where and where not in message and not any(where in ln for ln in frames):
        frames.insert(0, f"    at {where}")
    if frames:
        text += "\n" + "\n".join(frames)
    return _Error(headline=headline, text=_clip(text, MAX_ERROR_CHARS))


def _location(doc: _Doc, loc: Mapping[str, Any], prefix: str) -> str:
    file = doc.opt_str(loc, "file", prefix)
    line = doc.opt_int(loc, "line", prefix)
    column = doc.opt_int(loc, "column", prefix)
    if not file:
        return ""
    return ":".join(str(x) for x in (file, line, column) if x is not None)


def _message(key: _Attempt | None, expected: str, timeout: float | None) -> str:
    limit = f"{timeout:g}ms" if timeout is not None else "its time limit"
    headline = key.errors[0].headline if key is not None and key.errors else ""
    if key is None:
        text = "Test failed, but Playwright reported no attempt"
    elif key.status == "timedOut":
        # A real error before the time limit is the message; a bare timeout says so.
        text = headline if headline else f"Test timeout of {limit} exceeded."
    elif headline:
        text = headline
    elif key.status == "interrupted":
        text = "Test was interrupted: the run stopped before it finished"
    elif key.status == "passed":
        text = f"Test passed, but it was expected to be {expected}"
    else:
        text = f"Test {key.status} without an error message"
    return _clip(text, MAX_MESSAGE_CHARS)


def _log(key: _Attempt | None, attempts: list[_Attempt], message: str) -> str:
    if key is None:
        return ""
    total = len(attempts)
    head = f"attempt {key.number} of {total}: {key.status}"
    if key.duration_ms is not None:
        head += f" after {key.duration_ms / 1000:.2f} s"
    sections = [head, *(e.text for e in key.errors)] if key.errors else [head, message]
    text = "\n\n".join(sections)
    others = [a for a in attempts if a is not key]
    if others:
        lines = ["other attempts:"]
        for a in others:
            first = (
                a.errors[0].headline.splitlines()[0] if a.errors and a.errors[0].headline else ""
            )
            lines.append(
                _clip(
                    f"attempt {a.number}: {a.status}" + (f": {first}" if first else ""),
                    MAX_BRIEF_CHARS,
                )
            )
        brief = "\n".join(lines)
        # The other attempts' lines survive a long log: the errors are cut first.
        text = _clip(text, max(0, MAX_LOG_CHARS - len(brief) - 2)) + "\n\n" + brief
    return _clip(text, MAX_LOG_CHARS)


# --------------------------------------------------------------------------------------------
# Load errors
# --------------------------------------------------------------------------------------------


def _load_errors(doc: _Doc, top: Mapping[str, Any], root: str) -> Iterator[CheckResult]:
    """One ERROR result per spec file that failed to load (``[load] {file}``)."""
    raw = doc.arr(top, "errors", "")
    found: dict[str, list[_Error]] = {}
    for i, item in enumerate(raw):
        err = doc.obj(item, f"errors[{i}]")
        location = doc.opt_obj(err, "location", f"errors[{i}].")
        file = doc.opt_str(location, "file", f"errors[{i}].location.") if location else None
        parsed = _error(doc, err, f"errors[{i}].")
        if file is None and parsed.headline == _NO_TESTS and len(raw) > 1:
            continue  # follows from the other errors: every file failed to load
        check = f"[load] {_relative(file, root)}" if file else "[load] report"
        found.setdefault(check[:MAX_CHECK_CHARS], []).append(parsed)
    for check, errors in found.items():
        message = errors[0].headline or "the spec file failed to load"
        yield CheckResult(
            check=check,
            status=Status.ERROR,
            message=_clip(message, MAX_MESSAGE_CHARS),
            log=_clip("\n\n".join(e.text for e in errors), MAX_LOG_CHARS),
        )


def _relative(file: str, root: str) -> str:
    if root:
        base = root.rstrip("/\\")
        if file.startswith(base) and file[len(base) : len(base) + 1] in ("/", "\\"):
            return file[len(base) + 1 :]
    return file


# --------------------------------------------------------------------------------------------
# Small pieces
# --------------------------------------------------------------------------------------------


def _keep(results: dict[str, CheckResult], res: CheckResult) -> None:
    """One result per check id (``repeatEach`` repeats a test): the most severe wins."""
    prev = results.get(res.check)
    if prev is None or _SEVERITY[res.status] > _SEVERITY[prev.status]:
        results[res.check] = res


def _clean(text: str) -> str:
    return strip_ansi(text).replace("\r\n", "\n")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED

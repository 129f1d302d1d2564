"""JUnit/xUnit XML test reports as one ``RunReport``.

A pure translator (no database, no network, no classification). :func:`parse_files` reads one or
more report files of the *same run* (the per-class ``TEST-*.xml`` files of Maven or Gradle, the
shards of a suite, the report of a retry) and returns a single report; :func:`sniff` tells a
JUnit/xUnit XML file from its first bytes.

Producers handled (each has a test): pytest ``--junitxml`` (``junit_family`` xunit1 and xunit2,
with ``junit_logging`` output and ``record_property`` properties), Maven Surefire/Failsafe
(including the rerun elements of ``rerunFailingTestsCount``), Gradle (also with
``junitXml.mergeReruns``), jest-junit, go-junit-report and Playwright's ``junit`` reporter. The
elements are read with `junitparser`'s model (``junitparser.xunit2``, which knows Surefire's rerun
elements); the XML itself is parsed by `defusedxml`.

**Check id.** ``"{classname}::{name}"`` of the ``<testcase>`` (whitespace runs collapsed to one
space), just ``name`` when there is no classname or when the classname repeats the name
(jest-junit's default templates). No line numbers, times or file paths of the report are part of
it, so the id of a test is the same in every run. Ids over 1000 characters are cut and end with
a digest of the whole id.

**Status.** A ``<failure>`` fails (``fail``), an ``<error>`` errors (``error``; a failure wins when
both are there, as with a pytest test that failed and then errored in teardown; of several, the
first that is not a bare time limit is the result's error, the others follow in its log),
``<skipped>`` (pytest's ``xfail`` included) is a skip, no result element is a pass. Surefire's
``<flakyFailure>``/``<flakyError>`` (failed, then passed on a rerun) give ``flaky`` with
``attempts`` = 1 + their number; ``<rerunFailure>``/``<rerunError>`` (failed on every rerun)
leave the final failure or error and count ``attempts`` the same way.

**Message and log.** The message is the result element's ``message`` attribute; when it is
missing or a placeholder (go-junit-report's ``Failed``, ``Skipped``), the first line of the
element's text. The ``type`` is put in front (``org.opentest4j.AssertionFailedError: ...``) when
given and not already in the message. The log of a failure is its text (the traceback or stack
trace), then each rerun's stack trace, then labelled, bounded excerpts of the test case's
``system-out``/``system-err`` (of its suite when the case has none; pytest's empty "Captured"
headers count as none) and of its ``<properties>``. Passing and skipped results carry no log.
Playwright's ``[[ATTACHMENT|path]]`` lines become ``links``; an ``owner`` property of the test case
(pytest ``record_property("owner", ...)``) becomes ``owner``.

**Times.** ``duration_s`` is the case's ``time`` (``1,234.5`` is accepted; a missing or invalid
time is unknown). The run starts at the earliest ``timestamp`` of its suites (naive timestamps are
UTC) and finishes at the latest suite start + suite ``time``.

**One run, several files.** The run id, unless given, is ``junit-`` + a digest of the digests of
all files (in any order), so ingesting the same set again is a no-op; a file given twice (same
bytes) is read once. A test case that appears more than once in the run (in two files, or twice
in one file as Gradle writes retries without ``mergeReruns``) gives one result: ``flaky`` when one
attempt passed and another failed, else the failure (``attempts`` = the number of attempts that
ran), else a pass. Files of one run are meant to be parts or retries of one suite: matrix legs of
the same suite (Python 3.11 and 3.12) belong in separate runs.

**Safety and limits.** DTDs are refused (so entity-expansion bombs and external entities are never
expanded or read); malformed or truncated XML, a wrong root element (not ``<testsuites>`` or
``<testsuite>``) or a file over the limits raise :class:`~triagehub.errors.InputError` naming the
file and the line and column. Reading is streamed: each test case is translated as soon as it is
complete and dropped, text is kept bounded while parsing (a head and a tail of every text node),
and messages and logs are cut to fixed sizes, so a report of any size is read in bounded memory
per test.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import junitparser
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError
from junitparser import xunit2
from junitparser.junitparser import Result, System

from triagehub.core.fingerprint import content_id, strip_ansi
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.events import REPOSITORY

__all__ = [
    "MAX_LOG_CHARS",
    "MAX_MESSAGE_CHARS",
    "SOURCE",
    "check_id",
    "parse_files",
    "sniff",
]

SOURCE = "junit"
"""The default ``RunReport.source`` of the reports this module makes (and its registry name)."""

MAX_FILE_BYTES = 1 << 30  # 1 GiB per report file
MAX_MESSAGE_CHARS = 64 * 1024
MAX_TRACE_CHARS = 64 * 1024  # one failure's text (a traceback, a stack trace)
MAX_OUTPUT_CHARS = 16 * 1024  # one system-out / system-err excerpt
MAX_LOG_CHARS = 256 * 1024  # the whole log of one result
MAX_TEXT_CHARS = 256 * 1024  # kept of one text node or attribute value while parsing
MAX_CHECK_CHARS = 1000
MAX_TESTCASES = 500_000  # per run
MAX_ELEMENTS = 5_000_000  # per file
MAX_DEPTH = 64
MAX_LINKS = 20
MAX_PROPERTIES = 50
MAX_RERUN_SECTIONS = 10  # reruns whose stack traces are copied into the log

_CHUNK_BYTES = 1 << 20
_ROOTS = frozenset({"testsuites", "testsuite"})
_PLACEHOLDER_MESSAGES = frozenset({"", "failed", "failure", "fail", "error", "skipped", "skip"})
_PYTEST_CAPTURE_HEADER = re.compile(r"^(-+ Captured (?:Log|Out|Err) -+)$", re.M)
_ATTACHMENT = re.compile(r"\[\[ATTACHMENT\|([^\]\r\n]{1,1000})\]\]")
_INTERIM = (xunit2.FlakyFailure, xunit2.FlakyError, xunit2.RerunFailure, xunit2.RerunError)
_FLAKY = (xunit2.FlakyFailure, xunit2.FlakyError)
_TAGS: dict[type[Any], str] = {
    xunit2.FlakyFailure: "flakyFailure",
    xunit2.FlakyError: "flakyError",
    xunit2.RerunFailure: "rerunFailure",
    xunit2.RerunError: "rerunError",
}


# --------------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------------

_PROLOG_ITEM = re.compile(
    rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.S | re.I
)
_ROOT_TAG = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?testsuites?[\s/>]")


def sniff(head: bytes) -> bool:
    """Whether the first bytes of a file (64 KiB) are JUnit/xUnit XML: a ``<testsuites>`` or
    ``<testsuite>`` root, after an optional BOM, XML declaration, comments or DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    head = head.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    for _ in range(64):
        m = _PROLOG_ITEM.match(head, pos)
        if m is None:
            break
        pos = m.end()
    return _ROOT_TAG.match(head, pos) is not None


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def _cut(text: str, limit: int, head_share: float = 0.25) -> str:
    """``text`` within ``limit`` characters: its head and its tail around a marker."""
    if len(text) <= limit:
        return text
    head = int(limit * head_share)
    tail = max(0, limit - head)
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[len(text) - tail :]}"


def _clean(text: str | None) -> str:
    """Element text without ANSI codes, leading blank lines and trailing whitespace (the
    indentation of pretty-printed XML)."""
    if not text:
        return ""
    lines = strip_ansi(text).rstrip().splitlines()
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:])


def _first_line(text: str) -> str:
    """The first meaningful line of a failure's text (jest's ``● suite`` header skipped)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("●"):
            return stripped[:2000]
    return ""


def _message(message: str | None, type_: str | None, text: str) -> str:
    msg = strip_ansi(message or "").strip()
    if msg.lower() in _PLACEHOLDER_MESSAGES:
        msg = _first_line(text) or msg
    typ = strip_ansi(type_ or "").strip()
    if typ and typ not in msg:
        msg = f"{typ}: {msg}" if msg else typ
    return _cut(msg, MAX_MESSAGE_CHARS, 0.75)


def _output(text: str | None) -> str:
    """A system-out/system-err text; pytest's "Captured ..." headers of empty captures are
    dropped (so output that holds only those is "")."""
    cleaned = _clean(text)
    if "Captured" not in cleaned:
        return cleaned
    parts = _PYTEST_CAPTURE_HEADER.split(cleaned)  # [before, header, body, header, body, ...]
    kept = [parts[0].strip("\n")] if parts[0].strip() else []
    for header, body in zip(parts[1::2], parts[2::2], strict=True):
        if body.strip():
            kept.append(f"{header}\n{body.strip(chr(10))}")
    return "\n".join(kept)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip().replace(",", ""))
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def _duration(case: xunit2.TestCase) -> float | None:
    """The case's ``time`` (junitparser reads ``1,234.5``); unknown when missing or invalid."""
    try:
        seconds = cast(float | None, case.time)
    except ValueError:
        return None
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def _timestamp(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _name(value: str | None) -> str:
    return " ".join((value or "").split())


def check_id(classname: str | None, name: str) -> str:
    """The stable check key of a test case (see the module docstring)."""
    cls = _name(classname)
    title = _name(name)
    key = f"{cls}::{title}" if cls and cls != title else title
    if len(key) > MAX_CHECK_CHARS:
        key = f"{key[: MAX_CHECK_CHARS - 21]}…{content_id(key)}"
    return key


# --------------------------------------------------------------------------------------------
# One test case
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Record:
    """One test case element, translated (and mutable until the run is put together)."""

    check: str
    status: Status
    message: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)  # (label, text) of the log
    duration_s: float | None = None
    attempts: int = 1
    links: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def passed(self) -> bool:
        return self.status in (Status.PASS, Status.FLAKY)

    @property
    def failed(self) -> bool:
        return self.status in (Status.FAIL, Status.ERROR, Status.FLAKY)


def _children_text(element: junitparser.Element, kind: type[System]) -> str:
    """The text of every direct ``system-out`` (or ``system-err``) child, joined."""
    children = element.iterchildren(kind)  # type: ignore[no-untyped-call]
    texts = [_output(cast(str | None, child.text)) for child in children]
    return "\n".join(t for t in texts if t)


def _interim_label(result: xunit2.InterimResult, index: int) -> str:
    tag = _TAGS.get(type(result), "rerun")
    msg = _message(cast(str | None, result.message), cast(str | None, result.type), "")
    head = f"{tag} (attempt {index})"
    return f"{head}: {_cut(msg.splitlines()[0], 200)}" if msg else head


_BARE_TIMEOUT = re.compile(
    r"\s*(?:Failed: )?(?:Timeout \(?>|Test timeout of|Exceeded timeout of|timeout of \S+ exceeded|"
    r"Test (?:timed out|exceeded its time limit)|TimeoutError\b|\w*(?:\.\w+)*Timeout(?:Exception|"
    r"Error)\b)",
    re.IGNORECASE,
)


def _bare_timeout(result: Result) -> bool:
    """A failure that says only that the test ran out of time."""
    msg = _message(cast(str | None, result.message), cast(str | None, result.type), "")
    return _BARE_TIMEOUT.match(msg) is not None


def _translate(case: xunit2.TestCase, check: str) -> tuple[_Record, bool]:
    """A test case's record, and whether its log still wants its suite's output."""
    finals = case.result
    failures = [r for r in finals if isinstance(r, junitparser.Failure)]
    errors = [r for r in finals if isinstance(r, junitparser.Error)]
    skips = [r for r in finals if isinstance(r, junitparser.Skipped)]
    interim = [r for r in case.interim_result if isinstance(r, _INTERIM)]
    flaky = [r for r in interim if isinstance(r, _FLAKY)]
    reruns = [r for r in interim if not isinstance(r, _FLAKY)]
    duration = _duration(case)
    attempts = 1 + len(interim)

    primary: Result | None
    if failures or errors:
        status = Status.FAIL if failures else Status.ERROR
        # The real error wins over a time limit that followed it (kept in the log as context).
        ranked = [*failures, *errors]
        primary = next((r for r in ranked if not _bare_timeout(r)), ranked[0])
    elif flaky:
        status, primary = Status.FLAKY, flaky[0]
    elif reruns:  # rerun elements without the final failure: not what Surefire writes
        failed_rerun = any(isinstance(r, xunit2.RerunFailure) for r in reruns)
        status, primary = (Status.FAIL if failed_rerun else Status.ERROR), reruns[0]
    elif skips:
        status, primary = Status.SKIP, skips[0]
    else:
        return _Record(check, Status.PASS, duration_s=duration), False

    primary_text = _result_text(primary)
    message = _message(
        cast(str | None, primary.message), cast(str | None, primary.type), primary_text
    )
    record = _Record(check, status, message, duration_s=duration, attempts=attempts)
    if status is Status.SKIP:
        return record, False

    sections = record.sections
    if not isinstance(primary, xunit2.InterimResult):
        sections.append(("", _cut(primary_text, MAX_TRACE_CHARS)))
        for other in [*failures, *errors]:
            if other is not primary:
                label = _message(cast(str | None, other.message), cast(str | None, other.type), "")
                tag = "failure" if isinstance(other, junitparser.Failure) else "error"
                text = _cut(_result_text(other), MAX_TRACE_CHARS) or label
                sections.append((f"{tag}: {_cut(label, 200)}", text))
    for index, result in enumerate(interim[:MAX_RERUN_SECTIONS], start=1):
        label = _interim_label(result, index)
        sections.append((label, _cut(_result_text(result), MAX_TRACE_CHARS)))
        for kind, stream in (
            (junitparser.SystemOut, "system-out"),
            (junitparser.SystemErr, "system-err"),
        ):
            text = _children_text(result, kind)
            if text:
                sections.append((f"{stream} (attempt {index})", _cut(text, MAX_OUTPUT_CHARS)))

    out = _children_text(case, junitparser.SystemOut)
    err = _children_text(case, junitparser.SystemErr)
    if out:
        sections.append(("system-out", _cut(out, MAX_OUTPUT_CHARS)))
    if err:
        sections.append(("system-err", _cut(err, MAX_OUTPUT_CHARS)))
    props = _properties(case)
    if props:
        sections.append(("properties", "\n".join(f"{k} = {v}" for k, v in props)))
        record.owner = next((v for k, v in props if k.lower() == "owner" and v), None)
    record.links = tuple(dict.fromkeys(_ATTACHMENT.findall(out)))[:MAX_LINKS]
    return record, not (out or err)


def _result_text(result: Result) -> str:
    """The failure's own text; for a rerun element, its ``<stackTrace>`` (or its text)."""
    if isinstance(result, xunit2.InterimResult):
        trace = _clean(cast(str | None, result.stack_trace))
        if trace:
            return trace
    return _clean(cast(str | None, result.text))


def _properties(case: xunit2.TestCase) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for prop in case.properties():  # type: ignore[no-untyped-call]
        if len(found) >= MAX_PROPERTIES:
            break
        name = _name(cast(str | None, prop.name))[:200]
        if name:
            found.append((name, _cut(_name(cast(str | None, prop.value)), 200)))
    return found


# --------------------------------------------------------------------------------------------
# Streaming one file
# --------------------------------------------------------------------------------------------


class _Limit(Exception):
    """A file went over a limit (raised from the parser's callbacks, re-raised as InputError)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Span:
    """A suite's (or the root's) own start and duration."""

    started: datetime | None
    seconds: float | None


class _FileReader:
    """Collects the records and the suites' times of one file, test case by test case."""

    def __init__(self, origin: str, run_cases: int) -> None:
        self.origin = origin
        self.records: list[_Record] = []
        self.spans: list[_Span] = []
        self.cases = run_cases  # test cases of the run so far (MAX_TESTCASES is per run)
        self._waiting: dict[int, list[_Record]] = {}  # id(suite element) -> records

    def testcase(self, elem: ET.Element, parent: ET.Element | None, line: int) -> None:
        self.cases += 1
        if self.cases > MAX_TESTCASES:
            raise _Limit(f"more than {MAX_TESTCASES} test cases in the run")
        case = cast(xunit2.TestCase, xunit2.TestCase.fromelem(elem))  # type: ignore[no-untyped-call]
        name = _name(cast(str | None, case.name))
        if not name:
            raise InputError(
                self.origin,
                f"line {line}",
                "a <testcase> without a name attribute; expected <testcase name=...>",
            )
        record, wants_suite_output = _translate(case, check_id(case.classname, name))
        self.records.append(record)
        if wants_suite_output and parent is not None:
            self._waiting.setdefault(id(parent), []).append(record)

    def testsuite(self, elem: ET.Element) -> None:
        suite = cast(xunit2.TestSuite, xunit2.TestSuite.fromelem(elem))  # type: ignore[no-untyped-call]
        self.container(elem, cast(str | None, suite.timestamp))
        waiting = self._waiting.pop(id(elem), None)
        if not waiting:
            return
        out = _children_text(suite, junitparser.SystemOut)
        err = _children_text(suite, junitparser.SystemErr)
        for record in waiting:
            if out:
                record.sections.append(("system-out (suite)", _cut(out, MAX_OUTPUT_CHARS)))
            if err:
                record.sections.append(("system-err (suite)", _cut(err, MAX_OUTPUT_CHARS)))

    def container(self, elem: ET.Element, timestamp: str | None) -> None:
        started = _timestamp(timestamp)
        seconds = _seconds(elem.get("time"))
        if started is not None or seconds is not None:
            self.spans.append(_Span(started, seconds))


class _Builder:
    """An ElementTree parser target that keeps bounded text and hands every finished
    ``<testcase>`` and ``<testsuite>`` to the reader, then drops it from the tree."""

    def __init__(self, reader: _FileReader) -> None:
        self.reader = reader
        self.position: Any = None  # the expat parser, for line numbers
        self._tb = ET.TreeBuilder()
        self._stack: list[tuple[ET.Element, int]] = []
        self._elements = 0
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self._total = 0

    def _line(self) -> int:
        return int(self.position.CurrentLineNumber) if self.position is not None else 0

    def data(self, text: str) -> None:
        self._total += len(text)
        head_room = MAX_TEXT_CHARS // 4 - self._head_len
        if head_room > 0:
            piece = text[:head_room]
            self._head.append(piece)
            self._head_len += len(piece)
            text = text[head_room:]
            if not text:
                return
        self._tail.append(text)
        self._tail_len += len(text)
        keep = MAX_TEXT_CHARS - MAX_TEXT_CHARS // 4
        while self._tail and self._tail_len - len(self._tail[0]) >= keep:
            self._tail_len -= len(self._tail.popleft())

    def _flush(self) -> None:
        if not self._total:
            return
        text = "".join(self._head)
        if self._tail:
            keep = MAX_TEXT_CHARS - MAX_TEXT_CHARS // 4
            tail = "".join(self._tail)[-keep:]
            cut = self._total - self._head_len - len(tail)
            text += f"\n[... {cut} characters cut ...]\n{tail}" if cut else tail
        self._tb.data(text)
        self._head.clear()
        self._tail.clear()
        self._head_len = self._tail_len = self._total = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._flush()
        local = tag.rpartition("}")[2]
        if not self._stack and local not in _ROOTS:
            raise _Limit(
                f"the root element is <{local[:100]}>; expected <testsuites> or <testsuite> "
                "(is this a JUnit/xUnit XML report?)"
            )
        if len(self._stack) >= MAX_DEPTH:
            raise _Limit(f"elements nested more than {MAX_DEPTH} deep")
        self._elements += 1
        if self._elements > MAX_ELEMENTS:
            raise _Limit(f"more than {MAX_ELEMENTS} XML elements")
        bounded = {
            k: (v if len(v) <= MAX_TEXT_CHARS else _cut(v, MAX_TEXT_CHARS))
            for k, v in attrs.items()
        }
        elem = self._tb.start(local, bounded)
        self._stack.append((elem, self._line()))
        return elem

    def end(self, tag: str) -> ET.Element:
        self._flush()
        elem = self._tb.end(tag.rpartition("}")[2])
        _, line = self._stack.pop()
        parent = self._stack[-1][0] if self._stack else None
        if elem.tag == "testcase":
            self.reader.testcase(elem, parent, line)
        elif elem.tag == "testsuite":
            self.reader.testsuite(elem)
        elif elem.tag == "testsuites" and parent is None:
            self.reader.container(elem, elem.get("timestamp"))
        if parent is not None and elem.tag in ("testcase", "testsuite"):
            parent.remove(elem)  # translated: keep memory bounded
        return elem

    def close(self) -> ET.Element:
        self._flush()
        return self._tb.close()


def _location(position: Any) -> str:
    line = int(position.CurrentLineNumber)
    column = int(position.CurrentColumnNumber) + 1
    return f"line {line}, column {column}"


def _read_file(path: Path, run_cases: int) -> tuple[str, _FileReader]:
    """Stream one file through the safe parser: its SHA-256 and what it holds."""
    origin = str(path)
    reader = _FileReader(origin, run_cases)
    builder = _Builder(reader)
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    builder.position = parser.parser
    digest = hashlib.sha256()
    size = 0
    blank = True
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        with fh:
            while chunk := fh.read(_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise InputError(
                        origin, "", f"over {MAX_FILE_BYTES >> 20} MiB; not read as a test report"
                    )
                digest.update(chunk)
                blank = blank and not chunk.strip(b"\xef\xbb\xbf \t\r\n")
                parser.feed(chunk)
            if blank:
                raise InputError(origin, "", "the file is empty; expected JUnit/xUnit XML")
            parser.close()
    except OSError as exc:
        raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
    except DTDForbidden:
        raise InputError(
            origin,
            _location(parser.parser),
            "refused: the document declares a DTD (<!DOCTYPE ...>); test reports must not "
            "have one (DTD entities allow entity-expansion bombs and reading local files)",
        ) from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise InputError(
            origin,
            _location(parser.parser),
            "refused: the document declares or references XML entities",
        ) from None
    except _Limit as exc:
        raise InputError(origin, _location(parser.parser), exc.reason) from None
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(": line ", 1)[0]
        hint = ""
        if reason in ("no element found", "unclosed token") or "unclosed" in reason:
            hint = " (is the file truncated or still being written?)"
        raise InputError(
            origin, f"line {line}, column {column + 1}", f"malformed XML: {reason}{hint}"
        ) from None
    return digest.hexdigest(), reader


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def _merge(records: list[_Record]) -> _Record:
    """One record for a test case seen several times in a run (retries, shards)."""
    if len(records) == 1:
        return records[0]
    ran = [r for r in records if r.status is not Status.SKIP]
    if not ran:
        return records[0]
    failed = [r for r in ran if r.failed]
    passed = any(r.passed for r in ran)
    durations = [r.duration_s for r in ran if r.duration_s is not None]
    base = failed[0] if failed else ran[0]
    if failed and passed:
        status = Status.FLAKY
    elif failed:
        status = base.status
    else:
        status = Status.PASS
    return _Record(
        check=base.check,
        status=status,
        message=base.message,
        sections=base.sections,
        duration_s=sum(durations) if durations else None,
        attempts=sum(r.attempts for r in ran) if failed else 1,
        links=tuple(dict.fromkeys(link for r in ran for link in r.links))[:MAX_LINKS],
        owner=next((r.owner for r in ran if r.owner), None),
    )


def _log(sections: Iterable[tuple[str, str]]) -> str:
    parts: list[str] = []
    for label, text in sections:
        if not text:
            continue
        parts.append(f"--- {label} ---\n{text}" if label else text)
    return _cut("\n\n".join(parts), MAX_LOG_CHARS, 0.5)


def _result(record: _Record) -> CheckResult:
    failing = record.status in (Status.FAIL, Status.ERROR, Status.FLAKY)
    return CheckResult(
        check=record.check,
        status=record.status,
        message=record.message if record.status is not Status.PASS else "",
        log=_log(record.sections) if failing else "",
        duration_s=record.duration_s,
        links=record.links if failing else (),
        owner=record.owner,
        attempts=record.attempts,
    )


def _times(spans: Sequence[_Span]) -> tuple[datetime | None, datetime | None]:
    starts = [s.started for s in spans if s.started is not None]
    ends = [
        s.started + timedelta(seconds=s.seconds)
        for s in spans
        if s.started is not None and s.seconds is not None
    ]
    return (min(starts) if starts else None, max(ends) if ends else None)


def parse_files(
    paths: Sequence[Path],
    *,
    repository: str,
    run_id: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
    url: str | None = None,
    source: str = SOURCE,
) -> RunReport:
    """Read the JUnit/xUnit XML files of one run into one ``RunReport`` (see the module
    docstring for the mapping). Raises :class:`~triagehub.errors.InputError` naming the file
    (and the line and column) for unsafe, malformed or unexpected input."""
    if not paths:
        raise InputError("junit", "", "no report files given; expected one or more XML files")
    if not REPOSITORY.match(repository):
        raise InputError(
            str(paths[0]), "repository", f"expected OWNER/NAME, got {repository[:200]!r}"
        )
    digests: list[str] = []
    records: dict[str, list[_Record]] = {}
    spans: list[_Span] = []
    cases = 0
    for path in paths:
        digest, reader = _read_file(Path(path), cases)
        if digest in digests:
            continue  # the same file twice: one run holds it once
        digests.append(digest)
        cases = reader.cases
        spans.extend(reader.spans)
        for record in reader.records:
            records.setdefault(record.check, []).append(record)
    results = tuple(_result(_merge(group)) for group in records.values())
    started, finished = _times(spans)
    return RunReport(
        source=source,
        repository=repository,
        run_id=run_id if run_id is not None else f"junit-{content_id(*sorted(digests))}",
        commit=commit,
        branch=branch,
        url=url,
        started_at=started,
        finished_at=finished,
        status="failure" if any(r.status.is_failure for r in results) else "success",
        results=results,
    )

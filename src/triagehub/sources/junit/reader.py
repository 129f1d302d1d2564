"""Reading a JUnit/xUnit XML file: sniffing, and streaming it through the safe parser test
case by test case, within the limits."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import junitparser
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError
from junitparser import xunit2

from triagehub.errors import InputError
from triagehub.sources.junit.cases import MAX_OUTPUT_CHARS, Record, children_text, translate
from triagehub.sources.junit.text import (
    check_id,
    collapse,
    cut_text,
    parse_seconds,
    parse_timestamp,
)

MAX_FILE_BYTES = 1 << 30  # 1 GiB per report file
MAX_TEXT_CHARS = 256 * 1024  # kept of one text node or attribute value while parsing
MAX_TESTCASES = 500_000  # per run
MAX_ELEMENTS = 5_000_000  # per file
MAX_DEPTH = 64

_CHUNK_BYTES = 1 << 20
_ROOTS = frozenset({"testsuites", "testsuite"})


class _Limit(Exception):
    """A file went over a limit (raised from the parser's callbacks, re-raised as InputError)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Span:
    """A suite's (or the root's) own start and duration."""

    started: datetime | None
    seconds: float | None


class FileReader:
    """Collects the records and the suites' times of one file, test case by test case."""

    def __init__(self, origin: str, run_cases: int) -> None:
        self.origin = origin
        self.records: list[Record] = []
        self.spans: list[Span] = []
        self.cases = run_cases  # test cases of the run so far (MAX_TESTCASES is per run)
        self._waiting: dict[int, list[Record]] = {}  # id(suite element) -> records

    def testcase(self, elem: ET.Element, parent: ET.Element | None, line: int) -> None:
        self.cases += 1
        if self.cases > MAX_TESTCASES:
            raise _Limit(f"more than {MAX_TESTCASES} test cases in the run")
        case = cast(xunit2.TestCase, xunit2.TestCase.fromelem(elem))  # type: ignore[no-untyped-call]
        name = collapse(cast(str | None, case.name))
        if not name:
            raise InputError(
                self.origin,
                f"line {line}",
                "a <testcase> without a name attribute; expected <testcase name=...>",
            )
        record, wants_suite_output = translate(case, check_id(case.classname, name))
        self.records.append(record)
        if wants_suite_output and parent is not None:
            self._waiting.setdefault(id(parent), []).append(record)

    def testsuite(self, elem: ET.Element) -> None:
        suite = cast(xunit2.TestSuite, xunit2.TestSuite.fromelem(elem))  # type: ignore[no-untyped-call]
        self.container(elem, cast(str | None, suite.timestamp))
        waiting = self._waiting.pop(id(elem), None)
        if not waiting:
            return
        out = children_text(suite, junitparser.SystemOut)
        err = children_text(suite, junitparser.SystemErr)
        for record in waiting:
            if out:
                record.sections.append(("system-out (suite)", cut_text(out, MAX_OUTPUT_CHARS)))
            if err:
                record.sections.append(("system-err (suite)", cut_text(err, MAX_OUTPUT_CHARS)))

    def container(self, elem: ET.Element, timestamp: str | None) -> None:
        started = parse_timestamp(timestamp)
        seconds = parse_seconds(elem.get("time"))
        if started is not None or seconds is not None:
            self.spans.append(Span(started, seconds))


class _Builder:
    """An ElementTree parser target that keeps bounded text and hands every finished
    ``<testcase>`` and ``<testsuite>`` to the reader, then drops it from the tree."""

    def __init__(self, reader: FileReader) -> None:
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
            k: (v if len(v) <= MAX_TEXT_CHARS else cut_text(v, MAX_TEXT_CHARS))
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


def read_file(path: Path, run_cases: int) -> tuple[str, FileReader]:
    """Stream one file through the safe parser: its SHA-256 and what it holds."""
    origin = str(path)
    reader = FileReader(origin, run_cases)
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

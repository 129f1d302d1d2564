"""One ``<testcase>`` translated: its status, message and log sections (failures, reruns,
outputs, properties)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import junitparser
from junitparser import xunit2
from junitparser.junitparser import Result, System

from triagehub.core.models import Status
from triagehub.sources.junit.text import (
    clean_text,
    collapse,
    cut_text,
    output_text,
    result_message,
)

MAX_TRACE_CHARS = 64 * 1024  # one failure's text (a traceback, a stack trace)
MAX_OUTPUT_CHARS = 16 * 1024  # one system-out / system-err excerpt
MAX_LINKS = 20
MAX_PROPERTIES = 50
MAX_RERUN_SECTIONS = 10  # reruns whose stack traces are copied into the log

_ATTACHMENT = re.compile(r"\[\[ATTACHMENT\|([^\]\r\n]{1,1000})\]\]")
_INTERIM = (xunit2.FlakyFailure, xunit2.FlakyError, xunit2.RerunFailure, xunit2.RerunError)
_FLAKY = (xunit2.FlakyFailure, xunit2.FlakyError)
_TAGS: dict[type[Any], str] = {
    xunit2.FlakyFailure: "flakyFailure",
    xunit2.FlakyError: "flakyError",
    xunit2.RerunFailure: "rerunFailure",
    xunit2.RerunError: "rerunError",
}


def _case_duration(case: xunit2.TestCase) -> float | None:
    """The case's ``time`` (junitparser reads ``1,234.5``); unknown when missing or invalid."""
    try:
        seconds = cast(float | None, case.time)
    except ValueError:
        return None
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


@dataclass(slots=True)
class Record:
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


def children_text(element: junitparser.Element, kind: type[System]) -> str:
    """The text of every direct ``system-out`` (or ``system-err``) child, joined."""
    children = element.iterchildren(kind)  # type: ignore[no-untyped-call]
    texts = [output_text(cast(str | None, child.text)) for child in children]
    return "\n".join(t for t in texts if t)


def _interim_label(result: xunit2.InterimResult, index: int) -> str:
    tag = _TAGS.get(type(result), "rerun")
    msg = result_message(cast(str | None, result.message), cast(str | None, result.type), "")
    head = f"{tag} (attempt {index})"
    return f"{head}: {cut_text(msg.splitlines()[0], 200)}" if msg else head


_BARE_TIMEOUT = re.compile(
    r"\s*(?:Failed: )?(?:Timeout \(?>|Test timeout of|Exceeded timeout of|timeout of \S+ exceeded|"
    r"Test (?:timed out|exceeded its time limit)|TimeoutError\b|\w*(?:\.\w+)*Timeout(?:Exception|"
    r"Error)\b)",
    re.IGNORECASE,
)


def _bare_timeout(result: Result) -> bool:
    """A failure that says only that the test ran out of time."""
    msg = result_message(cast(str | None, result.message), cast(str | None, result.type), "")
    return _BARE_TIMEOUT.match(msg) is not None


def translate(case: xunit2.TestCase, check: str) -> tuple[Record, bool]:
    """A test case's record, and whether its log still wants its suite's output."""
    finals = case.result
    failures = [r for r in finals if isinstance(r, junitparser.Failure)]
    errors = [r for r in finals if isinstance(r, junitparser.Error)]
    skips = [r for r in finals if isinstance(r, junitparser.Skipped)]
    interim = [r for r in case.interim_result if isinstance(r, _INTERIM)]
    duration = _case_duration(case)
    chosen = _primary(failures, errors, skips, interim)
    if chosen is None:
        return Record(check, Status.PASS, duration_s=duration), False
    status, primary = chosen
    primary_text = _result_text(primary)
    message = result_message(
        cast(str | None, primary.message), cast(str | None, primary.type), primary_text
    )
    record = Record(check, status, message, duration_s=duration, attempts=1 + len(interim))
    if status is Status.SKIP:
        return record, False
    sections = record.sections
    if not isinstance(primary, xunit2.InterimResult):
        sections.extend(_final_sections(primary, primary_text, [*failures, *errors]))
    sections.extend(_rerun_sections(interim))
    out = children_text(case, junitparser.SystemOut)
    err = children_text(case, junitparser.SystemErr)
    if out:
        sections.append(("system-out", cut_text(out, MAX_OUTPUT_CHARS)))
    if err:
        sections.append(("system-err", cut_text(err, MAX_OUTPUT_CHARS)))
    props = _properties(case)
    if props:
        sections.append(("properties", "\n".join(f"{k} = {v}" for k, v in props)))
        record.owner = next((v for k, v in props if k.lower() == "owner" and v), None)
    record.links = tuple(dict.fromkeys(_ATTACHMENT.findall(out)))[:MAX_LINKS]
    return record, not (out or err)


def _primary(
    failures: Sequence[Result],
    errors: Sequence[Result],
    skips: Sequence[Result],
    interim: Sequence[xunit2.InterimResult],
) -> tuple[Status, Result] | None:
    """The status of a test case and the result element that speaks for it (None: a pass)."""
    if failures or errors:
        status = Status.FAIL if failures else Status.ERROR
        # The real error wins over a time limit that followed it (kept in the log as context).
        ranked = [*failures, *errors]
        return status, next((r for r in ranked if not _bare_timeout(r)), ranked[0])
    flaky = [r for r in interim if isinstance(r, _FLAKY)]
    if flaky:
        return Status.FLAKY, flaky[0]
    reruns = [r for r in interim if not isinstance(r, _FLAKY)]
    if reruns:  # rerun elements without the final failure: not what Surefire writes
        failed_rerun = any(isinstance(r, xunit2.RerunFailure) for r in reruns)
        return (Status.FAIL if failed_rerun else Status.ERROR), reruns[0]
    if skips:
        return Status.SKIP, skips[0]
    return None


def _final_sections(
    primary: Result, primary_text: str, finals: Sequence[Result]
) -> list[tuple[str, str]]:
    """The log sections of the final result elements: the primary's text, then the others'."""
    sections = [("", cut_text(primary_text, MAX_TRACE_CHARS))]
    for other in finals:
        if other is not primary:
            label = result_message(
                cast(str | None, other.message), cast(str | None, other.type), ""
            )
            tag = "failure" if isinstance(other, junitparser.Failure) else "error"
            text = cut_text(_result_text(other), MAX_TRACE_CHARS) or label
            sections.append((f"{tag}: {cut_text(label, 200)}", text))
    return sections


def _rerun_sections(interim: Sequence[xunit2.InterimResult]) -> list[tuple[str, str]]:
    """The log sections of the reruns: each one's stack trace and its own outputs."""
    sections: list[tuple[str, str]] = []
    for index, result in enumerate(interim[:MAX_RERUN_SECTIONS], start=1):
        label = _interim_label(result, index)
        sections.append((label, cut_text(_result_text(result), MAX_TRACE_CHARS)))
        for kind, stream in (
            (junitparser.SystemOut, "system-out"),
            (junitparser.SystemErr, "system-err"),
        ):
            text = children_text(result, kind)
            if text:
                sections.append((f"{stream} (attempt {index})", cut_text(text, MAX_OUTPUT_CHARS)))
    return sections


def _result_text(result: Result) -> str:
    """The failure's own text; for a rerun element, its ``<stackTrace>`` (or its text)."""
    if isinstance(result, xunit2.InterimResult):
        trace = clean_text(cast(str | None, result.stack_trace))
        if trace:
            return trace
    return clean_text(cast(str | None, result.text))


def _properties(case: xunit2.TestCase) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for prop in case.properties():  # type: ignore[no-untyped-call]
        if len(found) >= MAX_PROPERTIES:
            break
        name = collapse(cast(str | None, prop.name))[:200]
        if name:
            found.append((name, cut_text(collapse(cast(str | None, prop.value)), 200)))
    return found

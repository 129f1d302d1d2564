"""GitHub Actions: job logs, run log archives and webhook / REST payloads, as ``RunReport``s.

A pure translator (no database, no network, no classification). Three parts:

**Job logs.** :func:`parse_job_log` reads a job's log line by line, once, in bounded memory:

- the runner's ISO timestamp prefix (``2026-11-20T06:30:00.1234567Z ``), a byte-order mark, and the
  ``job<TAB>step<TAB>`` prefix of ``gh run view --log`` are stripped; ANSI codes are ignored;
- steps: in a per-job log (``GET .../actions/jobs/{id}/logs``) a step starts at its header group
  ``##[group]Run <command>`` (recognised when the next line is the header's body: the command in
  cyan, ``with:``, ``env:``, ``shell:`` or ``##[endgroup]``, so that a user's own ``::group::Run x``
  does not split a step), at ``Post job cleanup.`` (a post step), at ``Cleaning up orphan
  processes`` (``Complete job``) and at ``##[section]Starting: <name>``; what comes before the first
  header is ``Set up job``. In ``gh run view --log`` output the step column names the steps. In the
  run log archive each step is its own file: :func:`parse_log_archive` parses each as one step;
- ``##[error]``, ``##[warning]``, ``##[notice]`` lines and raw ``::error file=...,line=...::msg``
  workflow commands become :class:`Annotation`\\ s; ``Process completed with exit code N`` (and
  ``... failed with exit code N``) gives the step's exit code;
- the failing step is the first step that ended with a non-zero exit code, else the first
  main step with an error line, else the first step with one; its excerpt (the lines that carry
  the error, chosen by :mod:`triagehub.core.excerpt` over that step's lines only, the step's own
  header group left out) is kept. Every step's lines are streamed through the excerpt collector,
  and only the excerpts of the (at most four) candidates are kept.

**Run log archives.** :func:`parse_log_archive` reads the ZIP the REST API serves for a run
(``GET /repos/{owner}/{repo}/actions/runs/{id}/logs``) or a tar(.gz) of the same layout. Every
member's name, type and declared size is checked *before* any content is read: absolute paths,
``..`` components, drive letters, links, special files, too many members, a member or a total
over the caps: :class:`~triagehub.errors.InputError` naming the member, and nothing is returned.
Sizes are counted again while reading (a lying header cannot get past the caps).

**Payloads.** :func:`report_from_workflow_job`, :func:`report_from_workflow_run` and
:func:`report_from_check_run` translate ``workflow_job`` / ``workflow_run`` / ``check_run``
webhooks (and REST run and job objects) into a :class:`~triagehub.core.models.RunReport` with one
result per step, check key ``<workflow> / <job> / <step>``. Conclusions: ``success`` passes;
``failure`` and ``startup_failure`` fail; ``timed_out`` fails with a message saying it timed out;
``cancelled``, ``skipped``, ``neutral``, ``action_required`` and ``stale`` are skips (not
failures). The run id is the workflow run id and the attempt its ``run_attempt``, so a re-run
that passes is the same run at a higher attempt (flaky evidence). A payload with a missing field
or a wrong type raises ``InputError("github webhook", "<json path>", reason)``.
"""

from __future__ import annotations

import io
import lzma
import re
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any, Literal

from triagehub.core.excerpt import error_lines, extract_lines
from triagehub.core.fingerprint import strip_ansi
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.sanitize import INT32_MAX, INT64_MAX
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.jsontypes import json_type as _type

__all__ = [
    "JOB_LOG",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "PREPARE_LOG",
    "SOURCE",
    "Annotation",
    "JobLog",
    "Step",
    "combine_steps",
    "job_logs",
    "match_job_logs",
    "parse_job_log",
    "parse_log_archive",
    "read_log_lines",
    "report_from_check_run",
    "report_from_event",
    "report_from_workflow_job",
    "report_from_workflow_run",
]

SOURCE = "github-actions"
"""The ``RunReport.source`` of every report this module makes (and its registry name)."""

WEBHOOK = "github webhook"  # the default ``InputError.source`` of payload errors
ARCHIVE = "log archive"  # the default ``InputError.source`` of archive errors

JOB_LOG = "/job"
"""The key, in a job's entry of :func:`parse_log_archive`, of the job's whole log (the archive's
top-level ``<n>_<job name>.txt``); the other keys are step names (which never hold a ``/``)."""
PREPARE_LOG = "/prepare"
"""The key of a job's "Prepare job" log: the orchestration log (strategy and matrix evaluation,
``##[section]Starting: Prepare job <id>``) that the archive also stores as a top-level file."""

MAX_MEMBER_BYTES = 1 << 30  # 1 GiB, uncompressed, per archive member
MAX_TOTAL_BYTES = 2 << 30  # 2 GiB, uncompressed, for a whole archive
MAX_MEMBERS = 10_000
# A zip bomb costs CPU long before it reaches the byte caps: the uncompressed bytes may be at
# most MAX_RATIO times the archive's own size (CI logs compress ~10:1; repetitive ones ~50:1),
# with RATIO_FLOOR_BYTES allowed whatever the archive's size.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 64 << 20
MAX_LINE_BYTES = 64 * 1024  # longer lines are cut (the rest of the line is skipped, not kept)
MAX_STEPS = 1_000  # steps recorded per log; later headers do not split any more
MAX_ANNOTATIONS = 50  # per kind (errors; warnings and notices): the first 40 and the last 10
MAX_ANNOTATION_CHARS = 2_000
MAX_NAME_CHARS = 1_000  # workflow, job, step and check names in payloads
MAX_CHECK_CHARS = 1_000  # a check key (the store's column); longer keys are shortened
MAX_TEXT_CHARS = 1 << 20  # check-run output title / summary / text
EXCERPT_LINES = 20
_MARKER_CHARS = 4 * MAX_ANNOTATION_CHARS  # characters of an annotation line looked at
_HEADER_GROUP_LINES = 200  # a step's header group longer than this is not skipped any more

SETUP_STEP = "Set up job"
COMPLETE_STEP = "Complete job"
POST_STEP = "Post job cleanup"

Level = Literal["error", "warning", "notice"]


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Annotation:
    """An ``##[error]`` / ``##[warning]`` / ``##[notice]`` line or ``::error ...::`` command."""

    level: Level
    message: str
    file: str | None = None
    line: int | None = None
    title: str | None = None
    step: str | None = None  # the step it appeared in


@dataclass(frozen=True, slots=True)
class Step:
    """One step as the log shows it; line numbers are 1-based and inclusive."""

    name: str
    first_line: int
    last_line: int
    had_error: bool = False  # an ``##[error]`` line or ``::error`` command
    exit_code: int | None = None  # non-zero ``Process completed with exit code N``

    @property
    def is_post(self) -> bool:
        """A post step or ``Complete job``: clean-up after the job's main steps."""
        return self.name.startswith("Post ") or self.name == COMPLETE_STEP


@dataclass(frozen=True, slots=True)
class JobLog:
    """What one pass over a job's log found. ``excerpt`` is the failing step's error lines
    (cleaned, at most ~20); when no step carries a failure marker (a log cut short, a container
    action that died without the runner's marker) it is the error lines of the last main step
    that shows any, else empty."""

    steps: tuple[Step, ...] = ()
    failed_step: str | None = None
    exit_code: int | None = None
    annotations: tuple[Annotation, ...] = ()
    excerpt: str = ""
    lines: int = 0

    @property
    def errors(self) -> tuple[Annotation, ...]:
        return tuple(a for a in self.annotations if a.level == "error")


# --------------------------------------------------------------------------------------------
# Job log parsing
# --------------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) ?")
_GH_PREFIX = re.compile(r"\ufeff?([^\t\n]{1,300})\t([^\t\n]{1,300})\t(?=\ufeff?\d{4}-\d\d-\d\dT)")
_HEADER_BODY = ("\x1b[36;1m", "##[endgroup]", "with:", "env:", "shell: ")
_COMMAND = re.compile(r"::(error|warning|notice)(?: ([^\n]*?))?::(.*)", re.S)
_EXIT = re.compile(r"(?:Process completed|failed) with exit code (-?\d{1,9})\b")
_LEVELS: dict[str, Level] = {"error": "error", "warning": "warning", "notice": "notice"}
_MESSAGE_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _split(raw: str) -> tuple[str, str | None]:
    """A line without its line break, BOM and timestamp prefix (ANSI codes kept), and the
    ``job<TAB>step`` of ``gh run view --log`` when the line has that prefix."""
    line = raw.rstrip("\r\n")
    column: str | None = None
    if line.find("\t", 0, 620) >= 0:
        gh = _GH_PREFIX.match(line)
        if gh is not None:
            column = f"{gh.group(1)}\t{gh.group(2)}"
            line = line[gh.end() :]
    if line[:1] == "\ufeff" or line[:1].isdigit():
        stamp = _TIMESTAMP.match(line)
        if stamp is not None:
            line = line[stamp.end() :]
        elif line[:1] == "\ufeff":
            line = line[1:]
    return line, column


def _unescape(text: str, escapes: tuple[tuple[str, str], ...]) -> str:
    if "%" not in text:
        return text
    for code, char in escapes:
        text = text.replace(code, char)
    return text


def _clip(text: str, limit: int = MAX_ANNOTATION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _command(text: str) -> tuple[Level, dict[str, str], str] | None:
    """A raw ``::error file=a.py,line=3::message`` workflow command."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    props: dict[str, str] = {}
    for item in (match.group(2) or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            props[key.strip()] = _unescape(value, _PROPERTY_ESCAPES)
    return _LEVELS[match.group(1)], props, _unescape(match.group(3), _MESSAGE_ESCAPES)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 9:
        return None
    return int(value)


class _Notes:
    """The annotations kept, bounded: per kind (errors; warnings and notices) the first ones and
    the last ones (a failure's errors come last), in log order."""

    _LAST = 10

    def __init__(self) -> None:
        self._seq = 0
        self._first: dict[bool, list[tuple[int, Annotation]]] = {True: [], False: []}
        self._last: dict[bool, deque[tuple[int, Annotation]]] = {
            True: deque(maxlen=self._LAST),
            False: deque(maxlen=self._LAST),
        }

    def add(self, note: Annotation) -> None:
        self._seq += 1
        kind = note.level == "error"
        first = self._first[kind]
        if len(first) < MAX_ANNOTATIONS - self._LAST:
            first.append((self._seq, note))
        else:
            self._last[kind].append((self._seq, note))

    def result(self) -> tuple[Annotation, ...]:
        kept = [*self._first[True], *self._first[False], *self._last[True], *self._last[False]]
        kept.sort(key=lambda item: item[0])
        return tuple(note for _, note in kept)


class _Parser:
    """The streaming state. :meth:`segment` yields one step's lines (the raw lines, for the
    excerpt collector) and stops at the next step's header, which it leaves for the next call."""

    def __init__(self, lines: Iterable[str], step: str | None) -> None:
        self._source = iter(lines)
        self._ahead: deque[str] = deque()
        self._splitting = step is None
        self.exhausted = False
        self.count = 0
        self.steps: list[Step] = []
        self.annotations = _Notes()
        self._column: str | None = None  # the gh step column of the current step
        self._pending = step or SETUP_STEP  # the name of the step the next segment starts
        self._reset(self._pending)

    def _reset(self, name: str) -> None:
        self._name = name
        self._first = self.count + 1
        self._lines = 0
        self._had_error = False
        self._exit: int | None = None
        self._header = 0  # > 0 while inside the step's header group (lines left out of excerpt)

    # -- reading ----------------------------------------------------------------------------

    def _next(self) -> str | None:
        if self._ahead:
            return self._ahead.popleft()
        return next(self._source, None)

    def _peek(self) -> str | None:
        if not self._ahead:
            line = next(self._source, None)
            if line is None:
                return None
            self._ahead.append(line)
        return self._ahead[0]

    # -- steps ------------------------------------------------------------------------------

    def _boundary(self, text: str, column: str | None) -> str | None:
        """The name of the step this line starts, or None."""
        if column is not None:
            if column == self._column:
                return None
            self._column = column
            return column.partition("\t")[2].strip() or SETUP_STEP
        if self._column is not None:
            return None  # a gh log: only the step column splits
        if text[:2] == "##":
            if text.startswith("##[group]Run ") and self._is_header():
                return text[9:].strip()
            if text.startswith("##[section]Starting: "):
                return text[21:].strip() or SETUP_STEP
            return None
        if text == "Post job cleanup.":
            return POST_STEP
        if text == "Cleaning up orphan processes":
            return COMPLETE_STEP
        return None

    def _is_header(self) -> bool:
        after = self._peek()
        if after is None:
            return True
        body, _ = _split(after)
        return body.startswith(_HEADER_BODY)

    def close_step(self) -> Step | None:
        """Record the current step (if it has lines) and start the next one."""
        step = None
        if self._lines:
            step = Step(self._name, self._first, self.count, self._had_error, self._exit)
            self.steps.append(step)
            if len(self.steps) >= MAX_STEPS - 1:
                self._splitting = False
        self._reset(self._pending)
        return step

    # -- lines ------------------------------------------------------------------------------

    def segment(self) -> Iterator[str]:
        while True:
            raw = self._next()
            if raw is None:
                self.exhausted = True
                return
            text, column = _split(raw)
            if self._splitting:
                name = self._boundary(text, column)
                if name is not None:
                    if self._lines:  # the current step ends here; this line starts the next
                        self._ahead.appendleft(raw)
                        self._pending = name
                        if column is not None:
                            self._column = None  # seen again at the start of the next segment
                        return
                    self._name = name
            if not self._lines and text.startswith("##[group]Run "):
                self._header = 1  # the step's own header group: its command, with: and env:
            self.count += 1
            self._lines += 1
            if self._observe(text):
                yield raw

    def _observe(self, text: str) -> bool:
        """Update the step from one line; False for the lines of the step's header group."""
        if self._header:
            if text == "##[endgroup]" or self._header > _HEADER_GROUP_LINES:
                self._header = 0
            else:
                self._header += 1
            return False
        if text[:1] == "\x1b":  # a marker behind colour codes
            plain = strip_ansi(text)
            if plain[:2] in ("##", "::"):
                text = plain
        head = text[:2]
        if head == "##":
            if text[2:3] == "[":
                close = text.find("]", 3, 16)
                if close > 0:
                    level = _LEVELS.get(text[3:close])
                    if level is not None:
                        rest = text[close + 1 : close + 1 + _MARKER_CHARS]
                        self._annotate(level, rest.strip(), {})
        elif head == "::":
            command = _command(text[:_MARKER_CHARS])
            if command is not None:
                level, props, message = command
                self._annotate(level, message, props)
        return True

    def _annotate(self, level: Level, message: str, props: Mapping[str, str]) -> None:
        if level == "error":
            self._had_error = True
            if "exit code" in message:
                code = _EXIT.search(message)
                if code is not None and int(code.group(1)) != 0:
                    self._exit = int(code.group(1))
        self.annotations.add(
            Annotation(
                level=level,
                message=_clip(message),
                file=_clip(props["file"], 500) if props.get("file") else None,
                line=_int(props.get("line")),
                title=_clip(props["title"], 500) if props.get("title") else None,
                step=self._name,
            )
        )


class _Picks:
    """The candidates for the failing step and their excerpts (at most four are kept)."""

    def __init__(self) -> None:
        self.exit: int | None = None  # first step with a non-zero exit code
        self.main: int | None = None  # first main (not post) step with an error line
        self.any: int | None = None  # first step with an error line
        self.tail: int | None = None  # last main step whose excerpt found error lines
        self.excerpts: dict[int, str] = {}

    def offer(self, index: int, step: Step, excerpt: str, found: bool) -> None:
        wanted = False
        if step.exit_code is not None and self.exit is None:
            self.exit = index
            wanted = True
        if step.had_error and self.any is None:
            self.any = index
            wanted = True
        if step.had_error and not step.is_post and self.main is None:
            self.main = index
            wanted = True
        if found and not step.is_post:
            if self.tail is not None and self.tail not in (self.exit, self.main, self.any):
                self.excerpts.pop(self.tail, None)
            self.tail = index
            wanted = True
        if wanted:
            self.excerpts[index] = excerpt

    def failed(self) -> int | None:
        for index in (self.exit, self.main, self.any):
            if index is not None:
                return index
        return None

    def excerpt(self) -> str:
        index = self.failed()
        if index is None:
            index = self.tail
        return self.excerpts.get(index, "") if index is not None else ""


def parse_job_log(
    lines: Iterable[str], *, step: str | None = None, excerpt_lines: int = EXCERPT_LINES
) -> JobLog:
    """Parse a GitHub Actions job log given line by line (a file object, a generator, a list).

    The lines are read once and never held together: memory stays bounded whatever the size of
    the log. ``step`` names the step when the whole input is one step (a step file of the run
    log archive); without it the log is split into steps by its headers.
    """
    parser = _Parser(lines, step)
    picks = _Picks()
    excerpt_lines = max(1, excerpt_lines)  # extract_lines must consume every segment
    while True:
        found = extract_lines(parser.segment(), max_lines=excerpt_lines)
        closed = parser.close_step()
        if closed is not None:
            picks.offer(
                len(parser.steps) - 1, closed, found.text, bool(found) and not found.fallback
            )
        if parser.exhausted:
            break
    failed = picks.failed()
    failed_step = parser.steps[failed] if failed is not None else None
    return JobLog(
        steps=tuple(parser.steps),
        failed_step=failed_step.name if failed_step is not None else None,
        exit_code=failed_step.exit_code if failed_step is not None else None,
        annotations=parser.annotations.result(),
        excerpt=picks.excerpt(),
        lines=parser.count,
    )


def combine_steps(step_logs: Mapping[str, JobLog]) -> JobLog:
    """One job's log from its steps' logs (the step files of the run log archive, in order).

    Step names are the mapping's keys (when a step log holds several steps, their own names);
    line numbers run on from one step to the next, and the failing step is chosen over all the
    steps as :func:`parse_job_log` would.
    """
    steps: list[Step] = []
    annotations = _Notes()
    picks = _Picks()
    offset = 0
    for name, log in step_logs.items():
        own = log.failed_step
        if own is None and log.excerpt:  # the excerpt of the log's last main step with errors
            own = next((s.name for s in reversed(log.steps) if not s.is_post), None)
        for sub in log.steps:
            renamed = name if len(log.steps) == 1 else sub.name
            moved = replace(
                sub,
                name=renamed,
                first_line=sub.first_line + offset,
                last_line=sub.last_line + offset,
            )
            steps.append(moved)
            mine = sub.name == own
            picks.offer(
                len(steps) - 1, moved, log.excerpt if mine else "", mine and bool(log.excerpt)
            )
        for note in log.annotations:
            annotations.add(replace(note, step=name if len(log.steps) <= 1 else note.step))
        offset += log.lines
    failed = picks.failed()
    failed_step = steps[failed] if failed is not None else None
    return JobLog(
        steps=tuple(steps),
        failed_step=failed_step.name if failed_step is not None else None,
        exit_code=failed_step.exit_code if failed_step is not None else None,
        annotations=annotations.result(),
        excerpt=picks.excerpt(),
        lines=offset,
    )


def read_log_lines(
    stream: IO[bytes],
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The lines of a binary log stream, decoded as UTF-8 (bad bytes replaced), without their
    line breaks. A line longer than ``max_line_bytes`` is cut there and the rest of it skipped,
    so one enormous line never sits in memory. ``on_bytes`` is told every byte count read."""
    readline = stream.readline
    limit = max(1, max_line_bytes)
    while True:
        raw = readline(limit)
        if not raw:
            return
        if on_bytes is not None:
            on_bytes(len(raw))
        if len(raw) >= limit and not raw.endswith(b"\n"):
            while True:  # skip the rest of an overlong line
                more = readline(limit)
                if not more:
                    break
                if on_bytes is not None:
                    on_bytes(len(more))
                if more.endswith(b"\n"):
                    break
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


# --------------------------------------------------------------------------------------------
# Run log archives
# --------------------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")
_NUMBERED = re.compile(r"(\d{1,9})_(.+)", re.S)
_SPOOL_BYTES = 32 << 20


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    job: str
    step: str  # JOB_LOG for the job's whole log
    number: int
    size: int


def _unsafe(name: str) -> str | None:
    """Why a member name is refused, or None."""
    if not name or "\x00" in name:
        return "empty name or NUL byte in the name"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in the path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' component in the path"
    return None


def _place(name: str, size: int) -> _Member | None:
    """Where a member goes (job, step), or None for a member that is not a log."""
    parts = [p for p in re.split(r"[/\\]", name) if p and p != "."]
    if not parts or len(parts) > 2 or not parts[-1].endswith(".txt"):
        return None
    stem = parts[-1][: -len(".txt")]
    numbered = _NUMBERED.fullmatch(stem)
    number = int(numbered.group(1)) if numbered else 0
    label = numbered.group(2) if numbered else stem
    if len(parts) == 1:
        return _Member(name, label, JOB_LOG, number, size)
    return _Member(name, parts[0], label, number, size)


class _Budget:
    """Counts the bytes read, per member and in total, against the caps."""

    def __init__(self, origin: str, max_member: int, max_total: int) -> None:
        self.origin = origin
        self.max_member = max_member
        self.max_total = max_total
        self.why_total = "the total cap"
        self.total = 0
        self.member = ""
        self.member_bytes = 0

    def start(self, name: str) -> None:
        self.member = name
        self.member_bytes = 0

    def __call__(self, count: int) -> None:
        self.member_bytes += count
        self.total += count
        if self.member_bytes > self.max_member:
            raise InputError(
                self.origin,
                self.member,
                f"holds more than {self.max_member:,} bytes (the per-member cap); refused",
            )
        if self.total > self.max_total:
            raise InputError(
                self.origin,
                self.member,
                f"the archive holds more than {self.max_total:,} bytes ({self.why_total}); refused",
            )


def _check_sizes(origin: str, name: str, size: int, total: int, budget: _Budget) -> None:
    if size > budget.max_member:
        raise InputError(
            origin,
            name,
            f"declares {size:,} bytes; the per-member cap is {budget.max_member:,}; refused",
        )
    if total > budget.max_total:
        raise InputError(
            origin,
            name,
            f"the members declare {total:,} bytes in total; the cap is {budget.max_total:,} "
            f"({budget.why_total}); refused",
        )


def _seekable(data: bytes | IO[bytes], origin: str, max_total: int) -> IO[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    try:
        if data.seekable():
            return data
    except (OSError, ValueError):
        pass
    # Not a context manager: the spool is returned, and closed with the archive.
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    copied = 0
    while True:
        chunk = data.read(1 << 20)
        if not chunk:
            break
        copied += len(chunk)
        if copied > max_total:
            spool.close()
            raise InputError(origin, "", f"more than {max_total:,} bytes; refused")
        spool.write(chunk)
    spool.seek(0)
    return spool


def _zip_members(
    origin: str, archive: zipfile.ZipFile, budget: _Budget, max_members: int
) -> list[tuple[_Member, zipfile.ZipInfo]]:
    infos = archive.infolist()
    if len(infos) > max_members:
        raise InputError(origin, "", f"{len(infos):,} members; the cap is {max_members:,}; refused")
    members: list[tuple[_Member, zipfile.ZipInfo]] = []
    total = 0
    for info in infos:
        name = info.filename
        reason = _unsafe(name)
        if reason is not None:
            raise InputError(origin, name, f"{reason}; refused")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise InputError(origin, name, "is a symbolic link; refused")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise InputError(origin, name, "is not a regular file or directory; refused")
        if info.flag_bits & 0x1:
            raise InputError(origin, name, "is encrypted; refused")
        if info.compress_type not in _ZIP_METHODS:
            raise InputError(
                origin, name, f"uses ZIP compression method {info.compress_type}; refused"
            )
        if info.is_dir():
            continue
        total += info.file_size
        _check_sizes(origin, name, info.file_size, total, budget)
        member = _place(name, info.file_size)
        if member is not None:
            members.append((member, info))
    return members


def _tar_members(
    origin: str, archive: tarfile.TarFile, budget: _Budget, max_members: int
) -> list[tuple[_Member, tarfile.TarInfo]]:
    members: list[tuple[_Member, tarfile.TarInfo]] = []
    total = 0
    seen = 0
    while True:
        info = archive.next()
        if info is None:
            return members
        seen += 1
        name = info.name
        if seen > max_members:
            raise InputError(origin, name, f"more than {max_members:,} members; refused")
        reason = _unsafe(name)
        if reason is not None:
            raise InputError(origin, name, f"{reason}; refused")
        if info.issym():
            raise InputError(origin, name, "is a symbolic link; refused")
        if info.islnk():
            raise InputError(origin, name, "is a hard link; refused")
        if info.isdir():
            continue
        if not info.isreg():
            raise InputError(origin, name, "is a device, FIFO or other special file; refused")
        total += info.size
        _check_sizes(origin, name, info.size, total, budget)
        member = _place(name, info.size)
        if member is not None:
            members.append((member, info))


_SUFFIX = re.compile(r"(.+) \((\d{1,4})\)")


def _is_prepare(log: JobLog) -> bool:
    return bool(log.steps) and all(s.name.startswith("Prepare job") for s in log.steps)


def _collect(parsed: list[tuple[_Member, JobLog]]) -> dict[str, dict[str, JobLog]]:
    """Group the parsed members by job: step files in step order, the job's whole log under
    JOB_LOG, a "Prepare job" log under PREPARE_LOG.

    The archive names the top-level files after the jobs and, when two files would share a
    name (a job and its "Prepare job" log), adds " (1)" to one of them: a top-level
    ``<name> (k)`` joins the job folder ``<name>`` when there is no folder ``<name> (k)``.
    """
    folders = {m.job for m, _ in parsed if m.step != JOB_LOG}
    jobs: dict[str, list[tuple[str, int, JobLog]]] = {}
    order: dict[str, tuple[int, int]] = {}
    for member, log in parsed:
        job, key = member.job, member.step
        if key == JOB_LOG:
            suffixed = _SUFFIX.fullmatch(job)
            if suffixed is not None and job not in folders and suffixed.group(1) in folders:
                job = suffixed.group(1)
            if _is_prepare(log):
                key = PREPARE_LOG
        jobs.setdefault(job, []).append((key, member.number, log))
        rank = (0, member.number) if member.step == JOB_LOG else (1, 0)
        order[job] = min(order.get(job, rank), rank)
    special = {JOB_LOG: 0, PREPARE_LOG: 1}
    result: dict[str, dict[str, JobLog]] = {}
    for job in sorted(jobs, key=lambda j: (order[j], j)):
        entries = sorted(jobs[job], key=lambda e: (special.get(e[0], 2), e[1], e[0]))
        steps: dict[str, JobLog] = {}
        for key, _, log in entries:
            unique = key
            count = 1
            while unique in steps:
                count += 1
                unique = f"{key} ({count})"
            steps[unique] = log
        result[job] = steps
    return result


_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)
# The ZIP compression methods Python reads; a member in any other is refused before reading.
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


def parse_log_archive(
    data: bytes | IO[bytes],
    *,
    origin: str = ARCHIVE,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
    max_ratio: int = MAX_RATIO,
    ratio_floor_bytes: int = RATIO_FLOOR_BYTES,
) -> dict[str, dict[str, JobLog]]:
    """Parse a run's log archive: ``{job name: {step name: JobLog}}``.

    ``data`` is the ZIP the REST API serves (or a tar, tar.gz, tar.bz2, tar.xz of the same
    layout), as bytes or a binary file. ``<job>/<n>_<step>.txt`` members are parsed as one step
    each and keyed by step name in step order; a top-level ``<n>_<job>.txt`` (the job's whole
    log) goes under :data:`JOB_LOG`, or :data:`PREPARE_LOG` when it is the "Prepare job" log.
    Other members (not ``.txt``, nested deeper) are skipped.

    Every member is checked before any is read; an unsafe name, a link, a special file, too many
    members, or sizes over the caps raise :class:`InputError` naming the member, and nothing is
    returned. The uncompressed total is also capped at ``max_ratio`` times the archive's size
    (at least ``ratio_floor_bytes``): a small archive that expands enormously is refused after
    that many bytes, not after minutes of decompression.
    """
    budget = _Budget(origin, max_member_bytes, max_total_bytes)
    stream = _seekable(data, origin, max_total_bytes)
    parsed: list[tuple[_Member, JobLog]] = []
    try:
        start = stream.tell()
        packed = stream.seek(0, io.SEEK_END) - start
        stream.seek(start)
        by_ratio = max(ratio_floor_bytes, packed * max_ratio)
        if by_ratio < budget.max_total:
            budget.max_total = by_ratio
            budget.why_total = (
                f"{max_ratio} times the archive's {packed:,} bytes: the compression-ratio cap"
            )
        head = stream.read(4)
        stream.seek(start)
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            with zipfile.ZipFile(stream) as zipped:
                for member, info in _zip_members(origin, zipped, budget, max_members):
                    budget.start(member.name)
                    with zipped.open(info) as fh:
                        parsed.append((member, _parse_member(member, fh, budget)))
        else:
            with _open_tar(stream, origin) as tarred:
                for member, tinfo in _tar_members(origin, tarred, budget, max_members):
                    budget.start(member.name)
                    content = tarred.extractfile(tinfo)
                    if content is not None:
                        with content:
                            parsed.append((member, _parse_member(member, content, budget)))
    except _ARCHIVE_ERRORS as exc:
        raise InputError(origin, budget.member, f"unreadable archive: {exc}") from None
    finally:
        if stream is not data:
            stream.close()
    return _collect(parsed)


def _open_tar(stream: IO[bytes], origin: str) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=stream, mode="r:*")
    except tarfile.TarError:
        raise InputError(
            origin, "", "not a ZIP or tar archive (expected the run log archive)"
        ) from None


def _parse_member(member: _Member, fh: IO[bytes], budget: _Budget) -> JobLog:
    lines = read_log_lines(fh, on_bytes=budget)
    return parse_job_log(lines, step=member.step if member.step != JOB_LOG else None)


def job_logs(archive: Mapping[str, Mapping[str, JobLog]]) -> dict[str, JobLog]:
    """One :class:`JobLog` per job of a parsed archive: its step files combined
    (:func:`combine_steps`), else its whole log, else its "Prepare job" log."""
    result: dict[str, JobLog] = {}
    for job, entries in archive.items():
        steps = {n: log for n, log in entries.items() if not n.startswith(("/job", "/prepare"))}
        if steps:
            result[job] = combine_steps(steps)
        elif JOB_LOG in entries:
            result[job] = entries[JOB_LOG]
        elif PREPARE_LOG in entries:
            result[job] = entries[PREPARE_LOG]
    return result


def _loose(name: str) -> str:
    """A name as the archive spells it, loosely: the archive drops ``/`` and other characters
    that file names cannot hold."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def match_job_logs(
    logs: Mapping[str, JobLog], jobs: Sequence[Mapping[str, Any]], *, origin: str = WEBHOOK
) -> dict[int, JobLog]:
    """Key job logs by job id (for :func:`report_from_workflow_run`): each REST job is matched
    by name, exactly, else loosely when only one log matches loosely."""
    loose: dict[str, list[str]] = {}
    for name in logs:
        loose.setdefault(_loose(name), []).append(name)
    result: dict[int, JobLog] = {}
    for job in _items(jobs, "jobs", origin):
        job_id = job.integer("id", required=True)
        job_name = job.text("name", required=True)
        assert job_id is not None and job_name is not None
        if job_name in logs:
            result[job_id] = logs[job_name]
            continue
        candidates = loose.get(_loose(job_name), [])
        if len(candidates) == 1:
            result[job_id] = logs[candidates[0]]
    return result


# --------------------------------------------------------------------------------------------
# Payload validation
# --------------------------------------------------------------------------------------------

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")


class _Node:
    """A JSON object and its path, for validated reads."""

    __slots__ = ("origin", "path", "value")

    def __init__(self, value: Mapping[str, Any], path: str, origin: str) -> None:
        self.value = value
        self.path = path
        self.origin = origin

    @classmethod
    def root(cls, value: object, origin: str, path: str = "") -> _Node:
        if not isinstance(value, Mapping):
            raise InputError(origin, path, f"expected a JSON object, got {_type(value)}")
        return cls(value, path, origin)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> InputError:
        return InputError(self.origin, self.where(key), reason)

    def has(self, key: str) -> bool:
        return key in self.value

    def node(self, key: str, *, required: bool = True) -> _Node | None:
        value = self.value.get(key)
        if value is None:
            if required:
                raise self.error(key, "missing required field")
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected an object, got {_type(value)}")
        return _Node(value, self.where(key), self.origin)

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

    def items(self, key: str) -> list[_Node]:
        value = self.value.get(key)
        if value is None:
            return []
        return _items(value, self.where(key), self.origin)


def _items(value: object, path: str, origin: str) -> list[_Node]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputError(origin, path, f"expected an array, got {_type(value)}")
    return [_Node.root(item, origin, f"{path}[{i}]") for i, item in enumerate(value)]


def _repository(*candidates: _Node | None) -> str:
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


# --------------------------------------------------------------------------------------------
# Conclusions
# --------------------------------------------------------------------------------------------

_SKIPPED = frozenset({"cancelled", "skipped", "neutral", "action_required", "stale"})
_FAILING = frozenset({"failure", "startup_failure", "timed_out"})


def _outcome(conclusion: str, subject: str, context: str = "") -> tuple[Status, str]:
    """The status of a conclusion and the message a failure gets without a log."""
    if conclusion == "success":
        return Status.PASS, ""
    if conclusion == "failure":
        return Status.FAIL, f"{subject} failed{context} (conclusion: failure)"
    if conclusion == "startup_failure":
        return Status.FAIL, f"{subject} failed to start{context} (conclusion: startup_failure)"
    if conclusion == "timed_out":
        return Status.FAIL, f"{subject} timed out{context} (conclusion: timed_out)"
    if conclusion in _SKIPPED:
        return Status.SKIP, f"conclusion: {conclusion}"
    return Status.ERROR, f"{subject} ended{context} with an unexpected conclusion {conclusion!r}"


def _check_key(*parts: str) -> str:
    """``workflow / job / step``, each part shortened alike when the key would be too long."""
    key = " / ".join(parts)
    if len(key) <= MAX_CHECK_CHARS:
        return key
    room = (MAX_CHECK_CHARS - 3 * (len(parts) - 1)) // len(parts)
    return " / ".join(p if len(p) <= room else p[: room - 1] + "…" for p in parts)


def _duration(node: _Node, start: str, end: str) -> float | None:
    began, ended = node.time(start), node.time(end)
    if began is None or ended is None:
        return None
    return max(0.0, (ended - began).total_seconds())


def _job_results(
    workflow: str, job: _Node, log: JobLog | None
) -> tuple[str | None, list[CheckResult]]:
    """The results of one job: one per step (names made unique), or one for the whole job when
    it has no steps or failed without a failing step. Returns the job's conclusion too."""
    name = job.text("name", required=True, empty=False)
    assert name is not None
    name = name.strip()
    conclusion = job.text("conclusion")
    results: list[CheckResult] = []
    seen: dict[str, int] = {}
    failing_steps: list[tuple[int, str]] = []  # (result index, step name)
    for step in job.items("steps"):
        step_name = step.text("name", required=True, empty=False)
        assert step_name is not None
        step_name = step_name.strip()
        step.integer("number")
        step_conclusion = step.text("conclusion")
        seen[step_name] = seen.get(step_name, 0) + 1
        label = step_name if seen[step_name] == 1 else f"{step_name} ({seen[step_name]})"
        if step_conclusion is None:
            status, message = Status.SKIP, "the step did not finish"
        else:
            status, message = _outcome(step_conclusion, f"Step {step_name!r}", f" in job {name!r}")
        if status.is_failure:
            failing_steps.append((len(results), step_name))
        results.append(
            CheckResult(
                check=_check_key(workflow, name, label),
                status=status,
                message=message,
                duration_s=_duration(step, "started_at", "completed_at"),
            )
        )
    job_failed = conclusion in _FAILING
    if conclusion is not None and (not results or (job_failed and not failing_steps)):
        status, message = _outcome(conclusion, f"Job {name!r}")
        if status.is_failure:
            failing_steps.append((len(results), ""))
        results.append(
            CheckResult(
                check=_check_key(workflow, name),
                status=status,
                message=message,
                duration_s=_duration(job, "started_at", "completed_at"),
            )
        )
    if log is not None and failing_steps:
        wanted = _loose(log.failed_step or "")
        index = next((i for i, s in failing_steps if s and _loose(s) == wanted), None)
        if index is None:
            index = failing_steps[0][0]
        results[index] = _with_log(results[index], log)
    return conclusion, results


def _with_log(result: CheckResult, log: JobLog) -> CheckResult:
    """A failing result with the log's excerpt: the message becomes the excerpt's key error
    lines (a timeout keeps its message, so that it classifies as one)."""
    if not log.excerpt:
        return replace(result, exit_code=log.exit_code)
    message = result.message
    if "(conclusion: timed_out)" not in message:
        message = error_lines(log.excerpt) or message
    return replace(result, message=message, log=log.excerpt, exit_code=log.exit_code)


# --------------------------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------------------------


def _completed(payload: Mapping[str, Any], origin: str, key: str) -> tuple[_Node, _Node] | None:
    """The root and the ``key`` object of a ``completed`` webhook (None for other actions); the
    object must say its conclusion."""
    root = _Node.root(payload, origin)
    if root.text("action", required=True) != "completed":
        return None
    node = root.node(key)
    assert node is not None
    if not node.has("conclusion"):
        raise node.error("conclusion", "missing required field")
    return root, node


def report_from_workflow_job(
    payload: Mapping[str, Any],
    log: JobLog | None = None,
    *,
    workflow_name: str | None = None,
    origin: str = WEBHOOK,
) -> RunReport | None:
    """A ``workflow_job`` webhook as a report: one result per step of the job, check key
    ``<workflow> / <job> / <step>``; run id = the workflow run id, attempt = ``run_attempt``.

    ``log`` (the job's parsed log) gives the failing step its message and excerpt.
    ``workflow_name`` is used when the payload lacks ``workflow_job.workflow_name`` (older GitHub
    Enterprise Server). None for an action other than ``completed`` or a null conclusion.
    """
    found = _completed(payload, origin, "workflow_job")
    if found is None:
        return None
    root, job = found
    run_id = job.integer("run_id", required=True, minimum=1)
    attempt = job.integer("run_attempt", minimum=1, maximum=INT32_MAX) or 1
    workflow = (job.text("workflow_name") or workflow_name or "").strip()
    if not workflow:
        raise job.error(
            "workflow_name",
            "missing required field (payloads from older GitHub Enterprise Server lack it: "
            "pass workflow_name=)",
        )
    conclusion, results = _job_results(workflow, job, log)
    repository = _repository(root)
    if conclusion is None:
        return None
    # One webhook arrives per job: the job is the unit of a run here, so that the jobs of one
    # workflow run are distinct runs to the pipeline (which stores a run once). The job name,
    # unlike the job id, stays the same when the job is re-run, so a pass on a later attempt is
    # still seen as flaky evidence.
    job_name = (job.text("name") or "").strip() or "job"
    return RunReport(
        source=SOURCE,
        repository=repository,
        run_id=f"{run_id}/{job_name}"[:200],
        attempt=attempt,
        commit=job.text("head_sha"),
        branch=job.text("head_branch"),
        url=job.text("html_url", max_chars=2000),
        started_at=job.time("started_at"),
        finished_at=job.time("completed_at"),
        status=conclusion,
        results=tuple(results),
    )


def _workflow_name(run: _Node, workflow: _Node | None) -> str:
    name = (run.text("name") or "").strip()
    if not name and workflow is not None:
        name = (workflow.text("name") or "").strip()
    if not name:
        path = (run.text("path", max_chars=2000) or "").strip()
        name = path.rsplit("/", 1)[-1]
    if not name:
        raise run.error("name", "missing required field (the workflow's name)")
    return name


def report_from_workflow_run(
    payload: Mapping[str, Any],
    jobs: Sequence[Mapping[str, Any]] | None = None,
    logs: Mapping[int, JobLog] | None = None,
    *,
    origin: str = WEBHOOK,
) -> RunReport | None:
    """A ``workflow_run`` webhook, or a REST run object (``GET .../actions/runs/{id}``), as a
    report.

    With ``jobs`` (the ``jobs`` array of ``GET .../actions/runs/{id}/jobs``) there is one result
    per step of each job of this attempt (jobs of earlier attempts that were not re-run are left
    out), and ``logs`` (job id → parsed log) give failing steps their message and excerpt. Without
    jobs, one result for the whole workflow, check ``<workflow name>``. None while the run is not
    completed (or has a null conclusion).
    """
    root = _Node.root(payload, origin)
    workflow_node: _Node | None = None
    webhook = root.has("workflow_run") or root.has("action")
    if webhook:
        action = root.text("action", required=True)
        if action != "completed":
            return None
        run = root.node("workflow_run")
        assert run is not None
        workflow_node = root.node("workflow", required=False)
    else:
        run = root
        status = run.text("status")
        if status is not None and status != "completed":
            return None
    if not run.has("conclusion"):
        raise run.error("conclusion", "missing required field")
    run_id = run.integer("id", required=True, minimum=1)
    attempt = run.integer("run_attempt", minimum=1, maximum=INT32_MAX) or 1
    workflow = _workflow_name(run, workflow_node)
    conclusion = run.text("conclusion")
    repository = _repository(run, root if webhook else None)
    results: list[CheckResult] = []
    if jobs is not None:
        for job in _items(jobs, "jobs", origin):
            job_attempt = job.integer("run_attempt", minimum=1, maximum=INT32_MAX)
            if job_attempt is not None and job_attempt != attempt:
                continue
            job_id = job.integer("id")
            log = logs.get(job_id) if logs is not None and job_id is not None else None
            results.extend(_job_results(workflow, job, log)[1])
    if conclusion is None:
        return None
    if not results:
        status, message = _outcome(conclusion, f"Workflow {workflow!r}")
        results.append(
            CheckResult(
                check=_check_key(workflow),
                status=status,
                message=message,
                duration_s=_duration(run, "run_started_at", "updated_at"),
            )
        )
    return RunReport(
        source=SOURCE,
        repository=repository,
        run_id=str(run_id),
        attempt=attempt,
        commit=run.text("head_sha"),
        branch=run.text("head_branch"),
        url=run.text("html_url", max_chars=2000),
        started_at=run.time("run_started_at"),
        finished_at=run.time("updated_at"),
        status=conclusion,
        results=tuple(results),
    )


def report_from_check_run(payload: Mapping[str, Any], *, origin: str = WEBHOOK) -> RunReport | None:
    """A ``check_run`` webhook as a report with one result, check key
    ``<check suite app name> / <check run name>``, message from ``output.title`` and
    ``output.summary``, log from ``output.text``; run id = the check run id. None for an action
    other than ``completed`` or a null conclusion."""
    found = _completed(payload, origin, "check_run")
    if found is None:
        return None
    root, check_run = found
    run_id = check_run.integer("id", required=True, minimum=1)
    name = check_run.text("name", required=True, empty=False)
    assert name is not None
    name = name.strip()
    suite = check_run.node("check_suite", required=False)
    app = suite.node("app", required=False) if suite is not None else None
    if app is None:
        app = check_run.node("app", required=False)
    if app is None:
        raise check_run.error("check_suite.app", "missing required field (the app's name)")
    app_name = app.text("name", required=True, empty=False)
    assert app_name is not None
    output = check_run.node("output", required=False)
    title = summary = text = None
    if output is not None:
        title = output.text("title", max_chars=MAX_TEXT_CHARS)
        summary = output.text("summary", max_chars=MAX_TEXT_CHARS)
        text = output.text("text", max_chars=MAX_TEXT_CHARS)
    conclusion = check_run.text("conclusion")
    repository = _repository(root)
    if conclusion is None:
        return None
    status, message = _outcome(conclusion, f"Check run {name!r}")
    log = text or ""
    if status.is_failure:
        detail = "\n".join(s.strip() for s in (title, summary) if s and s.strip())
        if conclusion == "timed_out":
            log = "\n".join(s for s in (detail, log) if s)
        elif detail:
            message = detail
    return RunReport(
        source=SOURCE,
        repository=repository,
        run_id=str(run_id),
        commit=check_run.text("head_sha"),
        branch=suite.text("head_branch") if suite is not None else None,
        url=check_run.text("html_url", max_chars=2000),
        started_at=check_run.time("started_at"),
        finished_at=check_run.time("completed_at"),
        status=conclusion,
        results=(
            CheckResult(
                check=_check_key(app_name.strip(), name),
                status=status,
                message=message,
                log=log if status.is_failure else "",
                duration_s=_duration(check_run, "started_at", "completed_at"),
            ),
        ),
    )


def report_from_event(
    event: str, payload: Mapping[str, Any], *, origin: str = WEBHOOK
) -> RunReport | None:
    """Dispatch a webhook by its ``X-GitHub-Event`` name; None for events that carry no run."""
    if event == "workflow_job":
        return report_from_workflow_job(payload, origin=origin)
    if event == "workflow_run":
        return report_from_workflow_run(payload, origin=origin)
    if event == "check_run":
        return report_from_check_run(payload, origin=origin)
    return None

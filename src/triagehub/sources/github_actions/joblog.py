"""Job logs: one streaming pass that splits a log into steps, collects its annotations and
picks the failing step's excerpt; also the bounded line reader of binary log streams."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import IO

from triagehub.core.excerpt import extract_lines
from triagehub.sources.github_actions.annotations import Notes, annotation, exit_code, marker
from triagehub.sources.github_actions.model import (
    COMPLETE_STEP,
    POST_STEP,
    SETUP_STEP,
    JobLog,
    Level,
    Step,
)

MAX_LINE_BYTES = 64 * 1024  # longer lines are cut (the rest of the line is skipped, not kept)
MAX_STEPS = 1_000  # steps recorded per log; later headers do not split any more
EXCERPT_LINES = 20
_HEADER_GROUP_LINES = 200  # a step's header group longer than this is not skipped any more

_TIMESTAMP = re.compile(r"\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) ?")
_GH_PREFIX = re.compile(r"\ufeff?([^\t\n]{1,300})\t([^\t\n]{1,300})\t(?=\ufeff?\d{4}-\d\d-\d\dT)")
_HEADER_BODY = ("\x1b[36;1m", "##[endgroup]", "with:", "env:", "shell: ")


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
        self.annotations = Notes()
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
        found = marker(text)
        if found is not None:
            level, props, message = found
            self._annotate(level, message, props)
        return True

    def _annotate(self, level: Level, message: str, props: Mapping[str, str]) -> None:
        if level == "error":
            self._had_error = True
            code = exit_code(message)
            if code is not None:
                self._exit = code
        self.annotations.add(annotation(level, message, props, self._name))


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
    annotations = Notes()
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

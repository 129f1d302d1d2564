"""dbt's console output (plain, coloured, or ``--log-format json`` lines) as a ``RunReport``:
one result per node line, or per error block when dbt stopped before running."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from triagehub.core.fingerprint import strip_ansi
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.dbt.identity import (
    MAX_CHECK_CHARS,
    manifest_project,
    name_index,
    node_index,
    repository_of,
    resource,
)
from triagehub.sources.dbt.results import (
    SOURCE,
    clip_text,
    duration,
    map_status,
    run_status,
    test_message,
)

MAX_LINE_CHARS = 64 * 1024  # console lines longer than this are cut
MAX_BLOCK_LINES = 200  # lines kept of one error block in a console log
MAX_CONSOLE_RESULTS = 200_000

_CLOCK = re.compile(r"^\d\d:\d\d:\d\d(?:\.\d+)?(?:  |$)")
_NODE_LINE = re.compile(
    r"^(?P<index>\d+) of (?P<total>\d+) (?P<status>OK|PASS|FAIL|WARN|SKIP|NO-OP|ERROR STALE|"
    r"WARN STALE|ERROR|PARTIAL SUCCESS)(?: (?P<count>\d+))? (?P<what>.+?)"
    r"(?: \.+)? +\[(?P<tail>[^\]]*)\]\s*$"
)
_IN_SECONDS = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")
_SUMMARY = re.compile(
    r"^(?P<kind>Failure|Warning|Error) in (?P<resource>[\w ]+?) (?P<name>[\w.\-]+)"
    r"(?: \((?P<path>[^)]*)\))?\s*$"
)
_ERROR_IN = re.compile(
    r"(?P<kind>[A-Z][a-z]+(?: [A-Z][a-z]+)?) Error in (?P<resource>[\w ]+?) (?P<name>[\w.\-]+)"
    r"(?: \((?P<path>[^)]*)\))?"
)
_UNIQUE_ID = re.compile(
    r"\b(?P<resource>model|seed|snapshot|test|unit_test|source|analysis|exposure)\."
    r"(?P<project>\w+)\.[\w.\-]+"
)
_COMPILED_AT = re.compile(r"target/(?:compiled|run)/(\w+)/")
_ERROR_KIND = re.compile(r"^\s*(?P<kind>[A-Za-z][A-Za-z ]{0,40}?) Error\b")
_RESULT_EVENTS_SKIP = frozenset(
    {
        "LogStartLine",
        "RunResultFailure",
        "RunResultError",
        "RunResultErrorNoMessage",
        "RunResultWarning",
        "RunResultWarningMessage",
        "SQLCompiledPath",
        "NodeStart",
        "NodeExecuting",
        "NodeCompiling",
    }
)
_FINAL = frozenset({"success", "pass", "error", "fail", "warn", "skipped", "runtime error"})


@dataclass(slots=True)
class _Node:
    resource: str  # model / seed / snapshot / test / unit_test / source / relation
    name: str
    status: Status
    warning: bool = False
    failures: int | None = None
    duration: float | None = None
    unique_id: str | None = None
    message: str = ""
    log: str = ""


@dataclass(slots=True)
class _Console:
    nodes: dict[str, _Node] = field(default_factory=dict)  # by unique_id or resource.name
    errors: list[str] = field(default_factory=list)  # "Encountered an error" blocks
    projects: Counter[str] = field(default_factory=Counter)
    invocation_id: str | None = None
    first_ts: str | None = None
    last_ts: str | None = None
    digest: Any = field(default_factory=hashlib.sha256)


def _clean(line: str) -> str:
    line = strip_ansi(line.rstrip("\r\n"))
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS]
    m = _CLOCK.match(line)
    return line[m.end() :] if m else line


def _lines_of(source: Path | Iterable[str], origin: str) -> Iterator[str]:
    if isinstance(source, Path):
        try:
            fh = source.open("r", encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
        with fh:
            yield from fh
    else:
        for line in source:
            yield from line.splitlines() or [""]


def parse_console_log(
    source: Path | Iterable[str],
    *,
    repository: str | None = None,
    project_repositories: Mapping[str, str] | None = None,
    project: str | None = None,
    manifest: Mapping[str, Any] | None = None,
    origin: str | None = None,
) -> RunReport:
    """The report of a dbt console log (plain, coloured or ``--log-format json``).

    Check keys are the nodes' ``unique_id``\\ s: JSON logs carry them; in plain logs they are
    rebuilt from the project name (``project``, the manifest's, or the one in the log's
    ``target/compiled/<project>/`` paths) and, for tests (whose ids end in a hash), looked up in
    ``manifest`` when given, else ``test.<project>.<name>``.
    """
    where = origin or (str(source) if isinstance(source, Path) else "dbt log")
    state = _read_console(source, where)
    proj = project if project is not None else manifest_project(manifest)
    if proj is None and state.projects:
        proj = state.projects.most_common(1)[0][0]
    results = _console_results(state, proj, manifest)
    if not results:
        raise InputError(
            where, "", "no dbt node results or errors found (is this dbt console output?)"
        )
    repo = repository_of(where, repository, project_repositories, proj)
    run_id = state.invocation_id or "dbtlog-" + state.digest.hexdigest()[:20]
    return RunReport(
        source=SOURCE,
        repository=repo,
        run_id=run_id[:200],
        started_at=_maybe_time(state.first_ts),
        finished_at=_maybe_time(state.last_ts),
        status=run_status(results.values()),
        results=tuple(results.values()),
    )


def _read_console(source: Path | Iterable[str], where: str) -> _Console:
    """One pass over the log: JSON lines go to :func:`_on_json`, text lines to the reader."""
    state = _Console()
    reader = _TextReader(state)
    line_no = 0
    for raw in _lines_of(source, where):
        line_no += 1
        stripped = raw.lstrip()
        if stripped.startswith("{"):
            event = _json_event(stripped)
            if event is not None:
                state.digest.update(stripped.encode("utf-8", "replace"))
                _on_json(state, event)
                continue
        reader.line(raw)
    reader.finish()
    if not state.nodes and not state.errors and line_no == 0:
        raise InputError(where, "", "the log is empty; expected dbt console output")
    return state


class _TextReader:
    """The plain-text lines' state: an "Encountered an error" block or a node's failure block
    (after ``Failure in test ...``) may be being read."""

    def __init__(self, state: _Console) -> None:
        self.state = state
        self.pending: list[str] | None = None  # an "Encountered an error" block being read
        self.summary: tuple[str, str, list[str]] | None = None  # (resource, name, lines)
        self.seen_clock = False

    def line(self, raw: str) -> None:
        state = self.state
        line = _clean(raw)
        state.digest.update(line.encode("utf-8", "replace") + b"\n")
        for m in _UNIQUE_ID.finditer(line):
            state.projects[m.group("project")] += 1
        for m in _COMPILED_AT.finditer(line):
            state.projects[m.group(1)] += 1
        timestamped = _CLOCK.match(strip_ansi(raw)) is not None
        if self.pending is not None and self._in_block(self.pending, line, timestamped):
            return
        self.seen_clock = self.seen_clock or timestamped
        if self.summary is not None and self._in_summary(self.summary, line, timestamped):
            return
        self._start(line)

    def _in_block(self, pending: list[str], line: str, timestamped: bool) -> bool:
        """Whether the line belongs to the error block (and is kept in it); a timestamped line
        that is not indented ends the block."""
        if timestamped and line.strip() and not _pending_continues(line):
            self.state.errors.append(_block(pending))
            self.pending = None
            return False
        if len(pending) < MAX_BLOCK_LINES:
            pending.append(line)
        return True

    def _in_summary(
        self, summary: tuple[str, str, list[str]], line: str, timestamped: bool
    ) -> bool:
        """Whether the line belongs to a node's failure block (and is kept in it)."""
        # A blank line ends a node's failure block, but only a blank line of dbt's own
        # (timestamped) when the log has timestamps: a message's own lines (a database
        # error quoting the SQL, with blank lines) come untimestamped.
        blank = not line.strip() and (timestamped or not self.seen_clock)
        if blank or _SUMMARY.match(line) or line.startswith("Done."):
            _attach(self.state, summary)
            self.summary = None
            return False
        if "compiled code at " in line:
            summary[2].append("\x00" + line.strip())
        elif len(summary[2]) < MAX_BLOCK_LINES:
            summary[2].append(line)
        return True

    def _start(self, line: str) -> None:
        """A line outside any block: an error block's or a failure block's start, or a node."""
        if line.startswith("Encountered an error"):
            self.pending = []
            rest = line.split(":", 1)[1].strip() if ":" in line else ""
            if rest:
                self.pending.append(rest)
            return
        head = _SUMMARY.match(line)
        if head is not None:
            self.summary = (head.group("resource"), head.group("name"), [])
            return
        node_line = _NODE_LINE.match(line)
        if node_line is not None and len(self.state.nodes) < MAX_CONSOLE_RESULTS:
            node = _node_from_line(node_line)
            if node is not None:
                self.state.nodes[f"{node.resource}.{node.name}"] = node

    def finish(self) -> None:
        if self.pending is not None:
            self.state.errors.append(_block(self.pending))
        if self.summary is not None:
            _attach(self.state, self.summary)


def _console_results(
    state: _Console, project: str | None, manifest: Mapping[str, Any] | None
) -> dict[str, CheckResult]:
    """One result per node (by ``unique_id``), then one ERROR result per error block."""
    lookup = name_index(manifest) if manifest is not None else {}
    graph_nodes = node_index(manifest) if manifest is not None else {}
    results: dict[str, CheckResult] = {}
    for node in state.nodes.values():
        uid = node.unique_id or _console_uid(node, project, lookup)
        results[uid] = _console_result(uid, node, graph_nodes.get(uid))
    for block in state.errors:
        check = _error_check(block, project)
        results[check] = CheckResult(check=check, status=Status.ERROR, message=block)
    return results


def _pending_continues(line: str) -> bool:
    """Whether a timestamped line still belongs to an error block (dbt indents its lines)."""
    return line.startswith("  ")


def _block(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines.pop()
    text = "\n".join(lines).strip("\n")
    return clip_text(text) or "dbt stopped with an error (no detail in the log)"


def _attach(state: _Console, summary: tuple[str, str, list[str]]) -> None:
    resource, name, lines = summary
    paths = [ln[1:] for ln in lines if ln.startswith("\x00")]
    body = [ln for ln in lines if not ln.startswith("\x00")]
    while body and not body[-1].strip():
        body.pop()
    if body and body[0].startswith("  "):
        body[0] = body[0][2:]  # dbt indents the first line of the message by two spaces
    message = "\n".join(body)
    for key, node in state.nodes.items():
        if node.name == name and (
            key.startswith(resource.replace(" ", "_") + ".") or node.resource == "relation"
        ):
            node.message = clip_text(message)
            if paths:
                node.log = "\n".join(paths)
            return
    for node in state.nodes.values():
        if node.name == name:
            node.message = clip_text(message)
            return


def _node_from_line(m: re.Match[str]) -> _Node | None:
    word = m.group("status")
    what = m.group("what").strip()
    count = int(m.group("count")) if m.group("count") else None
    seconds = _IN_SECONDS.search(m.group("tail"))
    duration = float(seconds.group(1)) if seconds else None
    warning = word in ("WARN", "WARN STALE")
    if word in ("OK", "PASS", "NO-OP"):
        status = Status.PASS
    elif word == "SKIP":
        status = Status.SKIP
    elif word in ("FAIL", "ERROR STALE", "PARTIAL SUCCESS") or warning:
        status = Status.FAIL
    else:
        status = Status.ERROR
    if what.startswith("hook:") or what.startswith("hook "):
        return None
    if what.startswith("freshness of "):
        resource, name = "source", what.removeprefix("freshness of ").strip()
    elif what.startswith("loaded seed file "):
        resource, name = "seed", what.rsplit(" ", 1)[-1]
    elif what.startswith("snapshotted "):
        resource, name = "snapshot", what.rsplit(" ", 1)[-1]
    elif what.startswith(("created ", "creating ")):
        resource = "snapshot" if " snapshot " in f" {what} " else "model"
        name = what.rsplit(" ", 1)[-1]
    elif status is Status.SKIP and " " in what:
        kind, name = what.split(" ", 1)
        resource = "relation" if kind == "relation" else kind
        name = name.split(" ", 1)[0]
    else:
        resource, name = "test", what.split(" ", 1)[0]
    if resource in ("model", "seed", "snapshot", "relation"):
        name = name.rsplit(".", 1)[-1]  # schema.relation
    return _Node(resource, name, status, warning, count, duration)


def _console_uid(node: _Node, project: str | None, lookup: Mapping[tuple[str, str], str]) -> str:
    found = lookup.get((node.resource, node.name))
    if found is None and node.resource == "test":
        found = lookup.get(("unit_test", node.name))
    if found is not None:
        return found
    resource = "model" if node.resource == "relation" else node.resource
    return f"{resource}.{project}.{node.name}" if project else f"{resource}.{node.name}"


def _console_result(uid: str, node: _Node, manifest_node: Mapping[str, Any] | None) -> CheckResult:
    message = node.message
    kind = resource(uid)
    if kind in ("test", "unit_test") and node.status.is_failure:
        message = test_message(message, uid, manifest_node, node.failures, node.status)
    elif node.status is Status.ERROR and not message:
        message = f"dbt reported an error for {uid}"
    if node.warning:
        message = f"Warning: {message}" if message else "Warning"
    if node.status is Status.SKIP:
        message = ""
    return CheckResult(
        check=uid[:MAX_CHECK_CHARS],
        status=node.status,
        message=message,
        log=node.log if node.status.is_failure else "",
        duration_s=node.duration,
    )


def _error_check(block: str, project: str | None) -> str:
    m = _UNIQUE_ID.search(block)
    if m is not None:
        return m.group(0)[:MAX_CHECK_CHARS]
    m2 = _ERROR_IN.search(block)
    if m2 is not None:
        resource = m2.group("resource").replace(" ", "_")
        name = m2.group("name")
        return f"{resource}.{project}.{name}" if project else f"{resource}.{name}"
    kind = _ERROR_KIND.match(block)
    label = kind.group("kind").strip().lower() if kind else "error"
    return f"dbt / {label}"


def _json_event(text: str) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # a truncated last line or a non-JSON line: read as text
    if isinstance(obj, dict) and isinstance(obj.get("info"), dict):
        return obj
    return None


def _on_json(state: _Console, event: Mapping[str, Any]) -> None:
    info: Mapping[str, Any] = event["info"]
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    name = info.get("name")
    ts = info.get("ts")
    if isinstance(ts, str):
        state.first_ts = state.first_ts or ts
        state.last_ts = ts
    inv = info.get("invocation_id")
    if isinstance(inv, str) and inv and state.invocation_id is None:
        state.invocation_id = inv
    raw_msg = info.get("msg")
    msg = strip_ansi(raw_msg) if isinstance(raw_msg, str) else ""
    if name == "MainEncounteredError" or msg.startswith("Encountered an error"):
        exc = data.get("exc")
        text = exc if isinstance(exc, str) else msg.split("\n", 1)[-1]
        state.errors.append(_block(strip_ansi(text).splitlines()))
        return
    node_info = data.get("node_info")
    if not isinstance(node_info, dict):
        return
    uid = node_info.get("unique_id")
    if not isinstance(uid, str) or not uid:
        return
    state.projects[uid.split(".")[1] if uid.count(".") >= 2 else ""] += 1
    node = state.nodes.get(uid)
    if name in ("RunResultError", "RunResultWarningMessage"):
        if node is not None and isinstance(data.get("msg"), str):
            text = strip_ansi(data["msg"])
            node.message = clip_text(text[2:] if text.startswith("  ") else text)
        return
    if name == "SQLCompiledPath":
        if node is not None and isinstance(data.get("path"), str):
            node.log = f"compiled code at {data['path']}"
        return
    if name in _RESULT_EVENTS_SKIP:
        return
    node_status = node_info.get("node_status")
    if not isinstance(node_status, str) or node_status not in _FINAL:
        return
    if len(state.nodes) >= MAX_CONSOLE_RESULTS and uid not in state.nodes:
        return
    status, warning = map_status(node_status, uid)
    failures = data.get("num_failures")
    state.nodes[uid] = _Node(
        resource=resource(uid),
        name=str(node_info.get("node_name") or uid),
        status=status,
        warning=warning,
        failures=failures if isinstance(failures, int) and not isinstance(failures, bool) else None,
        duration=duration(data.get("execution_time")),
        unique_id=uid[:MAX_CHECK_CHARS],
    )


def _maybe_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None

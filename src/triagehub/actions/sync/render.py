"""What triagehub writes on GitHub issues: the title, the body with its metadata block, the
labels of the brief, the comments, and the ``/triage`` commands it reads back. Pure: no I/O.

Escaping
    Everything that comes from outside (error messages, check and model names, commit messages,
    rationales that quote them, handles) is written so that it cannot change the page:

    * inline text (:func:`inline`) has ``&``, ``<`` and ``>`` written as entities (so no HTML, no
      ``</details>``, no ``-->`` can appear), the markdown punctuation backslash-escaped, line
      breaks folded, and a zero-width space after ``@`` and after ``#`` before a digit (so
      ``@everyone`` mentions no one and ``#12`` links no issue);
    * multi-line text goes into a fenced code block (:func:`code_block`) whose fence is longer
      than any run of backticks inside, where GitHub renders neither markdown, HTML nor
      mentions; ``<!--`` and ``-->`` inside get a zero-width space too, so that no text in a code
      block can pass for the metadata block or the markers;
    * the metadata block's JSON has ``<``, ``>`` and ``&`` as ``\\u003c``-style escapes: still
      the same JSON, and it can never contain ``-->``.

Markers (HTML comments, invisible on GitHub) let the hub recognise its own writes: the body
starts with :data:`BODY_MARKER`, every comment with ``<!-- triagehub:comment ... -->``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from triagehub.actions.notify import CATEGORY_SUGGESTIONS, KIND_SUGGESTIONS
from triagehub.core.models import Category
from triagehub.core.redact import redact

BODY_MARKER: Final = "<!-- triagehub:issue -->"
COMMENT_MARKER_PREFIX: Final = "<!-- triagehub:comment"
METADATA_TAG: Final = "TRIAGEHUB_METADATA"
# The brief's own tag (``github_issues.metadata_tag: CLAUDE_METADATA``); both are read back.
CLAUDE_METADATA_TAG: Final = "CLAUDE_METADATA"
CLASSIFIED_LABEL: Final = "triagehub:classified"
MAX_TITLE: Final = 256
MAX_BODY: Final = 60_000  # GitHub refuses bodies over 65,536 characters
MAX_EXCERPT: Final = 4_000
MAX_LISTED: Final = 20
_ZWSP: Final = "\u200b"

# The labels of the brief: name -> (colour, description). Created on first use.
LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "category:transient_failure": (
        "fbca04",
        "Transient failure: network, a flaky service or runner; passes on a re-run",
    ),
    "category:code_fix_required": ("d73a4a", "Needs a change in the code or its tests"),
    "category:data_quality_issue": (
        "5319e7",
        "Data quality: a dbt test or freshness check found bad, missing or late data",
    ),
    "category:infrastructure_issue": (
        "1d76db",
        "Infrastructure: runners, services, credentials or dependencies",
    ),
    "category:false_positive": ("cfd3d7", "The check itself looks wrong: not a real failure"),
    "priority:critical": ("b60205", "Critical: security or production outage; act now"),
    "priority:high": ("d93f0b", "High: build or main-branch failure, blocking dependency"),
    "priority:medium": ("fbca04", "Medium: test or lint failure"),
    "priority:low": ("0e8a16", "Low: warnings, style"),
    CLASSIFIED_LABEL: ("0075ca", "Classified by triagehub (rules, history or LLM)"),
    "history:new": ("c2e0c6", "First failure of this check"),
    "history:flaky": ("f9d0c4", "Flaky: passed and failed on the same commit, or on retry"),
    "history:recurring": ("e99695", "Recurring: 3 or more occurrences"),
    "history:persistent": ("b60205", "Persistent: 5 or more consecutive failures"),
}
MANAGED_PREFIXES: Final = ("category:", "priority:", "history:")


def managed_labels(category: str, priority: str, history_class: str) -> list[str]:
    """The triagehub labels an issue carries now (sorted)."""
    labels = [f"priority:{priority}", f"history:{history_class}"]
    if category != Category.PENDING.value:
        labels += [f"category:{category}", CLASSIFIED_LABEL]
    return sorted(label for label in labels if label in LABELS)


def is_managed(name: str) -> bool:
    """A label triagehub sets and removes itself."""
    return name == CLASSIFIED_LABEL or name.startswith(MANAGED_PREFIXES)


# -- escaping -----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MD_PUNCT = re.compile(r"([\\`*_\[\]{}()!|~+])")
_ISSUE_REF = re.compile(r"#(?=\d)")
_URL = re.compile(r"https?://[A-Za-z0-9.\-:]+(?:/[A-Za-z0-9._~!$'*+,;=:@%/\-?&#]*)?")


def inline(text: object, limit: int = 300) -> str:
    """Text from outside, safe on one line of markdown (see the module docstring)."""
    value = _CONTROL.sub("", " ".join(str(text).split()))
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_PUNCT.sub(r"\\\1", value)
    value = value.replace("@", "@" + _ZWSP)
    return _ISSUE_REF.sub("#" + _ZWSP, value)


def code_block(text: str, limit: int = MAX_EXCERPT, info: str = "text") -> str:
    """A fenced code block no content can close (see the module docstring)."""
    value = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip("\n")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("<!--", f"<!{_ZWSP}--").replace("-->", f"--{_ZWSP}>")
    longest = max((len(m) for m in re.findall(r"`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{value}\n{fence}"


def safe_url(url: object) -> str | None:
    """``url`` when it is a plain http(s) URL that cannot break a markdown link, else None."""
    if isinstance(url, str) and len(url) <= 2000 and _URL.fullmatch(url):
        return url
    return None


def link(text: str, url: object) -> str:
    """``[text](url)`` for a safe URL, else the escaped text alone."""
    target = safe_url(url)
    shown = inline(text, 120)
    return f"[{shown}]({target})" if target else shown


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# -- the metadata block ---------------------------------------------------------------------------

_TAG_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,40}$")


def _metadata_re(tags: Sequence[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(tag) for tag in tags)
    return re.compile(r"<!-- (?:" + names + r") (\{.*?\}) -->", re.DOTALL)


_METADATA_RE = _metadata_re((METADATA_TAG, CLAUDE_METADATA_TAG))


def metadata_block(data: Mapping[str, Any], tag: str = METADATA_TAG) -> str:
    """``<!-- TRIAGEHUB_METADATA {...} -->`` (or another ``tag``, e.g. the brief's
    ``CLAUDE_METADATA``) with HTML-safe JSON (see the module docstring)."""
    if not _TAG_RE.match(tag):
        raise ValueError(f"not a metadata tag: {tag!r} (upper-case letters, digits, _)")
    encoded = json.dumps(data, ensure_ascii=False, sort_keys=False, separators=(", ", ": "))
    encoded = encoded.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- {tag} {encoded} -->"


def parse_metadata(body: object, tag: str | None = None) -> dict[str, Any] | None:
    """The metadata of a body written by triagehub (the last block, with the default tag, the
    brief's ``CLAUDE_METADATA`` or ``tag``), or None."""
    if not isinstance(body, str):
        return None
    pattern = _METADATA_RE
    if tag is not None and tag not in (METADATA_TAG, CLAUDE_METADATA_TAG):
        pattern = _metadata_re((METADATA_TAG, CLAUDE_METADATA_TAG, tag))
    found = pattern.findall(body)
    if not found:
        return None
    try:
        data = json.loads(found[-1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# -- the issue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLink:
    """A run where the issue failed: for the body's "Runs and logs"."""

    run: str
    attempt: int
    commit: str | None
    branch: str | None
    url: str | None
    check: str
    at: datetime


@dataclass(frozen=True)
class IssueSnapshot:
    """What the body says about an issue (read from the store by the sync)."""

    issue_id: int
    repository: str
    title: str
    state: str
    source: str
    scope: str
    category: str
    kind: str
    severity: str
    priority: str
    history_class: str
    decision: str
    rationale: str
    confidence: float
    classification_source: str
    fingerprint: str
    sample_message: str
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    expert: str | None = None
    assignee: str | None = None
    checks: Sequence[str] = ()
    checks_count: int = 0
    affected_models: Sequence[str] = ()
    repositories: Sequence[str] = ()
    runs: Sequence[RunLink] = ()
    log_excerpt: str = ""
    similar: Sequence[tuple[str, str | None]] = ()  # ("owner/name#12", its URL or None)
    auto_actions: Sequence[str] = ()
    # pull requests that reference the issue (agent_prs: URLs; and "owner/name#12" of runs)
    related_prs: Sequence[str] = ()
    spec_change: str | None = None
    sla_due_at: datetime | None = None
    snoozed_until: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The metadata block's tag, the linked pull requests ("owner/name#12"), when a person first
    # acted on the issue, when it was resolved and whether a person resolved it.
    metadata_tag: str = METADATA_TAG
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by_human: bool = False


_COMPLEXITY_DECISION = {"needs_spec": 7, "one_off_fix": 3, "ignore": 1, "pending": 5}
_COMPLEXITY_HISTORY = {"persistent": 2, "recurring": 1, "flaky": 1, "new": 0}


def complexity_score(issue: IssueSnapshot) -> int:
    """1 (trivial) to 10 (a project): the triage decision, the history, how far it reaches."""
    score = _COMPLEXITY_DECISION.get(issue.decision, 5)
    score += _COMPLEXITY_HISTORY.get(issue.history_class, 0)
    reach = max(issue.checks_count, len(issue.checks))
    score += (reach > 1) + (reach > 10) + (len(issue.repositories) > 1)
    return max(1, min(10, score))


def metadata(issue: IssueSnapshot) -> dict[str, Any]:
    """The brief's metadata fields."""
    experts = [x for x in dict.fromkeys((issue.expert, issue.assignee)) if x]
    state_closed = issue.state in ("resolved", "auto_resolved", "ignored", "false_positive")
    next_check = issue.snoozed_until or (None if state_closed else issue.sla_due_at)
    return {
        "error_fingerprint": issue.fingerprint,
        "error_category": issue.category,
        "priority_level": issue.priority,
        "complexity_score": complexity_score(issue),
        "first_occurrence": _iso(issue.first_seen),
        "last_occurrence": _iso(issue.last_seen),
        "occurrence_count": issue.occurrences,
        "affected_models": list(issue.affected_models or issue.checks)[:50],
        "affected_repositories": list(dict.fromkeys([issue.repository, *issue.repositories])),
        "resolution_pattern": issue.state if state_closed else issue.decision,
        "similar_issues": [ref for ref, _ in issue.similar],
        "related_prs": list(dict.fromkeys(issue.related_prs))[:50],
        "expert_assignments": experts,
        "classification_confidence": round(float(issue.confidence), 3),
        "auto_actions_taken": list(issue.auto_actions),
        "next_check_time": _iso(next_check),
        "triagehub_issue": issue.issue_id,
        "state": issue.state,
        # Hours from the first failure to the first human action / to the resolution (None
        # until they happen).
        "time_to_first_response": _hours_between(issue.first_seen, issue.first_response_at),
        "time_to_resolution": _hours_between(
            issue.first_seen, issue.resolved_at if state_closed else None
        ),
        # How sure the resolution is: 1.0 when a person closed it, the classification's
        # confidence when a rule did (green runs, false positive), None while open.
        "resolution_confidence": (
            None
            if not state_closed
            else 1.0
            if issue.resolved_by_human
            else round(float(issue.confidence), 3)
        ),
    }


def _hours_between(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    return round(max(0.0, (end - start).total_seconds() / 3600), 2)


def render_title(issue: IssueSnapshot) -> str:
    """The GitHub title: the issue's (check and template), on one line, at most 256 characters
    (titles are plain text on GitHub: no markdown, no mentions)."""
    value = _CONTROL.sub("", " ".join(redact(issue.title).split())) or f"issue {issue.issue_id}"
    return value if len(value) <= MAX_TITLE else value[: MAX_TITLE - 1] + "…"


def _listed(items: Sequence[str], total: int | None = None, limit: int = MAX_LISTED) -> str:
    shown = ", ".join(inline(i, 200) for i in items[:limit])
    more = (total if total is not None else len(items)) - min(len(items), limit)
    return shown + (f" and {more} more" if more > 0 else "")


def _suggestions(issue: IssueSnapshot) -> list[str]:
    found = list(CATEGORY_SUGGESTIONS.get(issue.category, ()))
    if issue.kind in KIND_SUGGESTIONS:
        found.insert(0, KIND_SUGGESTIONS[issue.kind])
    if issue.decision == "needs_spec":
        found.append("Write a spec for the change (`triagehub specs create --from-issue`).")
    return found or ["Read the error and the log excerpt, then classify the failure."]


def render_body(issue: IssueSnapshot) -> str:
    """The whole body, metadata block last (deterministic: the same issue renders the same)."""
    lines = [BODY_MARKER, ""]
    where = f"{inline(issue.source)} {inline(issue.kind)} failure in **{inline(issue.repository)}**"
    lines.append(f"**What failed**: {where}")
    if issue.checks:
        noun = "check" if max(issue.checks_count, len(issue.checks)) == 1 else "checks"
        lines.append(
            f"**Where**: {max(issue.checks_count, len(issue.checks))} {noun}: "
            + _listed(list(issue.checks), issue.checks_count)
        )
    lines.append(
        f"**How often**: {issue.occurrences} occurrence(s); first seen {_when(issue.first_seen)}, "
        f"last seen {_when(issue.last_seen)}"
    )
    state = f"**State**: {inline(issue.state)}"
    if issue.snoozed_until is not None:
        state += f" (snoozed until {_when(issue.snoozed_until)})"
    if issue.sla_due_at is not None:
        state += f"; SLA due {_when(issue.sla_due_at)}"
    lines += [state, ""]

    affected = []
    if issue.affected_models:
        affected.append(f"- Models: {_listed(list(issue.affected_models))}")
    others = [r for r in issue.repositories if r != issue.repository]
    if others:
        affected.append(f"- Also in: {_listed(others)}")
    if affected:
        lines += ["### Affected", "", *affected, ""]

    lines += ["### Error", "", code_block(redact(issue.sample_message)), ""]
    if issue.log_excerpt.strip():
        lines += [
            "<details><summary>Log excerpt</summary>",
            "",
            code_block(redact(issue.log_excerpt)),
            "",
            "</details>",
            "",
        ]

    if issue.runs:
        lines += ["### Runs and logs", ""]
        for run in issue.runs[:10]:
            label = f"run {run.run}" + (f" (attempt {run.attempt})" if run.attempt > 1 else "")
            detail = [f"{_when(run.at)}", inline(run.check, 150)]
            if run.commit:
                detail.append(f"commit {inline(run.commit[:12])}")
            if run.branch:
                detail.append(f"branch {inline(run.branch, 100)}")
            lines.append(f"- {link(label, run.url)}: " + ", ".join(detail))
        lines.append("")

    lines += [
        "### Classification",
        "",
        "| category | kind | severity | priority | history | decision | confidence | by |",
        "|---|---|---|---|---|---|---|---|",
        "| "
        + " | ".join(
            inline(x)
            for x in (
                issue.category,
                issue.kind,
                issue.severity,
                issue.priority,
                issue.history_class,
                issue.decision,
                f"{issue.confidence:.2f}",
                issue.classification_source,
            )
        )
        + " |",
        "",
    ]
    if issue.rationale.strip():
        lines += [f"**Why**: {inline(redact(issue.rationale), 1000)}", ""]
    owners = [
        f"{name} {inline(value, 100)}"
        for name, value in (("expert", issue.expert), ("assignee", issue.assignee))
        if value
    ]
    if owners:
        lines += [f"**Owners**: {'; '.join(owners)}", ""]

    lines += ["### Suggested next steps", "", *(f"- {s}" for s in _suggestions(issue)), ""]
    if issue.similar:
        shown = [link(ref, url) for ref, url in issue.similar[:MAX_LISTED]]
        lines += ["### Similar issues", "", ", ".join(shown), ""]
    if issue.auto_actions:
        lines += ["### What triagehub did", "", f"{_listed(list(issue.auto_actions))}", ""]
    lines += [
        "---",
        f"<sub>triagehub issue {issue.issue_id} · fingerprint `{issue.fingerprint}` · "
        "comment `/triage ignore`, `/triage false-positive`, `/triage needs-spec`, "
        "`/triage one-off-fix`, `/triage assign @login` or `/triage snooze 7d` to triage it "
        "here</sub>",
        "",
        metadata_block(metadata(issue), issue.metadata_tag),
    ]
    body = "\n".join(lines)
    if len(body) > MAX_BODY:  # shrink the excerpts, keep the structure and the metadata
        smaller = replace(
            issue,
            sample_message=issue.sample_message[:1000],
            log_excerpt="",
            checks=list(issue.checks)[:5],
            affected_models=list(issue.affected_models)[:5],
            rationale=issue.rationale[:300],
        )
        return render_body(smaller) if smaller != issue else body[:MAX_BODY]
    return body


def body_hash(title: str, body: str) -> str:
    return hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()


# -- comments --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """A timeline event worth a comment."""

    id: int
    kind: str
    at: datetime
    actor: str
    data: Mapping[str, Any]


_STATE_WORDS = {
    "auto_resolved": "Auto-resolved",
    "resolved": "Resolved",
    "regressed": "Regressed",
    "ignored": "Ignored",
    "false_positive": "Closed as a false positive",
    "open": "Reopened",
    "triaged": "Triaged",
    "assigned": "Assigned",
    "in_progress": "In progress",
}


def describe_event(entry: TimelineEntry) -> str | None:
    """One line (escaped) saying what happened, or None for events not worth a comment."""
    data = entry.data
    reason = inline(redact(str(data.get("reason", ""))), 500)
    by = "" if entry.actor in ("rule", "triagehub") else f" (by {inline(entry.actor, 100)})"
    if entry.kind == "state_changed":
        to = str(data.get("to", ""))
        word = _STATE_WORDS.get(to, inline(to))
        return f"**{word}**{by}: {reason}" if reason else f"**{word}**{by}"
    if entry.kind == "escalated":
        priority = data.get("priority")
        raised = priority.get("to") if isinstance(priority, Mapping) else None
        head = f"**Escalated** to {inline(raised)}" if raised else "**Escalated**"
        trigger = f" ({inline(data.get('trigger', ''))})" if data.get("trigger") else ""
        return f"{head}{trigger}: {reason}"
    if entry.kind == "sla_breached":
        return f"**SLA breached**: {reason}"
    if entry.kind == "snoozed":
        until = data.get("until")
        what = f"until {inline(until)}" if until else f"for {inline(data.get('occurrences'))} more"
        return f"**Snoozed** {what}{by}: {reason}"
    if entry.kind == "unsnoozed":
        return f"**Snooze ended**: {reason}"
    if entry.kind == "rerun_requested":
        return f"**Re-ran the failed jobs** of run {inline(data.get('run', ''))}: {reason}"
    if entry.kind == "overridden":
        changes = data.get("changes")
        parts = []
        if isinstance(changes, Mapping):
            for name, change in changes.items():
                if isinstance(change, Mapping):
                    parts.append(
                        f"{inline(name)} {inline(change.get('from'))} → {inline(change.get('to'))}"
                    )
        return f"**Triage changed**{by}: {'; '.join(parts) or 'no change'} ({reason})"
    return None


def comment_marker(kind: str, cursor: int | None = None) -> str:
    extra = f" cursor={cursor}" if cursor is not None else ""
    return f"{COMMENT_MARKER_PREFIX} {kind}{extra} -->"


_CURSOR_RE = re.compile(re.escape(COMMENT_MARKER_PREFIX) + r" (\w+)(?: cursor=(\d+))? -->")


def comment_markers(body: object) -> list[tuple[str, int | None]]:
    """The triagehub markers in a comment body: (kind, cursor)."""
    if not isinstance(body, str):
        return []
    return [(k, int(c) if c else None) for k, c in _CURSOR_RE.findall(body)]


def events_comment(entries: Iterable[TimelineEntry], cursor: int) -> str | None:
    """One comment for the timeline events since the last sync (None: nothing worth saying)."""
    lines = [line for line in (describe_event(e) for e in entries) if line]
    if not lines:
        return None
    return "\n".join([comment_marker("events", cursor), *(f"- {line}" for line in lines)])


def agent_comment(text: str) -> str:
    return f"{comment_marker('agent')}\n{text}"


def is_own_text(body: object) -> bool:
    """A body or comment written by triagehub (its markers)."""
    return isinstance(body, str) and (BODY_MARKER in body or COMMENT_MARKER_PREFIX in body)


# -- /triage commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One ``/triage ...`` line of a comment: ``ignore``, ``false-positive``, ``needs-spec``,
    ``one-off-fix``, ``assign`` (``argument``: the login) or ``snooze`` (``argument``: e.g.
    ``7d``)."""

    name: str
    argument: str | None = None
    line: str = ""


COMMANDS: Final = (
    "ignore",
    "false-positive",
    "needs-spec",
    "one-off-fix",
    "assign",
    "snooze",
    "investigate",
    "fix",
)
_COMMAND_RE = re.compile(r"^\s*/triage\s+(\S+)(?:\s+(\S+))?\s*$", re.IGNORECASE)
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_LOGIN_RE = re.compile(r"@?([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))")


def parse_commands(body: object) -> list[Command | str]:
    """The ``/triage`` lines of a comment (outside code blocks and quotes), in order: a
    :class:`Command`, or a string saying why a line was not understood."""
    if not isinstance(body, str):
        return []
    found: list[Command | str] = []
    fenced = False
    for raw in body.splitlines():
        if _FENCE_RE.match(raw):
            fenced = not fenced
            continue
        if fenced or raw.lstrip().startswith(">"):
            continue
        match = _COMMAND_RE.match(raw)
        if match is None:
            if raw.strip().lower().startswith("/triage"):
                found.append(f"not understood: {raw.strip()[:100]!r}")
            continue
        name, argument = match.group(1).lower().replace("_", "-"), match.group(2)
        if name not in COMMANDS:
            found.append(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
        elif name == "assign":
            login = _LOGIN_RE.fullmatch(argument or "")
            if login is None:
                found.append("/triage assign needs a GitHub login: /triage assign @login")
            else:
                found.append(Command(name, login.group(1), raw.strip()))
        elif name == "snooze":
            if argument is None or parse_duration(argument) is None:
                found.append("/triage snooze needs a duration such as 7d, 12h or 2w")
            else:
                found.append(Command(name, argument, raw.strip()))
        elif argument is not None:
            found.append(f"/triage {name} takes no argument")
        else:
            found.append(Command(name, None, raw.strip()))
    return found


_DURATION_RE = re.compile(r"(\d{1,4})([mhdw])", re.IGNORECASE)
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float | None:
    """``30m``, ``12h``, ``7d``, ``2w`` in seconds (None if not a duration, or 0)."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _SECONDS[match.group(2).lower()]


__all__ = [
    "BODY_MARKER",
    "CLASSIFIED_LABEL",
    "LABELS",
    "Command",
    "IssueSnapshot",
    "RunLink",
    "TimelineEntry",
    "agent_comment",
    "body_hash",
    "code_block",
    "comment_markers",
    "events_comment",
    "inline",
    "is_managed",
    "is_own_text",
    "managed_labels",
    "metadata",
    "metadata_block",
    "parse_commands",
    "parse_duration",
    "parse_metadata",
    "render_body",
    "render_title",
]

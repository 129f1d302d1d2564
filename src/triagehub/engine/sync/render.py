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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from triagehub.core.redact import redact
from triagehub.engine.notify import CATEGORY_SUGGESTIONS, KIND_SUGGESTIONS
from triagehub.engine.sync.commands import Command, parse_commands, parse_duration
from triagehub.engine.sync.comments import (
    TimelineEntry,
    agent_comment,
    comment_marker,
    comment_markers,
    describe_event,
    events_comment,
    is_own_text,
)
from triagehub.engine.sync.labels import CLASSIFIED_LABEL, LABELS, is_managed, managed_labels
from triagehub.engine.sync.markdown import (
    BODY_MARKER,
    COMMENT_MARKER_PREFIX,
    CONTROL,
    MAX_EXCERPT,
    code_block,
    inline,
    iso_z,
    link,
    safe_url,
    when,
)

METADATA_TAG: Final = "TRIAGEHUB_METADATA"
# The brief's own tag (``github_issues.metadata_tag: CLAUDE_METADATA``); both are read back.
CLAUDE_METADATA_TAG: Final = "CLAUDE_METADATA"
MAX_TITLE: Final = 256
MAX_BODY: Final = 60_000  # GitHub refuses bodies over 65,536 characters
MAX_LISTED: Final = 20

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
        "first_occurrence": iso_z(issue.first_seen),
        "last_occurrence": iso_z(issue.last_seen),
        "occurrence_count": issue.occurrences,
        "affected_models": list(issue.affected_models or issue.checks)[:50],
        "affected_repositories": list(dict.fromkeys([issue.repository, *issue.repositories])),
        "resolution_pattern": issue.state if state_closed else issue.decision,
        "similar_issues": [ref for ref, _ in issue.similar],
        "related_prs": list(dict.fromkeys(issue.related_prs))[:50],
        "expert_assignments": experts,
        "classification_confidence": round(float(issue.confidence), 3),
        "auto_actions_taken": list(issue.auto_actions),
        "next_check_time": iso_z(next_check),
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
    value = CONTROL.sub("", " ".join(redact(issue.title).split())) or f"issue {issue.issue_id}"
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


def _summary_lines(issue: IssueSnapshot) -> list[str]:
    """What failed, where, how often and the state."""
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
        f"**How often**: {issue.occurrences} occurrence(s); first seen {when(issue.first_seen)}, "
        f"last seen {when(issue.last_seen)}"
    )
    state = f"**State**: {inline(issue.state)}"
    if issue.snoozed_until is not None:
        state += f" (snoozed until {when(issue.snoozed_until)})"
    if issue.sla_due_at is not None:
        state += f"; SLA due {when(issue.sla_due_at)}"
    return [*lines, state, ""]


def _evidence_lines(issue: IssueSnapshot) -> list[str]:
    """The affected models and repositories, the error, the log excerpt and the runs."""
    lines: list[str] = []
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
            detail = [f"{when(run.at)}", inline(run.check, 150)]
            if run.commit:
                detail.append(f"commit {inline(run.commit[:12])}")
            if run.branch:
                detail.append(f"branch {inline(run.branch, 100)}")
            lines.append(f"- {link(label, run.url)}: " + ", ".join(detail))
        lines.append("")
    return lines


def _classification_lines(issue: IssueSnapshot) -> list[str]:
    """The classification table, the rationale and the owners."""
    lines = [
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
    return lines


def _closing_lines(issue: IssueSnapshot) -> list[str]:
    """Next steps, similar issues, what triagehub did, the footer and the metadata block."""
    lines = ["### Suggested next steps", "", *(f"- {s}" for s in _suggestions(issue)), ""]
    if issue.similar:
        shown = [link(ref, url) for ref, url in issue.similar[:MAX_LISTED]]
        lines += ["### Similar issues", "", ", ".join(shown), ""]
    if issue.auto_actions:
        lines += ["### What triagehub did", "", f"{_listed(list(issue.auto_actions))}", ""]
    return [
        *lines,
        "---",
        f"<sub>triagehub issue {issue.issue_id} · fingerprint `{issue.fingerprint}` · "
        "comment `/triage ignore`, `/triage false-positive`, `/triage needs-spec`, "
        "`/triage one-off-fix`, `/triage assign @login` or `/triage snooze 7d` to triage it "
        "here</sub>",
        "",
        metadata_block(metadata(issue), issue.metadata_tag),
    ]


def render_body(issue: IssueSnapshot) -> str:
    """The whole body, metadata block last (deterministic: the same issue renders the same)."""
    lines = [
        *_summary_lines(issue),
        *_evidence_lines(issue),
        *_classification_lines(issue),
        *_closing_lines(issue),
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


__all__ = [
    "BODY_MARKER",
    "CLASSIFIED_LABEL",
    "COMMENT_MARKER_PREFIX",
    "LABELS",
    "MAX_EXCERPT",
    "Command",
    "IssueSnapshot",
    "RunLink",
    "TimelineEntry",
    "agent_comment",
    "body_hash",
    "code_block",
    "comment_marker",
    "comment_markers",
    "describe_event",
    "events_comment",
    "inline",
    "is_managed",
    "is_own_text",
    "link",
    "managed_labels",
    "metadata",
    "metadata_block",
    "parse_commands",
    "parse_duration",
    "parse_metadata",
    "render_body",
    "render_title",
    "safe_url",
]

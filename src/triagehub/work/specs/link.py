"""An OpenSpec change from an issue whose triage decision is ``needs_spec``, linked both ways:
the change's proposal names the issue, the issue's ``spec_change`` names the change, and the
link goes on the issue's timeline (``spec_linked``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.core.models import Decision
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event
from triagehub.store.triage import apply_override
from triagehub.work.specs.actions import ChangeDraft, ScenarioDraft, create_change
from triagehub.work.specs.errors import ConflictError, NotFoundError
from triagehub.work.specs.model import Project
from triagehub.work.specs.paths import check_capability_id, check_change_id

MAX_SLUG = 60
MAX_WHY = 1000  # what ``openspec validate`` allows in a proposal's Why


def slug(text: str, limit: int = MAX_SLUG) -> str:
    """Kebab-case of ``text`` (a valid change id or capability name), cut at a word boundary."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or "change"


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    line = line.replace("`", "'").lstrip("#").strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class LinkedChange:
    issue_id: int
    change_id: str
    path: Path
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "change_id": self.change_id,
            "path": str(self.path),
            "created": self.created,
        }


def _evidence_why(
    evidence: Mapping[str, Any] | None, link: str | None, *, lines: int, checks: bool
) -> list[str]:
    """The Why's evidence: up to ``lines`` key error lines, the failing checks and the pack's
    link."""
    out: list[str] = []
    excerpt = (evidence or {}).get("key_excerpt") or {}
    texts = {int(x["line"]): str(x["text"]) for x in excerpt.get("lines", [])}
    key = [texts[n] for n in excerpt.get("key_lines", []) if n in texts and texts[n].strip()]
    if key and lines:
        out += ["", "Key error lines:", *(f"- `{_one_line(line, 160)}`" for line in key[:lines])]
    failing = [str(c) for c in (evidence or {}).get("affected_checks") or []]
    if failing and checks:
        shown = ", ".join(f"`{_one_line(c, 120)}`" for c in failing[:5])
        more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
        out += ["", f"Failing checks: {shown}{more}."]
    if link:
        out += ["", f"Evidence pack: {link}"]
    return out


def _why(issue: Mapping[str, Any], evidence: Mapping[str, Any] | None, link: str | None) -> str:
    """The proposal's Why: the failure's title, key lines, checks and evidence, within the
    1000 characters ``openspec validate`` allows (key lines go first, then the checks, then
    the link)."""
    failure = _one_line(issue["template"] or issue["sample_message"], 200)
    rationale = _one_line(issue["rationale"] or "", 200)
    head = (
        f"triagehub issue #{issue['id']} in {issue['repository']} keeps failing "
        f"({issue['occurrences']} occurrence(s), history: {issue['history_class']}) and was "
        f'triaged as needing a spec rather than a one-off fix: "{_one_line(issue["title"], 160)}".'
        f' Failure: "{failure}".' + (f" Rationale: {rationale}" if rationale else "")
    )
    tries = [(n, True, link) for n in range(5, -1, -1)] + [(0, False, link), (0, False, None)]
    for lines, checks, url in tries:
        text = "\n".join([head, *_evidence_why(evidence, url, lines=lines, checks=checks)])
        if len(text) <= MAX_WHY:
            return text
    return head[: MAX_WHY - 1] + "…"


def draft_from_issue(
    issue: dict[str, Any],
    *,
    capability: str,
    new_capability: bool,
    evidence: Mapping[str, Any] | None = None,
    evidence_url: str | None = None,
) -> ChangeDraft:
    """A proposal, tasks and one ADDED requirement drafted from an issue row (with
    ``repository`` and ``check_key``) and its evidence pack (the key error lines, the failing
    checks) with the pack's link."""
    what = issue["check_key"] or issue["title"]
    subject = _one_line(what, 150)
    failure = _one_line(issue["template"] or issue["sample_message"], 200)
    repository = issue["repository"]
    why = _why(issue, evidence, evidence_url)
    return ChangeDraft(
        why=why,
        what_changes=(
            f'Specify the behaviour `{subject}` checks, so that it stops failing with "{failure}".',
            f"Implement it and close triagehub issue #{issue['id']}.",
        ),
        impact=(
            f"{repository}: `{subject}` ({issue['kind']} failure, severity {issue['severity']})."
        ),
        capability=capability,
        capability_summary=f"behaviour checked by `{subject}`",
        purpose=(
            f"Behaviour of {repository} that `{subject}` checks, specified after triagehub issue "
            f"#{issue['id']}."
        ),
        requirement=_one_line(issue["title"], 120),
        requirement_text=(
            f'The system SHALL make `{subject}` pass in {repository}; the failure "{failure}" '
            "MUST NOT occur."
        ),
        scenarios=(
            ScenarioDraft(
                f"{_one_line(subject, 80)} passes",
                f"`{subject}` runs on the default branch of {repository}",
                f'it passes without "{failure}"',
            ),
        ),
        tasks=(
            (
                "Specify",
                (
                    f"Review the drafted requirement in specs/{capability}/spec.md",
                    f"Confirm the expected behaviour with the owner of `{subject}`",
                ),
            ),
            (
                "Implement",
                (
                    "Implement the specified behaviour",
                    f"Confirm `{subject}` passes and triagehub issue #{issue['id']} resolves",
                ),
            ),
        ),
        new_capability=new_capability,
    )


def _locked_issue(session: Session, issue_id: int) -> dict[str, Any]:
    """The issue with its repository and check, locked for the link."""
    row = (
        session.execute(
            select(
                t.issues,
                t.repositories.c.name.label("repository"),
                t.checks.c.key.label("check_key"),
            )
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .outerjoin(t.checks, t.checks.c.id == t.issues.c.check_id)
            .where(t.issues.c.id == issue_id)
            .with_for_update(of=t.issues)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError("issue", f"#{issue_id}", "no such issue")
    return dict(row)


def _existing_link(
    project: Project, issue: Mapping[str, Any], issue_id: int, change_id: str | None
) -> LinkedChange | None:
    """The change the issue is already linked to, when its folder (or archive) still exists."""
    linked = issue.get("spec_change")
    if not linked:
        return None
    if change_id not in (None, linked):
        raise ConflictError(
            "issue",
            f"#{issue_id}",
            f"already linked to OpenSpec change {linked!r}; an issue links to one change",
        )
    existing = project.changes_dir / linked
    if existing.is_dir():
        return LinkedChange(issue_id, linked, existing, created=False)
    archived = sorted(project.archive_dir.glob(f"*-{linked}"))
    if archived:
        return LinkedChange(issue_id, linked, archived[-1], created=False)
    return None


@dataclass(frozen=True, slots=True)
class SpecChoice:
    """A person chose the spec path for the issue: a decision other than ``needs_spec`` is set
    to it (an override on the timeline, by ``actor``, with ``reason``) instead of refused."""

    actor: str
    reason: str


def _require_needs_spec(
    session: Session,
    issue: Mapping[str, Any],
    issue_id: int,
    choice: SpecChoice | None,
    now: datetime,
) -> None:
    """Only issues whose triage decision is ``needs_spec`` get a change (or a person's choice
    makes it so)."""
    if issue["decision"] != Decision.NEEDS_SPEC.value and choice is not None:
        apply_override(
            session=session,
            issue_id=issue_id,
            changes={"decision": Decision.NEEDS_SPEC.value},
            reason=choice.reason,
            actor=choice.actor,
            now=now,
        )
        return
    if issue["decision"] != Decision.NEEDS_SPEC.value:
        raise InputError(
            "issue",
            f"#{issue_id}",
            f"its triage decision is {issue['decision']!r}, not 'needs_spec': only issues "
            "that need a spec get an OpenSpec change (override it first: triagehub issues "
            f"triage {issue_id} --decision needs_spec --reason ...)",
        )


def _new_change_id(project: Project, issue: Mapping[str, Any], issue_id: int) -> str:
    """A change id from the issue's title (with its number when that folder exists)."""
    base = slug(f"fix {issue['title']}")
    if (project.changes_dir / base).exists():
        return f"{slug(base, MAX_SLUG - 8)}-{issue_id}"
    return base


def create_change_from_issue(
    engine: Engine,
    project: Project,
    issue_id: int,
    *,
    clock: Clock,
    change_id: str | None = None,
    capability: str | None = None,
    lock_dir: Path | None = None,
    actor: str = "triagehub",
    evidence_url: str | None = None,
    choice: SpecChoice | None = None,
    evidence: Callable[..., dict[str, Any] | None] | None = None,
) -> LinkedChange:
    """Create a change for a ``needs_spec`` issue (or one a person chose the spec path for)
    and link the issue to it. The proposal's Why holds the failure's key error lines, failing
    checks (from its evidence pack: ``evidence(session=..., issue_id=...)``, the caller's
    :func:`triagehub.work.evidence.build_pack`, which sits above specs) and ``evidence_url``.

    Idempotent: an issue already linked to an existing change folder gets that change back.
    """
    if change_id is not None:
        check_change_id(change_id)
    if capability is not None:
        check_capability_id(capability)
    now = clock.now()
    with Session(engine) as session, session.begin():
        issue = _locked_issue(session, issue_id)
        found = _existing_link(project, issue, issue_id, change_id)
        if found is not None:
            return found
        change_id = change_id or issue.get("spec_change") or None
        _require_needs_spec(session, issue, issue_id, choice, now)
        if change_id is None:
            change_id = _new_change_id(project, issue, issue_id)
        if capability is None:
            capability = slug(issue["repository"].split("/")[-1], 40)
        new_capability = not (
            project.specs_dir.joinpath(*capability.split("/"), "spec.md")
        ).is_file()
        draft = draft_from_issue(
            issue,
            capability=capability,
            new_capability=new_capability,
            evidence=evidence(session=session, issue_id=issue_id) if evidence else None,
            evidence_url=evidence_url,
        )
        path = create_change(project, change_id, clock=clock, draft=draft, lock_dir=lock_dir)
        try:
            session.execute(
                update(t.issues)
                .where(t.issues.c.id == issue_id)
                .values(spec_change=change_id, updated_at=now)
            )
            record_event(
                session,
                issue_id,
                "spec_linked",
                at=now,
                actor=actor,
                data={"change": change_id, "project": project.id, "path": str(path)},
            )
            session.flush()
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    return LinkedChange(issue_id, change_id, path, created=True)

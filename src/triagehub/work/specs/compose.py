"""A change a person writes in the dashboard or the API: an id, why it is needed and, when it
changes a capability, which one. Scaffolded as ``openspec new change`` does
(:func:`~triagehub.work.specs.actions.create_change`), with a proposal whose Why is the
person's text, tasks, and (with a capability) a delta spec holding one ADDED requirement to
complete, valid for ``openspec validate``."""

from __future__ import annotations

from pathlib import Path

from triagehub.clock import Clock
from triagehub.core.sanitize import clean_text
from triagehub.errors import InputError
from triagehub.work.specs.actions import ChangeDraft, ScenarioDraft, create_change
from triagehub.work.specs.link import MAX_WHY
from triagehub.work.specs.model import Project
from triagehub.work.specs.paths import check_capability_id, check_change_id


def clean_why(why: str | None) -> str:
    """The proposal's Why: required, at most 1000 characters (``openspec validate``'s limit)."""
    text = clean_text((why or "").replace("\r\n", "\n"), MAX_WHY + 1).strip()
    if not text:
        raise InputError("why", "", "say why the change is needed (1 to 1000 characters)")
    if len(text) > MAX_WHY:
        raise InputError("why", "", f"at most {MAX_WHY} characters (openspec validate's limit)")
    return text


def _first_sentence(text: str, limit: int = 120) -> str:
    line = " ".join(text.split()).replace("`", "'").lstrip("#").strip()
    for end in (". ", "! ", "? "):
        if end in line:
            line = line.split(end, 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def proposal_only(why: str) -> str:
    """The proposal of a change that names no capability yet."""
    return (
        f"# Proposal\n\n## Why\n\n{why}\n\n## What Changes\n\n"
        "- To be described: the capabilities this change adds or modifies.\n\n"
        "## Impact\n\nTo be assessed.\n"
    )


def draft(why: str, capability: str, *, new_capability: bool) -> ChangeDraft:
    """A proposal, tasks and one ADDED requirement of ``capability`` for ``why``."""
    subject = _first_sentence(why)
    return ChangeDraft(
        why=why,
        what_changes=(f"Specify and implement `{capability}`: {subject}.",),
        impact=f"The `{capability}` capability.",
        capability=capability,
        capability_summary=subject,
        purpose=f"What `{capability}` does: {subject}.",
        requirement=f"{capability} behaves as proposed",
        requirement_text=f"The system SHALL provide what this change proposes: {subject}.",
        scenarios=(
            ScenarioDraft(
                "the proposed behaviour holds",
                "the change is implemented",
                f"the system behaves as proposed: {subject}",
            ),
        ),
        tasks=(
            ("Specify", (f"Complete the requirements in specs/{capability}/spec.md",)),
            ("Implement", ("Implement the specified behaviour", "Test it")),
        ),
        new_capability=new_capability,
    )


def create_proposal(
    project: Project,
    change_id: str,
    why: str | None,
    *,
    clock: Clock,
    capability: str | None = None,
) -> Path:
    """Create ``change_id`` with a proposal for ``why`` (and a delta of ``capability``)."""
    check_change_id(change_id)
    text = clean_why(why)
    cap = (capability or "").strip()
    if cap:
        check_capability_id(cap, source="capability")
        exists = project.specs_dir.joinpath(*cap.split("/"), "spec.md").is_file()
        return create_change(
            project, change_id, clock=clock, draft=draft(text, cap, new_capability=not exists)
        )
    return create_change(project, change_id, clock=clock, proposal=proposal_only(text))

"""Reading changes and specs from an OpenSpec project on disk (no cache: see ``reader``).

Files are read only inside the project: a symbolic link that resolves outside it is refused and
reported in the change's ``problems``, as are files that are not UTF-8, too large or unreadable.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from triagehub.work.specs import markdown as md
from triagehub.work.specs.model import Change, Delta, Project, Requirement, Scenario, Spec, Task
from triagehub.work.specs.paths import ARCHIVE_PREFIX, is_within

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class FileText:
    """A file's text (None: absent or refused) and what went wrong reading it."""

    text: str | None
    problem: str | None = None


def read_text(
    path: Path, project_root: Path, shown: str, *, parent_inside: bool = False
) -> FileText:
    """``path`` as text, if it exists and stays inside ``project_root``. ``parent_inside``: the
    caller knows that ``path``'s folder lies inside (then only a symbolic link is resolved)."""
    try:
        is_link = stat.S_ISLNK(path.lstat().st_mode)
    except (OSError, ValueError):
        return FileText(None)
    if (is_link or not parent_inside) and not is_within(path, project_root):
        try:
            target = str(path.readlink()) if path.is_symlink() else str(path.resolve())
        except OSError:
            target = "?"
        return FileText(
            None,
            f"{shown}: refused: it resolves to {target}, outside the project (symbolic links "
            "leading out of the project are not followed)",
        )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return FileText(None, f"{shown}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            return FileText(
                None, f"{shown}: {info.st_size} bytes, over the {MAX_FILE_BYTES} byte limit"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return FileText(None)
    except OSError as exc:
        return FileText(None, f"{shown}: cannot read: {exc.strerror or exc}")
    try:
        return FileText(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return FileText(
            data.decode("utf-8", errors="replace"),
            f"{shown}: not valid UTF-8 (byte {exc.start}); undecodable bytes shown as U+FFFD",
        )


def discover_spec_files(
    specs_root: Path, project_root: Path
) -> tuple[list[tuple[str, Path]], list[str]]:
    """Every ``spec.md`` below ``specs_root`` in a capability folder, as (capability id, path),
    sorted by id, and what was refused. Dot entries are skipped, symlinked folders are not
    followed, a symlinked ``spec.md`` is read only when it stays inside the project."""
    found: list[tuple[str, Path]] = []
    problems: list[str] = []

    def walk(folder: Path, segments: list[str]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            problems.append(f"{folder}: cannot list: {exc.strerror or exc}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), [*segments, entry.name])
            elif entry.name == "spec.md" and segments:
                path = Path(entry.path)
                if entry.is_symlink():
                    if not path.is_file():
                        continue  # a dangling link is not content
                    if not is_within(path, project_root):
                        shown = "/".join([*segments, "spec.md"])
                        problems.append(
                            f"specs/{shown}: refused: a symbolic link to {path.readlink()}, "
                            "outside the project"
                        )
                        continue
                found.append(("/".join(segments), path))

    walk(specs_root, [])
    found.sort(key=lambda item: item[0])
    return found, problems


def _requirement(parsed: md.ParsedRequirement) -> Requirement:
    return Requirement(
        parsed.name,
        parsed.text,
        tuple(Scenario(s.name, s.raw_text) for s in parsed.scenarios),
    )


def deltas_of(spec_id: str, plan: md.DeltaPlan) -> list[Delta]:
    """A delta file's operations in the CLI's order: ADDED, MODIFIED, REMOVED, RENAMED."""
    out: list[Delta] = []
    for operation, verb, blocks in (
        ("ADDED", "Add", plan.added),
        ("MODIFIED", "Modify", plan.modified),
    ):
        for block in blocks:
            parsed = md.requirement_from_block(block.raw, block.mask)
            if parsed is not None:
                req = _requirement(parsed)
                out.append(Delta(spec_id, operation, f"{verb} requirement: {req.text}", req))
    remaining = list(plan.removed_blocks)
    for name in plan.removed:
        index = next((i for i, b in enumerate(remaining) if b.name == name), -1)
        found = remaining.pop(index) if index >= 0 else None
        raw = found.raw if found else f"### Requirement: {name}"
        parsed = md.requirement_from_block(raw, found.mask if found else None)
        if parsed is not None:
            req = _requirement(parsed)
            out.append(Delta(spec_id, "REMOVED", f"Remove requirement: {req.text}", req))
    for old, new in plan.renamed:
        out.append(
            Delta(
                spec_id,
                "RENAMED",
                f'Rename requirement from "{old}" to "{new}"',
                rename_from=old,
                rename_to=new,
            )
        )
    return out


def _simple_deltas(what_changes: str) -> list[Delta]:
    """The proposal's ``- **spec:** description`` bullets (the CLI's fallback when no delta spec
    file has a delta section)."""
    import re

    out: list[Delta] = []
    for line in what_changes.split("\n"):
        m = re.match(r"^\s*-\s*\*\*([^*:]+)(?::\*\*|\*\*:)\s*(.+)$", line)
        if not m:
            continue
        spec, description = m.group(1).strip(), m.group(2).strip()
        low = description.lower()
        operation = "MODIFIED"
        if re.search(r"\brename(s|d|ing)?\b", low) or re.search(r"\brenamed\s+(to|from)\b", low):
            operation = "RENAMED"
        elif re.search(r"\badd(s|ed|ing)?\b|\bcreate(s|d|ing)?\b|\bnew\b", low):
            operation = "ADDED"
        elif re.search(r"\bremove(s|d|ing)?\b|\bdelete(s|d|ing)?\b", low):
            operation = "REMOVED"
        out.append(Delta(spec, operation, description))
    return out


def change_identity(folder_name: str, *, archived: bool) -> tuple[str, date | None]:
    """(change id, archive date) of a change folder (``2026-11-21-add-x`` -> add-x, 2026-11-21)."""
    if archived:
        m = ARCHIVE_PREFIX.match(folder_name)
        if m:
            try:
                day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return folder_name, None
            rest = folder_name[m.end() :]
            return (rest or folder_name), day
    return folder_name, None


def ms_time(ns: int) -> datetime:
    """A file time at millisecond precision, rounded as Node's ``fs.Stats.mtime`` (what
    ``openspec list`` prints)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    ms = math.floor(seconds * 1e3 + rest / 1e6 + 0.5)
    return datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)


def load_change(project: Project, folder: Path, *, archived: bool, last_modified_ns: int) -> Change:
    """Read one change folder. Never raises for bad content: what is wrong goes to ``problems``."""
    change_id, archived_on = change_identity(folder.name, archived=archived)
    rel = folder.relative_to(project.path).as_posix()
    problems: list[str] = []

    folder_inside = is_within(folder, project.path)

    def read(name: str) -> str | None:
        result = read_text(
            folder / name, project.path, f"{rel}/{name}", parent_inside=folder_inside
        )
        if result.problem:
            problems.append(result.problem)
        return result.text

    why: str | None = None
    what: str | None = None
    proposal = read("proposal.md")
    has_proposal = proposal is not None
    if proposal is None:
        if not any(p.startswith(f"{rel}/proposal.md") for p in problems):
            problems.append(
                f'{rel}/proposal.md is missing: change "{change_id}" has no proposal yet '
                '(expected a proposal.md with "## Why" and "## What Changes")'
            )
    else:
        sections = md.parse_sections(md.Lines.of(proposal))
        why_section = md.find_section(sections, "Why")
        what_section = md.find_section(sections, "What Changes")
        why = why_section.content if why_section and why_section.content else None
        what = what_section.content if what_section and what_section.content else None
        if why is None:
            problems.append(f'{rel}/proposal.md: no "## Why" section (or it is empty)')
        if what is None:
            problems.append(f'{rel}/proposal.md: no "## What Changes" section (or it is empty)')
    has_design = os.path.lexists(folder / "design.md")
    tasks_text = read("tasks.md")
    tasks = tuple(
        Task(t.done, t.description, t.line, t.group) for t in md.parse_tasks(tasks_text or "")
    )
    files, refused = discover_spec_files(folder / "specs", project.path)
    # the walk follows no symlinked folder below specs/: only specs/ itself can be one
    specs_inside = folder_inside and not (folder / "specs").is_symlink()
    problems.extend(f"{rel}/{p}" if p.startswith("specs/") else p for p in refused)
    deltas: list[Delta] = []
    has_sections = False
    for spec_id, path in files:
        shown = f"{rel}/specs/{spec_id}/spec.md"
        text = read_text(path, project.path, shown, parent_inside=specs_inside)
        if text.problem:
            problems.append(text.problem)
        if text.text is None:
            continue
        plan = md.parse_delta_spec(text.text)
        has_sections = has_sections or any(plan.presence.values())
        deltas.extend(deltas_of(spec_id, plan))
    if not has_sections and what is not None:
        deltas = _simple_deltas(what)
    return Change(
        project=project.id,
        id=change_id,
        folder=folder.name,
        path=folder,
        archived=archived,
        archived_on=archived_on,
        last_modified=ms_time(last_modified_ns),
        has_proposal=has_proposal,
        has_design=has_design,
        has_tasks=tasks_text is not None,
        why=why,
        what_changes=what,
        tasks=tasks,
        deltas=tuple(deltas),
        problems=tuple(problems),
    )


def load_spec(project: Project, spec_id: str, path: Path) -> Spec:
    """Read one main spec; a spec without Purpose or Requirements reads as empty, with the
    problem said."""
    shown = f"openspec/specs/{spec_id}/spec.md"
    result = read_text(path, project.path, shown)
    problems = [result.problem] if result.problem else []
    if result.text is None:
        if not problems:
            problems.append(f"{shown} is missing")
        return Spec(project.id, spec_id, path, spec_id, "", (), tuple(problems))
    try:
        parsed = md.parse_spec(result.text, spec_id)
    except md.SpecStructureError as exc:
        problems.append(f"{shown}: {exc}")
        return Spec(project.id, spec_id, path, spec_id, "", (), tuple(problems))
    return Spec(
        project.id,
        spec_id,
        path,
        parsed.title,
        parsed.overview,
        tuple(_requirement(r) for r in parsed.requirements),
        tuple(problems),
    )

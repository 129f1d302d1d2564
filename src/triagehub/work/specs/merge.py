"""Applying a change's delta spec to a main spec, as ``openspec archive`` does.

A port of the CLI's ``buildUpdatedSpec`` (``core/specs-apply``): operations apply in the order
RENAMED, REMOVED, MODIFIED, ADDED; a new capability starts from the CLI's skeleton (the delta's
``## Purpose``, else the "TBD - created by archiving change" placeholder). Anything the CLI
refuses raises :class:`MergeError` with the CLI's message; nothing is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from triagehub.work.specs import markdown as md

PURPOSE_PLACEHOLDER_PREFIX = "TBD - created by archiving change "
PURPOSE_PLACEHOLDER_SUFFIX = ". Update Purpose after archive."
MIN_PURPOSE_LENGTH = 50


class MergeError(ValueError):
    """The delta cannot be applied (the CLI's archive would refuse it too)."""


@dataclass(frozen=True, slots=True)
class Merged:
    rebuilt: str
    added: int
    modified: int
    removed: int
    renamed: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    no_requirement_blocks: bool = False


def scenario_loss(current_raw: str, incoming_raw: str) -> tuple[list[str], str]:
    """Scenario names ``current`` has and ``incoming`` lacks (multiplicity-aware), and the CLI's
    sentence describing both blocks' scenarios."""
    current, incoming = md.scenario_names(current_raw), md.scenario_names(incoming_raw)

    def unmatched(names: list[str], against: list[str]) -> list[str]:
        left: dict[str, int] = {}
        for name in against:
            left[name] = left.get(name, 0) + 1
        out = []
        for name in names:
            if left.get(name, 0) > 0:
                left[name] -= 1
            else:
                out.append(name)
        return out

    missing, added = unmatched(current, incoming), unmatched(incoming, current)

    def count(n: int) -> str:
        return f"{n} {'scenario' if n == 1 else 'scenarios'}"

    scale = (
        f"The modified block has {count(len(incoming))}; the current spec has "
        f"{count(len(current))}."
    )
    if not added:
        return missing, f"{scale} It adds none."
    listed = ", ".join(f'"{n}"' for n in added[:3])
    rest = len(added) - 3
    names = f"{listed} and {rest} more" if rest > 0 else listed
    return missing, f"{scale} It adds {count(len(added))} not in the current spec: {names}."


def _purpose_of(text: str) -> str | None:
    doc = md.Lines.of(text)
    lines = list(doc.lines)
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if not doc.mask[i] and re.match(r"^##\s+Purpose\s*$", line, re.I)
        ),
        -1,
    )
    if start == -1:
        return None
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if not doc.mask[i] and md.TOP_LEVEL.match(lines[i])
        ),
        len(lines),
    )
    body = "\n".join(lines[start + 1 : end]).strip()
    prose = re.sub(r"<!--.*?(-->|\Z)", "", body, flags=re.S).strip()
    return body if prose else None


def skeleton(spec_id: str, change_name: str, purpose: str | None = None) -> str:
    body = (purpose or "").strip() or (
        f"{PURPOSE_PLACEHOLDER_PREFIX}{change_name}{PURPOSE_PLACEHOLDER_SUFFIX}"
    )
    return f"# {spec_id} Specification\n\n## Purpose\n{body}\n\n## Requirements\n"


def _readable(content: str, spec_id: str) -> str | None:
    if "<!--" in content or md.main_spec_structure_issues(content):
        return None
    try:
        return md.parse_spec(content, spec_id).overview.strip() or None
    except md.SpecStructureError:
        return None


def _collapse_blank_runs(content: str) -> str:
    lines = content.split("\n")
    mask = md.fence_mask(lines)
    kept: list[str] = []
    blank = 0
    for i, line in enumerate(lines):
        if mask[i]:
            blank = 0
            kept.append(line)
        elif line == "":
            blank += 1
            if blank <= 1:
                kept.append(line)
        else:
            blank = 0
            kept.append(line)
    return "\n".join(kept)


def _norm(raw: str) -> str:
    return md.normalize(raw).strip()


def _header(name: str) -> str:
    return f'"### Requirement: {name}"'


def _check_plan(spec_id: str, plan: md.DeltaPlan) -> None:
    if plan.unpaired_renames:
        first = plan.unpaired_renames[0]
        missing = "TO" if first.side == "FROM" else "FROM"
        raise MergeError(
            f"{spec_id} validation failed - RENAMED entry on line {first.line} has no matching "
            f"{missing}: for header {_header(first.name)}. Write each rename as a FROM: line "
            "followed immediately by its TO: line."
        )
    sets: dict[str, set[str]] = {}
    for label, names in (
        ("ADDED", [b.name for b in plan.added]),
        ("MODIFIED", [b.name for b in plan.modified]),
        ("REMOVED", list(plan.removed)),
    ):
        seen: set[str] = set()
        for name in names:
            key = md.normalize_requirement_name(name)
            if key in seen:
                raise MergeError(
                    f"{spec_id} validation failed - duplicate requirement in {label} for header "
                    f"{_header(name)}"
                )
            seen.add(key)
        sets[label] = seen
    froms: set[str] = set()
    tos: set[str] = set()
    for old, new in plan.renamed:
        if old in froms:
            raise MergeError(
                f"{spec_id} validation failed - duplicate FROM in RENAMED for header {_header(old)}"
            )
        if new in tos:
            raise MergeError(
                f"{spec_id} validation failed - duplicate TO in RENAMED for header {_header(new)}"
            )
        froms.add(old)
        tos.add(new)
    conflicts = [
        (n, a, b)
        for a, b in (("MODIFIED", "REMOVED"), ("MODIFIED", "ADDED"), ("ADDED", "REMOVED"))
        for n in sorted(sets[a])
        if n in sets[b]
    ]
    for old, new in plan.renamed:
        folded = md.fold_requirement_name(old)
        match = next((r for r in sets["REMOVED"] if md.fold_requirement_name(r) == folded), None)
        if match is not None:
            spelled = "" if match == old else f' (REMOVED spells it "{match}")'
            raise MergeError(
                f"{spec_id} validation failed - requirement present in multiple sections "
                f"(RENAMED and REMOVED) for header {_header(old)}{spelled}"
            )
        if old in sets["MODIFIED"]:
            raise MergeError(
                f"{spec_id} validation failed - when a rename exists, MODIFIED must reference "
                f"the NEW header {_header(new)}"
            )
        if new in sets["ADDED"]:
            raise MergeError(
                f"{spec_id} validation failed - RENAMED TO header collides with ADDED for "
                f"{_header(new)}"
            )
    if conflicts:
        name, a, b = conflicts[0]
        raise MergeError(
            f"{spec_id} validation failed - requirement present in multiple sections ({a} and "
            f"{b}) for header {_header(name)}"
        )


def _orphan_warnings(plan: md.DeltaPlan, spec_id: str) -> list[str]:
    """Requirements outside any delta section, which the merge does not apply."""
    warnings: list[str] = []
    for orphan in plan.orphaned:
        where = (
            f'under "## {orphan.section}"' if orphan.section else 'above the first "## " section'
        )
        warnings.append(
            f'{spec_id} - requirement "{orphan.name}" (line {orphan.line}) is {where}, which is '
            "not a delta section, so it was not applied. Move it under ADDED/MODIFIED/REMOVED/"
            "RENAMED Requirements."
        )
    return warnings


def _new_spec_text(
    plan: md.DeltaPlan, spec_id: str, change_name: str, purpose: str | None, warnings: list[str]
) -> str:
    """The skeleton a new capability starts from (only ADDED requirements may apply to it)."""
    if plan.modified or plan.renamed:
        raise MergeError(
            f"{spec_id}: target spec does not exist; only ADDED requirements are allowed for "
            "new specs. MODIFIED and RENAMED operations require an existing spec."
        )
    if plan.removed:
        warnings.append(
            f"{spec_id} - {len(plan.removed)} REMOVED requirement(s) ignored for new spec "
            "(nothing to remove)."
        )
    target_text = skeleton(spec_id, change_name, purpose)
    overview = _readable(target_text, spec_id) if purpose else None
    if purpose and not overview:
        target_text = skeleton(spec_id, change_name)
        warnings.append(
            f"{spec_id} - delta Purpose ignored (it would leave the new spec unreadable); "
            "wrote the placeholder Purpose instead."
        )
    elif overview and len(overview) < MIN_PURPOSE_LENGTH:
        warnings.append(
            f"{spec_id} - carried Purpose is under {MIN_PURPOSE_LENGTH} characters; openspec "
            "validate --strict reports it as too brief."
        )
    return target_text


class _Merge:
    """The requirement blocks of a main spec as the delta's operations change them."""

    def __init__(
        self, spec_id: str, parts: md.RequirementsSection, new_spec: bool, warnings: list[str]
    ) -> None:
        self.spec_id = spec_id
        self.parts = parts
        self.new_spec = new_spec
        self.warnings = warnings
        self.blocks: dict[str, md.Block] = {b.name: b for b in parts.blocks}
        self.order = [b.name for b in parts.blocks]

    def near(self, key: str, *, exclude: str | None = None) -> str | None:
        """A block whose name differs from ``key`` only in case or spacing."""
        folded = md.fold_requirement_name(key)
        return next(
            (k for k in self.blocks if k != exclude and md.fold_requirement_name(k) == folded),
            None,
        )

    def rename(self, renames: tuple[tuple[str, str], ...]) -> int:
        spec_id, blocks = self.spec_id, self.blocks
        renamed = 0
        for old, new in renames:
            if old not in blocks:
                if new in blocks:
                    miss = self.near(old, exclude=new)
                    if miss is not None:
                        raise MergeError(
                            f"{spec_id} RENAMED failed for header {_header(old)} - source not "
                            f"found, but {_header(blocks[miss].name)} exists; fix the header to "
                            "match it exactly"
                        )
                    continue
                raise MergeError(
                    f"{spec_id} RENAMED failed for header {_header(old)} - source not found"
                )
            if new in blocks:
                raise MergeError(
                    f"{spec_id} RENAMED failed for header {_header(new)} - target already exists"
                )
            miss = self.near(new, exclude=old)
            if miss is not None:
                raise MergeError(
                    f"{spec_id} RENAMED failed for header {_header(new)} - "
                    f"{_header(blocks[miss].name)} already exists and differs only in case or "
                    "spacing; choose a distinct name"
                )
            block = blocks.pop(old)
            raw_lines = block.raw.split("\n")
            raw_lines[0] = f"### Requirement: {new}"
            blocks[new] = md.Block(raw_lines[0], new, "\n".join(raw_lines))
            if old in self.order:
                self.order[self.order.index(old)] = new
            renamed += 1
        return renamed

    def remove(self, names: tuple[str, ...]) -> int:
        removed = 0
        for name in names:
            if name not in self.blocks:
                if not self.new_spec:
                    miss = self.near(name)
                    if miss is not None:
                        raise MergeError(
                            f"{self.spec_id} REMOVED failed for header {_header(name)} - not "
                            f"found, but {_header(self.blocks[miss].name)} exists; fix the "
                            "header to match it exactly"
                        )
                    self.warnings.append(
                        f'{self.spec_id} - REMOVED requirement "{name}" is not in the current '
                        "spec; treating it as already removed."
                    )
                continue
            del self.blocks[name]
            removed += 1
        return removed

    def modify(self, incoming: tuple[md.Block, ...]) -> int:
        modified = 0
        for block in incoming:
            current = self.blocks.get(block.name)
            if current is None:
                raise MergeError(
                    f"{self.spec_id} MODIFIED failed for header {_header(block.name)} - not found"
                )
            missing, balance = scenario_loss(current.raw, block.raw)
            if missing:
                names = ", ".join(f'"{n}"' for n in missing)
                raise MergeError(
                    f"{self.spec_id} MODIFIED failed for header {_header(block.name)} - current "
                    f"spec contains scenario(s) not present in the modified block: {names}. "
                    f"{balance} Refresh the change spec before archiving to avoid dropping "
                    "scenarios."
                )
            if _norm(current.raw) != _norm(block.raw):
                modified += 1
            self.blocks[block.name] = block
        return modified

    def add(self, incoming: tuple[md.Block, ...]) -> int:
        added = 0
        for block in incoming:
            existing = self.blocks.get(block.name)
            if existing is not None:
                if _norm(existing.raw) == _norm(block.raw):
                    continue
                raise MergeError(
                    f"{self.spec_id} ADDED failed for header {_header(block.name)} - already exists"
                )
            miss = self.near(block.name)
            if miss is not None:
                raise MergeError(
                    f"{self.spec_id} ADDED failed for header {_header(block.name)} - "
                    f"{_header(self.blocks[miss].name)} already exists and differs only in case "
                    "or spacing; use MODIFIED with that exact header to change it, or choose a "
                    "distinct name"
                )
            self.blocks[block.name] = block
            added += 1
        return added

    def kept(self) -> list[md.Block]:
        """The blocks in their original order, new ones last."""
        kept: list[md.Block] = []
        seen: set[str] = set()
        for key in self.order:
            if key in self.blocks and key not in seen:
                kept.append(self.blocks[key])
                seen.add(key)
        kept.extend(b for k, b in self.blocks.items() if k not in seen)
        return kept


def build_updated_spec(
    delta_text: str, target_text: str | None, spec_id: str, change_name: str
) -> Merged:
    """The main spec after applying ``delta_text`` to ``target_text`` (None: a new capability)."""
    plan = md.parse_delta_spec(delta_text)
    _check_plan(spec_id, plan)
    warnings = _orphan_warnings(plan, spec_id)
    if plan.entries == 0:
        raise MergeError(
            f"Delta parsing found no operations for {spec_id}. Provide ADDED/MODIFIED/REMOVED/"
            "RENAMED sections in change spec."
        )
    purpose = _purpose_of(delta_text)
    new_spec = target_text is None
    if target_text is None:
        target_text = _new_spec_text(plan, spec_id, change_name, purpose, warnings)
    structure = md.main_spec_structure_issues(target_text)
    if structure:
        details = "\n".join(f"line {line}: {message}" for line, message in structure)
        raise MergeError(
            f"{spec_id}: target spec is structurally invalid and cannot be updated until "
            f"fixed:\n{details}"
        )
    parts = md.extract_requirements_section(target_text)
    merge = _Merge(spec_id, parts, new_spec, warnings)
    renamed = merge.rename(plan.renamed)
    removed = merge.remove(plan.removed)
    modified = merge.modify(plan.modified)
    added = merge.add(plan.added)
    kept = merge.kept()
    body_parts = [parts.preamble.rstrip()] if parts.preamble.strip() else []
    body = "\n\n".join([*body_parts, *(b.raw for b in kept)]).rstrip()
    pieces = [parts.before.rstrip(), parts.header_line, body, parts.after.strip()]
    rebuilt = _collapse_blank_runs("\n\n".join(p for p in pieces if p)).rstrip() + "\n"
    return Merged(rebuilt, added, modified, removed, renamed, tuple(warnings), not kept)

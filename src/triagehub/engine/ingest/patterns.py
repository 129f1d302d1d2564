"""Stage 4: give every touched issue its pattern, the template family that spans checks and
repositories (exact template, else a near-identical one found by MinHash LSH bands)."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from triagehub.core.patterns import FuzzyBudget, band_keys, near_duplicate, pattern_key
from triagehub.engine.ingest.state import MAX_PATTERN_CANDIDATES, IssueWork
from triagehub.store import grouping

_K = TypeVar("_K", int, str)


def assign_patterns(session: Session, touched: list[IssueWork], now: datetime) -> None:
    """Give every issue without one a pattern: the family of its exact template, else of a
    near-identical template (MinHash LSH prefilter, bounded exact check), else a new one."""
    todo = [w for w in touched if w.row["pattern_id"] is None]
    if not todo:
        return
    by_hash = grouping.patterns_by_hash(
        session=session, hashes={w.row["template_hash"] for w in todo}
    )
    fuzzy = [w for w in todo if w.row["template_hash"] not in by_hash]
    bands_of = {id(w): band_keys(w.row["template"]) for w in fuzzy}
    stored = grouping.band_members(
        session=session, bands={b for bands in bands_of.values() for b in bands}
    )
    templates = grouping.pattern_templates(
        session=session, ids={pk for members in stored.values() for pk in members}
    )
    budget = FuzzyBudget()
    batch = _BatchPatterns(now)
    member_of: dict[int, str] = {}  # id(work) -> key of a pattern made in this batch
    for w in todo:
        w.new_pattern_member = True
        found = by_hash.get(w.row["template_hash"])
        if found is not None:
            w.row["pattern_id"] = found
            continue
        key = pattern_key(w.row["template_hash"])
        if key in batch.rows:
            member_of[id(w)] = key
            continue
        template = w.row["template"]
        bands = bands_of[id(w)]
        match = _near_pattern(template, bands, stored, templates, budget, age=_pattern_id)
        if match is not None:
            w.row["pattern_id"] = match
            continue
        batch_match = _near_pattern(
            template, bands, batch.bands, batch.templates, budget, age=batch.order.__getitem__
        )
        member_of[id(w)] = batch_match if batch_match is not None else batch.add(key, w, bands)
    ids = grouping.insert_patterns(session=session, rows=list(batch.rows.values()))
    grouping.insert_bands(
        session=session,
        rows=[
            {"band": band, "pattern_id": ids[key]}
            for band, keys in batch.bands.items()
            for key in keys
        ],
    )
    for w in todo:
        member = member_of.get(id(w))
        if member is not None:
            w.row["pattern_id"] = ids[member]


class _BatchPatterns:
    """The patterns made in this batch (stored at its end), with their bands and templates."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rows: dict[str, dict[str, Any]] = {}
        self.bands: dict[str, list[str]] = {}  # band -> keys of patterns made in this batch
        self.templates: dict[str, str] = {}
        self.order: dict[str, int] = {}  # key -> rank of creation in the batch

    def add(self, key: str, w: IssueWork, bands: Sequence[str]) -> str:
        template = w.row["template"]
        self.rows[key] = {
            "key": key,
            "template": template,
            "template_hash": w.row["template_hash"],
            "normalizer_version": w.row["normalizer_version"],
            "issues_count": 0,
            "occurrences": 0,
            "first_seen": w.row["first_seen"],
            "last_seen": w.row["last_seen"],
            "created_at": self.now,
            "updated_at": self.now,
        }
        self.templates[key] = template
        self.order[key] = len(self.order)
        for band in bands:
            self.bands.setdefault(band, []).append(key)
        return key


def _near_pattern(
    template: str,
    bands: Sequence[str],
    members: Mapping[str, Sequence[_K]],
    templates: Mapping[_K, str],
    budget: FuzzyBudget,
    age: Callable[[_K], int],
) -> _K | None:
    """The pattern sharing the most LSH bands with ``template`` that is a near duplicate; among
    candidates sharing as many bands, the oldest (lowest ``age``: a stored pattern's id, a batch
    pattern's rank of creation) first, so the choice never depends on the order of the rows."""
    hits: Counter[_K] = Counter(k for band in bands for k in members.get(band, ()))
    ranked = heapq.nsmallest(MAX_PATTERN_CANDIDATES, hits, key=lambda k: (-hits[k], age(k)))
    for candidate in ranked:
        if not budget.spend():
            return None
        other = templates.get(candidate)
        if other is not None and near_duplicate(template, other):
            return candidate
    return None


def _pattern_id(pk: int) -> int:
    return pk

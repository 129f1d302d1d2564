"""Retention: ``triagehub db prune`` deletes what is older than a duration, in bounded batches,
keeping every issue's counters, its timeline (with one summary event) and the evidence that
open issues still need (``keep.py``)."""

from __future__ import annotations

from triagehub.engine.retention.prune import (
    MIN_RETENTION,
    PRUNABLE_JOB_KINDS,
    SUMMARY_KIND,
    PruneReport,
    prune,
)

__all__ = [
    "MIN_RETENTION",
    "PRUNABLE_JOB_KINDS",
    "SUMMARY_KIND",
    "PruneReport",
    "prune",
]

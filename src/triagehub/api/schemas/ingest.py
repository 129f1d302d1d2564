"""The shape of an ingestion's summary (events and uploaded reports)."""

from __future__ import annotations

from triagehub.api.schemas.common import Out


class IngestOut(Out):
    files: int
    formats: dict[str, str]
    runs: int
    duplicate_runs: int
    results: int
    failures: int
    passes: int
    skipped: int
    occurrences: int
    storms: int
    new_issues: int
    updated_issues: int
    regressions: int
    llm_refined: int
    llm_fallbacks: int
    errors: list[str]
    warnings: list[str]

"""The one place that wires sources -> core -> store.

``Ingestor`` takes ``RunReport``s, buffers them, and writes them in batches inside the caller's
transaction: runs (deduplicated, so ingesting anything twice is a no-op), checks, per-check
history, issues (grouped by fingerprint, classified), occurrences and the issue timeline.
``ingest_files`` runs one transaction per file, so a bad file stores nothing while the other
files of the same call are still ingested.

The stages are modules: ``prepare`` (clean, redact, fingerprint), ``group`` (join or create),
``classify`` (rules, then the LLM hook), ``write`` (atomic SQL), ``patterns`` (template
families); ``ingestor`` coordinates them and ``transactions`` holds the entry points.
The package loads only what deduplicating runs needs; the stages are imported by the first batch
with a new run (``reclassify_issue`` and ``_excerpt`` are in ``classify`` and ``prepare``), and
``quick`` tells a SQLite file's runs already stored without SQLAlchemy (a no-op ingest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triagehub.engine.ingest.state import IngestSummary
from triagehub.lazy import lazy_attributes

if TYPE_CHECKING:
    from triagehub.engine.ingest.ingestor import Ingestor
    from triagehub.engine.ingest.transactions import (
        TRANSACTION_ATTEMPTS,
        IngestHook,
        ProgressCallback,
        ingest_file,
        ingest_files,
        ingest_reports,
        run_transaction,
    )

# The names of the package, by the module that holds them: imported on first use, so that the
# package (and ``state``, ``quick``) load without SQLAlchemy.
_LAZY = {
    "Ingestor": "ingestor",
    **dict.fromkeys(
        (
            "TRANSACTION_ATTEMPTS",
            "IngestHook",
            "ProgressCallback",
            "ingest_file",
            "ingest_files",
            "ingest_reports",
            "run_transaction",
        ),
        "transactions",
    ),
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "TRANSACTION_ATTEMPTS",
    "IngestHook",
    "IngestSummary",
    "Ingestor",
    "ProgressCallback",
    "ingest_file",
    "ingest_files",
    "ingest_reports",
    "run_transaction",
]

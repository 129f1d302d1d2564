"""dbt Core: run artifacts (``target/``) and console logs, as ``RunReport``\\ s.

A pure translator (no database, no network, no classification). Two inputs, each its own module
(:mod:`.artifacts` with :mod:`.schema`, :mod:`.console`); node names are :mod:`.identity`'s,
result messages :mod:`.results`', the graph :mod:`.lineage`'s:

**Artifacts.** :func:`parse_artifacts` reads ``run_results.json`` (a ``target/`` folder or the file
itself), with ``manifest.json`` and ``sources.json`` beside it when they are there. Every published
schema version is validated by `dbt-artifacts-parser` (which dispatches on
``metadata.dbt_schema_version``); an unknown version, malformed or truncated JSON, or a field of
the wrong type raises :class:`~triagehub.errors.InputError` naming the file and the JSON path.
Fields a newer dbt added to a known schema version are tolerated (with a warning).

One result per node, check key = the node's ``unique_id`` (``model.jaffle.stg_orders``):
``success``/``pass``/``no-op``/``reused`` pass; ``error``/``runtime error`` are errors; ``fail``
fails; ``warn`` fails with a message that starts ``Warning:`` (so the classifier rates it low);
``skipped`` is a skip (not a failure); a source whose freshness ``error``\\ s is stale (a fail).
Test messages keep dbt's text (``Got 5 results, configured to fail if != 0``) and add the test
type (``unique``, ``not_null``, ``accepted_values``, ``relationships``, ``custom``, ``unit``) and
the failure count. The log of a failure is its compiled SQL (bounded).

:func:`lineage` and :func:`lineage_for_report` read the manifest's ``parent_map``/``child_map``:
upstream sources, downstream models and exposures (transitively), and the owner (``meta.owner``,
``config.meta.owner``, else the owner of the node's ``group``). :func:`parse_artifacts_full`
returns the report with the lineage of its failing nodes and the warnings (a manifest that does
not match the run results still gives a report).

**Console logs.** :func:`parse_console_log` reads the output of ``dbt build``/``run``/``test``
(plain, with or without colour, or ``--log-format json`` lines). Compilation and Jinja errors stop
dbt before ``target/`` is written: the error block becomes one failing result (the node it names,
else ``dbt / compilation``). Normal runs give one result per ``OK``/``ERROR``/``FAIL``/``PASS``/
``WARN``/``SKIP`` line, with the message of dbt's end-of-run summary.
"""

from __future__ import annotations

from triagehub.sources.dbt.artifacts import (
    DbtParse,
    parse_artifacts,
    parse_artifacts_full,
    with_lineage,
)
from triagehub.sources.dbt.console import parse_console_log
from triagehub.sources.dbt.identity import node_identity
from triagehub.sources.dbt.lineage import (
    MAX_LINEAGE_NODES,
    Lineage,
    lineage,
    lineage_for_report,
)
from triagehub.sources.dbt.results import SOURCE
from triagehub.sources.dbt.schema import MAX_ARTIFACT_BYTES, load_manifest
from triagehub.sources.sniff import dbt_artifacts as sniff_artifacts
from triagehub.sources.sniff import dbt_console as sniff_console

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_LINEAGE_NODES",
    "SOURCE",
    "DbtParse",
    "Lineage",
    "lineage",
    "lineage_for_report",
    "load_manifest",
    "node_identity",
    "parse_artifacts",
    "parse_artifacts_full",
    "parse_console_log",
    "sniff_artifacts",
    "sniff_console",
    "with_lineage",
]

"""dbt Core's artifacts (``run_results.json`` or ``sources.json``, with ``manifest.json``
beside it) as a ``RunReport``: one result per node, with lineage."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.dbt.identity import (
    check_key,
    node_index,
    project_of,
    repository_of,
    resource,
)
from triagehub.sources.dbt.lineage import Lineage, lineage_for_report
from triagehub.sources.dbt.results import (
    SOURCE,
    clip_text,
    duration,
    map_status,
    run_status,
    sql_excerpt,
    test_message,
)
from triagehub.sources.dbt.schema import (
    load_json,
    load_manifest_lenient,
    schema_of,
    validate,
    warn,
)


@dataclass(frozen=True, slots=True)
class DbtParse:
    """What :func:`parse_artifacts_full` found: the report, the lineage of its failing nodes
    (when a manifest was there) and warnings about the input (never fatal)."""

    report: RunReport
    lineage: Mapping[str, Lineage] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def parse_artifacts(
    path: Path,
    *,
    repository: str | None = None,
    project_repositories: Mapping[str, str] | None = None,
) -> RunReport:
    """The report of a ``target/`` folder or a ``run_results.json`` (or ``sources.json``)."""
    return parse_artifacts_full(
        path, repository=repository, project_repositories=project_repositories
    ).report


def parse_artifacts_full(
    path: Path,
    *,
    repository: str | None = None,
    project_repositories: Mapping[str, str] | None = None,
) -> DbtParse:
    """Like :func:`parse_artifacts`, with lineage of the failing nodes and input warnings."""
    warnings: list[str] = []
    folder, main = _main_artifact(path)
    origin = str(main)
    doc, kind = _read_main(main, warnings)
    metadata: dict[str, Any] = doc["metadata"]
    freshness = _freshness(doc, kind, folder, warnings)
    manifest_path = folder / "manifest.json"
    manifest = load_manifest_lenient(manifest_path, warnings) if manifest_path.is_file() else None
    nodes = node_index(manifest) if manifest is not None else {}
    results = _results(doc, kind, freshness, nodes, origin)
    if manifest is not None:
        _warn_unmatched(manifest_path, main.name, results, nodes, warnings)
    project = project_of(manifest, results)
    repo = repository_of(origin, repository, project_repositories, project)
    invocation = metadata.get("invocation_id")
    raw_results = doc.get("results") or []
    run_id = str(invocation) if invocation else "dbt-" + _digest(orjson.dumps(raw_results))
    started = _time(metadata, "invocation_started_at", origin)
    finished = _time(metadata, "generated_at", origin)
    report = RunReport(
        source=SOURCE,
        repository=repo,
        run_id=run_id[:200],
        started_at=started,
        finished_at=finished,
        status=run_status(results.values()),
        results=tuple(results.values()),
    )
    graph = lineage_for_report(manifest, report) if manifest is not None else {}
    return DbtParse(report=report, lineage=graph, warnings=tuple(warnings))


def _main_artifact(path: Path) -> tuple[Path, Path]:
    """The folder and the main artifact: the file given, or a ``target/`` folder's
    ``run_results.json`` (else its ``sources.json``)."""
    if not path.is_dir():
        return path.parent, path
    main = path / "run_results.json"
    if not main.is_file():
        main = path / "sources.json"
    if not main.is_file():
        raise InputError(
            str(path), "", "no run_results.json or sources.json here (is it dbt's target/?)"
        )
    return path, main


def _read_main(main: Path, warnings: list[str]) -> tuple[dict[str, Any], str]:
    """The main artifact, validated, and its kind (``run-results`` or ``sources``)."""
    origin = str(main)
    doc = load_json(main)
    kind, version = schema_of(doc, origin)
    if kind not in ("run-results", "sources"):
        raise InputError(
            origin,
            "metadata.dbt_schema_version",
            f"a dbt {kind} artifact; expected run_results.json (or sources.json)",
        )
    validate(doc, origin, kind, version, warnings)
    return doc, kind


def _freshness(
    doc: dict[str, Any], kind: str, folder: Path, warnings: list[str]
) -> dict[str, Any] | None:
    """The source freshness of the run: the main artifact when it is ``sources.json``, else a
    ``sources.json`` beside the run results from the same dbt invocation."""
    if kind == "sources":
        return doc
    path = folder / "sources.json"
    if not path.is_file():
        return None
    invocation = doc["metadata"].get("invocation_id")
    other = load_json(path)
    okind, oversion = schema_of(other, str(path))
    other_inv = other["metadata"].get("invocation_id")
    if okind == "sources" and invocation and other_inv == invocation:
        validate(other, str(path), okind, oversion, warnings)
        return other
    if okind == "sources":
        warn(
            warnings,
            f"{path} is from another dbt invocation ({other_inv}); "
            "ignored (parse it on its own for source freshness)",
        )
    return None


def _results(
    doc: Mapping[str, Any],
    kind: str,
    freshness: Mapping[str, Any] | None,
    nodes: Mapping[str, Mapping[str, Any]],
    origin: str,
) -> dict[str, CheckResult]:
    """One result per node of the main artifact, then per source of a ``sources.json`` beside
    it (by check key: a later one replaces an earlier one)."""
    results: dict[str, CheckResult] = {}
    for i, r in enumerate(doc.get("results") or []):
        if kind == "sources":
            check = _freshness_result(r, origin, f"results[{i}]")
        else:
            check = _run_result(r, nodes.get(str(r.get("unique_id"))), origin, f"results[{i}]")
        results[check.check] = check
    if freshness is not None and freshness is not doc:
        for i, r in enumerate(freshness.get("results") or []):
            check = _freshness_result(r, "sources.json", f"results[{i}]")
            results[check.check] = check
    return results


def _warn_unmatched(
    manifest_path: Path,
    main_name: str,
    results: Mapping[str, CheckResult],
    nodes: Mapping[str, Any],
    warnings: list[str],
) -> None:
    """Warn when results are missing from the manifest (another project, an older parse)."""
    missing = [uid for uid in results if uid not in nodes]
    if missing:
        warn(
            warnings,
            f"{manifest_path} does not match {main_name}: {len(missing)} of {len(results)} "
            f"results are not in the manifest (e.g. {missing[0]}); their test types and "
            "lineage are missing (is the manifest from another project or an older parse?)",
        )


def with_lineage(parsed: DbtParse) -> RunReport:
    """The report with each failing result's lineage on it: ``affected`` (tested nodes,
    downstream models and exposures) and ``owner`` (``meta.owner``, else the team or group's
    owner), which the pipeline keeps on the issue and uses for routing."""
    if not parsed.lineage:
        return parsed.report
    results = []
    for r in parsed.report.results:
        found = parsed.lineage.get(r.check)
        if found is None:
            results.append(r)
            continue
        affected = (*found.affected_models, *found.downstream_exposures)
        owner = found.owner or found.team or found.group_owner
        results.append(replace(r, affected=tuple(dict.fromkeys(affected)), owner=owner))
    return replace(parsed.report, results=tuple(results))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _time(obj: Mapping[str, Any], key: str, origin: str) -> datetime | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise InputError(origin, f"metadata.{key}", str(exc)) from None


def _run_result(
    r: Mapping[str, Any], node: Mapping[str, Any] | None, origin: str, where: str
) -> CheckResult:
    uid = check_key(r.get("unique_id"), origin, where)
    raw_status = r.get("status")
    status, warning = map_status(str(raw_status), uid)
    kind = resource(uid)
    base = clip_text(r.get("message"))
    if kind in ("test", "unit_test") and status in (Status.FAIL, Status.ERROR):
        message = test_message(base, uid, node, r.get("failures"), status)
    elif kind == "source" and status.is_failure:
        message = base or f"source freshness {raw_status}"
    elif status is Status.ERROR and not base:
        message = f"dbt reported {raw_status} for {uid}"
    elif status is Status.PASS or status is Status.SKIP:
        message = base if status is Status.PASS else ""
    else:
        message = base
    if warning:
        message = f"Warning: {message}" if message else "Warning"
    log = ""
    if status.is_failure:
        sql = r.get("compiled_code")
        if not sql and node is not None:
            sql = node.get("compiled_code") or node.get("compiled_sql")
        log = sql_excerpt(sql)
    return CheckResult(
        check=uid,
        status=status,
        message=message,
        log=log,
        duration_s=duration(r.get("execution_time")),
    )


def _freshness_result(r: Mapping[str, Any], origin: str, where: str) -> CheckResult:
    uid = check_key(r.get("unique_id"), origin, where)
    raw_status = str(r.get("status"))
    status, warning = map_status(raw_status, uid)
    if raw_status == "runtime error":
        message = f"Source freshness runtime error: {clip_text(r.get('error')) or 'no detail'}"
    elif status is Status.PASS:
        message = ""
    else:
        age = r.get("max_loaded_at_time_ago_in_s")
        loaded = r.get("max_loaded_at")
        criteria = r.get("criteria") if isinstance(r.get("criteria"), dict) else {}
        parts = [f"Source freshness {'warn' if warning else 'error'}: stale"]
        if isinstance(loaded, str):
            parts.append(f"max_loaded_at {loaded}")
        if isinstance(age, int | float) and not isinstance(age, bool):
            parts.append(f"{age:.0f}s ago")
        for key in ("warn_after", "error_after"):
            rule = criteria.get(key) if isinstance(criteria, dict) else None
            if isinstance(rule, dict) and rule.get("count") is not None:
                parts.append(f"{key} {rule.get('count')} {rule.get('period')}")
        message = ", ".join(parts)
    if warning:
        message = f"Warning: {message}"
    timing = r.get("execution_time")
    return CheckResult(check=uid, status=status, message=message, duration_s=duration(timing))

"""dbt Core: run artifacts (``target/``) and console logs, as ``RunReport``\\ s.

A pure translator (no database, no network, no classification). Two inputs:

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

import hashlib
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from triagehub.core.fingerprint import strip_ansi
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.sources.events import REPOSITORY
from triagehub.sources.jsontypes import json_type as _type

__all__ = [
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
]

SOURCE = "dbt"
"""The ``RunReport.source`` of every report this module makes (and its registry name)."""

_TEST_HASH = re.compile(r"(?P<name>test\.[^.\s]+\.[^.\s]+)\.[0-9a-f]{10}")


def node_identity(check: str) -> str:
    """The name of a dbt node that every dbt output can give: a generic test's ``unique_id``
    ends in a hash that only the manifest knows (``test.jaffle.unique_orders_id.c7614daada``),
    while a plain console log prints the test's name (``unique_orders_id``), which dbt keeps
    unique within a project. Other nodes' keys are returned unchanged."""
    m = _TEST_HASH.fullmatch(check)
    return m.group("name") if m else check


MAX_ARTIFACT_BYTES = 1 << 30  # 1 GiB per JSON file (large projects' manifests reach 100s of MB)
MAX_MESSAGE_CHARS = 64 * 1024
MAX_SQL_CHARS = 8 * 1024
MAX_SQL_LINES = 120
MAX_CHECK_CHARS = 1000
MAX_LINEAGE_NODES = 5000  # per direction, per node: a bound on a hostile or huge graph
MAX_LINE_CHARS = 64 * 1024  # console lines longer than this are cut
MAX_BLOCK_LINES = 200  # lines kept of one error block in a console log
MAX_CONSOLE_RESULTS = 200_000
MAX_WARNINGS = 50

_SCHEMA_URL = re.compile(r"/dbt/([a-z][a-z-]*)/v(\d+)\.json$")
_REFABLE = ("model", "seed", "snapshot")
_DOWNSTREAM_TYPES = frozenset({"model", "snapshot", "seed"})


def _supported(kind: str) -> list[str]:
    # dbt-artifacts-parser takes ~2 s to import (pydantic models of every schema version): only
    # when an artifact is read, not whenever the CLI starts.
    from dbt_artifacts_parser.parsers.version_map import ArtifactTypes

    return [
        t.value.dbt_schema_version
        for t in ArtifactTypes
        if f"/dbt/{kind}/" in t.value.dbt_schema_version
    ]


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a node sits in the project graph, and who owns it.

    For a test, ``tested_nodes`` are the nodes it tests and the downstream models and exposures
    are theirs (what bad data would reach); the owner falls back to the tested node's owner.
    """

    unique_id: str
    upstream_sources: tuple[str, ...] = ()
    downstream_models: tuple[str, ...] = ()
    downstream_exposures: tuple[str, ...] = ()
    tested_nodes: tuple[str, ...] = ()
    owner: str | None = None
    team: str | None = None  # ``meta.team``, else the node's ``group``
    group: str | None = None
    group_owner: str | None = None
    truncated: bool = False  # the graph walk stopped at MAX_LINEAGE_NODES

    @property
    def affected_models(self) -> tuple[str, ...]:
        """The tested nodes (for a test) and every model downstream, without repeats."""
        return tuple(dict.fromkeys((*self.tested_nodes, *self.downstream_models)))


@dataclass(frozen=True, slots=True)
class DbtParse:
    """What :func:`parse_artifacts_full` found: the report, the lineage of its failing nodes
    (when a manifest was there) and warnings about the input (never fatal)."""

    report: RunReport
    lineage: Mapping[str, Lineage] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Reading JSON artifacts
# --------------------------------------------------------------------------------------------


def _load_json(path: Path) -> dict[str, Any]:
    origin = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_ARTIFACT_BYTES + 1)
    except OSError as exc:
        raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_ARTIFACT_BYTES:
        raise InputError(origin, "", f"over {MAX_ARTIFACT_BYTES >> 20} MiB; not a dbt artifact")
    if not raw.strip():
        raise InputError(origin, "", "the file is empty; expected a dbt JSON artifact")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            origin, "", f"malformed JSON (is the file truncated or still being written?): {exc}"
        ) from None
    if not isinstance(doc, dict):
        raise InputError(origin, "", f"expected a JSON object, got {_type(doc)}")
    return doc


def _schema(doc: Mapping[str, Any], origin: str) -> tuple[str, str]:
    """The artifact kind (``run-results``, ``manifest``, ``sources``) and the schema URL."""
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise InputError(
            origin,
            "metadata",
            "missing required object (is this a dbt artifact?)"
            if metadata is None
            else f"expected an object, got {_type(metadata)}",
        )
    version = metadata.get("dbt_schema_version")
    if not isinstance(version, str):
        raise InputError(
            origin,
            "metadata.dbt_schema_version",
            "missing required field (is this a dbt artifact?)"
            if version is None
            else f"expected a string, got {_type(version)}",
        )
    m = _SCHEMA_URL.search(version)
    if m is None:
        raise InputError(
            origin,
            "metadata.dbt_schema_version",
            f"unknown dbt schema version {version[:200]!r}; expected a URL such as "
            "https://schemas.getdbt.com/dbt/run-results/v6.json",
        )
    return m.group(1), version


def _check_version(origin: str, kind: str, version: str) -> None:
    supported = _supported(kind)
    if version not in supported:
        names = ", ".join(s.rsplit("/", 1)[-1].removesuffix(".json") for s in supported)
        raise InputError(
            origin,
            "metadata.dbt_schema_version",
            f"unknown dbt schema version {version[:200]!r}; supported: {kind} {names}"
            if supported
            else f"unknown dbt schema version {version[:200]!r}",
        )


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part[:1].isupper() or part.startswith("function-"):
            continue  # pydantic's names of union members and validators, not JSON keys
        else:
            out += f".{part}" if out else part
    return out


def _validate(
    doc: dict[str, Any], origin: str, kind: str, version: str, warnings: list[str]
) -> None:
    """Validate with dbt-artifacts-parser; fields a newer dbt added are tolerated."""
    _check_version(origin, kind, version)
    from dbt_artifacts_parser.parser import parse_manifest, parse_run_results, parse_sources

    parse = {"run-results": parse_run_results, "manifest": parse_manifest, "sources": parse_sources}
    try:
        parse[kind](doc)
    except ValidationError as exc:
        errors = exc.errors()
        real = [e for e in errors if e.get("type") != "extra_forbidden"]
        if real:
            first = real[0]
            more = f" (and {len(real) - 1} more problems)" if len(real) > 1 else ""
            raise InputError(
                origin, _loc(first.get("loc", ())), f"{first.get('msg', 'invalid')}{more}"
            ) from None
        fields = sorted({_loc(e.get("loc", ())) for e in errors})
        _warn(
            warnings,
            f"{origin}: fields unknown to the {version.rsplit('/', 1)[-1]} schema were ignored "
            f"(a newer dbt?): {', '.join(fields[:5])}{' ...' if len(fields) > 5 else ''}",
        )
    except ValueError as exc:  # the parser's own "Not a run-results.json"
        raise InputError(origin, "metadata.dbt_schema_version", str(exc)) from None


def _warn(warnings: list[str], text: str) -> None:
    if len(warnings) < MAX_WARNINGS:
        warnings.append(text)


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and validate a ``manifest.json`` (any published schema version)."""
    doc = _load_json(path)
    kind, version = _schema(doc, str(path))
    if kind != "manifest":
        raise InputError(str(path), "metadata.dbt_schema_version", f"a {kind} file, not manifest")
    _validate(doc, str(path), kind, version, [])
    return doc


# --------------------------------------------------------------------------------------------
# Artifacts -> RunReport
# --------------------------------------------------------------------------------------------


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
    if path.is_dir():
        folder = path
        main = path / "run_results.json"
        if not main.is_file():
            main = path / "sources.json"
        if not main.is_file():
            raise InputError(
                str(path), "", "no run_results.json or sources.json here (is it dbt's target/?)"
            )
    else:
        folder = path.parent
        main = path
    origin = str(main)
    doc = _load_json(main)
    kind, version = _schema(doc, origin)
    if kind not in ("run-results", "sources"):
        raise InputError(
            origin,
            "metadata.dbt_schema_version",
            f"a dbt {kind} artifact; expected run_results.json (or sources.json)",
        )
    _validate(doc, origin, kind, version, warnings)
    metadata: dict[str, Any] = doc["metadata"]
    invocation = metadata.get("invocation_id")

    freshness: dict[str, Any] | None = doc if kind == "sources" else None
    if kind == "run-results" and (folder / "sources.json").is_file():
        other = _load_json(folder / "sources.json")
        okind, oversion = _schema(other, str(folder / "sources.json"))
        other_inv = other["metadata"].get("invocation_id")
        if okind == "sources" and invocation and other_inv == invocation:
            _validate(other, str(folder / "sources.json"), okind, oversion, warnings)
            freshness = other
        elif okind == "sources":
            _warn(
                warnings,
                f"{folder / 'sources.json'} is from another dbt invocation ({other_inv}); "
                "ignored (parse it on its own for source freshness)",
            )

    manifest: dict[str, Any] | None = None
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        manifest = _load_manifest_lenient(manifest_path, warnings)

    nodes = _node_index(manifest) if manifest is not None else {}
    results: dict[str, CheckResult] = {}
    raw_results = doc.get("results") or []
    for i, r in enumerate(raw_results):
        if kind == "sources":
            check = _freshness_result(r, origin, f"results[{i}]")
        else:
            check = _run_result(r, nodes.get(str(r.get("unique_id"))), origin, f"results[{i}]")
        results[check.check] = check
    if freshness is not None and freshness is not doc:
        for i, r in enumerate(freshness.get("results") or []):
            check = _freshness_result(r, "sources.json", f"results[{i}]")
            results[check.check] = check

    if manifest is not None:
        missing = [uid for uid in results if uid not in nodes]
        if missing:
            _warn(
                warnings,
                f"{manifest_path} does not match {main.name}: {len(missing)} of {len(results)} "
                f"results are not in the manifest (e.g. {missing[0]}); their test types and "
                "lineage are missing (is the manifest from another project or an older parse?)",
            )

    project = _project(manifest, results)
    repo = _repository(origin, repository, project_repositories, project)
    run_id = str(invocation) if invocation else "dbt-" + _digest(orjson.dumps(raw_results))
    started = _time(metadata, "invocation_started_at", origin)
    finished = _time(metadata, "generated_at", origin)
    report = RunReport(
        source=SOURCE,
        repository=repo,
        run_id=run_id[:200],
        started_at=started,
        finished_at=finished,
        status=_run_status(results.values()),
        results=tuple(results.values()),
    )
    graph = lineage_for_report(manifest, report) if manifest is not None else {}
    return DbtParse(report=report, lineage=graph, warnings=tuple(warnings))


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


def _load_manifest_lenient(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    """The manifest is optional: a schema it cannot be validated against only loses lineage,
    but a malformed file is still an error (it is corrupt, not merely unknown)."""
    doc = _load_json(path)
    try:
        kind, version = _schema(doc, str(path))
        if kind != "manifest":
            raise InputError(str(path), "metadata.dbt_schema_version", f"a {kind} file")
        _validate(doc, str(path), kind, version, warnings)
    except InputError as exc:
        _warn(warnings, f"manifest ignored (no test types, lineage or owners): {exc}")
        return None
    return doc


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


def _run_status(results: Iterable[CheckResult]) -> str:
    return "failure" if any(r.status.is_failure for r in results) else "success"


def _project(manifest: Mapping[str, Any] | None, results: Mapping[str, Any]) -> str | None:
    if manifest is not None:
        name = manifest.get("metadata", {}).get("project_name")
        if isinstance(name, str) and name:
            return name
    counts = Counter(uid.split(".")[1] for uid in results if uid.count(".") >= 2)
    return counts.most_common(1)[0][0] if counts else None


def _repository(
    origin: str,
    repository: str | None,
    project_repositories: Mapping[str, str] | None,
    project: str | None,
) -> str:
    repo = repository
    if repo is None and project is not None and project_repositories:
        repo = project_repositories.get(project)
    if repo is None:
        hint = f" (or map dbt project {project!r} to a repository)" if project else ""
        raise InputError(
            origin, "repository", f"cannot tell the repository: pass --repo OWNER/NAME{hint}"
        )
    if not REPOSITORY.match(repo):
        raise InputError(origin, "repository", f"expected OWNER/NAME, got {repo[:200]!r}")
    return repo


def _node_index(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    index: dict[str, Mapping[str, Any]] = {}
    for section in ("nodes", "sources", "unit_tests", "exposures", "snapshots", "seeds"):
        part = manifest.get(section)
        if isinstance(part, dict):
            for uid, node in part.items():
                if isinstance(node, dict):
                    index[uid] = node
    return index


def _resource(unique_id: str) -> str:
    return unique_id.split(".", 1)[0]


def _text(value: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[:limit] + "\n… (cut)"


def _sql_excerpt(sql: object) -> str:
    if not isinstance(sql, str) or not sql.strip():
        return ""
    lines = sql.strip("\n").splitlines()
    kept = lines[:MAX_SQL_LINES]
    text = "\n".join(kept)
    if len(text) > MAX_SQL_CHARS:
        text = text[:MAX_SQL_CHARS]
    if len(kept) < len(lines) or len(text) < len("\n".join(kept)):
        text += f"\n-- … compiled SQL cut ({len(lines)} lines in all)"
    return text


def _test_type(unique_id: str, node: Mapping[str, Any] | None) -> str | None:
    if _resource(unique_id) == "unit_test":
        return "unit"
    if node is None:
        return None
    meta = node.get("test_metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        namespace = meta.get("namespace")
        name: str = meta["name"]
        return f"{namespace}.{name}" if isinstance(namespace, str) and namespace else name
    return "custom"


def _test_target(node: Mapping[str, Any] | None) -> str:
    """`` on stg_customers.email`` for a generic test on a column; empty when unknown."""
    if node is None:
        return ""
    attached = node.get("attached_node")
    if not isinstance(attached, str):
        deps = node.get("depends_on", {}).get("nodes") if isinstance(node, dict) else None
        attached = deps[0] if isinstance(deps, list) and deps and isinstance(deps[0], str) else ""
    model = attached.rsplit(".", 1)[-1] if attached else ""
    meta = node.get("test_metadata")
    column = meta.get("kwargs", {}).get("column_name") if isinstance(meta, dict) else None
    if not model:
        return ""
    return f" on {model}.{column}" if isinstance(column, str) and column else f" on {model}"


def _test_message(
    base: str, unique_id: str, node: Mapping[str, Any] | None, failures: object, status: Status
) -> str:
    kind = _test_type(unique_id, node)
    detail = f"{kind} test" if kind else "test"
    detail += _test_target(node)
    if isinstance(failures, int) and not isinstance(failures, bool) and status is not Status.ERROR:
        detail += f": {failures} failing row{'s' if failures != 1 else ''}"
    return f"{base}\n{detail}" if base else detail


def _map_status(raw: str, unique_id: str) -> tuple[Status, bool]:
    """(status, is_warning) of a dbt node status."""
    value = raw.lower()
    if value in ("success", "pass", "no-op", "reused"):
        return Status.PASS, False
    if value == "warn":
        return Status.FAIL, True
    if value == "fail" or value == "partial success":
        return Status.FAIL, False
    if value == "skipped":
        return Status.SKIP, False
    if value == "error" and _resource(unique_id) == "source":
        return Status.FAIL, False  # freshness: stale past error_after (a data failure)
    return Status.ERROR, False  # error, runtime error


def _check_key(unique_id: object, origin: str, where: str) -> str:
    if not isinstance(unique_id, str) or not unique_id.strip():
        raise InputError(origin, f"{where}.unique_id", "missing or empty")
    return unique_id.strip()[:MAX_CHECK_CHARS]


def _duration(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def _run_result(
    r: Mapping[str, Any], node: Mapping[str, Any] | None, origin: str, where: str
) -> CheckResult:
    uid = _check_key(r.get("unique_id"), origin, where)
    raw_status = r.get("status")
    status, warning = _map_status(str(raw_status), uid)
    resource = _resource(uid)
    base = _text(r.get("message"))
    if resource in ("test", "unit_test") and status in (Status.FAIL, Status.ERROR):
        message = _test_message(base, uid, node, r.get("failures"), status)
    elif resource == "source" and status.is_failure:
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
        log = _sql_excerpt(sql)
    return CheckResult(
        check=uid,
        status=status,
        message=message,
        log=log,
        duration_s=_duration(r.get("execution_time")),
    )


def _freshness_result(r: Mapping[str, Any], origin: str, where: str) -> CheckResult:
    uid = _check_key(r.get("unique_id"), origin, where)
    raw_status = str(r.get("status"))
    status, warning = _map_status(raw_status, uid)
    if raw_status == "runtime error":
        message = f"Source freshness runtime error: {_text(r.get('error')) or 'no detail'}"
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
    return CheckResult(check=uid, status=status, message=message, duration_s=_duration(timing))


# --------------------------------------------------------------------------------------------
# Lineage
# --------------------------------------------------------------------------------------------


class _Graph:
    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.nodes = _node_index(manifest)
        parents = manifest.get("parent_map")
        children = manifest.get("child_map")
        self.parents: dict[str, list[str]] = parents if isinstance(parents, dict) else {}
        self.children: dict[str, list[str]] = children if isinstance(children, dict) else {}
        if not self.parents or not self.children:
            self._from_depends_on()
        groups = manifest.get("groups")
        self.groups: dict[str, Mapping[str, Any]] = {}
        if isinstance(groups, dict):
            for g in groups.values():
                if isinstance(g, dict) and isinstance(g.get("name"), str):
                    self.groups.setdefault(g["name"], g)

    def _from_depends_on(self) -> None:
        parents: dict[str, list[str]] = {}
        children: dict[str, list[str]] = {}
        for uid, node in self.nodes.items():
            deps = node.get("depends_on")
            ups = deps.get("nodes") if isinstance(deps, dict) else None
            for up in ups if isinstance(ups, list) else []:
                if isinstance(up, str):
                    parents.setdefault(uid, []).append(up)
                    children.setdefault(up, []).append(uid)
        self.parents = self.parents or parents
        self.children = self.children or children

    def walk(self, start: Iterable[str], edges: Mapping[str, Any]) -> tuple[list[str], bool]:
        seen: dict[str, None] = {}
        queue = deque(start)
        visited = set(queue)
        while queue:
            uid = queue.popleft()
            nxt = edges.get(uid)
            for other in nxt if isinstance(nxt, list) else []:
                if not isinstance(other, str) or other in visited:
                    continue
                if len(seen) >= MAX_LINEAGE_NODES:
                    return list(seen), True
                visited.add(other)
                seen[other] = None
                if _resource(other) not in ("test", "unit_test"):
                    queue.append(other)
        return list(seen), False


def _owner_text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    if isinstance(value, dict):
        for key in ("email", "name"):
            if isinstance(value.get(key), str) and value[key].strip():
                return str(value[key]).strip()[:200]
    if isinstance(value, list):
        names = [v for v in (_owner_text(x) for x in value) if v]
        return ", ".join(names)[:200] if names else None
    return None


def _meta(node: Mapping[str, Any], key: str) -> str | None:
    for meta in (node.get("meta"), (node.get("config") or {}).get("meta")):
        if isinstance(meta, dict):
            found = _owner_text(meta.get(key))
            if found:
                return found
    return None


def _group(node: Mapping[str, Any]) -> str | None:
    group = node.get("group") or (node.get("config") or {}).get("group")
    return group if isinstance(group, str) and group else None


def _lineage(graph: _Graph, unique_id: str) -> Lineage:
    node = graph.nodes.get(unique_id, {})
    resource = _resource(unique_id)
    tested: list[str] = []
    if resource in ("test", "unit_test"):
        ups = graph.parents.get(unique_id)
        tested = [u for u in (ups if isinstance(ups, list) else []) if isinstance(u, str)]
        if not tested and resource == "unit_test":
            deps = node.get("depends_on", {}).get("nodes")
            tested = [u for u in deps if isinstance(u, str)] if isinstance(deps, list) else []
        start = tested
    else:
        start = [unique_id]
    down, cut_down = graph.walk(start, graph.children)
    up, cut_up = graph.walk(start, graph.parents)
    sources = [u for u in (*start, *up) if _resource(u) == "source" and u != unique_id]
    models = [u for u in down if _resource(u) in _DOWNSTREAM_TYPES and u not in start]
    exposures = [u for u in down if _resource(u) == "exposure"]
    owner = _meta(node, "owner")
    team = _meta(node, "team")
    group = _group(node)
    for other in tested:  # a test without its own owner belongs to what it tests
        if owner and team and group:
            break
        parent = graph.nodes.get(other, {})
        owner = owner or _meta(parent, "owner")
        team = team or _meta(parent, "team")
        group = group or _group(parent)
    group_owner = _owner_text(graph.groups.get(group, {}).get("owner")) if group else None
    return Lineage(
        unique_id=unique_id,
        upstream_sources=tuple(dict.fromkeys(sources)),
        downstream_models=tuple(models),
        downstream_exposures=tuple(exposures),
        tested_nodes=tuple(tested),
        owner=owner or group_owner,
        team=team or group,
        group=group,
        group_owner=group_owner,
        truncated=cut_down or cut_up,
    )


def lineage(manifest: Mapping[str, Any], unique_id: str) -> Lineage:
    """Upstream sources, downstream models and exposures, and the owner of one node, from a
    decoded ``manifest.json`` (see :func:`load_manifest`)."""
    return _lineage(_Graph(manifest), unique_id)


def lineage_for_report(
    manifest: Mapping[str, Any], report: RunReport, *, failing_only: bool = True
) -> dict[str, Lineage]:
    """The lineage of each (failing) result of ``report`` that the manifest knows."""
    graph = _Graph(manifest)
    return {
        r.check: _lineage(graph, r.check)
        for r in report.results
        if r.check in graph.nodes and (r.status.is_failure or not failing_only)
    }


# --------------------------------------------------------------------------------------------
# Console logs
# --------------------------------------------------------------------------------------------

_CLOCK = re.compile(r"^\d\d:\d\d:\d\d(?:\.\d+)?(?:  |$)")
_NODE_LINE = re.compile(
    r"^(?P<index>\d+) of (?P<total>\d+) (?P<status>OK|PASS|FAIL|WARN|SKIP|NO-OP|ERROR STALE|"
    r"WARN STALE|ERROR|PARTIAL SUCCESS)(?: (?P<count>\d+))? (?P<what>.+?)"
    r"(?: \.+)? +\[(?P<tail>[^\]]*)\]\s*$"
)
_IN_SECONDS = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")
_SUMMARY = re.compile(
    r"^(?P<kind>Failure|Warning|Error) in (?P<resource>[\w ]+?) (?P<name>[\w.\-]+)"
    r"(?: \((?P<path>[^)]*)\))?\s*$"
)
_ERROR_IN = re.compile(
    r"(?P<kind>[A-Z][a-z]+(?: [A-Z][a-z]+)?) Error in (?P<resource>[\w ]+?) (?P<name>[\w.\-]+)"
    r"(?: \((?P<path>[^)]*)\))?"
)
_UNIQUE_ID = re.compile(
    r"\b(?P<resource>model|seed|snapshot|test|unit_test|source|analysis|exposure)\."
    r"(?P<project>\w+)\.[\w.\-]+"
)
_COMPILED_AT = re.compile(r"target/(?:compiled|run)/(\w+)/")
_ERROR_KIND = re.compile(r"^\s*(?P<kind>[A-Za-z][A-Za-z ]{0,40}?) Error\b")
_RESULT_EVENTS_SKIP = frozenset(
    {
        "LogStartLine",
        "RunResultFailure",
        "RunResultError",
        "RunResultErrorNoMessage",
        "RunResultWarning",
        "RunResultWarningMessage",
        "SQLCompiledPath",
        "NodeStart",
        "NodeExecuting",
        "NodeCompiling",
    }
)
_FINAL = frozenset({"success", "pass", "error", "fail", "warn", "skipped", "runtime error"})


@dataclass(slots=True)
class _Node:
    resource: str  # model / seed / snapshot / test / unit_test / source / relation
    name: str
    status: Status
    warning: bool = False
    failures: int | None = None
    duration: float | None = None
    unique_id: str | None = None
    message: str = ""
    log: str = ""


@dataclass(slots=True)
class _Console:
    nodes: dict[str, _Node] = field(default_factory=dict)  # by unique_id or resource.name
    errors: list[str] = field(default_factory=list)  # "Encountered an error" blocks
    projects: Counter[str] = field(default_factory=Counter)
    invocation_id: str | None = None
    first_ts: str | None = None
    last_ts: str | None = None
    digest: Any = field(default_factory=hashlib.sha256)


def sniff_artifacts(head: bytes) -> bool:
    """A dbt ``run_results.json`` (or ``sources.json``): its schema URL is in the metadata."""
    text = head[:65536]
    return b'"dbt_schema_version"' in text and (
        b"/run-results/" in text or b"/dbt/sources/" in text
    )


def sniff_console(head: bytes) -> bool:
    """dbt's console output or ``--log-format json`` lines."""
    text = head[:65536]
    if b'"dbt_schema_version"' in text:
        return False
    if b"Running with dbt=" in text:
        return True
    return b'"invocation_id"' in text and b'"log_version"' in text


def _clean(line: str) -> str:
    line = strip_ansi(line.rstrip("\r\n"))
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS]
    m = _CLOCK.match(line)
    return line[m.end() :] if m else line


def _lines_of(source: Path | Iterable[str], origin: str) -> Iterator[str]:
    if isinstance(source, Path):
        try:
            fh = source.open("r", encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise InputError(origin, "", f"cannot read: {exc.strerror or exc}") from None
        with fh:
            yield from fh
    else:
        for line in source:
            yield from line.splitlines() or [""]


def parse_console_log(
    source: Path | Iterable[str],
    *,
    repository: str | None = None,
    project_repositories: Mapping[str, str] | None = None,
    project: str | None = None,
    manifest: Mapping[str, Any] | None = None,
    origin: str | None = None,
) -> RunReport:
    """The report of a dbt console log (plain, coloured or ``--log-format json``).

    Check keys are the nodes' ``unique_id``\\ s: JSON logs carry them; in plain logs they are
    rebuilt from the project name (``project``, the manifest's, or the one in the log's
    ``target/compiled/<project>/`` paths) and, for tests (whose ids end in a hash), looked up in
    ``manifest`` when given, else ``test.<project>.<name>``.
    """
    where = origin or (str(source) if isinstance(source, Path) else "dbt log")
    state = _Console()
    pending: list[str] | None = None  # an "Encountered an error" block being read
    summary: tuple[str, str, list[str]] | None = None  # (resource, name, lines)
    line_no = 0
    seen_clock = False
    for raw in _lines_of(source, where):
        line_no += 1
        stripped = raw.lstrip()
        if stripped.startswith("{"):
            event = _json_event(stripped)
            if event is not None:
                state.digest.update(stripped.encode("utf-8", "replace"))
                _on_json(state, event)
                continue
        line = _clean(raw)
        state.digest.update(line.encode("utf-8", "replace") + b"\n")
        for m in _UNIQUE_ID.finditer(line):
            state.projects[m.group("project")] += 1
        for m in _COMPILED_AT.finditer(line):
            state.projects[m.group(1)] += 1
        timestamped = _CLOCK.match(strip_ansi(raw)) is not None
        if pending is not None:
            if timestamped and line.strip() and not _pending_continues(line):
                state.errors.append(_block(pending))
                pending = None
            else:
                if len(pending) < MAX_BLOCK_LINES:
                    pending.append(line)
                continue
        seen_clock = seen_clock or timestamped
        if summary is not None:
            # A blank line ends a node's failure block, but only a blank line of dbt's own
            # (timestamped) when the log has timestamps: a message's own lines (a database
            # error quoting the SQL, with blank lines) come untimestamped.
            blank = not line.strip() and (timestamped or not seen_clock)
            if blank or _SUMMARY.match(line) or line.startswith("Done."):
                _attach(state, summary)
                summary = None
            else:
                if "compiled code at " in line:
                    summary[2].append("\x00" + line.strip())
                elif len(summary[2]) < MAX_BLOCK_LINES:
                    summary[2].append(line)
                continue
        if line.startswith("Encountered an error"):
            pending = []
            rest = line.split(":", 1)[1].strip() if ":" in line else ""
            if rest:
                pending.append(rest)
            continue
        head = _SUMMARY.match(line)
        if head is not None:
            summary = (head.group("resource"), head.group("name"), [])
            continue
        node_line = _NODE_LINE.match(line)
        if node_line is not None and len(state.nodes) < MAX_CONSOLE_RESULTS:
            node = _node_from_line(node_line)
            if node is not None:
                state.nodes[f"{node.resource}.{node.name}"] = node
    if pending is not None:
        state.errors.append(_block(pending))
    if summary is not None:
        _attach(state, summary)
    if not state.nodes and not state.errors and line_no == 0:
        raise InputError(where, "", "the log is empty; expected dbt console output")

    proj = project
    if proj is None and manifest is not None:
        name = manifest.get("metadata", {}).get("project_name")
        proj = name if isinstance(name, str) and name else None
    if proj is None and state.projects:
        proj = state.projects.most_common(1)[0][0]
    lookup = _name_index(manifest) if manifest is not None else {}
    graph_nodes = _node_index(manifest) if manifest is not None else {}
    results: dict[str, CheckResult] = {}
    for node in state.nodes.values():
        uid = node.unique_id or _console_uid(node, proj, lookup)
        results[uid] = _console_result(uid, node, graph_nodes.get(uid))
    for block in state.errors:
        check = _error_check(block, proj)
        results[check] = CheckResult(check=check, status=Status.ERROR, message=block)
    if not results:
        raise InputError(
            where, "", "no dbt node results or errors found (is this dbt console output?)"
        )
    repo = _repository(where, repository, project_repositories, proj)
    run_id = state.invocation_id or "dbtlog-" + state.digest.hexdigest()[:20]
    return RunReport(
        source=SOURCE,
        repository=repo,
        run_id=run_id[:200],
        started_at=_maybe_time(state.first_ts),
        finished_at=_maybe_time(state.last_ts),
        status=_run_status(results.values()),
        results=tuple(results.values()),
    )


def _pending_continues(line: str) -> bool:
    """Whether a timestamped line still belongs to an error block (dbt indents its lines)."""
    return line.startswith("  ")


def _block(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines.pop()
    text = "\n".join(lines).strip("\n")
    return _text(text) or "dbt stopped with an error (no detail in the log)"


def _attach(state: _Console, summary: tuple[str, str, list[str]]) -> None:
    resource, name, lines = summary
    paths = [ln[1:] for ln in lines if ln.startswith("\x00")]
    body = [ln for ln in lines if not ln.startswith("\x00")]
    while body and not body[-1].strip():
        body.pop()
    if body and body[0].startswith("  "):
        body[0] = body[0][2:]  # dbt indents the first line of the message by two spaces
    message = "\n".join(body)
    for key, node in state.nodes.items():
        if node.name == name and (
            key.startswith(resource.replace(" ", "_") + ".") or node.resource == "relation"
        ):
            node.message = _text(message)
            if paths:
                node.log = "\n".join(paths)
            return
    for node in state.nodes.values():
        if node.name == name:
            node.message = _text(message)
            return


def _node_from_line(m: re.Match[str]) -> _Node | None:
    word = m.group("status")
    what = m.group("what").strip()
    count = int(m.group("count")) if m.group("count") else None
    seconds = _IN_SECONDS.search(m.group("tail"))
    duration = float(seconds.group(1)) if seconds else None
    warning = word in ("WARN", "WARN STALE")
    if word in ("OK", "PASS", "NO-OP"):
        status = Status.PASS
    elif word == "SKIP":
        status = Status.SKIP
    elif word in ("FAIL", "ERROR STALE", "PARTIAL SUCCESS") or warning:
        status = Status.FAIL
    else:
        status = Status.ERROR
    if what.startswith("hook:") or what.startswith("hook "):
        return None
    if what.startswith("freshness of "):
        resource, name = "source", what.removeprefix("freshness of ").strip()
    elif what.startswith("loaded seed file "):
        resource, name = "seed", what.rsplit(" ", 1)[-1]
    elif what.startswith("snapshotted "):
        resource, name = "snapshot", what.rsplit(" ", 1)[-1]
    elif what.startswith(("created ", "creating ")):
        resource = "snapshot" if " snapshot " in f" {what} " else "model"
        name = what.rsplit(" ", 1)[-1]
    elif status is Status.SKIP and " " in what:
        kind, name = what.split(" ", 1)
        resource = "relation" if kind == "relation" else kind
        name = name.split(" ", 1)[0]
    else:
        resource, name = "test", what.split(" ", 1)[0]
    if resource in ("model", "seed", "snapshot", "relation"):
        name = name.rsplit(".", 1)[-1]  # schema.relation
    return _Node(resource, name, status, warning, count, duration)


def _name_index(manifest: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    index: dict[tuple[str, str], str] = {}
    for uid, node in _node_index(manifest).items():
        resource = _resource(uid)
        name = node.get("name")
        if not isinstance(name, str):
            continue
        if resource == "source" and isinstance(node.get("source_name"), str):
            name = f"{node['source_name']}.{name}"
        index.setdefault((resource, name), uid)
        if resource in _REFABLE:
            index.setdefault(("relation", name), uid)
            alias = node.get("alias")
            if isinstance(alias, str):
                index.setdefault(("relation", alias), uid)
    return index


def _console_uid(node: _Node, project: str | None, lookup: Mapping[tuple[str, str], str]) -> str:
    found = lookup.get((node.resource, node.name))
    if found is None and node.resource == "test":
        found = lookup.get(("unit_test", node.name))
    if found is not None:
        return found
    resource = "model" if node.resource == "relation" else node.resource
    return f"{resource}.{project}.{node.name}" if project else f"{resource}.{node.name}"


def _console_result(uid: str, node: _Node, manifest_node: Mapping[str, Any] | None) -> CheckResult:
    message = node.message
    resource = _resource(uid)
    if resource in ("test", "unit_test") and node.status.is_failure:
        message = _test_message(message, uid, manifest_node, node.failures, node.status)
    elif node.status is Status.ERROR and not message:
        message = f"dbt reported an error for {uid}"
    if node.warning:
        message = f"Warning: {message}" if message else "Warning"
    if node.status is Status.SKIP:
        message = ""
    return CheckResult(
        check=uid[:MAX_CHECK_CHARS],
        status=node.status,
        message=message,
        log=node.log if node.status.is_failure else "",
        duration_s=node.duration,
    )


def _error_check(block: str, project: str | None) -> str:
    m = _UNIQUE_ID.search(block)
    if m is not None:
        return m.group(0)[:MAX_CHECK_CHARS]
    m2 = _ERROR_IN.search(block)
    if m2 is not None:
        resource = m2.group("resource").replace(" ", "_")
        name = m2.group("name")
        return f"{resource}.{project}.{name}" if project else f"{resource}.{name}"
    kind = _ERROR_KIND.match(block)
    label = kind.group("kind").strip().lower() if kind else "error"
    return f"dbt / {label}"


def _json_event(text: str) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # a truncated last line or a non-JSON line: read as text
    if isinstance(obj, dict) and isinstance(obj.get("info"), dict):
        return obj
    return None


def _on_json(state: _Console, event: Mapping[str, Any]) -> None:
    info: Mapping[str, Any] = event["info"]
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    name = info.get("name")
    ts = info.get("ts")
    if isinstance(ts, str):
        state.first_ts = state.first_ts or ts
        state.last_ts = ts
    inv = info.get("invocation_id")
    if isinstance(inv, str) and inv and state.invocation_id is None:
        state.invocation_id = inv
    raw_msg = info.get("msg")
    msg = strip_ansi(raw_msg) if isinstance(raw_msg, str) else ""
    if name == "MainEncounteredError" or msg.startswith("Encountered an error"):
        exc = data.get("exc")
        text = exc if isinstance(exc, str) else msg.split("\n", 1)[-1]
        state.errors.append(_block(strip_ansi(text).splitlines()))
        return
    node_info = data.get("node_info")
    if not isinstance(node_info, dict):
        return
    uid = node_info.get("unique_id")
    if not isinstance(uid, str) or not uid:
        return
    state.projects[uid.split(".")[1] if uid.count(".") >= 2 else ""] += 1
    node = state.nodes.get(uid)
    if name in ("RunResultError", "RunResultWarningMessage"):
        if node is not None and isinstance(data.get("msg"), str):
            text = strip_ansi(data["msg"])
            node.message = _text(text[2:] if text.startswith("  ") else text)
        return
    if name == "SQLCompiledPath":
        if node is not None and isinstance(data.get("path"), str):
            node.log = f"compiled code at {data['path']}"
        return
    if name in _RESULT_EVENTS_SKIP:
        return
    node_status = node_info.get("node_status")
    if not isinstance(node_status, str) or node_status not in _FINAL:
        return
    if len(state.nodes) >= MAX_CONSOLE_RESULTS and uid not in state.nodes:
        return
    status, warning = _map_status(node_status, uid)
    failures = data.get("num_failures")
    state.nodes[uid] = _Node(
        resource=_resource(uid),
        name=str(node_info.get("node_name") or uid),
        status=status,
        warning=warning,
        failures=failures if isinstance(failures, int) and not isinstance(failures, bool) else None,
        duration=_duration(data.get("execution_time")),
        unique_id=uid[:MAX_CHECK_CHARS],
    )


def _maybe_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None

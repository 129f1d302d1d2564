"""Reading dbt's JSON artifacts and validating them against their published schema versions
(with `dbt-artifacts-parser`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from triagehub.errors import InputError
from triagehub.sources.documents import decode_object, read_bounded
from triagehub.sources.jsontypes import json_type as _type

MAX_ARTIFACT_BYTES = 1 << 30  # 1 GiB per JSON file (large projects' manifests reach 100s of MB)
MAX_WARNINGS = 50

_SCHEMA_URL = re.compile(r"/dbt/([a-z][a-z-]*)/v(\d+)\.json$")


def _supported(kind: str) -> list[str]:
    # dbt-artifacts-parser takes ~2 s to import (pydantic models of every schema version): only
    # when an artifact is read, not whenever the CLI starts.
    from dbt_artifacts_parser.parsers.version_map import ArtifactTypes

    return [
        t.value.dbt_schema_version
        for t in ArtifactTypes
        if f"/dbt/{kind}/" in t.value.dbt_schema_version
    ]


def load_json(path: Path) -> dict[str, Any]:
    """A dbt JSON artifact, decoded (not validated)."""
    raw = read_bounded(
        path,
        MAX_ARTIFACT_BYTES,
        over="not a dbt artifact",
        empty="expected a dbt JSON artifact",
    )
    return decode_object(raw, str(path))


def schema_of(doc: Mapping[str, Any], origin: str) -> tuple[str, str]:
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


def validate(
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
        warn(
            warnings,
            f"{origin}: fields unknown to the {version.rsplit('/', 1)[-1]} schema were ignored "
            f"(a newer dbt?): {', '.join(fields[:5])}{' ...' if len(fields) > 5 else ''}",
        )
    except ValueError as exc:  # the parser's own "Not a run-results.json"
        raise InputError(origin, "metadata.dbt_schema_version", str(exc)) from None


def warn(warnings: list[str], text: str) -> None:
    """Add a warning about the input (at most MAX_WARNINGS are kept)."""
    if len(warnings) < MAX_WARNINGS:
        warnings.append(text)


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and validate a ``manifest.json`` (any published schema version)."""
    doc = load_json(path)
    kind, version = schema_of(doc, str(path))
    if kind != "manifest":
        raise InputError(str(path), "metadata.dbt_schema_version", f"a {kind} file, not manifest")
    validate(doc, str(path), kind, version, [])
    return doc


def load_manifest_lenient(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    """The manifest is optional: a schema it cannot be validated against only loses lineage,
    but a malformed file is still an error (it is corrupt, not merely unknown)."""
    doc = load_json(path)
    try:
        kind, version = schema_of(doc, str(path))
        if kind != "manifest":
            raise InputError(str(path), "metadata.dbt_schema_version", f"a {kind} file")
        validate(doc, str(path), kind, version, warnings)
    except InputError as exc:
        warn(warnings, f"manifest ignored (no test types, lineage or owners): {exc}")
        return None
    return doc

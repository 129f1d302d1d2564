"""How dbt nodes are named: ``unique_id``\\ s, resource types, manifest indexes, and the project
and repository a run belongs to."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from triagehub.errors import InputError
from triagehub.sources.events import REPOSITORY

MAX_CHECK_CHARS = 1000

_TEST_HASH = re.compile(r"(?P<name>test\.[^.\s]+\.[^.\s]+)\.[0-9a-f]{10}")
_REFABLE = ("model", "seed", "snapshot")


def node_identity(check: str) -> str:
    """The name of a dbt node that every dbt output can give: a generic test's ``unique_id``
    ends in a hash that only the manifest knows (``test.jaffle.unique_orders_id.c7614daada``),
    while a plain console log prints the test's name (``unique_orders_id``), which dbt keeps
    unique within a project. Other nodes' keys are returned unchanged."""
    m = _TEST_HASH.fullmatch(check)
    return m.group("name") if m else check


def resource(unique_id: str) -> str:
    """The resource type of a ``unique_id`` (``model``, ``test``, ``source``, ...)."""
    return unique_id.split(".", 1)[0]


def check_key(unique_id: object, origin: str, where: str) -> str:
    """A result's ``unique_id`` as its check key (an ``InputError`` when missing)."""
    if not isinstance(unique_id, str) or not unique_id.strip():
        raise InputError(origin, f"{where}.unique_id", "missing or empty")
    return unique_id.strip()[:MAX_CHECK_CHARS]


def node_index(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every node of a manifest (models, tests, sources, exposures, ...) by ``unique_id``."""
    index: dict[str, Mapping[str, Any]] = {}
    for section in ("nodes", "sources", "unit_tests", "exposures", "snapshots", "seeds"):
        part = manifest.get(section)
        if isinstance(part, dict):
            for uid, node in part.items():
                if isinstance(node, dict):
                    index[uid] = node
    return index


def name_index(manifest: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """``(resource, name)`` -> ``unique_id``, and ``("relation", name or alias)`` for the nodes
    that are relations: what a plain console log names a node by."""
    index: dict[tuple[str, str], str] = {}
    for uid, node in node_index(manifest).items():
        kind = resource(uid)
        name = node.get("name")
        if not isinstance(name, str):
            continue
        if kind == "source" and isinstance(node.get("source_name"), str):
            name = f"{node['source_name']}.{name}"
        index.setdefault((kind, name), uid)
        if kind in _REFABLE:
            index.setdefault(("relation", name), uid)
            alias = node.get("alias")
            if isinstance(alias, str):
                index.setdefault(("relation", alias), uid)
    return index


def manifest_project(manifest: Mapping[str, Any] | None) -> str | None:
    """The ``metadata.project_name`` of a manifest, when it has one."""
    if manifest is None:
        return None
    name = manifest.get("metadata", {}).get("project_name")
    return name if isinstance(name, str) and name else None


def project_of(manifest: Mapping[str, Any] | None, results: Mapping[str, Any]) -> str | None:
    """The project of a run: the manifest's, else the most common in the results' ids."""
    name = manifest_project(manifest)
    if name is not None:
        return name
    counts = Counter(uid.split(".")[1] for uid in results if uid.count(".") >= 2)
    return counts.most_common(1)[0][0] if counts else None


def repository_of(
    origin: str,
    repository: str | None,
    project_repositories: Mapping[str, str] | None,
    project: str | None,
) -> str:
    """The repository given, else the one mapped to the project; validated as OWNER/NAME."""
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

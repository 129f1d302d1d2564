"""Lineage: where a dbt node sits in the project graph (upstream sources, downstream models and
exposures) and who owns it, from the manifest."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from triagehub.core.models import RunReport
from triagehub.sources.dbt.identity import node_index, resource

MAX_LINEAGE_NODES = 5000  # per direction, per node: a bound on a hostile or huge graph

_DOWNSTREAM_TYPES = frozenset({"model", "snapshot", "seed"})


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


class _Graph:
    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.nodes = node_index(manifest)
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
                if resource(other) not in ("test", "unit_test"):
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
    kind = resource(unique_id)
    tested: list[str] = []
    if kind in ("test", "unit_test"):
        ups = graph.parents.get(unique_id)
        tested = [u for u in (ups if isinstance(ups, list) else []) if isinstance(u, str)]
        if not tested and kind == "unit_test":
            deps = node.get("depends_on", {}).get("nodes")
            tested = [u for u in deps if isinstance(u, str)] if isinstance(deps, list) else []
        start = tested
    else:
        start = [unique_id]
    down, cut_down = graph.walk(start, graph.children)
    up, cut_up = graph.walk(start, graph.parents)
    sources = [u for u in (*start, *up) if resource(u) == "source" and u != unique_id]
    models = [u for u in down if resource(u) in _DOWNSTREAM_TYPES and u not in start]
    exposures = [u for u in down if resource(u) == "exposure"]
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

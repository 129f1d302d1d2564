"""Online template mining: clusters that keep their ids as messages arrive."""

from __future__ import annotations

from dataclasses import dataclass

from triagehub.core.templates.align import aligns, generalise, skeleton_of, wildcard_fits
from triagehub.core.templates.masking import VARIABLE_THRESHOLD, WILDCARD, Masker, TokenKey

_EXACT_CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Mined:
    """A message's cluster: its id (stable for the life of the miner) and current template."""

    cluster_id: int
    template: str


class _Cluster:
    __slots__ = ("cluster_id", "mined", "near_values", "tokens")

    def __init__(self, cluster_id: int, tokens: TokenKey) -> None:
        self.cluster_id = cluster_id
        self.tokens = list(tokens)
        # Values seen at a constant position in messages that differed only a little.
        self.near_values: dict[int, set[str]] = {}
        self.mined = Mined(cluster_id, " ".join(tokens))

    def generalise(self, position: int, value: str) -> None:
        self.tokens[position] = generalise((self.tokens[position], value))
        self.near_values.pop(position, None)
        self.mined = Mined(self.cluster_id, " ".join(self.tokens))


def _named_apart(a: str, b: str) -> bool:
    """Two tokens that differ only by a word in front: ``LOGIN(uid=<*>)`` and ``(uid=<*>)``
    name different calls, not one with a variable part (the word is a constant until it has
    varied like any constant)."""
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return len(short) < len(long) and long.endswith(short) and long[: -len(short)].isalpha()


class TemplateMiner:
    """Online template miner: :meth:`add` messages one at a time.

    A message joins the cluster whose template it fits (the most specific one if several do).
    A message that differs from a cluster only in a few constant positions (at most
    ``max_diff_ratio`` of them) joins it, generalising its template, when every differing
    position looks variable on both sides or has now shown ``variable_threshold`` distinct
    values; a message that differs only in how many variable tokens it holds joins the cluster it
    aligns with. Otherwise it starts a new cluster. Cluster ids start at 1 and never change.
    """

    def __init__(
        self,
        *,
        variable_threshold: int = VARIABLE_THRESHOLD,
        max_diff_ratio: float = 0.5,
        masker: Masker | None = None,
    ) -> None:
        if variable_threshold < 2:
            raise ValueError("variable_threshold must be at least 2")
        if not 0.0 <= max_diff_ratio <= 1.0:
            raise ValueError("max_diff_ratio must be between 0 and 1")
        self._threshold = variable_threshold
        self._max_diff_ratio = max_diff_ratio
        # A masker may be shared by miners: it only remembers how each token is masked.
        self._masker = masker if masker is not None else Masker()
        self._clusters: list[_Cluster] = []
        self._exact: dict[TokenKey, _Cluster] = {}
        # (length, position, constant token) -> clusters with that constant there.
        self._index: dict[tuple[int, int, str], list[_Cluster]] = {}
        # length -> clusters without any constant token.
        self._unanchored: dict[int, list[_Cluster]] = {}
        self._by_skeleton: dict[TokenKey, list[_Cluster]] = {}

    def __len__(self) -> int:
        return len(self._clusters)

    def add(self, message: str) -> Mined:
        """Assign ``message`` to a cluster (learning from it) and return that cluster."""
        key = self._masker.tokens(message)
        cluster = self._exact.get(key)
        if cluster is None:
            candidates = self._candidates(key)
            cluster = (
                self._fit(key, candidates)
                or self._near(key, candidates)
                or self._aligned(key)
                or self._new_cluster(key)
            )
            if len(self._exact) >= _EXACT_CACHE_LIMIT:
                self._exact.clear()
            self._exact[key] = cluster
        return cluster.mined

    def match(self, message: str) -> Mined | None:
        """The cluster whose template ``message`` fits, without learning; None if there is none."""
        key = self._masker.tokens(message)
        cluster = (
            self._exact.get(key) or self._fit(key, self._candidates(key)) or self._aligned(key)
        )
        return cluster.mined if cluster is not None else None

    def templates(self) -> list[Mined]:
        """All clusters, in id order."""
        return [cluster.mined for cluster in self._clusters]

    # -- internals ---------------------------------------------------------------------------

    def _candidates(self, key: TokenKey) -> list[_Cluster]:
        """Clusters of the same length sharing a constant at the same position, or none."""
        length = len(key)
        index = self._index
        seen: dict[int, _Cluster] = {}
        for i, token in enumerate(key):
            if WILDCARD in token:
                continue
            for cluster in index.get((length, i, token), ()):
                seen.setdefault(cluster.cluster_id, cluster)
        for cluster in self._unanchored.get(length, ()):
            seen.setdefault(cluster.cluster_id, cluster)
        return [seen[cid] for cid in sorted(seen)]

    def _fit(self, key: TokenKey, candidates: list[_Cluster]) -> _Cluster | None:
        """The most specific cluster whose template ``key`` fits."""
        best: _Cluster | None = None
        best_constants = -1
        for cluster in candidates:
            constants = 0
            for token, value in zip(cluster.tokens, key, strict=True):
                if token == value:
                    if WILDCARD not in token:
                        constants += 1
                elif WILDCARD not in token or not wildcard_fits(token, value):
                    break
            else:
                if constants > best_constants:
                    best, best_constants = cluster, constants
        return best

    def _near(self, key: TokenKey, candidates: list[_Cluster]) -> _Cluster | None:
        """Join a cluster that ``key`` differs from in a few variable-looking positions."""
        near: list[tuple[int, int, _Cluster, list[int]]] = []
        for cluster in candidates:
            diff: list[int] = []
            constants = 0
            equal = 0
            for i, (token, value) in enumerate(zip(cluster.tokens, key, strict=True)):
                has_wildcard = WILDCARD in token
                if not has_wildcard:
                    constants += 1
                if token == value:
                    if not has_wildcard:
                        equal += 1
                elif not has_wildcard or not wildcard_fits(token, value):
                    diff.append(i)
            if equal and len(diff) <= self._max_diff_ratio * constants:
                near.append((len(diff), cluster.cluster_id, cluster, diff))
        if not near:
            return None
        near.sort(key=lambda item: (item[0], item[1]))
        values_in_key = set(key)
        for _, _, cluster, diff in near:
            if self._absorbs(cluster, key, diff, values_in_key):
                self._generalise(cluster, key, diff)
                return cluster
            for i in diff:
                seen = cluster.near_values.setdefault(i, set())
                if len(seen) < self._threshold:  # counting further changes nothing
                    seen.add(key[i])
        return None

    def _absorbs(self, cluster: _Cluster, key: TokenKey, diff: list[int], values: set[str]) -> bool:
        tokens = cluster.tokens
        for i in diff:
            token, value = tokens[i], key[i]
            token_wild = WILDCARD in token
            value_wild = WILDCARD in value
            # A constant that occurs elsewhere in the other sequence has shifted: no variable.
            if (not token_wild and token in values) or (not value_wild and value in tokens):
                return False
            if (
                value_wild
                and (token_wild or wildcard_fits(value, token))
                and not _named_apart(token, value)
            ):
                continue
            seen = cluster.near_values.get(i, set())
            distinct = len(seen) + (1 if value not in seen else 0) + 1
            if distinct < self._threshold:
                return False
        return True

    def _generalise(self, cluster: _Cluster, key: TokenKey, diff: list[int]) -> None:
        for i in diff:
            cluster.generalise(i, key[i])
        self._register(cluster)

    def _aligned(self, key: TokenKey) -> _Cluster | None:
        skeleton = skeleton_of(key)
        if not skeleton:
            return None
        for cluster in self._by_skeleton.get(skeleton, ()):
            if aligns(cluster.tokens, key):
                return cluster
        return None

    def _new_cluster(self, key: TokenKey) -> _Cluster:
        cluster = _Cluster(len(self._clusters) + 1, key)
        self._clusters.append(cluster)
        length = len(key)
        anchored = False
        for i, token in enumerate(key):
            if WILDCARD not in token:
                self._index.setdefault((length, i, token), []).append(cluster)
                anchored = True
        if not anchored:
            self._unanchored.setdefault(length, []).append(cluster)
        self._register(cluster)
        return cluster

    def _register(self, cluster: _Cluster) -> None:
        skeleton = skeleton_of(cluster.tokens)
        if skeleton:
            members = self._by_skeleton.setdefault(skeleton, [])
            if cluster not in members:
                members.append(cluster)

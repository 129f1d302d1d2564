"""Template derivation: generalising tokens and aligning templates of different lengths."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from triagehub.core.templates.masking import WILDCARD, TokenKey, is_pure_wildcard

# How many tokens a ``<*>`` may absorb when templates of different lengths are aligned.
_MAX_ABSORBED = 8


def wildcard_fits(pattern: str, value: str) -> bool:
    """Whether ``value`` is an instance of ``pattern`` (``<*>`` stands for any text)."""
    parts = pattern.split(WILDCARD)
    head, tail = parts[0], parts[-1]
    if len(head) + len(tail) > len(value) or not value.startswith(head):
        return False
    if not value.endswith(tail):
        return False
    position = len(head)
    end = len(value) - len(tail)
    for part in parts[1:-1]:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def generalise(values: Iterable[str]) -> str:
    """The most specific token that all ``values`` fit: common prefix and suffix around ``<*>``
    (never cut inside a word), or ``<*>`` alone when nothing but punctuation would remain."""
    items = list(values)
    first = items[0]
    prefix_len = len(first)
    suffix_len = len(first)
    shortest = len(first)
    for item in items[1:]:
        shortest = min(shortest, len(item))
        limit = min(prefix_len, len(item))
        k = 0
        while k < limit and first[k] == item[k]:
            k += 1
        prefix_len = k
        limit = min(suffix_len, len(item))
        k = 0
        while k < limit and first[-1 - k] == item[-1 - k]:
            k += 1
        suffix_len = k
    prefix = first[:prefix_len]
    while prefix and (prefix[-1].isalnum() or prefix[-1] in "<*_"):
        prefix = prefix[:-1]
    suffix = first[len(first) - suffix_len :] if suffix_len else ""
    while suffix and (suffix[0].isalnum() or suffix[0] in ">*_"):
        suffix = suffix[1:]
    if len(prefix) + len(suffix) > shortest:
        suffix = ""
    token = prefix + WILDCARD + suffix
    while WILDCARD + WILDCARD in token:
        token = token.replace(WILDCARD + WILDCARD, WILDCARD)
    return WILDCARD if is_pure_wildcard(token) else token


def skeleton_of(tokens: Sequence[str]) -> TokenKey:
    """The constant tokens of a template, in order."""
    return tuple(token for token in tokens if WILDCARD not in token)


def _gaps(tokens: Sequence[str]) -> list[list[str]]:
    """The runs of variable tokens before, between and after the constant tokens."""
    gaps: list[list[str]] = [[]]
    for token in tokens:
        if WILDCARD in token:
            gaps[-1].append(token)
        else:
            gaps.append([])
    return gaps


def _gap_aligns(a: list[str], b: list[str]) -> bool:
    """Whether two runs of variable tokens align: equal tokens match each other, and a pure
    wildcard (``<*>``, ``(<*>)``) matches any run of the other side's tokens, even an empty one.
    """
    n, m = len(a), len(b)
    pure_a = [is_pure_wildcard(token) for token in a]
    pure_b = [is_pure_wildcard(token) for token in b]
    # ok[i][j]: a[i:] aligns with b[j:]; filled from the end.
    ok = [[False] * (m + 1) for _ in range(n + 1)]
    ok[n][m] = True
    for i in range(n, -1, -1):
        row = ok[i]
        for j in range(m, -1, -1):
            if i == n and j == m:
                continue
            matched = i < n and j < m and a[i] == b[j] and ok[i + 1][j + 1]
            if not matched and i < n and pure_a[i]:
                matched = any(ok[i + 1][j : min(m, j + _MAX_ABSORBED) + 1])
            if not matched and j < m and pure_b[j]:
                matched = any(ok[k][j + 1] for k in range(i, min(n, i + _MAX_ABSORBED) + 1))
            row[j] = matched
    return ok[0][0]


def aligns(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two templates differ only in how many variable tokens they hold.

    Their constant tokens must be the same, in the same order; between two constants, a
    pure-wildcard token (``<*>``, ``(<*>)``) may stand for any run, possibly empty, of at most
    a few variable tokens of the other template, and other variable tokens (``user=<*>``) must be
    equal.
    """
    gaps_a = _gaps(a)
    gaps_b = _gaps(b)
    if len(gaps_a) != len(gaps_b) or skeleton_of(a) != skeleton_of(b):
        return False
    return all(
        gap_a == gap_b or _gap_aligns(gap_a, gap_b)
        for gap_a, gap_b in zip(gaps_a, gaps_b, strict=True)
    )

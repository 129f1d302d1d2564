"""Fuzzy search for the dashboard's ``q`` filter (rapidfuzz).

A text matches when every word of the query is found in it, give or take a typo: a word's
score is rapidfuzz's ``partial_ratio`` (the best alignment of the word inside the text, 0..100),
the text's score the mean over the query's words, and an item's score the best of its texts (a
title, the test names of its checks, ...). ``dashbord`` finds ``tests/dashboard.spec.ts``;
``export csv`` finds ``test_export_report_writes_csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from rapidfuzz import fuzz, process, utils

T = TypeVar("T")
CUTOFF = 82.0
MAX_WORDS = 8
MIN_SPLIT = 6  # words this long are looked up by halves: each half has 3 characters at least
MAX_SPLIT = 3  # the longest words of a query looked up so


def words(query: str) -> list[str]:
    found = [w for w in utils.default_process(query).split() if w]
    return found[:MAX_WORDS]


def halves(query: str) -> list[str]:
    """The halves of the query's longest words (at most :data:`MAX_SPLIT` of them, of
    :data:`MIN_SPLIT` characters or more), the probes of a typo-tolerant lookup in a substring
    index: a word with one typo (a letter changed, added or dropped) still holds one of its
    halves whole, ``dashbord`` its ``dash``."""
    long = sorted({w for w in words(query) if len(w) >= MIN_SPLIT}, key=lambda w: (-len(w), w))
    out: list[str] = []
    for word in long[:MAX_SPLIT]:
        middle = len(word) // 2
        out += [word[:middle], word[middle:]]
    return list(dict.fromkeys(out))


def rank(
    query: str,
    items: Sequence[T],
    texts: Callable[[T], Sequence[str]],
    *,
    cutoff: float = CUTOFF,
) -> list[tuple[T, float]]:
    """The items matching ``query``, best first (stable for equal scores)."""
    terms = words(query)
    if not terms or not items:
        return []
    flat: list[str] = []
    owner: list[int] = []
    for n, item in enumerate(items):
        for text in texts(item):
            if text:
                flat.append(utils.default_process(text))
                owner.append(n)
    if not flat:
        return []
    matrix = process.cdist(terms, flat, scorer=fuzz.partial_ratio, workers=1)
    per_text = matrix.mean(axis=0)
    best = [0.0] * len(items)
    for text_index, score in enumerate(per_text.tolist()):
        n = owner[text_index]
        if score > best[n]:
            best[n] = score
    hits = [(items[n], round(best[n], 1)) for n in range(len(items)) if best[n] >= cutoff]
    hits.sort(key=lambda pair: -pair[1])
    return hits

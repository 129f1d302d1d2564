"""A memo that stays bounded whatever the input: the one shape of the per-line and per-message
caches of ``core`` (line kinds, headline ranks, footers, digit shapes, fingerprints, kinds).

A lookup is the plain ``dict.get`` (no Python frame on the hot path); :meth:`BoundedMemo.keep`
stores an answer, emptying the memo first when it holds ``limit`` entries or keys of ``char_limit``
characters in all. Emptying (rather than evicting one entry) keeps a miss cheap; a workload whose
answers repeat fills the memo again at once.
"""

from __future__ import annotations

import sys
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(dict[K, V]):
    """A dict emptied when full: at most ``limit`` entries, and at most ``char_limit`` characters of
    keys (the ``size`` each :meth:`keep` is told) before the next one is kept."""

    __slots__ = ("char_limit", "limit", "used")

    def __init__(self, limit: int, char_limit: int = sys.maxsize) -> None:
        super().__init__()
        self.limit = limit
        self.char_limit = char_limit
        self.used = 0  # the characters of the keys kept since the memo was last emptied

    def keep(self, key: K, value: V, size: int = 0) -> V:
        """Store ``value`` for ``key`` (``size``: its key's characters) and return it."""
        if len(self) >= self.limit or self.used >= self.char_limit:
            self.clear()
        self[key] = value
        self.used += size
        return value

    def clear(self) -> None:
        super().clear()
        self.used = 0

"""A regex for a set of words written as their prefix tree (used by the excerpt's line patterns; a
module of its own so that other packages of core can use it without importing the excerpt's)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_Tree = dict[str, "_Tree"]


def any_word(words: Iterable[str]) -> str:
    """A regex that matches exactly the given words, written as their prefix tree
    (``a(?:bort|ssert)|c(?:annot|aused)``): at each position the regex engine then tries the few
    first characters instead of every word, which is about twice as fast as ``abort|assert|...``.
    """
    tree: _Tree = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def emit(node: _Tree) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        ends = "" in node
        body = branches[0] if len(branches) == 1 and not ends else f"(?:{'|'.join(branches)})"
        return body + "?" if ends else body

    return emit(tree)

"""Log template mining: group messages that were printed by the same statement.

A *template* is a message whose variable parts are replaced by ``<*>``. Three tools live here:

- :class:`TemplateMiner`, an online miner. :meth:`TemplateMiner.add` assigns each message to a
  cluster as it arrives; a cluster keeps its id for the life of the miner, and its template may
  only become more general. :meth:`TemplateMiner.match` looks a message up without learning.
- :func:`mine`, a batch grouping of a whole list that can use corpus-wide statistics.
- :func:`same_family`, a strict pairwise test: do two messages differ only in tokens that look
  like variables (numbers, ids, addresses, paths with digits, ...)?

Every step is deterministic and pure: no I/O, no clock, no global state, no ``hash()``.

How messages become tokens (:func:`tokenize`): the message is split on whitespace and each token
is masked on its own, so that masking is cached per distinct token (most tokens repeat). A run
of word characters that contains a digit is a variable (``blk_-1608``, ``10.0.0.1:5070``,
``0x1f``, ``node-12``), except short device-like names made of letters and one digit (``eth0``,
``ssh2``, ``SOCKS5``); a path or URL with a digit in it is one variable; month and weekday
abbreviations are variables (they belong to dates); the normaliser's placeholders (``<n>``,
``<ip>``, ...) are variables. Then a unit word after a variable is folded into it (``5 sec``,
``(1.98 KB)`` become ``<*>``, ``(<*>)``) and runs of ``<*>`` tokens become one.

Some identifiers have no digit but are variables by the shape of the line, and must be masked
from their first message on (an online miner that waits for a position to show a few values has
by then opened a cluster per value): a qualified name of three or more dotted parts
(``com.apple.icloud.fmfd.heartbeat``; not an upper-case constant such as
``android.intent.action.SCREEN_ON``, which names an event), an absolute path, the word after
``user`` and the value of ``user=``/``ruser=`` (an account name), the ``NAME`` of ``for NAME
from <address>`` in a login line, and the quoted value of a ``key="..."`` pair.

How :func:`mine` groups (after Brain, Yu et al. 2023, without its per-dataset settings):
messages of the same token count are compared position by position. For each distinct token
sequence, the frequency of each of its tokens at its position is counted over the group; the
tokens that share the most common frequency are the sequence's *root* (the constant part of its
template, which occurs exactly as often as the template does). Sequences with the same root
form a cluster, in which a position that is not in the root becomes a variable when its values
include a masked variable that all the other values fit (``<*>`` next to ``ns.example.com``), or
when it holds at least ``variable_threshold`` distinct values. Finally, templates whose constant
tokens are identical and whose differences are only in the number of ``<*>`` tokens (an optional
``(<*>)``, ``<*> <*>`` against ``<*>``) are merged.

:class:`TemplateMiner` applies the same rules online: a message joins a cluster whose template
matches it; if it differs from a cluster only in a few constant positions, it joins that cluster
(which generalises) when those positions look variable (both sides masked variables) or have
shown at least ``variable_threshold`` distinct values; otherwise it starts a new cluster.
"""

from __future__ import annotations

from triagehub.core.templates.batch import mine
from triagehub.core.templates.masking import (
    MAX_MESSAGE_CHARS,
    MAX_TOKENS,
    VARIABLE_THRESHOLD,
    WILDCARD,
    Masker,
    tokenize,
)
from triagehub.core.templates.online import Mined, TemplateMiner
from triagehub.core.templates.similarity import same_dbt_test, same_family

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TOKENS",
    "VARIABLE_THRESHOLD",
    "WILDCARD",
    "Masker",
    "Mined",
    "TemplateMiner",
    "mine",
    "same_dbt_test",
    "same_family",
    "tokenize",
]

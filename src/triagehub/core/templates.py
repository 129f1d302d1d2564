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

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triagehub.core.fingerprint import normalize, strip_ansi

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TOKENS",
    "VARIABLE_THRESHOLD",
    "WILDCARD",
    "Mined",
    "TemplateMiner",
    "mine",
    "same_family",
    "tokenize",
]

WILDCARD = "<*>"
#: Distinct values at one position from which a word position counts as a variable.
VARIABLE_THRESHOLD = 5
#: Longest part of a message that is looked at (the rest is ignored).
MAX_MESSAGE_CHARS = 4000
#: Most tokens kept per message; the rest become one ``<*>``.
MAX_TOKENS = 120

_Key = tuple[str, ...]

# A run of identifier characters with a digit in it: numbers, ids, versions, addresses.
# (The lookbehind starts matches only at the start of a run, which keeps the scan linear.)
_VARIABLE_RUN = re.compile(r"(?<![\w.+\-#~*])[\w.+\-#~*]*\d[\w.+\-#~*]*")
# Wildcards separated only by list or address punctuation are one variable (10.0.0.1,10.0.0.2).
_WILDCARD_RUN = re.compile(r"<\*>(?:[,:;/.\-_~#@]*<\*>)+")
# The placeholders of triagehub's normaliser (fingerprint.normalize), so that normalised text
# tokenizes like the raw text it came from.
_PLACEHOLDER = re.compile(r"<(?:n|hex|ip|ts|dur|tmp|uuid|date|time|port|user|url|token|check)>")
_IDENTIFIER_CHARS = string.ascii_letters + string.digits + "_.+-#~*"
_PATH_OPENERS = "([{\"'<"
_PATH_CLOSERS = ")]}\"',;:.>"
# Letters then one digit: interface, device and protocol names (eth0, sda1, ssh2, SOCKS5).
_DEVICE_NAME = re.compile(r"[A-Za-z]{2,5}\d[:,;]?")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
# What may surround wildcards in a token that is still only a variable: "(<*>)", "<*>:<*>,".
_VARIABLE_PUNCTUATION = "()[]{}<>,;:.='\"#~*/\\-_|"
_DATE_WORDS = frozenset(
    {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
    | {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
)
_UNITS = frozenset(
    {"B", "KB", "MB", "GB", "TB", "kB", "KiB", "MiB", "GiB", "bytes"}
    | {"ns", "us", "ms", "msec", "s", "sec", "secs", "second", "seconds"}
    | {"min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours"}
)
# Words after which the next word names an account, whatever it is ("session opened for user
# cyrus", "Invalid user webmaster from ..."): that word is a variable, like a number.
_ACCOUNT_WORDS = frozenset({"user", "User", "USER", "user:", "User:", "username", "username:"})
# Keys of key=value pairs whose value names an account (``user=root``).
_ACCOUNT_KEYS = frozenset({"user", "ruser", "username", "login", "logname"})
_LOGIN_LINE = re.compile(r"passw|publickey|auth|login|logon|keyboard-interactive", re.IGNORECASE)
# Words that follow such a word without naming an account ("user from ...", "user is ...").
_FUNCTION_WORDS = frozenset(
    {"a", "an", "the", "and", "or", "not", "no", "is", "was", "has", "had", "by", "for", "from"}
    | {"to", "in", "on", "at", "of", "with", "as", "id", "name", "account", "session", "login"}
)
# Names that are variables without a digit in them: three or more dotted parts
# (com.apple.Safari.SafeBrowsing.Update), a path of two or more parts from the root
# (/etc/xinetd.d/chargen), a URL, a package and a class in it (Android's
# com.tencent.mm/com.tencent.mm.ui.LauncherUI); but not a dotted name that ends in an upper-case
# constant, which names an event (android.intent.action.SCREEN_ON).
_NAME = re.compile(
    r"[A-Za-z_][\w$-]*(?:\.[A-Za-z_][\w$-]*){2,}"
    r"|(?:/[\w.$@+-]+){2,}/?"
    r"|[A-Za-z][\w+.-]*://\S+"
    r"|[A-Za-z_][\w$-]*(?:\.[\w$-]+)+/[\w.$-]+"
)
_CONSTANT = re.compile(r"[A-Za-z_][\w$-]*(?:\.[A-Za-z_][\w$-]*)+\.[A-Z\d_]+")
_TOKEN_CACHE_LIMIT = 200_000
_LONG_TOKEN = 400
_EXACT_CACHE_LIMIT = 100_000
# How many tokens a ``<*>`` may absorb when templates of different lengths are aligned.
_MAX_ABSORBED = 8


def _is_pure_wildcard(token: str) -> bool:
    """A token that is only variables and punctuation: ``<*>``, ``(<*>)``, ``<*>:<*>,``."""
    if token == WILDCARD:
        return True
    if WILDCARD not in token:
        return False
    return not token.replace(WILDCARD, "").strip(_VARIABLE_PUNCTUATION)


def _wildcard_fits(pattern: str, value: str) -> bool:
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


def _generalise(values: Iterable[str]) -> str:
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
    return WILDCARD if _is_pure_wildcard(token) else token


def _mask_token(token: str) -> str:
    """The template form of one whitespace-separated token."""
    if token.isalpha():
        return WILDCARD if token in _DATE_WORDS else token
    if token.isdigit():
        return WILDCARD
    if "<" in token:
        token = _PLACEHOLDER.sub(WILDCARD, token)
        if token.count(WILDCARD) > 1 and _DIGIT.search(token) is None:
            return _WILDCARD_RUN.sub(WILDCARD, token)
    if _DIGIT.search(token) is None:
        if "/" in token or token.count(".") > 1:  # (the names below have one of these)
            return _mask_name(token)
        return token
    if len(token) > _LONG_TOKEN:
        # Bounded work: a long token with a digit in it is one variable.
        return WILDCARD
    if _DEVICE_NAME.fullmatch(token):
        return token
    if not token.strip(_IDENTIFIER_CHARS):
        # One run of identifier characters with a digit in it (the common case, fast path).
        return WILDCARD
    if "/" in token and _LETTER.search(token) is not None:
        # A path or URL with a digit in it: one variable, keeping the brackets around it.
        head = token[: len(token) - len(token.lstrip(_PATH_OPENERS))]
        tail = token[len(token.rstrip(_PATH_CLOSERS)) :]
        if len(head) + len(tail) < len(token):
            return head + WILDCARD + tail
    masked = _VARIABLE_RUN.sub(WILDCARD, token)
    if masked.count(WILDCARD) > 1:
        masked = _WILDCARD_RUN.sub(WILDCARD, masked)
    return masked


def _mask_name(token: str) -> str:
    """A qualified name or an absolute path without digits is a variable too: which package,
    host, service or file a statement names varies (``com.apple.icloud.fmfd.heartbeat:``,
    ``android.intent.action.TIME_TICK``, ``/etc/xinetd.d/chargen``, a URL, an Android component
    ``com.tencent.mm/.ui.LauncherUI``), also as the value of a
    ``key=value`` pair; the brackets and punctuation around it, and the key, are kept."""
    head = token[: len(token) - len(token.lstrip(_PATH_OPENERS))]
    tail = token[len(token.rstrip(_PATH_CLOSERS)) :]
    core = token[len(head) : len(token) - len(tail)]
    key, equals, value = core.rpartition("=")
    if _NAME.fullmatch(value) and not _CONSTANT.fullmatch(value):
        return head + key + equals + WILDCARD + tail
    return token


# Unit words, as tokens ("sec", "KB,"): after a variable they are folded into it.
_UNIT_TOKENS = frozenset(unit + end for unit in _UNITS for end in ("", ",", ";", ".", ")"))
_ADJACENT_WILDCARDS = f"{WILDCARD} {WILDCARD}"
_TRIGGERS = _UNIT_TOKENS | _ACCOUNT_WORDS | {"from"}


def _fold_units(raws: list[str], masked: list[str]) -> None:
    """Fold unit words into the variable before them: "<*> sec" -> "<*>", "<*> KB," -> "<*>,"."""
    positions: list[int] = []
    for unit in _UNIT_TOKENS.intersection(raws):
        position = raws.index(unit)
        while True:
            positions.append(position)
            try:
                position = raws.index(unit, position + 1)
            except ValueError:
                break
    # From the end, so that folding one unit does not move the others.
    for position in sorted(positions, reverse=True):
        if position == 0:
            continue
        before = masked[position - 1]
        if before.endswith(WILDCARD) and _is_pure_wildcard(before):
            raw = raws[position]
            masked[position - 1] = before + raw[len(raw.rstrip(",;.)")) :]
            del masked[position]


def _positions(raws: list[str], word: str) -> list[int]:
    """Where ``word`` occurs in ``raws`` (found by ``list.index``, without a Python loop over
    every token)."""
    found: list[int] = []
    start = 0
    while True:
        try:
            start = raws.index(word, start)
        except ValueError:
            return found
        found.append(start)
        start += 1


def _mask_name_after(raws: list[str], masked: list[str], i: int) -> None:
    name = raws[i]
    if name in _FUNCTION_WORDS or WILDCARD in masked[i]:
        return
    if not name.strip(_IDENTIFIER_CHARS + "@\\$"):  # a bare name, not a quoted value, k=v...
        masked[i] = WILDCARD


def _mask_accounts(raws: list[str], masked: list[str], text: str) -> None:
    """Mask account names: an account is a variable even without a digit in it, and it must
    be one from its first message on (an online miner that waits for a few names to repeat has
    already opened a cluster per name). The word after ``user``; the value of ``user=``,
    ``ruser=``...; and, in a line about logging in, ``NAME`` in ``for NAME from <address>`` (who
    connected from where: "Failed password for root from 5.36.59.76 port 42393")."""
    last = len(raws) - 1
    for word in _ACCOUNT_WORDS.intersection(raws):
        for i in _positions(raws, word):
            if i < last:
                _mask_name_after(raws, masked, i + 1)
    if "from" in raws and "for" in raws:
        for i in _positions(raws, "for"):
            if (
                i + 3 <= last
                and raws[i + 2] == "from"
                and WILDCARD in masked[i + 3]
                and _LOGIN_LINE.search(" ".join(raws[:i])) is not None
            ):
                _mask_name_after(raws, masked, i + 1)
    if "ser=" in text or "SER=" in text or "ogin=" in text or "ogname=" in text:
        for i, raw in enumerate(raws):
            if "=" not in raw:
                continue
            key, _, value = raw.partition("=")
            if (
                value
                and key.lower() in _ACCOUNT_KEYS
                and WILDCARD not in masked[i]
                and not value.strip(_IDENTIFIER_CHARS + "@\\$")
            ):
                masked[i] = f"{key}={WILDCARD}"


_QUOTED_VALUE = re.compile(r'(?P<key>[\w.-]+=)"(?P<value>[^"]*)(?P<end>"?)(?P<tail>[,;:)\]}]*)')


def _mask_quoted_values(raws: list[str], masked: list[str]) -> None:
    """A quoted value of a ``key="..."`` pair is a variable, even when it holds spaces
    (``tag="View Lock",`` -> ``tag="<*>",``)."""
    i = 0
    while i < len(raws):
        m = _QUOTED_VALUE.fullmatch(raws[i])
        if m is None:
            i += 1
            continue
        if m.group("end"):
            masked[i] = f'{m.group("key")}"{WILDCARD}"{m.group("tail")}'
            i += 1
            continue
        # The value goes on over the next tokens, up to one that closes the quote (a few at most).
        for j in range(i + 1, min(i + 8, len(raws))):
            close = raws[j].find('"')
            if close >= 0:
                tail = raws[j][close + 1 :]
                if tail.strip(",;:)]}"):
                    break  # not a plain end of the value
                masked[i] = f'{m.group("key")}"{WILDCARD}"{tail}'
                for k in range(i + 1, j + 1):
                    masked[k] = ""
                i = j
                break
        i += 1
    if "" in masked:
        masked[:] = [token for token in masked if token]


def _collapse_wildcards(masked: list[str]) -> list[str]:
    """Runs of "<*>" tokens are one variable: lists and multi-word values vary in length."""
    out: list[str] = []
    for token in masked:
        if token == WILDCARD and out and out[-1] == WILDCARD:
            continue
        out.append(token)
    return out


class _Masker:
    """Turns a message into template tokens, caching the masking of each distinct token."""

    __slots__ = ("_cache",)

    def __init__(self, *, cache: bool = True) -> None:
        self._cache: dict[str, str] | None = {} if cache else None

    def _learn(self, raw: str) -> str:
        token = _mask_token(raw)
        if self._cache is not None:
            self._cache[raw] = token
        return token

    def tokens(self, message: str) -> _Key:
        text = message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS]
        if "\x1b" in text:
            text = strip_ansi(text)
        raws = text.split()
        cache = self._cache
        if cache is None:
            masked = [_mask_token(raw) for raw in raws]
        else:
            if len(cache) > _TOKEN_CACHE_LIMIT:
                cache.clear()
            get = cache.get
            # (A masked token is never empty, so "or" only calls _learn for unseen tokens.)
            masked = [get(raw) or self._learn(raw) for raw in raws]
        # One scan of the tokens for the common case, where no rule below applies.
        triggered = not _TRIGGERS.isdisjoint(raws)
        pairs = "=" in text
        if (
            triggered
            and (not _ACCOUNT_WORDS.isdisjoint(raws) or ("from" in raws and "for" in raws))
        ) or (pairs and ("ser=" in text or "SER=" in text or "ogin=" in text or "ogname=" in text)):
            _mask_accounts(raws, masked, text)
        if pairs and '="' in text:
            _mask_quoted_values(raws, masked)
        if triggered and not _UNIT_TOKENS.isdisjoint(raws):
            _fold_units(raws, masked)
        if WILDCARD in masked and _ADJACENT_WILDCARDS in " ".join(masked):
            masked = _collapse_wildcards(masked)
        if len(masked) > MAX_TOKENS:
            del masked[MAX_TOKENS - 1 :]
            masked.append(WILDCARD)
        return tuple(masked)


def tokenize(text: str) -> list[str]:
    """The template tokens of ``text``: split on whitespace, variable-looking parts as ``<*>``.

    >>> tokenize("Connection refused to 10.0.0.1:5432 after 3 sec")
    ['Connection', 'refused', 'to', '<*>', 'after', '<*>']
    """
    return list(_Masker(cache=False).tokens(text))


def _skeleton(tokens: Sequence[str]) -> _Key:
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
    pure_a = [_is_pure_wildcard(token) for token in a]
    pure_b = [_is_pure_wildcard(token) for token in b]
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


def _aligns(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two templates differ only in how many variable tokens they hold.

    Their constant tokens must be the same, in the same order; between two constants, a
    pure-wildcard token (``<*>``, ``(<*>)``) may stand for any run, possibly empty, of at most
    a few variable tokens of the other template, and other variable tokens (``user=<*>``) must be
    equal.
    """
    gaps_a = _gaps(a)
    gaps_b = _gaps(b)
    if len(gaps_a) != len(gaps_b) or _skeleton(a) != _skeleton(b):
        return False
    return all(
        gap_a == gap_b or _gap_aligns(gap_a, gap_b)
        for gap_a, gap_b in zip(gaps_a, gaps_b, strict=True)
    )


# --------------------------------------------------------------------------------------------
# Batch mining


def _column_is_variable(values: dict[str, int], columns_of: dict[str, int], threshold: int) -> bool:
    """Whether one position of a cluster holds a variable, from the values seen there."""
    wild = [value for value in values if WILDCARD in value]
    if wild:
        # A constant that also occurs at another position is a shifted constant (an optional
        # token moved it), not a value: then the masked values prove nothing.
        shifted = any(columns_of[v] > 1 for v in values if WILDCARD not in v)
        if not shifted and all(any(_wildcard_fits(w, v) for w in wild) for v in values):
            return True
    return len(values) >= threshold


def _mine_same_length(
    keys: list[_Key], counts: dict[_Key, int], length: int, threshold: int
) -> dict[_Key, _Key]:
    """Templates for distinct token sequences of one length (Brain's root and columns)."""
    if len(keys) == 1:
        return {keys[0]: keys[0]}
    position_counts: list[dict[str, int]] = [{} for _ in range(length)]
    for key in keys:
        weight = counts[key]
        for column, token in zip(position_counts, key, strict=True):
            column[token] = column.get(token, 0) + weight
    roots: dict[tuple[tuple[int, str], ...], list[_Key]] = {}
    for key in keys:
        freqs = [column[token] for column, token in zip(position_counts, key, strict=True)]
        votes: dict[int, int] = {}
        for freq, token in zip(freqs, key, strict=True):
            if not _is_pure_wildcard(token):
                votes[freq] = votes.get(freq, 0) + 1
        best = max(votes.items(), key=lambda item: (item[1], item[0]))[0] if votes else -1
        root = tuple((i, token) for i, token in enumerate(key) if freqs[i] == best)
        roots.setdefault(root, []).append(key)
    templates: dict[_Key, _Key] = {}
    for root, members in roots.items():
        if len(members) == 1:
            templates[members[0]] = members[0]
            continue
        fixed = {i for i, _ in root}
        columns = [{} if i in fixed else _value_counts(members, counts, i) for i in range(length)]
        columns_of: dict[str, int] = {}
        for i in range(length):
            values = columns[i] if i not in fixed else {members[0][i]: 0}
            for value in values:
                columns_of[value] = columns_of.get(value, 0) + 1
        general: dict[int, str] = {}
        for i, values in enumerate(columns):
            if len(values) > 1 and _column_is_variable(values, columns_of, threshold):
                general[i] = _generalise(values)
        for key in members:
            if general:
                templates[key] = tuple(general.get(i, token) for i, token in enumerate(key))
            else:
                templates[key] = key
    return templates


def _value_counts(members: list[_Key], counts: dict[_Key, int], i: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for key in members:
        values[key[i]] = values.get(key[i], 0) + counts[key]
    return values


def _merge_aligned(template_counts: dict[_Key, int]) -> dict[_Key, _Key]:
    """Map each template to a representative: templates with the same constant tokens that
    align (see :func:`_aligns`) share the most frequent one."""
    by_skeleton: dict[_Key, list[_Key]] = {}
    for template in template_counts:
        by_skeleton.setdefault(_skeleton(template), []).append(template)
    representative: dict[_Key, _Key] = {}
    for skeleton, templates in by_skeleton.items():
        if len(templates) == 1 or not skeleton:
            for template in templates:
                representative[template] = template
            continue
        ordered = sorted(templates, key=lambda t: -template_counts[t])  # stable: ties keep order
        heads: list[_Key] = []
        for template in ordered:
            for head in heads:
                if _aligns(head, template):
                    representative[template] = head
                    break
            else:
                representative[template] = template
                heads.append(template)
    return representative


def mine(messages: Sequence[str], *, variable_threshold: int = VARIABLE_THRESHOLD) -> list[int]:
    """Group a whole list of messages; returns one cluster label per message.

    Labels are 0, 1, 2, ... in order of first appearance. The grouping uses the whole list (it is
    not the same as feeding :class:`TemplateMiner` one message at a time), and is deterministic.
    """
    masker = _Masker()
    keys = [masker.tokens(message) for message in messages]
    counts: dict[_Key, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    by_length: dict[int, list[_Key]] = {}
    for key in counts:
        by_length.setdefault(len(key), []).append(key)
    template_of: dict[_Key, _Key] = {}
    for length, group in by_length.items():
        template_of.update(_mine_same_length(group, counts, length, variable_threshold))
    template_counts: dict[_Key, int] = {}
    for key, template in template_of.items():
        template_counts[template] = template_counts.get(template, 0) + counts[key]
    representative = _merge_aligned(template_counts)
    label_of: dict[_Key, int] = {}
    labels: list[int] = []
    for key in keys:
        template = representative[template_of[key]]
        label = label_of.get(template)
        if label is None:
            label = label_of[template] = len(label_of)
        labels.append(label)
    return labels


# --------------------------------------------------------------------------------------------
# Online mining


@dataclass(frozen=True, slots=True)
class Mined:
    """A message's cluster: its id (stable for the life of the miner) and current template."""

    cluster_id: int
    template: str


class _Cluster:
    __slots__ = ("cluster_id", "mined", "near_values", "tokens")

    def __init__(self, cluster_id: int, tokens: _Key) -> None:
        self.cluster_id = cluster_id
        self.tokens = list(tokens)
        # Values seen at a constant position in messages that differed only a little.
        self.near_values: dict[int, set[str]] = {}
        self.mined = Mined(cluster_id, " ".join(tokens))

    def generalise(self, position: int, value: str) -> None:
        self.tokens[position] = _generalise((self.tokens[position], value))
        self.near_values.pop(position, None)
        self.mined = Mined(self.cluster_id, " ".join(self.tokens))


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
    ) -> None:
        if variable_threshold < 2:
            raise ValueError("variable_threshold must be at least 2")
        if not 0.0 <= max_diff_ratio <= 1.0:
            raise ValueError("max_diff_ratio must be between 0 and 1")
        self._threshold = variable_threshold
        self._max_diff_ratio = max_diff_ratio
        self._masker = _Masker()
        self._clusters: list[_Cluster] = []
        self._exact: dict[_Key, _Cluster] = {}
        # (length, position, constant token) -> clusters with that constant there.
        self._index: dict[tuple[int, int, str], list[_Cluster]] = {}
        # length -> clusters without any constant token.
        self._unanchored: dict[int, list[_Cluster]] = {}
        self._by_skeleton: dict[_Key, list[_Cluster]] = {}

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

    def _candidates(self, key: _Key) -> list[_Cluster]:
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

    def _fit(self, key: _Key, candidates: list[_Cluster]) -> _Cluster | None:
        """The most specific cluster whose template ``key`` fits."""
        best: _Cluster | None = None
        best_constants = -1
        for cluster in candidates:
            constants = 0
            for token, value in zip(cluster.tokens, key, strict=True):
                if token == value:
                    if WILDCARD not in token:
                        constants += 1
                elif WILDCARD not in token or not _wildcard_fits(token, value):
                    break
            else:
                if constants > best_constants:
                    best, best_constants = cluster, constants
        return best

    def _near(self, key: _Key, candidates: list[_Cluster]) -> _Cluster | None:
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
                elif not has_wildcard or not _wildcard_fits(token, value):
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

    def _absorbs(self, cluster: _Cluster, key: _Key, diff: list[int], values: set[str]) -> bool:
        tokens = cluster.tokens
        for i in diff:
            token, value = tokens[i], key[i]
            token_wild = WILDCARD in token
            value_wild = WILDCARD in value
            # A constant that occurs elsewhere in the other sequence has shifted: no variable.
            if (not token_wild and token in values) or (not value_wild and value in tokens):
                return False
            if value_wild and (token_wild or _wildcard_fits(value, token)):
                continue
            seen = cluster.near_values.get(i, set())
            distinct = len(seen) + (1 if value not in seen else 0) + 1
            if distinct < self._threshold:
                return False
        return True

    def _generalise(self, cluster: _Cluster, key: _Key, diff: list[int]) -> None:
        for i in diff:
            cluster.generalise(i, key[i])
        self._register(cluster)

    def _aligned(self, key: _Key) -> _Cluster | None:
        skeleton = _skeleton(key)
        if not skeleton:
            return None
        for cluster in self._by_skeleton.get(skeleton, ()):
            if _aligns(cluster.tokens, key):
                return cluster
        return None

    def _new_cluster(self, key: _Key) -> _Cluster:
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
        skeleton = _skeleton(cluster.tokens)
        if skeleton:
            members = self._by_skeleton.setdefault(skeleton, [])
            if cluster not in members:
                members.append(cluster)


# --------------------------------------------------------------------------------------------
# Pairwise test


# same_family's notion of a variable, on top of the normaliser's placeholders: hex ids, numbers
# that are not glued to a name (db-1, blk_42, 3.11; not E501 or py311), and long numbers glued
# to a name (build12345).
_STRICT_VARIABLE = re.compile(
    r"<(?:n|hex|ip|ts|dur|tmp|uuid|date|time|port|user|url|token|check)>"
    r"|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b"
    r"|(?<![^\W\d_])[-+]?(?<!\d)\d+(?:[.,]\d+)*"
    r"|(?<=[^\W\d_])\d{4,}(?!\d)"
)


def _family_tokens(text: str) -> _Key:
    out: list[str] = []
    for raw in normalize(text).split():
        token = _STRICT_VARIABLE.sub(WILDCARD, raw)
        if token != raw and token.count(WILDCARD) > 1:
            token = _WILDCARD_RUN.sub(WILDCARD, token)
        if token == WILDCARD and out and out[-1] == WILDCARD:
            continue
        out.append(token)
    return tuple(out)


def same_family(a: str, b: str) -> bool:
    """Whether two messages (raw or normalised) differ only in variable-looking tokens.

    Strict by design, for deciding that a new message belongs to an existing issue. Both are
    normalised (``fingerprint.normalize``, current version), then a token may differ only where
    the normaliser put a placeholder or where there is a number that is not part of a name
    (``db-1``, ``blk_42``, ``3.11``; but ``E501`` and ``py311`` are names), a long number glued
    to a name (``build12345``) or a hex id (``a1b2c3``). Word differences never count: ``KeyError:
    'customer_id'`` and ``KeyError: 'order_id'`` are different errors, ``Connection refused to
    db-1`` and ``... db-2`` are one family. A different number of variables in a row (``nodes 1
    2`` against ``nodes 1 2 3``) is allowed. Messages without any constant token are never a
    family (there is nothing to compare).
    """
    ta = _family_tokens(a)
    tb = _family_tokens(b)
    skeleton = _skeleton(ta)
    if not skeleton or skeleton != _skeleton(tb):
        return False
    return ta == tb or _aligns(ta, tb)


_DBT_TEST_DETAIL = re.compile(
    r"\n(?:(?P<kind>[\w.]+) )?test(?P<target> on [^\s:]+)?(?P<rows>: <n> failing rows?)?\Z"
)


def same_dbt_test(a: str, b: str) -> bool:
    """Two templates of one dbt test's failure, where one output could not tell what the test
    is: a plain console log prints ``Got 1 result, configured to fail if != 0`` and the test's
    name only, the artifacts add ``not_null test on stg_customers.email``. dbt's own message
    must be the same, and the known details (type, target) may not contradict each other."""
    ma, mb = _DBT_TEST_DETAIL.search(a), _DBT_TEST_DETAIL.search(b)
    if ma is None or mb is None or a[: ma.start()] != b[: mb.start()] or not a[: ma.start()]:
        return False
    if ma.group("rows") != mb.group("rows"):
        return False
    for part in ("kind", "target"):
        x, y = ma.group(part), mb.group(part)
        if x is not None and y is not None and x != y:
            return False
    return True

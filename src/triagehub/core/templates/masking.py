"""The masking rules table: how a message becomes template tokens (variables as ``<*>``)."""

from __future__ import annotations

import re
import string

from triagehub.core.fingerprint import strip_ansi

WILDCARD = "<*>"
#: Distinct values at one position from which a word position counts as a variable.
VARIABLE_THRESHOLD = 5
#: Longest part of a message that is looked at (the rest is ignored).
MAX_MESSAGE_CHARS = 4000
#: Most tokens kept per message; the rest become one ``<*>``.
MAX_TOKENS = 120

TokenKey = tuple[str, ...]

# A run of identifier characters with a digit in it: numbers, ids, versions, addresses.
# (The lookbehind starts matches only at the start of a run, which keeps the scan linear.)
_VARIABLE_RUN = re.compile(r"(?<![\w.+\-#~*])[\w.+\-#~*]*\d[\w.+\-#~*]*")
# Wildcards separated only by list or address punctuation are one variable (10.0.0.1,10.0.0.2).
WILDCARD_RUN = re.compile(r"<\*>(?:[,:;/.\-_~#@]*<\*>)+")
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
# A flag's value in a ``key=value`` or ``key:value`` token varies like a number does
# (``overlap:false``, ``force=true,``, ``ws=null``): the key is the constant.
_FLAG_VALUE = re.compile(
    r"(?P<key>[^=:]*\w[=:])(?:true|false|null|none|nil|yes|no|on|off)(?P<end>[,;)\]}]?)",
    re.IGNORECASE,
)
_TOKEN_CACHE_LIMIT = 200_000
_LONG_TOKEN = 400


def is_pure_wildcard(token: str) -> bool:
    """A token that is only variables and punctuation: ``<*>``, ``(<*>)``, ``<*>:<*>,``."""
    if token == WILDCARD:
        return True
    if WILDCARD not in token:
        return False
    return not token.replace(WILDCARD, "").strip(_VARIABLE_PUNCTUATION)


def _mask_token(token: str) -> str:
    """The template form of one whitespace-separated token."""
    if token.isalpha():
        return WILDCARD if token in _DATE_WORDS else token
    if token.isdigit():
        return WILDCARD
    if "<" in token:
        token = _PLACEHOLDER.sub(WILDCARD, token)
        if token.count(WILDCARD) > 1 and _DIGIT.search(token) is None:
            return WILDCARD_RUN.sub(WILDCARD, token)
    if _DIGIT.search(token) is None:
        if ("=" in token or ":" in token) and (flag := _FLAG_VALUE.fullmatch(token)):
            return flag["key"] + WILDCARD + flag["end"]
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
        masked = WILDCARD_RUN.sub(WILDCARD, masked)
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
        if before.endswith(WILDCARD) and is_pure_wildcard(before):
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


class Masker:
    """Turns a message into template tokens, caching the masking of each distinct token."""

    __slots__ = ("_cache",)

    def __init__(self, *, cache: bool = True) -> None:
        self._cache: dict[str, str] | None = {} if cache else None

    def _learn(self, raw: str) -> str:
        token = _mask_token(raw)
        if self._cache is not None:
            self._cache[raw] = token
        return token

    def tokens(self, message: str) -> TokenKey:
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
    return list(Masker(cache=False).tokens(text))

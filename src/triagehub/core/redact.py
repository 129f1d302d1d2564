"""Secret redaction: applied to every message and log before it is stored, logged or sent.

The replacement is the fixed token ``[REDACTED]`` so that redacted text still groups the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REDACTED = "[REDACTED]"

# Cheap pre-check: text with none of these substrings (lower-cased) cannot contain a secret we
# recognise. Substring tests are an order of magnitude cheaper than one case-insensitive regex.
_TRIGGERS = (
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "akia",
    "asia",
    "bearer",
    "token",
    "authorization",
    "passw",
    "pwd",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "access-key",
    "accesskey",
    "private key",
    "sk-",
    "xox",
    "hooks.slack.com",
)
# Each pattern below needs one of these (or "eyJ", or "://" with "@"): a name such as
# "test_highway_keyboard" is not scanned by every pattern.


# The triggers are looked for in one scan of the lower-cased text, each one from its rarest
# letter in CI output (the first letter of _RARE that it holds): the regex engine then tries a
# match only at those few letters, and a lookbehind checks the letters before it (``token`` is
# ``k(?<=tok)en``), so that the scan finds exactly the triggers, faster than from their first
# letters (a, s, t...). A trigger without such a letter ("asia", "secret") is a substring test.
_RARE = "zqjxwkvbgh"


def _anchor(word: str) -> int:
    """Where ``word``'s rarest letter is (its first letter when it has none of _RARE)."""
    return min(range(len(word)), key=lambda i: (_RARE + word[i]).index(word[i]))


def _from_anchor(word: str) -> str:
    """A regex matching exactly ``word``, from its anchor on (the anchor itself excluded)."""
    at = _anchor(word)
    behind = f"(?<={re.escape(word[: at + 1])})" if at else ""
    return behind + re.escape(word[at + 1 :])


_SCANNED = tuple(word for word in _TRIGGERS if any(char in _RARE for char in word))
_SUBSTRINGS = tuple(word for word in _TRIGGERS if word not in _SCANNED)
_BY_ANCHOR: dict[str, list[str]] = {}
for _word in _SCANNED:
    _BY_ANCHOR.setdefault(_word[_anchor(_word)], []).append(_from_anchor(_word))
_TRIGGER = re.compile(
    "|".join(f"{re.escape(a)}(?:{'|'.join(rests)})" for a, rests in sorted(_BY_ANCHOR.items()))
)


def _may_hold_secret(text: str, lower: str) -> bool:
    """Whether ``text`` (``lower``: it lower-cased) holds a trigger, "eyJ", or "://" and "@"."""
    if _TRIGGER.search(lower) is not None or "eyJ" in text or ("://" in text and "@" in text):
        return True
    for word in _SUBSTRINGS:  # noqa: SIM110 (a loop: cheaper than any() over a generator)
        if word in lower:
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Secret:
    """One pattern of a secret and what replaces it.

    ``guards`` (one of them is in the text) and ``folded`` (one of them is in the lower-cased
    text, checked on ASCII text only, like the normaliser's masks: under ``re.IGNORECASE`` some
    non-ASCII letters match ASCII ones) are necessary conditions for a match: a pattern whose
    condition fails cannot match, so it is not run. They never change the result. So is
    ``hint``: a regex, searched in the lower-cased text (ASCII only, like ``folded``), matching a
    part that every match of the pattern holds (lower-cased).
    """

    pattern: re.Pattern[str]
    replacement: str
    guards: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()
    both: tuple[str, ...] = ()  # every one of these is in the text
    hint: re.Pattern[str] | None = None


_KEY_WORDS = (
    "passw", "pwd", "secret", "api_key", "api-key", "apikey", "access_key", "access-key",
    "accesskey", "token",
)  # fmt: skip

_PATTERNS: tuple[_Secret, ...] = (
    # PEM private key blocks (whole block, across lines).
    _Secret(
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
        guards=("-----BEGIN ",),
    ),
    # The tail of a key block whose beginning was cut off (log excerpts).
    _Secret(
        re.compile(r"\A(?:(?!-----BEGIN).)*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL),
        REDACTED,
        guards=("-----END ",),
    ),
    # The next ones start with a literal instead of \b, and a lookbehind after it checks what
    # \b checked (no word character before the literal's first one, itself a word character):
    # the same matches, but the regex engine jumps between the literal's occurrences instead of
    # trying the pattern at every position (``\bsk-...`` ran on every "task-" or "disk-").
    # GitHub tokens (classic, fine-grained, app, refresh, OAuth).
    _Secret(
        re.compile(r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{20,}"), REDACTED, ("github_pat_",)
    ),
    _Secret(
        re.compile(r"gh[pousr]_(?<!\wgh[pousr]_)[A-Za-z0-9]{20,}"),
        REDACTED,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    # Anthropic / OpenAI style keys, Slack tokens and webhooks.
    _Secret(re.compile(r"sk-(?<!\wsk-)(?:ant-)?[A-Za-z0-9_\-]{20,}"), REDACTED, ("sk-",)),
    _Secret(re.compile(r"xox(?<!\wxox)[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED, ("xox",)),
    _Secret(
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"),
        REDACTED,
        ("https://hooks.slack.com/services/",),
    ),
    # AWS access key ids.
    _Secret(re.compile(r"A(?<!\wA)(?:KIA|SIA)[0-9A-Z]{16}\b"), REDACTED, ("AKIA", "ASIA")),
    # JSON Web Tokens.
    _Secret(
        re.compile(r"eyJ(?<!\weyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        REDACTED,
        ("eyJ",),
    ),
    # Authorization headers and bearer tokens.
    _Secret(
        re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:basic|bearer|token)\s+[^\s\"',;]+"),
        r"\1" + REDACTED,
        folded=("authorization",),
    ),
    _Secret(
        re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"),
        r"\1" + REDACTED,
        folded=("bearer",),
    ),
    # Credentials inside URLs: scheme://user:password@host.
    _Secret(
        re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+@"),
        r"\1" + REDACTED + "@",
        both=("://", "@"),
    ),
    # key=value and key: value assignments of secret-looking keys.
    _Secret(
        re.compile(
            r"(?i)\b((?:[a-z0-9_\-]*_)?(?:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?key"
            r"|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|token)"
            r"[\"']?\s*[=:]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&]+)"
        ),
        r"\1" + REDACTED,
        folded=_KEY_WORDS,
        # Every key above ends with one of these words; then come the quote, blanks and = or :.
        # (Lower-cased ASCII text: under IGNORECASE an ASCII letter matches its other case only.)
        hint=re.compile(r"(?:passw(?:or)?d|pwd|secret|key|token)[\"']?\s*[=:]"),
    ),
)


def _may_match(secret: _Secret, text: str, lower: str | None) -> bool:
    """Whether ``secret``'s pattern can match ``text`` (``lower``: the text lower-cased, or
    None when it is not ASCII)."""
    if secret.guards and not any(guard in text for guard in secret.guards):
        return False
    if secret.both and not all(part in text for part in secret.both):
        return False
    if lower is None:
        return True
    if secret.folded and not any(part in lower for part in secret.folded):
        return False
    return secret.hint is None or secret.hint.search(lower) is not None


# The non-ASCII characters that match an ASCII letter under ``re.IGNORECASE`` but do not
# lower-case to it ("İ" lower-cases to "i" and a combining dot): the patterns would find
# "ſecret=..." or "apİ_key=...", so the check for triggers reads them as those letters
# (``tests/test_redact_identity.py`` walks every code point to prove the table complete).
LOOK_ALIKES = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


_LOOK_ALIKE_CHARS = tuple(chr(cp) for cp in LOOK_ALIKES)


def fold(text: str) -> str:
    """``text`` lower-cased for the trigger check, its look-alikes as the letters they match.
    (``translate`` looks every character up in the table: a text holding none of them, found
    by a search in C for each, is lower-cased alone, which gives the same text.)"""
    if not text.isascii():
        for char in _LOOK_ALIKE_CHARS:  # (a loop: cheaper than any() over a generator)
            if char in text:
                return text.translate(LOOK_ALIKES).lower()
    return text.lower()


def redact(text: str) -> str:
    """Return ``text`` with every recognised secret replaced by ``[REDACTED]``."""
    if not text:
        return text
    folded = fold(text)
    if not _may_hold_secret(text, folded):
        return text
    lower = folded if text.isascii() else None
    for secret in _PATTERNS:
        if _may_match(secret, text, lower):
            masked = secret.pattern.sub(secret.replacement, text)
            if masked is not text:  # no match returns the same object
                text = masked
                lower = text.lower() if text.isascii() else None
    return text

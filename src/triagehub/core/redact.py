"""Secret redaction: applied to every message and log before it is stored, logged or sent.

The replacement is the fixed token ``[REDACTED]`` so that redacted text still groups the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triagehub.core.wordtree import any_word

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


_TRIGGER = re.compile(any_word(_TRIGGERS))  # one scan instead of a substring test per trigger


def _may_hold_secret(text: str) -> bool:
    return (
        _TRIGGER.search(text.lower()) is not None
        or "eyJ" in text
        or ("://" in text and "@" in text)
    )


@dataclass(frozen=True, slots=True)
class _Secret:
    """One pattern of a secret and what replaces it.

    ``guards`` (one of them is in the text) and ``folded`` (one of them is in the lower-cased
    text, checked on ASCII text only, like the normaliser's masks: under ``re.IGNORECASE`` some
    non-ASCII letters match ASCII ones) are necessary conditions for a match: a pattern whose
    condition fails cannot match, so it is not run. They never change the result.
    """

    pattern: re.Pattern[str]
    replacement: str
    guards: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()
    both: tuple[str, ...] = ()  # every one of these is in the text


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
    # GitHub tokens (classic, fine-grained, app, refresh, OAuth).
    _Secret(re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED, ("github_pat_",)),
    _Secret(
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
        REDACTED,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    # Anthropic / OpenAI style keys, Slack tokens and webhooks.
    _Secret(re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_\-]{20,}"), REDACTED, ("sk-",)),
    _Secret(re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED, ("xox",)),
    _Secret(
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"),
        REDACTED,
        ("https://hooks.slack.com/services/",),
    ),
    # AWS access key ids.
    _Secret(re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED, ("AKIA", "ASIA")),
    # JSON Web Tokens.
    _Secret(
        re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
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
    ),
)


def _may_match(secret: _Secret, text: str, lower: str | None) -> bool:
    """Whether ``secret``'s pattern can match ``text`` (``lower``: the text lower-cased, or
    None when it is not ASCII)."""
    if secret.guards and not any(guard in text for guard in secret.guards):
        return False
    if secret.both and not all(part in text for part in secret.both):
        return False
    return not (
        secret.folded and lower is not None and not any(part in lower for part in secret.folded)
    )


def redact(text: str) -> str:
    """Return ``text`` with every recognised secret replaced by ``[REDACTED]``."""
    if not text or not _may_hold_secret(text):
        return text
    lower = text.lower() if text.isascii() else None
    for secret in _PATTERNS:
        if _may_match(secret, text, lower):
            masked = secret.pattern.sub(secret.replacement, text)
            if masked is not text:  # no match returns the same object
                text = masked
                lower = text.lower() if text.isascii() else None
    return text

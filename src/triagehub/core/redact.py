"""Secret redaction: applied to every message and log before it is stored, logged or sent.

The replacement is the fixed token ``[REDACTED]`` so that redacted text still groups the same way.
"""

from __future__ import annotations

import re

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


def _may_hold_secret(text: str) -> bool:
    low = text.lower()
    for trigger in _TRIGGERS:  # a plain loop: no generator per call on this hot path
        if trigger in low:
            return True
    return "eyJ" in text or ("://" in text and "@" in text)


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private key blocks (whole block, across lines).
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # The tail of a key block whose beginning was cut off (log excerpts).
    (
        re.compile(r"\A(?:(?!-----BEGIN).)*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL),
        REDACTED,
    ),
    # GitHub tokens (classic, fine-grained, app, refresh, OAuth).
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    # Anthropic / OpenAI style keys, Slack tokens and webhooks.
    (re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_\-]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED),
    (re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"), REDACTED),
    # AWS access key ids.
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), REDACTED),
    # Authorization headers and bearer tokens.
    (
        re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:basic|bearer|token)\s+[^\s\"',;]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"), r"\1" + REDACTED),
    # Credentials inside URLs: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + REDACTED + "@"),
    # key=value and key: value assignments of secret-looking keys.
    (
        re.compile(
            r"(?i)\b((?:[a-z0-9_\-]*_)?(?:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?key"
            r"|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|token)"
            r"[\"']?\s*[=:]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&]+)"
        ),
        r"\1" + REDACTED,
    ),
)


def redact(text: str) -> str:
    """Return ``text`` with every recognised secret replaced by ``[REDACTED]``."""
    if not text or not _may_hold_secret(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text

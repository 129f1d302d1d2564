"""Redaction gives the same text as before it was made faster (issue #24).

``core/redact.py`` now skips a pattern when the text lacks what every match of it holds (its
guards). Redacted text is what is stored and fingerprinted, so this must never change it: this
module keeps the previous implementation, as it was on main at 3c6dea9, and compares the two on
real logs (the classification corpus, the CiDiff logs, Loghub) and on generated text built from
the pieces the patterns look for.

The check that a text may hold a secret at all (``_may_hold_secret``) now scans for each trigger
from its rarest letter, and the key=value pattern has a hint searched in the lower-cased text:
both are compared with the previous forms, and walked trigger by trigger and key by key.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import corpus_texts
from triagehub.core import redact as redact_module
from triagehub.core.redact import REDACTED, redact

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"

# -- the reference: core/redact.py at 3c6dea9, unchanged ------------------------------------------

_TRIGGERS = (
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "akia", "asia", "bearer", "token",
    "authorization", "passw", "pwd", "secret", "api_key", "api-key", "apikey", "access_key",
    "access-key", "accesskey", "private key", "sk-", "xox", "hooks.slack.com",
)  # fmt: skip


def _may_hold_secret(text: str) -> bool:
    low = text.lower()
    return any(t in low for t in _TRIGGERS) or "eyJ" in text or ("://" in text and "@" in text)


_PATTERNS = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    (
        re.compile(r"\A(?:(?!-----BEGIN).)*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL),
        REDACTED,
    ),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_\-]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED),
    (re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), REDACTED),
    (
        re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:basic|bearer|token)\s+[^\s\"',;]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)\b((?:[a-z0-9_\-]*_)?(?:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?key"
            r"|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|token)"
            r"[\"']?\s*[=:]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&]+)"
        ),
        r"\1" + REDACTED,
    ),
)


def reference_redact(text: str) -> str:
    """Every pattern of the reference, on every text. The reference's own first check
    (``_may_hold_secret``) lower-cased the text, so it missed the non-ASCII letters that the
    patterns match under IGNORECASE ("ſecret=x"): the current code must redact what the patterns
    find, so the reference runs them whatever the check says (on ASCII text the check never hid
    a match: ``test_the_check_hides_no_match_on_ascii_text``)."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# -- comparison ---------------------------------------------------------------------------------


def _assert_same(texts: list[str], what: str) -> None:
    assert texts, f"no {what}"
    differ = [t for t in texts if redact(t) != reference_redact(t)]
    assert not differ, f"{len(differ)} of {len(texts)} {what} redact differently: {differ[:3]!r}"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data beside the repository)")
    return path


def test_classification_corpus_redacts_as_before() -> None:
    logs = corpus_texts(("log",))
    texts = corpus_texts() + [line for log in logs for line in log.splitlines()]
    _assert_same(texts, "corpus messages, logs and log lines")


def test_cidiff_logs_redact_as_before() -> None:
    texts = []
    for path in sorted(_require(SHARED_DATA / "cidiff").glob("*/*.log")):
        log = path.read_text(encoding="utf-8", errors="replace")
        texts.append(log)
        texts += log.splitlines()
    _assert_same(texts, "CiDiff logs and lines")


def test_loghub_lines_redact_as_before() -> None:
    texts = []
    for path in sorted(_require(SHARED_DATA / "loghub2k").glob("*/*_2k.log")):
        texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    _assert_same(texts, "Loghub lines")


# Pieces of secrets and of near-misses, in both cases and with non-ASCII look-alikes (the Kelvin
# sign and the long s match "k" and "s" under IGNORECASE), to be joined at random.
_PIECES = [
    "ghp_", "gho_", "github_pat_", "sk-", "sk-ant-", "xoxb-", "AKIA", "ASIA", "eyJ", "eyJhbGciOi",
    "https://hooks.slack.com/services/", "T000/B000/XXXX", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "-----BEGIN ", "-----END ", "PRIVATE KEY-----",
    "Authorization: ", "AUTHORIZATION=", "authorization :", "Bearer ", "bearer ", "basic ",
    "token ", "Token=", "TOKEN: ", "password=", "PASSWD:", "pwd=", "secret: ", "api_key=",
    "API-KEY:", "apikey=", "access_key=", "accessKey: ", "access-token=", "auth_token=",
    "client_secret=", "secret_key=", "x_token=", "https://", "://", "user:", "pa55@", "@", ":",
    "=", " ", "\n", '"', "'", ";", ",", ".", "/", "_", "-", "abcdefghij", "ABCDEFGHIJKLMNOP",
    "0123456789", "aB3xY9kLmN2pQr7TzW4v", "\u212a", "\u017f", "ſecret=", "to\u212aen=", "é",
    "task-", "\u0663", "xoxp-", "ghs_", "github_pat_", "AKIA", "eyJ",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=24).map("".join))
def test_generated_text_redacts_as_before(text: str) -> None:
    assert redact(text) == reference_redact(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_any_text_redacts_as_before(text: str) -> None:
    assert redact(text) == reference_redact(text)


# -- the trigger scan and the key=value hint (issue #24, h55) --------------------------------------


def _scan_texts() -> list[str]:
    """The corpus's messages, logs and log lines, and the CiDiff and Loghub lines when present."""
    logs = corpus_texts(("log",))
    texts = corpus_texts() + [line for log in logs for line in log.splitlines()]
    for pattern in ("cidiff/*/*.log", "loghub2k/*/*_2k.log"):
        for path in sorted(SHARED_DATA.glob(pattern)):
            texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return texts


def test_the_triggers_are_the_reference_ones() -> None:
    assert redact_module._TRIGGERS == _TRIGGERS
    assert set(redact_module._SCANNED) | set(redact_module._SUBSTRINGS) == set(_TRIGGERS)


@pytest.mark.parametrize("word", _TRIGGERS)
def test_each_trigger_is_found_anywhere(word: str) -> None:
    """Each trigger, alone, inside words, at the start and the end, in any case, is found; the
    trigger without any one of its characters is found only when the reference finds it too."""
    for text in (word, f"x{word}y", f"a {word}", f"{word}\n", word.upper(), word.title()):
        assert redact_module._may_hold_secret(text, text.lower()), text
    for i in range(len(word)):
        for near in (word[:i] + word[i + 1 :], word[:i] + "#" + word[i + 1 :]):
            for text in (near, f"ab{near}yz"):
                expected = _may_hold_secret(text)
                assert redact_module._may_hold_secret(text, text.lower()) == expected, text


def test_real_text_may_hold_a_secret_as_before() -> None:
    texts = _scan_texts()
    assert len(texts) > 10_000
    scan = redact_module._may_hold_secret
    differ = [t for t in texts if scan(t, t.lower()) != _may_hold_secret(t)]
    assert not differ, differ[:3]


_TRIGGER_PIECES = [
    *_TRIGGERS, *(w.upper() for w in _TRIGGERS), *(w[:-1] for w in _TRIGGERS),
    *(w[1:] for w in _TRIGGERS), "a", "s", "k", "w", "z", "b", "g", "x", " ", "_", "-", "\u212a",
    "\u017f", "\u0130", "eyJ", "://", "@",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_TRIGGER_PIECES), max_size=12).map("".join))
def test_generated_text_may_hold_a_secret_as_before(text: str) -> None:
    assert redact_module._may_hold_secret(text, text.lower()) == _may_hold_secret(text)


_KEYS = [
    "password", "passwd", "pwd", "secret", "api_key", "api-key", "apikey", "access_key",
    "access-key", "accesskey", "secret_key", "secret-key", "secretkey", "access_token",
    "access-token", "accesstoken", "auth_token", "auth-token", "authtoken", "client_secret",
    "client-secret", "clientsecret", "token",
]  # fmt: skip


def _hinted() -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
    hinted = [(s.pattern, s.hint) for s in redact_module._PATTERNS if s.hint is not None]
    assert hinted
    return hinted


@pytest.mark.parametrize("key", _KEYS)
def test_every_key_assignment_holds_the_hint(key: str) -> None:
    """Every key of the key=value pattern, with a prefix, quotes, blanks and both separators, in
    any case: the pattern matches, and its hint finds the lower-cased match."""
    for pattern, hint in _hinted():
        for variant in (key, key.upper(), key.title(), f"my_{key}", f"X-{key}"):
            for tail in ("=v", ": v", '"=v', "' :  'v'", '\t=\t"v v"'):
                text = f"set {variant}{tail};"
                found = pattern.search(text)
                assert found is not None, text
                assert hint.search(found.group(0).lower()) is not None, text


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES + _KEYS), max_size=16).map("".join))
def test_a_hinted_pattern_never_matches_without_its_hint(text: str) -> None:
    for pattern, hint in _hinted():
        if text.isascii() and pattern.search(text) is not None:
            assert hint.search(text.lower()) is not None, text


# The patterns that start with their literal and check \b with a lookbehind after it, beside
# their reference forms (\b first): the same matches wherever the literal is, after any character.
_LITERAL_FIRST = [
    (new, old)
    for new, (old, _) in zip((s.pattern for s in redact_module._PATTERNS), _PATTERNS, strict=True)
    if new.pattern != old.pattern and old.pattern.startswith("\\b") and not new.flags & re.I
]


def test_the_literal_first_patterns_are_the_reference_ones_rewritten() -> None:
    assert len(_LITERAL_FIRST) == 6


@pytest.mark.parametrize("before", ["", " ", "x", "_", "-", "7", "é", "\u0663", "\n", "sk-", "A"])
def test_literal_first_patterns_match_as_their_reference(before: str) -> None:
    bodies = ["sk-", "sk-ant-", "ghp_", "gho_", "github_pat_", "xoxb-", "AKIA", "ASIA", "eyJ"]
    tails = ["aB3xY9kLmN2pQr7TzW4v0123", "ABCDEFGHIJKLMNOP", "aB3xY9kL.eyJmN2pQr7T.zW4v0123"]
    for body in bodies:
        for tail in tails:
            text = f"{before}{body}{tail} {body}{tail}"
            for new, old in _LITERAL_FIRST:
                spans = [m.span() for m in new.finditer(text)]
                assert spans == [m.span() for m in old.finditer(text)], (new.pattern, text)


# -- the look-alikes: non-ASCII letters the patterns match under IGNORECASE -----------------------


def test_the_look_alike_table_is_every_non_ascii_letter_ignorecase_matches() -> None:
    letter = re.compile("[a-z]", re.IGNORECASE)
    found = {
        cp: chr(cp).lower()
        for cp in range(0x80, 0x110000)
        if not 0xD800 <= cp <= 0xDFFF and letter.fullmatch(chr(cp))
    }
    assert set(found) == set(redact_module.LOOK_ALIKES)
    for cp, ascii_letter in redact_module.LOOK_ALIKES.items():
        assert re.fullmatch(ascii_letter, chr(cp), re.IGNORECASE), hex(cp)


_FOLDED = [*_PIECES, "—", "\u0130", "\u0131", "\u03a3", "\u00df", "\u01c4"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_FOLDED), max_size=16).map("".join))
def test_fold_is_the_look_alikes_translated_then_lower_cased(text: str) -> None:
    """``fold`` translates only a text holding a look-alike: the same text either way."""
    assert redact_module.fold(text) == text.translate(redact_module.LOOK_ALIKES).lower()


@pytest.mark.parametrize(
    "text",
    [
        "\u017fecret=hunter2",
        "pa\u017f\u017fword: hunter2",
        "ap\u0130_key=abcdef123",
        "ap\u0131_key=abcdef123",
        "to\u212aen=abcdef123",
        "Authorizat\u0131on: Bearer abcdefgh123",
        "\u0130\u212a ok; \u017fECRET = 'hunter2'",
    ],
)
def test_secrets_spelt_with_look_alikes_are_redacted(text: str) -> None:
    redacted = redact(text)
    assert REDACTED in redacted, redacted
    assert "hunter2" not in redacted and "abcdef123" not in redacted and "abcdefgh" not in redacted
    assert redacted == reference_redact(text)


def test_the_check_hides_no_match_on_ascii_text() -> None:
    """On ASCII text the reference's first check never hid a match of its patterns."""
    texts = [t for t in _scan_texts() if t.isascii()]
    hidden = [t for t in texts if not _may_hold_secret(t) and reference_redact(t) != t]
    assert not hidden, hidden[:3]

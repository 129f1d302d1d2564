"""The one input sanitiser: every text field from outside passes here before it is stored.

What it does, the same on SQLite and PostgreSQL (which refuses NUL characters, lone surrogates
and strings longer than their column):

- **Control characters** go: NUL and the other C0/C1 controls, DEL and lone UTF-16 surrogates.
  One-line fields (names, ids, branches, shas, URLs) lose every control character; multi-line
  text (messages, logs) keeps tab, newline, carriage return and ESC (ANSI colours are removed
  later by the fingerprinting, which knows their shape).
- **Length limits** per column, with a marked truncation: free text ends with
  ``…[truncated N chars]``; a key (a repository, run id or check) keeps its prefix and gains a
  hash of the whole, so two long keys that share a prefix stay two keys, and the same long key
  is always cut the same way.
- **Secrets** are redacted (``core/redact.py``) in names and URLs too, not only in messages:
  ``test_login[password=hunter2]``, ``https://deploy:s3cr3t@host``, ``?token=ghp_...``.
- **Integers** are range-checked against their column: out of range is an ``InputError`` naming
  the field, never a database error.

``sanitize_report`` applies all of it to a ``RunReport``; the pipeline calls it on every report of
every source. The text helpers serve the other entry points (agent hooks, specs, query strings).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from functools import lru_cache

from triagehub.core.models import CheckResult, RunReport
from triagehub.core.redact import redact
from triagehub.errors import InputError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# Column sizes of the store (store/tables.py) that outside text lands in.
REPOSITORY_CHARS = 200
SOURCE_CHARS = 40
RUN_ID_CHARS = 200
COMMIT_CHARS = 64
BRANCH_CHARS = 255
STATUS_CHARS = 40
CHECK_CHARS = 1000
URL_CHARS = 2000
OWNER_CHARS = 100
AFFECTED_CHARS = 1000
MESSAGE_CHARS = 256 * 1024
LOG_CHARS = 8 * 1024 * 1024

# Everything a one-line field may not hold; multi-line text keeps \t \n \r and ESC.
_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"[\t\n\r]+")
_HASH_CHARS = 16


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked (``…[truncated N chars]``)."""
    if len(text) <= limit:
        return text
    marker = f"…[truncated {len(text) - limit:,} chars]"
    keep = max(limit - len(marker), 0)
    marker = f"…[truncated {len(text) - keep:,} chars]"
    return (text[:keep] + marker)[:limit]


def truncate_key(text: str, limit: int) -> str:
    """A key cut to ``limit`` characters that stays unique: its prefix, ``…`` and a hash of the
    whole key (stable across processes and versions)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return text[: limit - _HASH_CHARS - 1] + "…" + digest


def clean_line(text: str, limit: int, *, key: bool = False, secrets: bool = True) -> str:
    """A one-line field: tabs and newlines become one space, other control characters go,
    secrets are redacted, then the length limit (a ``key`` keeps a hash of the whole)."""
    if not text.isprintable():
        text = _LINE_BAD.sub("", _SPACES.sub(" ", text))
    if secrets:
        text = redact(text)
    return truncate_key(text, limit) if key else truncate(text, limit)


def clean_text(text: str, limit: int, *, secrets: bool = True) -> str:
    """Multi-line text: control characters but tab, newline, CR and ESC go; secrets are
    redacted; then the length limit, marked."""
    if len(text) > limit:  # cut first (a 1 GB string is not scanned whole), then clean
        text = truncate(text, limit)
    # A printable text holds none of ``_TEXT_BAD`` (controls and surrogates are not printable:
    # ``tests/test_sanitize_fast.py``); ``isprintable`` is the cheaper scan, and it stops at the
    # first newline of a multi-line text.
    if not text.isprintable() and _TEXT_BAD.search(text):
        text = _TEXT_BAD.sub("", text)
    return redact(text) if secrets else text


def clean_optional(text: str | None, limit: int, *, key: bool = False) -> str | None:
    if text is None:
        return None
    cleaned = clean_line(text, limit, key=key)
    return cleaned or None


def check_int(
    value: int, *, source: str, location: str, minimum: int = 0, maximum: int = INT64_MAX
) -> int:
    """``value`` if it fits its column, else an ``InputError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(source, location, f"expected an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InputError(
            source, location, f"expected an integer from {minimum} to {maximum}, got {value}"
        )
    return value


@lru_cache(maxsize=1 << 16)
def _clean_check(check: str) -> str:
    """Check names repeat run after run: cleaned once per process (the ingest hot path)."""
    return clean_line(check, CHECK_CHARS, key=True) or "<unnamed check>"


def sanitize_result(result: CheckResult) -> CheckResult:
    check = (
        _clean_check(result.check)
        if len(result.check) <= CHECK_CHARS
        else (clean_line(result.check, CHECK_CHARS, key=True) or "<unnamed check>")
    )
    # The message and the log are redacted by the pipeline where they are stored (the message,
    # and the log's excerpt: the log itself is never stored), after this cleaning.
    message = clean_text(result.message, MESSAGE_CHARS, secrets=False) if result.message else ""
    log = clean_text(result.log, LOG_CHARS, secrets=False) if result.log else ""
    # (What most results carry: no owner, links nor affected nodes, read without a call.)
    owner = None if result.owner is None else clean_optional(result.owner, OWNER_CHARS)
    links = tuple(clean_line(x, URL_CHARS) for x in result.links) if result.links else ()
    affected = (
        tuple(clean_line(x, AFFECTED_CHARS, secrets=False) for x in result.affected)
        if result.affected
        else ()
    )
    if (
        check == result.check
        and message == result.message
        and log == result.log
        and owner == result.owner
        and links == result.links
        and affected == result.affected
    ):
        return result  # already clean: no copy (the common case, on the hot path)
    return replace(
        result,
        check=check,
        message=message,
        log=log,
        links=links,
        affected=affected,
        owner=owner,
    )


@lru_cache(maxsize=1 << 12)
def _line_is_clean(text: str, limit: int, key: bool, secrets: bool) -> bool:
    return clean_line(text, limit, key=key, secrets=secrets) == text


def _clean_repeated(text: str, limit: int, key: bool = False, secrets: bool = True) -> str:
    """``clean_line`` of a field whose values repeat report after report (a source, a
    repository, a branch, a status): a plain ``str`` found clean once is not scanned again."""
    if type(text) is str and len(text) <= limit and _line_is_clean(text, limit, key, secrets):
        return text
    return clean_line(text, limit, key=key, secrets=secrets)


def sanitize_report(report: RunReport) -> RunReport:
    """Every text field of a report cleaned for its column, secrets redacted, integers checked
    (see the module docstring). A report that is already clean comes back equal."""
    where = f"{report.repository[:REPOSITORY_CHARS]!r} run {report.run_id[:RUN_ID_CHARS]!r}"
    check_int(report.attempt, source=where, location="attempt", minimum=0, maximum=INT32_MAX)
    source = _clean_repeated(report.source, SOURCE_CHARS, True, True) or "unknown"
    repository = (
        _clean_repeated(report.repository, REPOSITORY_CHARS, True, False) or "unknown/unknown"
    )
    run_id = clean_line(report.run_id, RUN_ID_CHARS, key=True) or "unknown"
    commit = clean_optional(report.commit, COMMIT_CHARS)
    branch = None if report.branch is None else _clean_repeated(report.branch, BRANCH_CHARS) or None
    url = clean_optional(report.url, URL_CHARS)
    status = None if report.status is None else _clean_repeated(report.status, STATUS_CHARS) or None
    results = tuple(sanitize_result(r) for r in report.results)
    if (
        source is report.source
        and repository is report.repository
        and run_id is report.run_id
        and commit is report.commit
        and branch is report.branch
        and url is report.url
        and status is report.status
        and type(report.results) is tuple
        and all(new is old for new, old in zip(results, report.results, strict=True))
    ):
        # Every field comes back as the very object it was: the copy ``replace`` would make
        # holds the same objects (it cost more than all the cleaning of a clean report).
        return report
    return replace(
        report,
        source=source,
        repository=repository,
        run_id=run_id,
        commit=commit,
        branch=branch,
        url=url,
        status=status,
        results=results,
    )


# Keys and short values of the documents from outside repeat from one document to the next (a
# webhook's repository, owner and sender objects, their URLs): each is cleaned once per process.
_SHORT_CHARS = 200


@lru_cache(maxsize=1 << 13)
def _clean_short(text: str, limit: int) -> str:
    return clean_text(text, limit)


def clean_json(value: object, *, limit: int = MESSAGE_CHARS, depth: int = 0) -> object:
    """A JSON document from outside (a webhook payload, a hook event) with every string and key
    cleaned as multi-line text (control characters, secrets, ``limit`` characters each).
    Numbers, booleans and nulls are kept; nesting deeper than 64 levels is an ``InputError``."""
    if depth > 64:
        raise InputError("payload", "", "nested deeper than 64 levels")
    if isinstance(value, str):
        return (
            _clean_short(value, limit) if len(value) <= _SHORT_CHARS else clean_text(value, limit)
        )
    if isinstance(value, dict):
        return {
            _clean_short(str(k), limit): clean_json(v, limit=limit, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [clean_json(v, limit=limit, depth=depth + 1) for v in value]
    return value

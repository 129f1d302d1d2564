"""Which format a file is, told from its first bytes (up to 64 KiB): the sniffers of every format,
apart from the parsers so that telling the format loads none of them (an XML parser, the
normaliser). Each parser module re-exports its own (``playwright.sniff``, ``junit.sniff``, ...)."""

from __future__ import annotations

import re

_PLAYWRIGHT_HEAD = re.compile(rb'^\{\s*"config"\s*:\s*\{')
_PLAYWRIGHT_KEYS = (b'"suites"', b'"stats"', b'"errors"', b'"rootDir"')
_PROLOG_ITEM = re.compile(
    rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.S | re.I
)
_ROOT_TAG = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?testsuites?[\s/>]")


def playwright(head: bytes) -> bool:
    """Whether the first bytes (up to 64 KiB) of a file are a Playwright JSON report: an object
    whose first key is ``config``, with ``suites``, ``stats`` or ``errors`` (or, when the config
    is too long for the head, its ``rootDir``)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if _PLAYWRIGHT_HEAD.match(text) is None:
        return False
    return any(key in text for key in _PLAYWRIGHT_KEYS)


def junit(head: bytes) -> bool:
    """Whether the first bytes of a file (64 KiB) are JUnit/xUnit XML: a ``<testsuites>`` or
    ``<testsuite>`` root, after an optional BOM, XML declaration, comments or DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    head = head.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    for _ in range(64):
        m = _PROLOG_ITEM.match(head, pos)
        if m is None:
            break
        pos = m.end()
    return _ROOT_TAG.match(head, pos) is not None


def events(head: bytes) -> bool:
    """A JSON document or JSON Lines whose first object looks like an event."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith((b"{", b"[")):
        return False
    window = text[:4096]
    if b'"unique_id"' in window:  # dbt's run_results.json also has "results"
        return False
    return b'"repository"' in window or b'"check"' in window


def dbt_artifacts(head: bytes) -> bool:
    """A dbt ``run_results.json`` (or ``sources.json``): its schema URL is in the metadata."""
    text = head[:65536]
    return b'"dbt_schema_version"' in text and (
        b"/run-results/" in text or b"/dbt/sources/" in text
    )


def dbt_console(head: bytes) -> bool:
    """dbt's console output or ``--log-format json`` lines."""
    text = head[:65536]
    if b'"dbt_schema_version"' in text:
        return False
    if b"Running with dbt=" in text:
        return True
    return b'"invocation_id"' in text and b'"log_version"' in text

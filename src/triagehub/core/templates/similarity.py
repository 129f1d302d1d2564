"""Pairwise template similarity: same family of messages, same dbt test."""

from __future__ import annotations

import re

from triagehub.core.fingerprint import normalize
from triagehub.core.templates.align import aligns, skeleton_of
from triagehub.core.templates.masking import WILDCARD, WILDCARD_RUN, TokenKey

# same_family's notion of a variable, on top of the normaliser's placeholders: hex ids, numbers
# that are not glued to a name (db-1, blk_42, 3.11; not E501 or py311), and long numbers glued
# to a name (build12345).
_STRICT_VARIABLE = re.compile(
    r"<(?:n|hex|ip|ts|dur|tmp|uuid|date|time|port|user|url|token|check)>"
    r"|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b"
    r"|(?<![^\W\d_])[-+]?(?<!\d)\d+(?:[.,]\d+)*"
    r"|(?<=[^\W\d_])\d{4,}(?!\d)"
)


def _family_tokens(text: str) -> TokenKey:
    out: list[str] = []
    for raw in normalize(text).split():
        token = _STRICT_VARIABLE.sub(WILDCARD, raw)
        if token != raw and token.count(WILDCARD) > 1:
            token = WILDCARD_RUN.sub(WILDCARD, token)
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
    skeleton = skeleton_of(ta)
    if not skeleton or skeleton != skeleton_of(tb):
        return False
    return ta == tb or aligns(ta, tb)


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

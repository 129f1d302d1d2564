"""The versioned normaliser, the grouping key and secret redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triagehub.core.excerpt import error_text
from triagehub.core.fingerprint import (
    CURRENT_VERSION,
    grouping_key,
    normalize,
    strip_ansi,
)
from triagehub.core.models import Scope
from triagehub.core.redact import REDACTED, redact


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Got 5 results, configured to fail if != 0", "Got 17 results, configured to fail if != 0"),
        ("commit 3f2c1e9 broke it", "commit 9a8b7c6d5e4f broke it"),
        ("id 123e4567-e89b-12d3-a456-426614174000", "id 00000000-1111-2222-3333-444444444444"),
        ("at 2026-11-20T06:30:00Z", "at 2025-01-02T23:59:59.123+02:00"),
        ("at 2026-11-20 06:30:00,123 x", "at 2026-11-21 07:31:01,999 x"),
        ("Nov 20 06:30:00 host", "Dec  1 23:00:00 host"),
        ("took 3.2s", "took 120ms"),
        ("connect ECONNREFUSED 10.0.0.1:5432", "connect ECONNREFUSED 192.168.1.20:6543"),
        ("localhost:8080 refused", "localhost:9090 refused"),
        ("port 443 closed", "port 8443 closed"),
        (
            "open /tmp/pytest-of-runner/pytest-12/x0/a.txt",
            "open /tmp/pytest-of-root/pytest-3/y/b.txt",
        ),
        ("in /home/alice/src/app.py", "in /home/bob/src/app.py"),
        ("file tmpab12cd34 missing", "file tmpzz99yy88 missing"),
        ("ptr 0x7ffd5e8c", "ptr 0xdeadbeef"),
        ("\x1b[31mError\x1b[39m: boom", "Error: boom"),
        ("fe80::1ff:fe23:4567:890a down", "2001:db8::1 down"),
    ],
)
def test_volatile_parts_are_masked(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("E501 line too long", "F401 imported but unused"),
        ("KeyError: 'customer_id'", "KeyError: 'order_id'"),
        ("test_foo failed", "test_bar failed"),
        ("column amount not found", "column price not found"),
    ],
)
def test_meaningful_differences_are_kept(a: str, b: str) -> None:
    assert normalize(a) != normalize(b)


def test_ansi_codes_are_stripped() -> None:
    assert strip_ansi("\x1b[2m\x1b[31mExpected\x1b[39m\x1b[22m: 5") == "Expected: 5"


def test_grouping_key_separates_scopes_checks_and_versions() -> None:
    base = {"repository": "acme/a", "check": "t", "template": "boom", "version": 1}
    key = grouping_key(scope=Scope.CHECK, **base)  # type: ignore[arg-type]
    assert key == grouping_key(scope=Scope.CHECK, **base)  # type: ignore[arg-type]
    assert key != grouping_key(scope=Scope.CHECK, **{**base, "check": "u"})  # type: ignore[arg-type]
    assert key != grouping_key(scope=Scope.REPOSITORY, **base)  # type: ignore[arg-type]
    assert key != grouping_key(scope=Scope.CHECK, **{**base, "version": 2})  # type: ignore[arg-type]
    # Content-derived and stable across processes: a known value.
    assert len(key) == 32 and key == grouping_key(scope=Scope.CHECK, **base)  # type: ignore[arg-type]


def test_error_text_prefers_the_message_and_falls_back_to_the_log() -> None:
    assert error_text("boom", "log") == "boom"
    log = "\n".join(f"INFO step {i} ok" for i in range(100)) + "\nError: the end\n\n"
    assert error_text("", log).splitlines()[-1] == "Error: the end"
    assert error_text("", "") == ""


def test_long_messages_are_reduced_to_their_error_lines() -> None:
    noise = "\n".join(f"collected item {i}" for i in range(30))
    a = f"{noise}\nE   AssertionError: assert 1 == 2\nFAILED tests/test_a.py::test_x"
    b = (
        f"{noise[:200]}\nDownloading x\nE   AssertionError: assert 1 == 2\n"
        "FAILED tests/test_a.py::test_x"
    )
    assert "AssertionError" in error_text(a)
    assert "collected item" not in error_text(a)
    assert error_text(a) == error_text(b)


@given(st.text(max_size=400))
def test_normalizing_never_crashes_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(max_size=300))
def test_redaction_never_crashes_and_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG0123456789"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("password=hunter2 next", "hunter2"),
        ('"api_key": "s3cr3t-value"', "s3cr3t-value"),
        ("postgresql://roy:hunter2@db:5432/x", "hunter2"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----",
            "MIIEow",
        ),
        ("cut\nIBAAK\n-----END OPENSSH PRIVATE KEY-----\nafter", "IBAAK"),
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
    ],
)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out


def test_redacted_text_still_groups_together() -> None:
    a = redact("auth failed with token ghp_" + "a" * 36)
    b = redact("auth failed with token ghp_" + "b" * 36)
    assert normalize(a) == normalize(b)


def test_current_version_is_registered() -> None:
    assert normalize("x 1", CURRENT_VERSION) == "x <n>"
    with pytest.raises(ValueError, match="unknown normalizer version"):
        normalize("x", 999)


# -- normaliser v2 and scope-aware masking (issue #18) -------------------------------------------


def test_v2_masks_the_urls_of_a_dead_link_list_and_keeps_the_status() -> None:
    from triagehub.core.fingerprint import normalize as norm

    a = norm("[\u2716] https://docs.acme.dev/v1/setup \u2192 Status: 404", 2)
    b = norm("[\u2716] https://old.acme.dev/blog/2019 \u2192 Status: 404", 2)
    assert a == b == "[\u2716] <url> \u2192 Status: <n>"
    assert norm("[\u2716] https://docs.acme.dev/v1/setup \u2192 Status: 404", 1) != a


def test_a_repository_scoped_template_masks_its_own_check_name() -> None:
    from triagehub.core.fingerprint import mask_check

    orders = mask_check(
        "Database Error in model stg_orders (models/stg_orders.sql)", "model.x.stg_orders"
    )
    payments = mask_check(
        "Database Error in model stg_payments (models/stg_payments.sql)", "model.x.stg_payments"
    )
    assert orders == payments == "Database Error in model <check> (models/<check>.sql)"


def test_a_common_word_of_a_check_name_is_not_masked() -> None:
    from triagehub.core.fingerprint import mask_check

    message = "Could not resolve host: test.pypi.org"
    assert mask_check(message, "CI / test") == message


def test_identifiers_tell_different_columns_apart_but_not_instances() -> None:
    from triagehub.core.patterns import same_identifiers

    assert not same_identifiers('column "email" does not exist', 'column "phone" does not exist')
    assert not same_identifiers("KeyError: customer_id", "KeyError: order_id")
    assert same_identifiers("could not connect to 'db-1'", "could not connect to 'db-2'")


def test_v2_masks_random_tokens_but_not_names_of_code() -> None:
    from triagehub.core.fingerprint import normalize as norm

    a = norm('Expected: "sess_aB3xY9kLmN2pQr7T" Received: "sess_Zz81kLmQwe3RtyUi"', 2)
    b = norm('Expected: "sess_Q9wE7rT5yU3iO1pA" Received: "sess_mN4bV6cX8zL2kJ0h"', 2)
    assert a == b == 'Expected: "<token>" Received: "<token>"'
    names = "AbstractFutureTest2Helper failed in SHA256withRSA via HttpURLConnection"
    assert norm(names, 2) == names

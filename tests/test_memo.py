"""``core.memo.BoundedMemo``: the one bounded cache shape of ``core``'s memos."""

from __future__ import annotations

from triagehub.core.memo import BoundedMemo


def test_keeps_answers_until_full_then_starts_again() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(3)
    for i, key in enumerate("abc"):
        assert memo.keep(key, i) == i
    assert dict(memo) == {"a": 0, "b": 1, "c": 2}
    assert memo.get("b") == 1
    memo.keep("d", 3)  # full: emptied first, then kept
    assert dict(memo) == {"d": 3}


def test_a_replaced_key_does_not_empty_a_memo_below_its_limit() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    memo.keep("a", 1)
    memo["a"] = 2  # a later answer for a known key (the fingerprint's shape memo does this)
    memo.keep("b", 3)
    assert dict(memo) == {"a": 2, "b": 3}


def test_bounded_by_characters_too() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(1000, char_limit=10)
    memo.keep("x" * 6, 1, 6)
    memo.keep("y" * 6, 2, 6)  # 6 < 10 characters kept so far: kept beside it
    assert len(memo) == 2 and memo.used == 12
    memo.keep("z", 3, 1)  # 12 >= 10: emptied first
    assert dict(memo) == {"z": 3} and memo.used == 1


def test_clear_forgets_the_characters_counted() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(10, char_limit=5)
    memo.keep("abcde", 1, 5)
    memo.clear()
    assert not memo and memo.used == 0
    memo.keep("f", 2, 1)
    memo.keep("g", 3, 1)
    assert dict(memo) == {"f": 2, "g": 3}

"""The error excerpt gives the same lines as before it was made faster (issue #24).

What triagehub fingerprints for a failure without a usable message is the key excerpt of its log
(``error_text``), so the excerpt's choices are part of every stored fingerprint: making
``core/excerpt/`` faster must not change them. ``tests/data/excerpt/recorded.json`` holds, for
real logs (the CiDiff logs, passing and failing, the classification corpus and the excerpt test
logs), digests of each line's kind, of ``extract``, ``extract_key`` and ``headline``, and of the
text fingerprinted for each corpus case, recorded with the excerpt code at f0e8445. This test
computes them again and compares.

When a change of the excerpt is meant (it changes fingerprints: see the normaliser versions in
``core/fingerprint.py``), regenerate the record and review the change:

    PYTHONPATH=src .venv/bin/python tests/test_excerpt_identity.py --write
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triagehub.core.excerpt import (
    clean_line,
    error_text,
    extract,
    extract_key,
    headline,
    iter_lines,
    line_patterns,
)
from triagehub.core.excerpt.kinds import classify_line
from triagehub.core.excerpt.line_patterns import Probes
from triagehub.core.redact import redact
from triagehub.core.wordtree import any_word

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"
RECORD = TESTS / "data" / "excerpt" / "recorded.json"


def _digest(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def log_digests(log: str) -> dict[str, str]:
    excerpt = extract(log)
    key = extract_key(log)
    return {
        "kinds": _digest([classify_line(clean_line(line)) for line in iter_lines(log)]),
        "extract": _digest(
            [excerpt.lines, excerpt.line_numbers, excerpt.total_lines, excerpt.fallback]
        ),
        "key": _digest([key.lines, key.line_numbers, key.total_lines, key.fallback]),
        "headline": _digest(headline(log)),
    }


def _cases() -> list[dict[str, str]]:
    path = TESTS / "data" / "classification" / "cases.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def local_logs() -> dict[str, str]:
    """The logs in this repository: the classification corpus and the excerpt test logs."""
    logs = {}
    for case in _cases():
        for field in ("message", "log"):
            if case.get(field):
                logs[f"corpus/{case['id']}/{field}"] = case[field]
    for path in sorted((TESTS / "data" / "excerpt").glob("*")):
        if path.suffix in (".log", ".txt"):
            logs[f"excerpt/{path.name}"] = path.read_text(encoding="utf-8", errors="replace")
    return logs


def cidiff_logs() -> dict[str, str]:
    logs = {}
    for folder in sorted(p.parent for p in (SHARED_DATA / "cidiff").glob("*/groundtruth")):
        for kind in ("fail", "pass"):
            text = (folder / f"{kind}.log").read_text(encoding="utf-8", errors="replace")
            logs[f"cidiff/{folder.name}/{kind}"] = text
    return logs


def fingerprinted_texts() -> dict[str, str]:
    """What the pipeline fingerprints for each corpus case (``classify_corpus.py``'s path)."""
    digests = {}
    for case in _cases():
        log = case.get("log", "")
        excerpt = redact(extract(log).text) if log else ""
        digests[case["id"]] = _digest(error_text(redact(case.get("message", "")), excerpt))
    return digests


def current() -> dict[str, object]:
    logs = {**local_logs(), **cidiff_logs()}
    return {
        "logs": {name: log_digests(text) for name, text in logs.items()},
        "fingerprinted": fingerprinted_texts(),
    }


def _recorded() -> dict[str, Any]:
    return json.loads(RECORD.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _compare(logs: dict[str, str]) -> None:
    recorded: dict[str, dict[str, str]] = _recorded()["logs"]
    changed = []
    for name, text in logs.items():
        want = recorded.get(name)
        assert want is not None, f"{name} is not recorded: regenerate (see the docstring)"
        got = log_digests(text)
        changed += [f"{name}: {what}" for what in got if got[what] != want[what]]
    assert not changed, "the excerpt changed:\n" + "\n".join(changed)


def test_local_logs_give_the_recorded_excerpts() -> None:
    _compare(local_logs())


def test_cidiff_logs_give_the_recorded_excerpts() -> None:
    if not (SHARED_DATA / "cidiff").is_dir():
        pytest.skip(f"{SHARED_DATA / 'cidiff'} is absent (../shared/data beside the repository)")
    logs = cidiff_logs()
    assert len(logs) == 72
    _compare(logs)


def test_corpus_cases_fingerprint_the_recorded_texts() -> None:
    assert fingerprinted_texts() == _recorded()["fingerprinted"]


_WORDS = st.lists(st.text("abc .:", min_size=1, max_size=4), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(_WORDS, st.text("abcd .:-", max_size=30))
def test_any_word_finds_exactly_the_words(words: list[str], text: str) -> None:
    pattern = re.compile(any_word(words))
    assert (pattern.search(text) is not None) == any(word in text for word in words)
    assert all(pattern.fullmatch(word) for word in words)


def _naive_hit(probes: Probes, line: str) -> bool:
    return any(
        any(guard in line for guard in guards) and (pattern is None or bool(pattern.search(line)))
        for guards, pattern in probes.items
    )


_TABLES = [name for name in dir(line_patterns) if isinstance(getattr(line_patterns, name), Probes)]


@pytest.mark.parametrize("table", _TABLES)
def test_a_probe_table_hits_a_line_iff_one_of_its_probes_does(table: str) -> None:
    probes: Probes = getattr(line_patterns, table)
    guards = [guard for guards, _ in probes.items for guard in guards]
    lines = [line for log in local_logs().values() for line in log.splitlines()]
    lines += [f"x {guard} y" for guard in guards] + [f"{a}{b}" for a in guards for b in guards[:3]]
    assert all(probes.hit(line) == _naive_hit(probes, line) for line in lines)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_excerpt_identity.py --write")
    RECORD.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {RECORD.relative_to(TESTS.parent)}")

"""The texts the identity tests compare a new implementation with its reference copy on: the
classification corpus's messages and logs (``tests/data/classification/cases.jsonl``), and
windows of their lines, so that each line is also seen near the start and the end of a text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS / "data" / "classification" / "cases.jsonl"


def windows(text: str, size: int, step: int) -> list[str]:
    """Runs of ``size`` lines of ``text``, one every ``step`` lines."""
    lines = text.splitlines()
    return ["\n".join(lines[i : i + size]) for i in range(0, len(lines), step)]


def corpus_texts(
    fields: Sequence[str] = ("message", "log"), *, size: int = 0, step: int = 1
) -> list[str]:
    """Each case's ``fields`` (an absent one as ""), each followed by its ``windows`` when
    ``size`` is given."""
    texts: list[str] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            for field in fields:
                text = case.get(field) or ""
                texts += [text, *(windows(text, size, step) if size else [])]
    return texts

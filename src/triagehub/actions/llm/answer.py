"""The LLM's answer: the ``record_triage`` tool's vocabulary, its strict validation into an
:class:`LLMVerdict`, and the outcome of one consultation (:class:`LLMOutcome`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from anthropic.types import Message

from triagehub.core.models import Category, Decision, Kind, Level
from triagehub.core.redact import redact

TOOL_NAME: Final = "record_triage"
MAX_RATIONALE_CHARS: Final = 2000

LLMStatus = Literal[
    "ok",
    "cached",
    "skipped_budget",
    "skipped_disabled",
    "error",
    "invalid",
    "timeout",
    "rate_limited",
]

# The LLM is consulted to decide, so "pending_classification" is not an answer it may give.
CATEGORIES: Final = tuple(c.value for c in Category if c is not Category.PENDING)
KINDS: Final = tuple(k.value for k in Kind)
LEVELS: Final = tuple(level.value for level in Level)
DECISIONS: Final = tuple(d.value for d in Decision)
ANSWER_KEYS: Final = ("category", "kind", "severity", "decision", "confidence", "rationale")


@dataclass(frozen=True)
class LLMVerdict:
    """A validated answer of the LLM, in our vocabulary."""

    category: Category
    kind: Kind
    severity: Level
    decision: Decision
    confidence: float
    rationale: str
    model: str

    def to_dict(self) -> dict[str, str | float]:
        """A JSON-ready form, for callers that persist the cache."""
        return {
            "category": self.category.value,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "decision": self.decision.value,
            "confidence": self.confidence,
            "rationale": self.rationale,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> LLMVerdict:
        """The inverse of :meth:`to_dict`; raises ``ValueError`` naming the first bad field."""
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("field 'model': expected a non-empty string")
        answer = {key: value for key, value in data.items() if key != "model"}
        return parse_answer(answer, model=model)


@dataclass(frozen=True)
class LLMOutcome:
    """The result of one :meth:`LLMClassifier.classify` call; ``verdict`` is set for ok/cached."""

    verdict: LLMVerdict | None
    status: LLMStatus
    detail: str


class InvalidAnswer(ValueError):
    """The LLM answered, but not with a valid ``record_triage`` call."""


def parse_answer(answer: Mapping[str, object], *, model: str) -> LLMVerdict:
    """Validate a ``record_triage`` tool input strictly and turn it into an :class:`LLMVerdict`.

    Raises :class:`InvalidAnswer` (a ``ValueError``) naming the field and what was expected.
    """
    unknown = sorted(set(answer) - set(ANSWER_KEYS))
    if unknown:
        raise InvalidAnswer(f"unexpected field(s) {', '.join(map(repr, unknown))}")
    missing = [key for key in ANSWER_KEYS if key not in answer]
    if missing:
        raise InvalidAnswer(f"missing field(s) {', '.join(map(repr, missing))}")

    category = Category(_enum_value(answer, "category", CATEGORIES))
    kind = Kind(_enum_value(answer, "kind", KINDS))
    severity = Level(_enum_value(answer, "severity", LEVELS))
    decision = Decision(_enum_value(answer, "decision", DECISIONS))

    confidence = answer["confidence"]
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise InvalidAnswer(
            f"field 'confidence': expected a number in [0, 1], got {_shorten(repr(confidence))}"
        )
    if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise InvalidAnswer(f"field 'confidence': expected a number in [0, 1], got {confidence}")

    rationale = answer["rationale"]
    if not isinstance(rationale, str) or not rationale.strip():
        raise InvalidAnswer("field 'rationale': expected a non-empty string")
    if len(rationale) > MAX_RATIONALE_CHARS:
        raise InvalidAnswer(
            f"field 'rationale': expected at most {MAX_RATIONALE_CHARS} characters, "
            f"got {len(rationale)}"
        )
    return LLMVerdict(
        category=category,
        kind=kind,
        severity=severity,
        decision=decision,
        confidence=float(confidence),
        rationale=redact(rationale.strip()),
        model=model,
    )


def _enum_value(answer: Mapping[str, object], key: str, allowed: tuple[str, ...]) -> str:
    value = answer[key]
    if not isinstance(value, str) or value not in allowed:
        raise InvalidAnswer(
            f"field {key!r}: expected one of {', '.join(allowed)}, got {_shorten(repr(value))}"
        )
    return value


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict_from_message(message: object) -> LLMVerdict:
    """The verdict in a Messages API answer's ``record_triage`` call, or :class:`InvalidAnswer`."""
    # Without strict response validation the SDK builds its models leniently: check shapes.
    if not isinstance(message, Message):
        raise InvalidAnswer(
            f"expected a Messages API message, got {type(message).__name__} "
            f"{_shorten(repr(message))}"
        )
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        raise InvalidAnswer("the answer has no content list")
    block_types: list[str] = []
    for block in content:
        block_type = getattr(block, "type", None)
        block_types.append(str(block_type))
        if block_type != "tool_use" or getattr(block, "name", None) != TOOL_NAME:
            continue
        tool_input = getattr(block, "input", None)
        if not isinstance(tool_input, dict):
            raise InvalidAnswer(
                f"{TOOL_NAME} input: expected an object, got {type(tool_input).__name__}"
            )
        model = getattr(message, "model", None)
        try:
            return parse_answer(tool_input, model=model if isinstance(model, str) else "")
        except InvalidAnswer as exc:
            raise InvalidAnswer(f"{TOOL_NAME} input: {exc}") from exc
    stop_reason = getattr(message, "stop_reason", None)
    raise InvalidAnswer(
        f"no {TOOL_NAME} tool_use block in the answer (stop_reason={stop_reason}, "
        f"content: {', '.join(block_types) or 'empty'})"
    )

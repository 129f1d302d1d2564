"""The optional LLM step of classification: ask Claude about a failure the rules are unsure of.

The package: :mod:`.classifier` (:class:`LLMClassifier`: cache, budget, cool-down, the call),
:mod:`.prompt` (what is sent), :mod:`.answer` (validating what comes back) and :mod:`.transport`
(the SDK client, its capped retries, error wording).

Contract
--------
:meth:`LLMClassifier.classify` takes an :class:`LLMRequest` (one fingerprint, what the rules
decided and how sure they are) and returns an :class:`LLMOutcome`. It **never raises for anything
the Anthropic API or the network does**: every such problem becomes a status, and ``verdict`` is
set only when the status is ``"ok"`` or ``"cached"``. For every other status the caller keeps the
deterministic rules' verdict (DESIGN.md: "any LLM error falls back to the rules"). It raises only
for programming errors (for example a clock that returns a naive datetime).

Deciding *whether* to consult the LLM (the rules' confidence under a threshold) is the caller's
job; this package only does the consulting. For one request, in this order:

1. no API key                              -> ``skipped_disabled`` (no request)
2. a verdict cached for the fingerprint    -> ``cached`` (no request, no budget)
3. inside a rate-limit cool-down           -> ``rate_limited`` (no request, no budget)
4. the UTC day's call budget is spent      -> ``skipped_budget`` (no request)
5. one Messages API call (it counts against the budget whatever its result):
   a valid ``record_triage`` tool answer   -> ``ok`` (and the verdict is cached)
   anything else in a 2xx answer           -> ``invalid`` (not cached)
   429 / 529 after the SDK's retries       -> ``rate_limited``
   no answer within the timeout            -> ``timeout``
   any other API or connection error       -> ``error``

Retries are the SDK's own (``max_retries``): it retries 408, 409, 429, 5xx (529 included),
connection errors and timeouts, waiting what ``retry-after-ms`` / ``retry-after`` say when they
are positive and an exponential backoff (0.5 s, 1 s, 2 s, ... at most 8 s, with jitter) otherwise.
The SDK puts no ceiling on ``retry-after`` (a 429 saying ``retry-after: 3600`` would block for an
hour), so a small middleware stops retrying when the wait asked for exceeds ``max_retry_wait_s``;
the outcome is then ``rate_limited`` at once, and further calls are refused without a request
until that time has passed (the cool-down of step 3). Worst case, one call takes about
``(max_retries + 1) * timeout_s + max_retries * max_retry_wait_s``; note that ``timeout_s`` bounds
each network operation (connect, each read), as in httpx, not a whole attempt.

What is sent: the repository, check, source, history class and occurrence count, the rules'
verdict and confidence, the normalised template and the log excerpt, every text run through
:func:`triagehub.core.redact.redact` first and then cut to a bounded length. The answer is asked
for through tool use (``tool_choice`` forces the ``record_triage`` tool, whose input schema lists
our vocabulary) and validated strictly here: known keys only, enum values from
``triagehub.core.models``, a confidence in [0, 1], a non-empty rationale of at most 2000
characters. The API key never appears in an outcome's ``detail`` or in a log record.
"""

from triagehub.actions.llm.answer import (
    MAX_RATIONALE_CHARS,
    TOOL_NAME,
    InvalidAnswer,
    LLMOutcome,
    LLMStatus,
    LLMVerdict,
    parse_answer,
)
from triagehub.actions.llm.classifier import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_MODEL,
    MAX_OUTPUT_TOKENS,
    LLMClassifier,
    VerdictLRU,
)
from triagehub.actions.llm.prompt import (
    MAX_EXCERPT_CHARS,
    MAX_FIELD_CHARS,
    MAX_TEMPLATE_CHARS,
    LLMRequest,
    build_prompt,
    triage_tool,
)
from triagehub.actions.llm.transport import retry_after_seconds

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_MODEL",
    "MAX_EXCERPT_CHARS",
    "MAX_FIELD_CHARS",
    "MAX_OUTPUT_TOKENS",
    "MAX_RATIONALE_CHARS",
    "MAX_TEMPLATE_CHARS",
    "TOOL_NAME",
    "InvalidAnswer",
    "LLMClassifier",
    "LLMOutcome",
    "LLMRequest",
    "LLMStatus",
    "LLMVerdict",
    "VerdictLRU",
    "build_prompt",
    "parse_answer",
    "retry_after_seconds",
    "triage_tool",
]

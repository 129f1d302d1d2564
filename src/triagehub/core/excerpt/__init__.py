"""Pick the lines of a failure message or CI log that carry the error.

A CI log is mostly noise: set-up, downloads, progress bars, passing tests, warnings. Fingerprinting
the whole log would split one failure into as many issues as there are variations of that noise,
so triagehub fingerprints an *excerpt*: the lines that carry the error.

How lines are chosen (one pass, bounded memory, no I/O):

1. Each line is cleaned: ANSI escapes removed, a timestamp prefix removed (GitHub Actions'
   ``2026-11-20T06:30:00.1234567Z ``, ``gh run view --log``'s ``job<TAB>step<TAB>timestamp ``,
   dbt's ``HH:MM:SS  ``), and cut to ``MAX_LINE_CHARS``.
2. Each line is classified: noise (``[INFO]``, downloads, progress bars, passing tests, warnings,
   runner markers), a *strong* error line (an exception or assertion, a compiler diagnostic, pytest
   ``E`` and ``FAILED`` lines, ``Caused by:``, ``fatal:``, an OS error such as ``No such file or
   directory``, a dbt error), a *medium* one (generic ``ERROR``/``FATAL``/``FAILED``/``error:``
   markers, ``npm ERR!``, ``##[error]``), a *weak* one (consequences that name no cause:
   ``BUILD FAILURE``, ``make: *** ... Error 2``, ``Process completed with exit code 1``), tool
   boilerplate (Maven's "Re-run Maven using the -X switch"), a stack frame, or plain text.
3. Error lines open *blocks*; a block goes on over continuation lines (indented text, stack frames,
   ``Caused by:``, more error lines, a few plain detail lines right after an error) and ends at
   noise, at a section header, at a second blank line or at plain text far from an error. Only a
   bounded number of blocks, and of lines per block, is kept: a log of any size is read in O(n)
   time and bounded memory.
4. The *final cluster* is the last error block with the blocks just before it (less than
   ``_CLUSTER_GAP`` lines apart): the failure and the summaries that tools print after it. Its
   blocks are ranked strongest first, then latest first. Each contributes its head (its best
   lines), then the best blocks their details, until ``max_lines``; older error blocks get one
   line each if room is left, and consequence-only (weak) blocks count only when there is nothing
   else. A line that repeats an earlier one (Maven prints each compiler error twice) is shown once.
   The chosen lines are returned in their original order.

When no line looks like an error, the excerpt falls back to the last non-empty lines.

:func:`error_lines` (:func:`extract_key`) is the compact subset used for fingerprinting: the
strongest lines of the best block of the final cluster and their detail, at most 5 lines, so that
two logs of the same failure with different surrounding noise give the same text, modulo the
values that the normaliser masks.
"""

from __future__ import annotations

from triagehub.core.excerpt.assemble import (
    LONG_MESSAGE_LINES,
    clear_known,
    error_lines,
    error_text,
    extract,
    extract_key,
    extract_lines,
)
from triagehub.core.excerpt.headline import headline
from triagehub.core.excerpt.lines import MAX_LINE_CHARS, Excerpt, clean_line, iter_lines

__all__ = [
    "LONG_MESSAGE_LINES",
    "MAX_LINE_CHARS",
    "Excerpt",
    "clean_line",
    "clear_known",
    "error_lines",
    "error_text",
    "extract",
    "extract_key",
    "extract_lines",
    "headline",
    "iter_lines",
]

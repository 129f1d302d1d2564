"""Template families across checks and repositories, and fuzzy near-duplicate detection.

Near-identical templates that masking missed (a word differs, lines in another order) are found
with a MinHash LSH prefilter over the templates' word sets (``band_keys``: stored in the database,
so lookups stay O(1) however many patterns exist) and a bounded exact check (``near_duplicate``,
RapidFuzz's token-sort ratio). ``FuzzyBudget`` caps the exact checks per batch, so clustering
can never run away: once spent, templates simply start families of their own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

if TYPE_CHECKING:
    import numpy as np

NUM_PERM = 64
BANDS = 16  # 16 bands of 4 rows: pairs with word-set Jaccard >= ~0.5 meet in some band
ROWS = NUM_PERM // BANDS
SEED = 20261121
NEAR_DUPLICATE_RATIO = 90.0
MAX_CANDIDATES = 50

_WORD = re.compile(r"[^\s]+")


# MinHash permutations h_i(x) = (a_i * x + b_i) mod 2^64, top 32 bits kept: seeded, so band keys
# are the same in every process and version. (datasketch computes the same kind of signature, but
# importing it pulls in SciPy: about a second on every command that clusters anything.) NumPy
# itself is imported on the first signature, not with this module: an ingest of runs seen before
# never computes one.
@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray[Any, np.dtype[np.uint64]], ...]:
    import numpy as np

    rng = np.random.default_rng(SEED)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
    return a, b


def _token_hashes(tokens: list[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    import numpy as np

    return np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                "little",
            )
            for t in tokens
        ),
        dtype=np.uint64,
        count=len(tokens),
    )


def minhash(tokens: list[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The MinHash signature (``NUM_PERM`` values) of a set of tokens."""
    import numpy as np

    x = _token_hashes(tokens)
    a, b = _permutations()
    with np.errstate(over="ignore"):
        hashed = (a[:, None] * x[None, :] + b[:, None]) >> np.uint64(32)
    signature: np.ndarray[Any, np.dtype[np.uint64]] = hashed.min(axis=1)
    return signature


def words(template: str) -> list[str]:
    return _WORD.findall(template)


@lru_cache(maxsize=4096)
def band_keys(template: str) -> tuple[str, ...]:
    """The LSH band keys of a template (band index + a digest of that band's MinHash rows)."""
    tokens = sorted(set(words(template)))
    if not tokens:
        return ()
    values = minhash(tokens)
    keys = []
    for band in range(BANDS):
        chunk = values[band * ROWS : (band + 1) * ROWS].tobytes()
        keys.append(f"{band:02d}:{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    return tuple(keys)


def near_duplicate(a: str, b: str) -> bool:
    """The exact check behind the prefilter: the same words, give or take one or two, in any
    order (RapidFuzz token-sort ratio >= 90), and about as many lines."""
    if a == b:
        return True
    if abs(a.count("\n") - b.count("\n")) > 1:
        return False
    return fuzz.token_sort_ratio(a, b, score_cutoff=NEAR_DUPLICATE_RATIO) >= NEAR_DUPLICATE_RATIO


# Identifiers that tell two failures apart: quoted values ('email', "phone", `left-pad`), and
# names of code or data (snake_case, dotted.paths, CamelCase). The normaliser's placeholders are
# not identifiers.
_QUOTED = re.compile(r"'([^'\n]{1,200})'|\"([^\"\n]{1,200})\"|`([^`\n]{1,200})`|‘([^’\n]{1,200})’")
_NAME = re.compile(
    r"(?<![\w<])(?:[A-Za-z]\w*_\w*|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*)"
    r"(?![\w>])"
)
_DIGITS = re.compile(r"\d+")
_PLACEHOLDER_ONLY = re.compile(r"^(?:<[a-z]+>|[\W_])*$")


@lru_cache(maxsize=8192)
def identifiers(template: str) -> frozenset[str]:
    """The identifiers a template names (quoted values, code and data names)."""
    found: set[str] = set()
    for match in _QUOTED.finditer(template):
        value = next(g for g in match.groups() if g is not None)
        if not _PLACEHOLDER_ONLY.match(value):
            found.add(_DIGITS.sub("#", value))  # 'db-1' and 'db-2' are instances of one name
    found.update(_NAME.findall(_QUOTED.sub(" ", template)))
    return frozenset(found)


def same_identifiers(a: str, b: str) -> bool:
    """Whether two templates name the same identifiers: a fuzzy join (near-duplicate words, a
    mined template family) never merges ``column "email" does not exist`` with ``column "phone"
    does not exist``."""
    return a == b or identifiers(a) == identifiers(b)


def pattern_key(template_hash: str) -> str:
    """The key of the family a template starts (its first template's hash, stable forever)."""
    return template_hash


@dataclass
class FuzzyBudget:
    """Caps the exact comparisons fuzzy clustering may spend. A count, not a time: what joins
    what never depends on how loaded the machine is (a comparison costs a few microseconds:
    the count bounds the time too)."""

    max_checks: int = 20_000
    checks: int = 0
    exhausted: bool = False

    def spend(self, n: int = 1) -> bool:
        """Account for ``n`` comparisons; False (and stays False) once the budget is gone."""
        if self.exhausted:
            return False
        self.checks += n
        if self.checks > self.max_checks:
            self.exhausted = True
            return False
        return True

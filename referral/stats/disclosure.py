"""Disclosure control for auditors' figures: cell-key perturbation (docs/audit.md, "Disclosure control").

The method of statistical agencies' flexible table builders (the Australian Bureau of Statistics'
TableBuilder, the cell-key method of Eurostat's census hypercubes):

- every case carries a permanent random **record key** (`case_stats.record_key`, 31 random bits,
  drawn when its row is created and never shown);
- a figure (a table cell, a total, a dashboard count) is computed with the **sum of the record keys**
  of the cases it counts; that sum, modulo 2^31, is the cell's **cell key**: uniform, unknown to the
  auditor, and the same whenever the same set of cases is counted;
- the published value is the true count plus a **noise** read from the perturbation table with the
  cell key: the same people always get the same noise (asking again, or through another table, a
  total included, gives the same figure), two different sets get independent noise (a difference of
  two overlapping figures is the difference of their people plus noise, not a person);
- a perturbed value below the threshold is published as «<T» (zeros included: a small
  sub-population's zero is not shown as an exact zero).

Pure: no Flask, no SQL.
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from itertools import accumulate

KEY_BITS = 31
KEY_SPACE = 1 << KEY_BITS

# The perturbation table: noise -3..+3 with these probabilities (symmetric, mean 0, variance 2.1).
NOISE = (-3, -2, -1, 0, 1, 2, 3)
WEIGHTS = (0.05, 0.10, 0.20, 0.30, 0.20, 0.10, 0.05)
MAX_NOISE = max(NOISE)
_BOUNDS = tuple(accumulate(WEIGHTS))[:-1]  # cumulative: where the cell key moves to the next noise


def new_record_key() -> int:
    """A case's permanent record key."""
    return secrets.randbelow(KEY_SPACE)


def cell_key(key_sum: int) -> float:
    """The cell key in [0, 1) of a figure whose cases' record keys add up to `key_sum`."""
    return (key_sum % KEY_SPACE) / KEY_SPACE


def noise(count: int, key_sum: int) -> int:
    """The perturbation of a count of `count` cases whose record keys add up to `key_sum`.

    No cases, no noise (an empty cell has no key). A count never becomes negative: the noise of a
    count smaller than the largest noise is cut at −count (such a count is published as «<T» anyway)."""
    if count <= 0:
        return 0
    drawn = NOISE[bisect_right(_BOUNDS, cell_key(key_sum))]
    return max(drawn, -count)


def perturb(count: int, key_sum: int) -> int:
    """The count as published before thresholding."""
    return count + noise(count, key_sum)


def min_population(threshold: int) -> int:
    """The fewest cases a filtered population may hold for its figures to be shown at all."""
    return 5 * threshold

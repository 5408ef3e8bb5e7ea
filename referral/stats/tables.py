"""A statistics table as pages, exports and charts receive it: labels, counts and totals, already
suppressed. Pure data, no Flask, no SQL.

A published cell is an `int` (a perturbed count, at least the threshold) or a mark: `SMALL` (the
perturbed count is below the threshold: «<10») or `HIDDEN` (hidden so that a small one cannot be
worked out: «x»). Raw counts never leave `referral/stats/`: `publish()` (suppression.py) turns a
`RawTable` into a `Table`, and every page and export takes a `Table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SMALL: Literal["small"] = "small"
HIDDEN: Literal["hidden"] = "hidden"
Mark = Literal["small", "hidden"]
Cell = int | Mark


@dataclass(frozen=True)
class RawTable:
    """Counts before suppression: `counts[r][c]` persons (or cases, permits...) in row r, column c.

    A one-way table has one column. Row and column totals are the sums of the counts (every person
    is counted in exactly one cell: the counting rule says how), unless given."""

    key: str               # stable identifier, e.g. "personas_por_sexo" (file names of exports)
    title: str             # in the reader's language
    rule: str              # the counting rule, in the reader's language
    row_header: str        # e.g. «Sexo»
    rows: tuple[str, ...]  # row labels, in the reader's language
    columns: tuple[str, ...]  # column labels (e.g. years); one column for a one-way table
    counts: tuple[tuple[int, ...], ...]
    keys: tuple[tuple[int, ...], ...]  # per cell, the sum of its cases' record keys (disclosure.py)
    # A table where a unit may count in several cells (a multiple-choice field) does not add up: its totals
    # are counted on their own, as (units, sum of their record keys). None: the sums of the cells.
    row_totals: tuple[tuple[int, int], ...] | None = None
    column_totals: tuple[tuple[int, int], ...] | None = None
    total: tuple[int, int] | None = None


@dataclass(frozen=True)
class Table:
    """Counts after perturbation and suppression; totals are perturbed and may be marked too."""

    key: str
    title: str
    rule: str
    row_header: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...]
    column_totals: tuple[Cell, ...]
    total: Cell
    threshold: int         # perturbed values below this are marked SMALL
    small: int             # how many inner cells and totals are SMALL
    suppressed: int        # how many more are HIDDEN (complementary)


def shown(cell: Cell) -> int | None:
    """A published cell's number, or None for a mark."""
    return cell if isinstance(cell, int) else None

"""A statistics table as pages, exports and charts receive it: labels, counts and totals, already
suppressed. Pure data, no Flask, no SQL.

A published cell is an `int` or `None` (suppressed: shown as «<5»-style mark, never the count).
Raw counts never leave `referral/stats/`: `publish()` (suppression.py) turns a `RawTable` into a
`Table`, and every page and export takes a `Table`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawTable:
    """Counts before suppression: `counts[r][c]` persons (or cases, permits...) in row r, column c.

    A one-way table has one column. Row and column totals are the sums of the counts (every person
    is counted in exactly one cell: the counting rule says how)."""

    key: str               # stable identifier, e.g. "personas_por_sexo" (file names of exports)
    title: str             # in the reader's language
    rule: str              # the counting rule, in the reader's language
    row_header: str        # e.g. «Sexo»
    rows: tuple[str, ...]  # row labels, in the reader's language
    columns: tuple[str, ...]  # column labels (e.g. years); one column for a one-way table
    counts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Table:
    """Counts after suppression. `None` = suppressed. Totals may be suppressed too."""

    key: str
    title: str
    rule: str
    row_header: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    column_totals: tuple[int | None, ...]
    total: int | None
    threshold: int         # cells below this (and above zero) are hidden
    suppressed: int        # how many inner cells and totals are hidden (primary + complementary)

"""Publishing a table: cell-key perturbation, then small-cell and complementary suppression.

`publish()` turns a `RawTable` (true counts and the sums of their cases' record keys) into a `Table`:

1. **Perturbation** (disclosure.py): every inner cell, row and column total and the grand total is
   perturbed on its own by its cell key, so the same people always give the same figure and totals are
   not sums of the published cells (a table does not add up exactly, as in any agency's table builder).
2. **Small values**: a perturbed value below the threshold (10 unless told; zeros included) is
   published as `SMALL` («<10»).
3. **Complementary suppression** (`suppress()`): more values are hidden (`HIDDEN`, «x») until no
   hidden value could be worked out from the shown ones even by someone who took the table to add up
   exactly: no sum (a row, a column, the totals) has exactly one hidden member, and no hidden value
   follows from several sums together (checked exactly, with fractions). Which positions are
   derivable depends only on the pattern of hidden positions, not on the values. A complement is the
   smallest non-zero value of the sum, inner cells before totals, preferring one whose other sum
   already has a hidden member; ties go to the first position.

`suppress()` is exact and pure, and tested on its own (tests/stats/test_suppression.py) for additive
tables: every hidden count can move by ±1 around a cycle of hidden counts.
"""

from __future__ import annotations

from fractions import Fraction

from .disclosure import perturb
from .tables import HIDDEN, SMALL, Cell, RawTable, Table

Position = tuple[int, int]  # (i, j) in the grid: row R holds the column totals, column C the row totals


def publish(raw: RawTable, threshold: int = 10) -> Table:
    """Perturb every value by its cell key, mark values below `threshold` small, hide complements."""
    _check(raw, threshold)
    counts = _grid(raw.counts, len(raw.columns))
    keys = _grid(raw.keys, len(raw.columns))
    if raw.total is not None:  # counted on their own (a unit may sit in several cells)
        assert raw.row_totals is not None and raw.column_totals is not None
        for grid, part in ((counts, 0), (keys, 1)):
            for i, pair in enumerate(raw.row_totals):
                grid[i][-1] = pair[part]
            for j, pair in enumerate(raw.column_totals):
                grid[-1][j] = pair[part]
            grid[-1][-1] = raw.total[part]
    grid = [[perturb(n, k) for n, k in zip(line, key_line, strict=True)]
            for line, key_line in zip(counts, keys, strict=True)]
    small = {(i, j) for i, line in enumerate(grid) for j, n in enumerate(line) if n < threshold}
    hidden = suppress(grid, small)
    height, width = len(grid), len(grid[0])

    def shown(i: int, j: int) -> Cell:
        return SMALL if (i, j) in small else HIDDEN if (i, j) in hidden else grid[i][j]

    return Table(
        key=raw.key, title=raw.title, rule=raw.rule, row_header=raw.row_header, rows=raw.rows, columns=raw.columns,
        cells=tuple(tuple(shown(i, j) for j in range(width - 1)) for i in range(height - 1)),
        row_totals=tuple(shown(i, width - 1) for i in range(height - 1)),
        column_totals=tuple(shown(height - 1, j) for j in range(width - 1)),
        total=shown(height - 1, width - 1),
        threshold=threshold,
        small=len(small),
        suppressed=len(hidden) - len(small),
    )


def suppress(grid: list[list[int]], primary: set[Position]) -> set[Position]:
    """The positions to hide in `grid` (inner cells, a last column of row totals and a last row of
    column totals) so that none of `primary` nor of the complements follows from the shown ones; a
    superset of `primary`."""
    hidden = set(primary)
    _protect(grid, hidden)
    return hidden


def _check(raw: RawTable, threshold: int) -> None:
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, not {threshold}")
    if len(raw.counts) != len(raw.rows) or len(raw.keys) != len(raw.rows):
        raise ValueError(f"{raw.key}: {len(raw.counts)} rows of counts for {len(raw.rows)} row labels")
    if any(len(line) != len(raw.columns) for line in raw.keys):
        raise ValueError(f"{raw.key}: the record-key sums do not match the counts")
    given = (raw.row_totals, raw.column_totals, raw.total)
    if any(part is not None for part in given) and (
            None in given or len(raw.row_totals or ()) != len(raw.rows)
            or len(raw.column_totals or ()) != len(raw.columns)):
        raise ValueError(f"{raw.key}: totals given must be all of them, one per row and per column")
    for label, line in zip(raw.rows, raw.counts, strict=True):
        if len(line) != len(raw.columns):
            raise ValueError(f"{raw.key}: row {label!r} has {len(line)} counts for {len(raw.columns)} columns")
        if any(n < 0 for n in line):
            raise ValueError(f"{raw.key}: row {label!r} has a negative count")


def _grid(counts: tuple[tuple[int, ...], ...], width: int) -> list[list[int]]:
    """Counts (or key sums) with their row totals as a last column and the column totals (and grand total)
    as a last row."""
    grid = [[*line, sum(line)] for line in counts]
    grid.append([sum(line[j] for line in grid) for j in range(width + 1)])
    return grid


def _protect(grid: list[list[int]], hidden: set[Position]) -> None:
    """Add complements to `hidden` until no hidden count is derivable."""
    while True:
        _close_sums(grid, hidden)
        exposed = _derivable(grid, hidden)
        if not exposed:
            return
        hidden.add(_bridge(grid, hidden, exposed[0]))


def _sums(grid: list[list[int]]) -> list[list[Position]]:
    """The members of each sum: the grid's rows, then its columns. A line of one member (a table without
    rows or without columns) is no sum: its total adds up nothing."""
    height, width = len(grid), len(grid[0])
    lines = ([[(i, j) for j in range(width)] for i in range(height)]
             + [[(i, j) for i in range(height)] for j in range(width)])
    return [line for line in lines if len(line) > 1]


def _close_sums(grid: list[list[int]], hidden: set[Position]) -> None:
    """While some sum has exactly one hidden member, hide one more member of it."""
    sums = _sums(grid)
    height, width = len(grid), len(grid[0])
    while True:
        lonely = next((members for members in sums if sum(p in hidden for p in members) == 1), None)
        if lonely is None:
            return
        along_row = lonely[0][0] == lonely[-1][0]
        other_sum = {p: [(k, p[1]) for k in range(height)] if along_row else [(p[0], k) for k in range(width)]
                     for p in lonely if p not in hidden}
        hidden.add(min(other_sum, key=lambda p: (grid[p[0]][p[1]] == 0, _is_total(grid, p),
                                                 not any(q in hidden for q in other_sum[p]), grid[p[0]][p[1]], p)))


def _is_total(grid: list[list[int]], p: Position) -> bool:
    return p[0] == len(grid) - 1 or p[1] == len(grid[0]) - 1


def _derivable(grid: list[list[int]], hidden: set[Position]) -> list[Position]:
    """Hidden positions whose value the shown counts determine: unit vectors in the row space of the sums.

    The sums restricted to the hidden unknowns are brought to reduced row echelon form; an unknown is
    determined exactly when its pivot row has no other entry."""
    unknowns = sorted(hidden)
    index = {p: k for k, p in enumerate(unknowns)}
    height, width = len(grid), len(grid[0])
    pivots: dict[int, dict[int, Fraction]] = {}
    for members in _sums(grid):
        row: dict[int, Fraction] = {}
        for i, j in members:
            if (i, j) in index:  # a total enters its own sum with −1
                row[index[(i, j)]] = Fraction(-1 if i == height - 1 or j == width - 1 else 1)
        for column, pivot_row in pivots.items():
            if column in row:
                _subtract(row, pivot_row, row[column])
        if not row:
            continue
        column = min(row)
        scale = row[column]
        row = {k: v / scale for k, v in row.items()}
        for pivot_row in pivots.values():
            if column in pivot_row:
                _subtract(pivot_row, row, pivot_row[column])
        pivots[column] = row
    return sorted(unknowns[column] for column, row in pivots.items() if len(row) == 1)


def _subtract(row: dict[int, Fraction], other: dict[int, Fraction], factor: Fraction) -> None:
    """row −= factor × other, dropping zeros."""
    for k, v in other.items():
        value = row.get(k, Fraction(0)) - factor * v
        if value:
            row[k] = value
        else:
            row.pop(k, None)


def _bridge(grid: list[list[int]], hidden: set[Position], exposed: Position) -> Position:
    """A shown non-zero count to hide so that `exposed` is no longer derivable, or at least closer to it.

    Seen as a graph whose nodes are the sums (grid rows and columns) and whose edges are the hidden
    positions, a derivable position is an edge on no cycle: removing it splits its side `near` from
    the rest. Its value is a signed sum of the shown counts crossing that cut, so one of them is not
    zero; hiding one that lands in the exposed edge's other side closes a cycle through it."""
    rest = hidden - {exposed}
    near = _component(grid, rest, exposed[0], True)
    far = _component(grid, rest, exposed[1], False)
    height, width = len(grid), len(grid[0])
    crossing = [(i, j) for i in range(height) for j in range(width)
                if (i, j) not in hidden and ((i, True) in near) != ((j, False) in near)]

    def closes(p: Position) -> bool:
        return (p[0], True) in far or (p[1], False) in far

    return min(crossing, key=lambda p: (grid[p[0]][p[1]] == 0, _is_total(grid, p), not closes(p), grid[p[0]][p[1]], p))


def _component(grid: list[list[int]], edges: set[Position], start: int, is_row: bool) -> set[tuple[int, bool]]:
    """Sums (index, is_row) reachable from one sum through hidden positions."""
    seen = {(start, is_row)}
    todo = [(start, is_row)]
    while todo:
        index, row = todo.pop()
        for i, j in edges:
            if (i if row else j) == index:
                node = (j, False) if row else (i, True)
                if node not in seen:
                    seen.add(node)
                    todo.append(node)
    return seen

"""Complementary suppression (`suppress()`), exact: on a table that adds up, small counts are hidden,
and no hidden count can be worked out from the published ones, neither by linear algebra nor by
non-negativity (a second non-negative integer table fits every published number). Pure: no database,
no app. What is published (perturbed values, «<10» and «x» marks) is tested in test_disclosure.py;
here `exact()` publishes the true counts with the pattern `suppress()` chooses, the hardest case for
the pattern (nothing else hides a value)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from referral.stats.suppression import suppress
from referral.stats.tables import RawTable, Table

Grid = list[list[int]]
Shown = list[list[int | None]]
Position = tuple[int, int]


def raw_table(counts: list[list[int]] | tuple[tuple[int, ...], ...], columns: int | None = None) -> RawTable:
    width = columns if columns is not None else (len(counts[0]) if counts else 0)
    return RawTable(key="prueba", title="Prueba", rule="Una persona por caso", row_header="Fila",
                    rows=tuple(f"fila {i}" for i in range(len(counts))),
                    columns=tuple(str(2020 + j) for j in range(width)),
                    counts=tuple(tuple(line) for line in counts), keys=tuple(tuple(0 for _ in line) for line in counts))


def publish(raw: RawTable, threshold: int = 5) -> Table:
    """The true counts, with primary (0 < n < threshold) and complementary positions as None."""
    if threshold < 1:
        raise ValueError("threshold")
    if len(raw.counts) != len(raw.rows) or any(len(line) != len(raw.columns) for line in raw.counts):
        raise ValueError("shape")
    if any(n < 0 for line in raw.counts for n in line):
        raise ValueError("negative")
    full = full_grid(raw)
    hidden = suppress(full, {(i, j) for i, line in enumerate(full) for j, n in enumerate(line) if 0 < n < threshold})
    height, width = len(full), len(full[0])

    def shown(i: int, j: int) -> int | None:
        return None if (i, j) in hidden else full[i][j]

    return Table(key=raw.key, title=raw.title, rule=raw.rule, row_header=raw.row_header, rows=raw.rows,
                 columns=raw.columns, cells=tuple(tuple(shown(i, j) for j in range(width - 1))  # type: ignore[misc]
                                                  for i in range(height - 1)),
                 row_totals=tuple(shown(i, width - 1) for i in range(height - 1)),  # type: ignore[arg-type]
                 column_totals=tuple(shown(height - 1, j) for j in range(width - 1)),  # type: ignore[arg-type]
                 total=shown(height - 1, width - 1), threshold=threshold, small=0,  # type: ignore[arg-type]
                 suppressed=len(hidden))


# --- independent views of a table: the raw grid with totals, and the published one --------------------------

def full_grid(raw: RawTable) -> Grid:
    """Raw counts, row totals as a last column, column totals and grand total as a last row."""
    width = len(raw.columns)
    rows = [list(line) + [sum(line)] for line in raw.counts]
    bottom = [sum(line[j] for line in raw.counts) for j in range(width)]
    return rows + [bottom + [sum(bottom)]]


def shown_grid(table: Table) -> Shown:
    rows: Shown = [list(line) + [total] for line, total in zip(table.cells, table.row_totals, strict=True)]
    return rows + [list(table.column_totals) + [table.total]]


def hidden_positions(shown: Shown) -> list[Position]:
    return [(i, j) for i, line in enumerate(shown) for j, value in enumerate(line) if value is None]


def sums(height: int, width: int) -> list[dict[Position, int]]:
    """Each published equation as {position: coefficient} = 0: rows (cells − total), columns likewise."""
    equations = []
    for i in range(height):
        equations.append({(i, j): (-1 if j == width - 1 else 1) for j in range(width)})
    for j in range(width):
        equations.append({(i, j): (-1 if i == height - 1 else 1) for i in range(height)})
    return equations


def fits(candidate: Grid, shown: Shown) -> bool:
    """Non-negative integers that satisfy every sum and agree with every published number."""
    height, width = len(candidate), len(candidate[0])
    if any(value < 0 for line in candidate for value in line):
        return False
    if any(shown[i][j] is not None and shown[i][j] != candidate[i][j] for i in range(height) for j in range(width)):
        return False
    return all(sum(coefficient * candidate[i][j] for (i, j), coefficient in equation.items()) == 0
               for equation in sums(height, width))


# --- proof 1: linear algebra (null space of the sums restricted to the hidden unknowns) ---------------------

def determined(shown: Shown) -> list[Position]:
    """Hidden positions that the published sums fix: those every null-space vector leaves at zero."""
    unknowns = hidden_positions(shown)
    if not unknowns:
        return []
    height, width = len(shown), len(shown[0])
    matrix = [[Fraction(equation.get(p, 0)) for p in unknowns] for equation in sums(height, width)]
    pivots: list[int] = []
    rank = 0
    for column in range(len(unknowns)):
        found = next((r for r in range(rank, len(matrix)) if matrix[r][column] != 0), None)
        if found is None:
            continue
        matrix[rank], matrix[found] = matrix[found], matrix[rank]
        pivot = matrix[rank][column]
        matrix[rank] = [value / pivot for value in matrix[rank]]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column] != 0:
                factor = matrix[r][column]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        pivots.append(column)
        rank += 1
    basis = []
    for free in (c for c in range(len(unknowns)) if c not in pivots):
        vector = [Fraction(0)] * len(unknowns)
        vector[free] = Fraction(1)
        for r, column in enumerate(pivots):
            vector[column] = -matrix[r][free]
        basis.append(vector)
    original = [[Fraction(equation.get(p, 0)) for p in unknowns] for equation in sums(height, width)]
    for vector in basis:  # the basis really solves the homogeneous system
        assert all(sum(a * v for a, v in zip(line, vector, strict=True)) == 0 for line in original)
    return [p for k, p in enumerate(unknowns) if all(vector[k] == 0 for vector in basis)]


# --- proof 2: a second non-negative integer table, by ±1 moves around a cycle of hidden positions -----------

def second_solution(full: Grid, shown: Shown, target: Position, limit: int = 20_000) -> Grid | None:
    """Another table that fits every published number and differs at `target`, or None if none is found.

    Positions are edges between their row and their column; a cycle through `target` alternating +1/−1
    keeps every sum (up to the totals' sign, fixed by trying both directions and checking with `fits`)."""
    hidden = set(hidden_positions(shown))
    height, width = len(full), len(full[0])
    start, goal = ("col", target[1]), ("row", target[0])
    tried = 0

    def neighbours(node: tuple[str, int]) -> list[tuple[Position, tuple[str, int]]]:
        kind, index = node
        if kind == "row":
            return [((index, j), ("col", j)) for j in range(width) if (index, j) in hidden]
        return [((i, index), ("row", i)) for i in range(height) if (i, index) in hidden]

    def attempt(path: list[Position]) -> Grid | None:
        cycle = [target, *path]
        for direction in (1, -1):
            candidate = [line[:] for line in full]
            for step, (i, j) in enumerate(cycle):
                sign = -1 if (i == height - 1) != (j == width - 1) else 1  # totals sit on the other side of a sum
                candidate[i][j] += direction * sign * (1 if step % 2 == 0 else -1)
            if candidate[target[0]][target[1]] != full[target[0]][target[1]] and fits(candidate, shown):
                return candidate
        return None

    def search(node: tuple[str, int], path: list[Position], seen: set[tuple[str, int]]) -> Grid | None:
        nonlocal tried
        for edge, after in neighbours(node):
            tried += 1
            if edge == target or after in seen or tried > limit:
                continue
            if after == goal:
                if (found := attempt([*path, edge])) is not None:
                    return found
                continue
            if (found := search(after, [*path, edge], seen | {after})) is not None:
                return found
        return None

    return search(start, [], {start})


def assert_safe(raw: RawTable, table: Table) -> None:
    """Everything a published table must satisfy."""
    full, shown = full_grid(raw), shown_grid(table)
    assert (table.rows, table.columns, table.key, table.title) == (raw.rows, raw.columns, raw.key, raw.title)
    for i, line in enumerate(shown):  # published numbers are the raw ones; zeros are shown; small ones hidden
        for j, value in enumerate(line):
            if value is not None:
                assert value == full[i][j]
                assert not 0 < value < table.threshold
            else:
                assert full[i][j] > 0
    assert table.suppressed == len(hidden_positions(shown))
    assert determined(shown) == []
    for target in hidden_positions(shown):
        other = second_solution(full, shown, target)
        assert other is not None, f"{target} (= {full[target[0]][target[1]]}) is pinned by {shown}"
        assert fits(other, shown) and other[target[0]][target[1]] != full[target[0]][target[1]]


def published(counts: list[list[int]], threshold: int = 5) -> Table:
    raw = raw_table(counts)
    table = publish(raw, threshold)
    assert_safe(raw, table)
    return table


# --- the checkers themselves catch derivable patterns (so the tests below can fail) -------------------------

def primary_only(counts: list[list[int]], threshold: int = 5) -> tuple[Grid, Shown]:
    full = full_grid(raw_table(counts))
    return full, hide(full, {(i, j) for i, line in enumerate(full) for j, n in enumerate(line) if 0 < n < threshold})


def hide(full: Grid, positions: set[Position]) -> Shown:
    return [[None if (i, j) in positions else value for j, value in enumerate(line)] for i, line in enumerate(full)]


def test_the_checkers_find_a_lone_hidden_cell() -> None:
    full, shown = primary_only([[3, 10, 20], [30, 40, 50]])
    assert determined(shown) == [(0, 0)]
    assert second_solution(full, shown, (0, 0)) is None


def test_the_checkers_find_a_hidden_row_total_with_every_cell_shown() -> None:
    full = full_grid(raw_table([[10, 20, 30], [30, 40, 50]]))
    shown = hide(full, {(0, 3)})
    assert determined(shown) == [(0, 3)]
    assert second_solution(full, shown, (0, 3)) is None


def test_the_checkers_find_a_cell_pinned_by_non_negativity() -> None:
    # A hidden 2×2 block whose second column is all zeros: that column's total (9, all in the last row)
    # forces both zeros, and then the row totals force the other two cells.
    block = {(0, 0), (0, 1), (1, 0), (1, 1)}
    full = full_grid(raw_table([[2, 0, 9], [3, 0, 9], [9, 9, 9]]))
    shown = hide(full, block)
    assert determined(shown) == []  # linear algebra alone lets the block move …
    assert second_solution(full, shown, (0, 0)) is None  # … but not without a negative count
    full = full_grid(raw_table([[1, 1, 9], [2, 1, 9], [9, 9, 9]]))  # with no zero in the block, it moves
    assert second_solution(full, hide(full, block), (0, 0)) is not None


BRIDGE = [[1, 2, 3, 40, 50],
          [2, 1, 30, 40, 50],
          [30, 40, 1, 2, 50],
          [30, 40, 2, 1, 50],
          [30, 40, 50, 60, 70]]


def test_the_checkers_find_a_cell_joining_two_hidden_blocks() -> None:
    # Every sum has 0 or ≥ 2 hidden members, yet the cell joining the two blocks follows from the sums.
    full, shown = primary_only(BRIDGE)
    hidden = set(hidden_positions(shown))
    assert all(len(hidden & set(equation)) != 1 for equation in sums(len(shown), len(shown[0])))
    assert determined(shown) == [(0, 2)]
    assert second_solution(full, shown, (0, 2)) is None


# --- primary suppression ------------------------------------------------------------------------------------

SPREAD = [[4, 30, 40, 50],
          [30, 40, 50, 60],
          [40, 50, 5, 0],
          [50, 60, 0, 5]]


def test_four_is_hidden_five_and_zero_are_shown() -> None:
    table = published(SPREAD)
    assert table.cells == ((None, None, 40, 50), (None, None, 50, 60), (40, 50, 5, 0), (50, 60, 0, 5))
    assert table.row_totals == (124, 180, 95, 115) and table.column_totals == (124, 180, 95, 115)
    assert table.total == 514 and table.threshold == 5 and table.suppressed == 4


def test_threshold_three_shows_three_and_four_hides_two() -> None:
    assert published(SPREAD, threshold=3).suppressed == 0
    table = published([[2, 30, 40, 50], [30, 40, 50, 60], [40, 50, 3, 4]], threshold=3)
    assert table.cells[0][0] is None and table.cells[2][2:] == (3, 4) and table.suppressed == 4


def test_threshold_ten_hides_nine_and_shows_ten() -> None:
    table = published([[9, 10, 40, 50], [30, 40, 50, 60], [40, 50, 10, 0]], threshold=10)
    assert table.cells[0][0] is None and table.cells[2][2] == 10 and table.cells[2][3] == 0
    table = published(SPREAD, threshold=10)
    assert table.cells[0][0] is None and table.cells[2][2] is None and table.cells[3][3] is None
    assert table.cells[2][3] == 0 and table.cells[3][2] == 0


def test_threshold_one_hides_nothing_and_below_one_is_refused() -> None:
    assert published([[1, 2], [0, 3]], threshold=1).suppressed == 0
    with pytest.raises(ValueError):
        publish(raw_table([[1]]), threshold=0)


def test_counts_must_match_the_labels_and_be_non_negative() -> None:
    good = raw_table([[1, 2], [3, 4]])
    for counts in (((1, 2),), ((1, 2), (3,)), ((1, 2), (3, -4))):
        with pytest.raises(ValueError):
            publish(RawTable(good.key, good.title, good.rule, good.row_header, good.rows, good.columns, counts,
                             good.keys))


def test_small_totals_are_hidden() -> None:
    table = published([[1, 2, 0], [0, 0, 0], [1, 0, 0]])
    assert table.row_totals == (None, 0, None) and table.total is None
    assert table.column_totals[2] == 0 and table.column_totals[0] is None


# --- complementary suppression ------------------------------------------------------------------------------

def test_a_lone_small_cell_takes_a_two_by_two_block() -> None:
    table = published([[3, 10, 20], [30, 40, 50], [60, 70, 80]])
    assert table.cells == ((None, None, 20), (None, None, 50), (60, 70, 80))
    assert table.row_totals == (33, 120, 210) and table.column_totals == (93, 120, 150) and table.total == 363
    assert table.suppressed == 4


def test_complement_in_a_row() -> None:
    table = published([[3, 10, 20]])
    assert table.cells == ((None, None, 20),) and table.column_totals == (None, None, 20)
    assert table.row_totals == (33,) and table.total == 33 and table.suppressed == 4


def test_complement_in_a_column() -> None:
    table = published([[3, 30, 60], [10, 40, 70], [20, 50, 80]])
    assert table.cells == ((None, None, 60), (None, None, 70), (20, 50, 80))
    assert table.suppressed == 4


def test_one_way_table_hides_a_second_category_and_its_totals() -> None:
    table = published([[3], [10], [20], [40]])
    assert table.cells == ((None,), (None,), (20,), (40,))
    assert table.row_totals == (None, None, 20, 40)
    assert table.column_totals == (73,) and table.total == 73 and table.suppressed == 4
    table = published([[2], [50], [7]])
    assert table.cells == ((None,), (50,), (None,)) and table.row_totals == (None, 50, None)


def test_one_way_table_with_a_small_total() -> None:
    table = published([[1], [2], [0]])
    assert table.cells == ((None,), (None,), (0,)) and table.row_totals == (None, None, 0)
    assert table.column_totals == (None,) and table.total is None


def test_a_small_row_total_hides_a_second_row_total() -> None:
    table = published([[1, 2, 0], [20, 30, 40], [25, 35, 45]])
    assert table.cells == ((None, None, 0), (None, None, 40), (25, 35, 45))
    assert table.row_totals == (None, None, 105) and table.column_totals == (46, 67, 85) and table.total == 198
    assert table.suppressed == 6


def test_a_small_column_total_hides_a_second_column_total() -> None:
    table = published([[1, 20, 25], [2, 30, 35], [0, 40, 45]])
    assert table.column_totals[0] is None and table.column_totals.count(None) == 2 and table.total == 198


def test_two_hidden_blocks_joined_by_one_cell_get_one_more_complement() -> None:
    table = published(BRIDGE)  # the degree rule alone would stop at the nine small cells
    assert table.suppressed == 10 and table.cells[1][2] is None


def test_empty_and_all_zero_tables() -> None:
    empty = publish(raw_table([], columns=3))
    assert (empty.cells, empty.row_totals, empty.column_totals, empty.total, empty.suppressed) == ((), (), (0, 0, 0),
                                                                                                 0, 0)
    no_columns = publish(raw_table([[], []], columns=0))
    assert (no_columns.cells, no_columns.row_totals, no_columns.column_totals, no_columns.total) == (((), ()), (0, 0),
                                                                                                     (), 0)
    zeros = published([[0, 0], [0, 0]])
    assert zeros.cells == ((0, 0), (0, 0)) and zeros.total == 0 and zeros.suppressed == 0


def test_a_single_small_cell_hides_everything() -> None:
    table = published([[3]])
    assert (table.cells, table.row_totals, table.column_totals, table.total) == (((None,),), (None,), (None,), None)
    assert table.suppressed == 4


# --- random tables ------------------------------------------------------------------------------------------

def random_counts(rng: random.Random) -> list[list[int]]:
    height, width = rng.randint(1, 8), rng.randint(1, 6)

    def count() -> int:
        draw = rng.random()
        return 0 if draw < 0.3 else rng.randint(1, 6) if draw < 0.75 else rng.randint(5, 80)

    return [[count() for _ in range(width)] for _ in range(height)]


def test_random_tables_hide_nothing_derivable() -> None:
    rng = random.Random(20260214)
    complemented = 0
    for _ in range(300):
        counts = random_counts(rng)
        threshold = rng.choice((3, 5, 5, 10))
        raw = raw_table(counts)
        table = publish(raw, threshold)
        assert_safe(raw, table)
        full = full_grid(raw)
        primary = sum(0 < n < threshold for line in full for n in line)
        assert table.suppressed >= primary
        complemented += table.suppressed > primary
        if len(raw.columns) == 1:  # one-way: a category and its row total are the same number
            assert [line[0] is None for line in table.cells] == [total is None for total in table.row_totals]
        if len(raw.rows) == 1:
            assert [cell is None for cell in table.cells[0]] == [total is None for total in table.column_totals]
    assert complemented > 100  # the corpus does exercise complementary suppression


def test_publish_is_deterministic() -> None:
    rng = random.Random(7)
    corpus = [random_counts(rng) for _ in range(40)]
    first = [publish(raw_table(counts)) for counts in corpus]
    again = [publish(raw_table([list(line) for line in counts])) for counts in reversed(corpus)]
    assert first == list(reversed(again))

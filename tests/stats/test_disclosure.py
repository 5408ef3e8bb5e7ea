"""Cell-key perturbation and what `publish()` makes of a table (referral/stats/disclosure.py,
suppression.py). Pure: no database, no app. The attacks against the running pages are in
test_attacks.py; the pattern of complementary suppression in test_suppression.py."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from referral.stats.disclosure import KEY_SPACE, MAX_NOISE, NOISE, WEIGHTS, min_population, noise, perturb
from referral.stats.suppression import publish
from referral.stats.tables import HIDDEN, SMALL, RawTable, Table

from .test_suppression import determined


def population(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(KEY_SPACE) for _ in range(n)]


def raw(cells: list[list[list[int]]]) -> RawTable:
    """A table from the record keys of the cases in each cell."""
    return RawTable(key="t", title="T", rule="r", row_header="fila", rows=tuple(f"f{i}" for i in range(len(cells))),
                    columns=tuple(f"c{j}" for j in range(len(cells[0]))),
                    counts=tuple(tuple(len(cell) for cell in line) for line in cells),
                    keys=tuple(tuple(sum(cell) for cell in line) for line in cells))


def grid(table: Table) -> list[list[object]]:
    rows = [[*line, total] for line, total in zip(table.cells, table.row_totals, strict=True)]
    return [*rows, [*table.column_totals, table.total]]


def test_noise_follows_the_perturbation_table() -> None:
    rng = random.Random(1)
    drawn = Counter(noise(50, rng.randrange(KEY_SPACE)) for _ in range(40_000))
    assert set(drawn) == set(NOISE)
    for value, weight in zip(NOISE, WEIGHTS, strict=True):
        assert drawn[value] / 40_000 == pytest.approx(weight, abs=0.01), value
    assert abs(sum(value * n for value, n in drawn.items()) / 40_000) < 0.03  # unbiased


def test_nobody_is_never_perturbed_and_a_count_never_goes_negative() -> None:
    rng = random.Random(2)
    assert all(perturb(0, rng.randrange(KEY_SPACE)) == 0 for _ in range(100))
    for n in range(1, 8):
        values = {perturb(n, rng.randrange(KEY_SPACE)) for _ in range(2000)}
        assert min(values) == max(0, n - MAX_NOISE) and max(values) == n + MAX_NOISE


def test_the_same_people_always_get_the_same_noise() -> None:
    rng = random.Random(3)
    people = population(rng, 40)
    assert perturb(40, sum(people)) == perturb(40, sum(reversed(people)))  # order does not matter
    assert perturb(40, sum(people)) == perturb(40, sum(people) + KEY_SPACE)  # only the key sum mod 2^31


def test_one_more_person_gives_new_noise_so_a_difference_is_not_a_person() -> None:
    """The differencing attack: two overlapping figures one person apart. Their published difference is
    1 plus the difference of two independent noises: it is 1 about a quarter of the time, and anything
    from -5 to 7 otherwise."""
    rng = random.Random(4)
    differences = Counter()
    for _ in range(5000):
        people = population(rng, rng.randint(20, 200))
        newcomer = rng.randrange(KEY_SPACE)
        differences[perturb(len(people) + 1, sum(people) + newcomer) - perturb(len(people), sum(people))] += 1
    assert differences[1] / 5000 == pytest.approx(sum(w * w for w in WEIGHTS), abs=0.02)  # 0.26
    assert differences[1] / 5000 < 0.35
    assert set(differences) == set(range(1 - 2 * MAX_NOISE, 2 + 2 * MAX_NOISE))


def test_published_tables_show_no_number_below_the_threshold_and_stay_near_the_truth() -> None:
    rng = random.Random(5)
    for _ in range(200):
        threshold = rng.choice((5, 10, 10, 15))
        width = rng.randint(1, 5)
        cells = [[population(rng, rng.choice((0, 0, 1, 2, 4, 9, 10, 12, 30, 80))) for _ in range(width)]
                 for _ in range(rng.randint(1, 6))]
        table = publish(raw(cells), threshold)
        true = [[len(c) for c in line] + [sum(len(c) for c in line)] for line in cells]
        true.append([sum(line[j] for line in true) for j in range(len(true[0]))])
        marks = 0
        for shown_line, true_line in zip(grid(table), true, strict=True):
            for shown, count in zip(shown_line, true_line, strict=True):
                if isinstance(shown, int):
                    assert shown >= threshold and abs(shown - count) <= MAX_NOISE
                else:
                    assert shown in (SMALL, HIDDEN)
                    marks += 1
                    if shown == SMALL:
                        assert count < threshold + MAX_NOISE
        assert marks == table.small + table.suppressed
        # someone who takes the table to add up exactly still cannot work out a marked value
        assert determined([[v if isinstance(v, int) else None for v in line] for line in grid(table)]) == []


def test_a_cell_and_a_total_of_the_same_people_show_the_same_figure() -> None:
    rng = random.Random(6)
    everyone = population(rng, 37)
    table = publish(raw([[everyone], [[]], [[]]]), 10)  # a one-way table: all in the first category
    assert table.cells[0][0] == table.row_totals[0] == table.column_totals[0] == table.total
    assert isinstance(table.total, int) and abs(table.total - 37) <= MAX_NOISE
    assert table.cells[1][0] == table.cells[2][0] == SMALL  # nobody: «<10», not an exact zero
    alone = publish(raw([[everyone], [[]]]), 10)  # one category «<10» would follow from the total: a complement
    assert alone.cells == ((HIDDEN,), (SMALL,)) and alone.total == table.total


def test_two_tables_of_the_same_people_share_their_totals() -> None:
    rng = random.Random(7)
    people = population(rng, 60)
    by_sex = publish(raw([[people[:41]], [people[41:]]]), 10)
    by_age = publish(raw([[people[:20]], [people[20:52]], [people[52:]]]), 10)
    assert by_sex.total == by_age.total  # linked tables: the shared total gives nothing new


def test_a_small_marked_value_is_told_apart_from_a_complement() -> None:
    rng = random.Random(8)
    table = publish(raw([[population(rng, 2), population(rng, 40)], [population(rng, 50), population(rng, 60)]]), 10)
    assert table.cells[0][0] == SMALL and table.small >= 1
    assert HIDDEN in {v for line in grid(table) for v in line}  # the 2 must not follow from the row: a complement
    assert table.suppressed >= 1


def test_the_smallest_population_shown() -> None:
    assert min_population(10) == 50 and min_population(2) == 10

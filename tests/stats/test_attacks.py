"""The auditor as attacker (issue 13): no figure an auditor can obtain, alone or combined, determines a
count below the threshold or an individual's attribute.

The attacker (bench/attacker.py) uses nothing but HTTP as the demo auditor: the statistics CSV and the
dashboard of every combination of the filter grid (here the first 400 requests of it, combinations
whose every parent showed figures first), the timeline list, export and pages, and a second audit
body's export; then the interval LP over linked figures, differencing of nested queries, the
dashboard's medians and nodes, and the timelines' quasi-identifiers. bench/disclosure.py scores what
it recovered against the database.

The population (module-scoped): 1,500 cases from the bulk generator of bench/audit.py on SQLite with
the clock fixed, so each run sees the same cases; a second auditor at another node (PAV).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask

from bench.attacker import (
    DASHBOARD_URL, K_TIMELINES, NARROW_WORDS, STATISTICS_URL, Query, parse_dashboard, parse_statistics_csv,
)
from bench.disclosure import Assessment, assess, build
from bench.support import logged_in
from referral.extensions import database

CASES = 1_500
MAX_GRID_REQUESTS = 400
NOW = dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)  # the suite's clock (tests/conftest.py)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Assessment]]:
    app = build(tmp_path_factory.mktemp("attacks"), CASES, quiet, now=NOW)
    assessment = assess(app, quiet, MAX_GRID_REQUESTS, list_pages=5, sample_pages=10, control_families=10)
    yield app, assessment
    database.engine(app).dispose()


@pytest.fixture
def attack(attacked: tuple[Flask, Assessment]) -> Assessment:
    return attacked[1]


def listed(items: object, limit: int = 8) -> str:
    shown = list(items)[:limit]  # type: ignore[call-overload]
    return "\n".join(str(item) for item in shown)


def test_the_attacker_saw_figures(attack: Assessment) -> None:
    obs = attack.observations
    shown = [q for q, view in obs.statistics.items() if not view.narrow]
    assert Query() in shown and len(shown) >= 10, "too few queries with figures to attack"
    assert any(q.level >= 2 for q in shown), "no combination of two filters showed figures"
    assert attack.lp.families >= 5 and attack.lp.families_solved == attack.lp.families
    assert attack.lp.targets > 1000


def test_published_figures_keep_the_documented_method(attack: Assessment) -> None:
    """What the attacker assumes is true of the publication: every figure within the noise of its
    true count, «<10» and «x» as documented, the same set of cases always the same figure; and the
    attacker's model is sound (no contradiction, no wrong determination)."""
    assert attack.noise_violations == [], listed(attack.noise_violations)
    assert attack.fact_violations == [], listed(attack.fact_violations)
    assert attack.lp.inconsistent == [], listed(attack.lp.inconsistent)
    assert attack.lp.infeasible == [], listed(attack.lp.infeasible)
    assert attack.wrong == {}, listed(attack.wrong.items())


def test_the_control_attack_breaks_an_exact_publication(attack: Assessment) -> None:
    """The same LP on the exact counts with only «<10» suppression determines small counts, right: the
    attack is able to find what it looks for."""
    assert len(attack.control_exact_small) > 0
    assert any(attack.control.how[key] == "lp" for key in attack.control_exact_small)
    assert attack.control_wrong == {}, listed(attack.control_wrong.items())
    assert attack.control.infeasible == [], listed(attack.control.infeasible)


def test_linked_figures_determine_no_count_below_the_threshold(attack: Assessment) -> None:
    """Interval LP over every family of linked queries: no count below 10 is pinned to one value."""
    found = sorted(attack.exact_small.items(), key=lambda item: (-item[1], str(item[0])))
    how = {key: attack.lp.how.get(key) for key, _ in found}
    assert found == [], (f"{len(found)} counts below the threshold determined "
                         f"({sum(1 for _, v in found if v > 0)} of them 1..9):\n"
                         + listed(f"{value}: {key} ({how[key]})" for key, value in found))


def test_differences_of_nested_queries_are_noise(attack: Assessment) -> None:
    """A year minus its quarter, national minus a region, all types minus one: the published difference
    is the true one (1..9) far less often than not."""
    metrics = attack.metrics
    assert metrics["differencing_pairs_count"] >= 50, "too few small differences to measure"
    assert metrics["differencing_exact_ratio"] < 0.5


def test_day_ranges_change_nothing_and_day_periods_are_refused(attack: Assessment) -> None:
    probe = attack.probe
    assert probe.statistics_identical
    assert probe.dashboard_identical
    assert probe.cases_identical
    assert probe.day_period_statuses == {path: 400 for path in probe.day_period_statuses}


def test_a_small_population_shows_no_figure(attacked: tuple[Flask, Assessment]) -> None:
    app, attack = attacked
    narrow = sorted(q for q, view in attack.observations.statistics.items() if view.narrow)
    assert narrow, "no narrowed query was too small"
    client = logged_in(app, "auditor")
    for query in narrow[:3]:
        page = client.get(query.url(STATISTICS_URL)).text
        assert NARROW_WORDS in page and "<table" not in page, query
        tables, note = parse_statistics_csv(client.get(query.url(STATISTICS_URL, formato="csv")).data)
        assert tables == [] and NARROW_WORDS in note, query
        board = parse_dashboard(client.get(query.url(DASHBOARD_URL)).text)
        assert board.narrow and board.count is None and not board.steps, query


def test_dashboard_medians_are_over_enough_cases(attack: Assessment) -> None:
    truth, t = attack.truth, attack.observations.grid.threshold
    assert attack.dashboard.medians, "no median was shown"
    small = [(q, label, truth.count(key)) for q, label, key in attack.dashboard.medians if truth.count(key) < t]
    assert small == [], listed(small)


def test_dashboard_names_no_node_with_fewer_referrals_than_the_threshold(attack: Assessment) -> None:
    truth, t = attack.truth, attack.observations.grid.threshold
    assert attack.dashboard.named_nodes, "no node was named"
    small = [(str(q), name, truth.count(key)) for q, name, key in attack.dashboard.named_nodes
             if truth.count(key) < t]
    assert small == [], f"{len(small)} nodes named with fewer than {t} referrals:\n" + listed(small)


def test_no_number_below_the_threshold_is_shown(attack: Assessment) -> None:
    assert attack.dashboard.small_numbers == [], listed(attack.dashboard.small_numbers)


def test_timelines_are_k_anonymous_over_the_whole_population(attack: Assessment) -> None:
    lines = attack.timelines
    assert lines.cases > 0 and attack.observations.timelines is not None
    assert lines.cases == attack.observations.timelines.listed_total  # the export gives every listed case
    assert lines.min_k >= K_TIMELINES, [qi for qi, n in lines.groups.items() if n < K_TIMELINES][:5]
    assert lines.below_k == []
    assert lines.mismatches == [], listed(lines.mismatches)


def test_no_person_is_singled_out(attack: Assessment) -> None:
    assert attack.metrics["reidentified_share_ratio"] == 0, (
        f"{len(attack.singled_out)} persons singled out; counts determined at 1..9:\n"
        + listed(f"{v}: {k}" for k, v in attack.exact_small.items() if v > 0))


def test_national_yearly_totals_stay_useful(attack: Assessment) -> None:
    assert attack.metrics["utility_error_ratio"] <= 0.05

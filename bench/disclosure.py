"""Disclosure control against an attacker (issue 13): `python bench/run.py disclosure [--quick]`.

A throw-away SQLite database (migrations, the demo network, a second auditor at another node, PAV) is
filled by the bulk generator of bench/audit.py: N cases (20,000; 2,000 with --quick) detected
uniformly from 2013 to the build moment, 40 audit events each, categories from
../shared/data/calibration.json (its constants when absent). Then the auditor-as-attacker of
bench/attacker.py, signed in as the demo auditor and using nothing but HTTP, asks for every figure the
auditor role can get: the statistics CSV and the dashboard of every combination of the filter grid
(with --quick the first 1,500 requests of it, combinations whose every parent showed figures first),
the timeline list pages, exports (the PAV auditor's too) and pages; and attacks them. Only the
scoring here reads the database (`Truth`), to compare what the attacker recovered with what is true.

Metrics and targets:

- `exact_small_cells_count` (target 0): counts below the threshold T that the attacker determined
  (one integer left in its range) and that are right; split into `exact_zero_cells_count` and
  `exact_positive_small_cells_count` (1..T−1), and by how: `exact_small_by_bounds_count` (a count's
  own figures and facts pin it: a category or year not listed, a median not shown) and
  `exact_small_by_lp_count` (only the LP over linked figures pins it);
- `control_exact_small_cells_count` (must be > 0): the same attacker against the exact publication
  (true counts, «<T» only, no noise, no complements) on the cheapest `control_families_count`
  families: proof that the attack finds what it looks for; `control_wrong_count` (0): determined
  values that are not the truth there (a modelling error); `control_infeasible_count` (0);
- `wrong_determinations_count`, `lp_infeasible_count` (0): the same against the real publication;
- `noise_violations_count` (0): published figures not within the documented noise of the truth (or
  «<T», «x» that say otherwise); `fact_violations_count` (0): facts the attacker assumed (categories,
  years, medians, a node's answers, the narrow rule) that are false; `inconsistent_figures_count`
  (0): one set of cases published as two different figures;
- `reidentified_share_ratio` (target 0): persons (activated cases) singled out, `singled_out_count`:
  their shown timeline quasi-identifiers are shared by fewer than 11 cases, or a count determined at
  1..T−1 includes them;
- `min_k_timelines_count` (≥ 11): the fewest cases sharing a shown combination of timeline
  quasi-identifiers (period, region, sex, age group, nationality, type, NNA);
  `timelines_below_k_count` (0); reported, no target (issue 13 counts state and step count among
  the quasi-identifiers; the release does not generalise them): `min_k_with_status_count` and
  `timelines_below_k_with_status_count` with the exported status and closing reason added,
  `timelines_below_k_with_steps_count` with the number of steps added; `timelines_withheld_count`:
  cases not listed; `timeline_mismatches_count` (0): a list or page showing another period or region
  than the export;
- `differencing_exact_ratio` (well below 1): of the published differences of nested queries whose
  true difference is 1..T−1 (`differencing_pairs_count`), the share equal to it (independent noises
  make about 0.2); `differencing_small_published_count`: published differences of 1..T−1;
- `dashboard_small_median_count`, `dashboard_small_named_node_count`, `small_numbers_count` (0):
  medians over fewer than T true cases (of `dashboard_medians_count`), nodes named with fewer than T
  true referrals (of `dashboard_named_nodes_count`), numbers shown below T;
- `fingerprint_unique_ratio`, `fingerprint_join_ratio`: timelines whose (event, week) sequence is
  unique, and that join one to one with the PAV auditor's export (reported, no target);
- `utility_error_ratio` (≤ 0.05): mean relative error of the published national yearly totals of
  persons entered (the first persons table's Total row) against the truth, over the years with at
  least T persons; a total hidden there counts as a 100 % error;
- `statistics_page_s`: median of 5 GETs of /auditoria/estadisticas with no filter;
- sizes and times: `cases_count`, `persons_count`, `queries_count` (every request of the attack),
  `grid_combinations_count`, `shown_combinations_count`, `lp_families_count` (families of linked
  queries) and `lp_families_solved_count` (all with --quick; at full size no family is started after
  30 minutes of LP, the largest come last), `lp_targets_count`, `lp_solves_count`, `lp_s`, `attack_s`,
  `load_s`.

Duration on 2 cores: --quick about 75 seconds (load 5 s, 1,500 grid requests 15 s, timelines 4 s, the
LP 40 s over 35 families, control 2 s); 2,000 cases because the LP over the national and regional
tables of every year grows fast with the population (about 20 s at 1,500 cases, 40 s at 2,000). Full
size about 17 minutes: load 50 s, the whole grid (about 12,900 requests) 4 minutes, the timeline
exports (one per period, 75) 3 minutes and the PAV auditor's 2.5 minutes, the LP 5.5 minutes over
about 480 families (the largest, national with its 16 regions over every year, about 26,000 counts).
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SADeprecationWarning

from referral import create_app
from referral.auth.models import User
from referral.auth.passwords import hash_password
from referral.choices import country_names
from referral.clocks.models import RUNNING, CaseClock
from referral.db import utcnow
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.models import import_all
from referral.network.models import Node
from referral.kernel.referral_models import Referral
from referral.stats.models import CaseStat, CaseStatStep
from referral.stats.pseudonyms import scoped
from referral.units import unit_of_work
from referral.workflow.statistics import UNKNOWN, UNKNOWN_LABEL, category_label

from .attacker import (
    ALL, CLOCK, CLOCK_BREACHED, CLOCK_MET, CLOCK_OVERDUE, CLOCK_RUNNING, MAX_NOISE, NODE, NODE_ACCEPTED,
    NODE_ANSWERED, NODE_PENDING, NODE_REFUSED, NODE_SENT, PERSONS, STATISTICS_URL, STEP, TOTAL, DashboardFindings,
    DayRangeProbe, Difference, Key, Layout, LPResult, Observations, Query, Session, TimelineFindings,
    collect, dashboard_findings, differences, exact_cell, export_all, interval, interval_lp, make_key,
    medians_follow_published_counts, probe_day_ranges, query_evidence, timeline_findings,
)
from .audit import World, _calibration, _load
from .support import DOMAIN, Clock, Metrics, Progress, logged_in, median, migrate_with_network, settings

AUDITOR = "auditor"  # the demo auditor (SERMIG, which holds the Mesa's technical secretariat)
OTHER_AUDITOR, OTHER_NODE = "auditor.pav", "PAV"  # another audit body


@dataclass(frozen=True)
class Size:
    cases: int
    max_grid_requests: int | None  # None: the whole grid
    list_pages: int
    sample_pages: int
    control_families: int  # the control is run on the cheapest families only (it only has to find some)
    lp_seconds: float | None = None  # no LP family started after this (None: every family)


FULL = Size(cases=20_000, max_grid_requests=None, list_pages=20, sample_pages=30, control_families=40,
            lp_seconds=1800)
QUICK = Size(cases=2_000, max_grid_requests=1_500, list_pages=10, sample_pages=15, control_families=10)


# -- the population ----------------------------------------------------------------------------------------


def build(folder: Path, cases: int, progress: Progress, now: dt.datetime | None = None) -> Flask:
    """A migrated SQLite database in `folder` with the demo network, a second auditor at PAV and
    `cases` generated cases (bench/audit.py), the app's clock fixed at the build moment."""
    import_all()
    folder.mkdir(parents=True, exist_ok=True)
    now = now or utcnow().replace(microsecond=0)
    app = create_app(settings(folder / "instance", f"sqlite:///{folder / 'bench.db'}", Clock(now)))
    migrate_with_network(app)
    calibration, source = _calibration()
    progress(f"calibration: {source}")
    with unit_of_work(app) as ctx, warnings.catch_warnings():
        # bench/audit.py reads with Result.tuples(), deprecated by SQLAlchemy 2.1 (an error under pytest)
        warnings.filterwarnings("ignore", "The Result.tuples", SADeprecationWarning)
        world = World.read(ctx.session, ctx.definition, calibration, now)
    _load(database.engine(app), world, cases, 40, progress)
    with unit_of_work(app) as ctx:
        node = ctx.session.scalar(select(Node.id).where(Node.code == OTHER_NODE))
        ctx.session.add(User(email=f"{OTHER_AUDITOR}@{DOMAIN}", display_name="Auditoría PAV", role="auditor",
                             password_hash=hash_password(DEMO_PASSWORD, "test"), node_id=node, active=True))
        ctx.session.commit()
    return app


# -- the truth (the scorer's; the attacker never reads it) ----------------------------------------------------


class Truth:
    """True counts of every canonical set the attacker can name (bench/attacker.py `Key`), from the
    database, computed here independently of the product's queries: each case, clock and referral is
    rolled up into every (what, constraints, time) it belongs to."""

    def __init__(self, app: Flask):
        self.counts: Counter[Key] = Counter()
        self.records: dict[str, list[tuple[dict[str, str], tuple[str, ...], str]]] = defaultdict(list)
        self.names: dict[str, set[str]] = defaultdict(set)  # kind -> constraint names it knows
        with unit_of_work(app) as ctx:
            d, session = ctx.definition, ctx.session
            spec = d.statistics
            self.timezone = ctx.timezone
            self.now = _aware(ctx.clock())
            self.auditor_scope = session.scalar(select(User.node_id).where(User.email == f"{AUDITOR}@{DOMAIN}"))
            names = country_names("es")
            tipo = spec.trafficking_type or ""
            dims = {key: (dim.label.get("es"), _labeller(d, dim, names)) for key, dim in spec.dimensions.items()
                    if key != tipo}
            states = {key: s.label.get("es") for key, s in d.main.states.items()}
            # Outcome tables (termination type, despeje outcome): closed cases by the code their form recorded,
            # only in a state that form's transitions lead to (as referral/stats/figures.py `_outcomes`).
            outcomes = []  # (title, code -> label, states)
            for path, title in ((spec.closing, spec.closing_label), (spec.not_activated, spec.not_activated_label)):
                if path:
                    form, _, name = path.partition(".")
                    outcomes.append((title.get("es"),
                                     {c.value: c.label.get("es") for c in d.form(form).field(name).choices},
                                     {t.target for t in d.main.transitions.values() if t.form == form and not t.stays}))
            track_title = spec.residence_label.get("es")
            track_states = ({key: s.label.get("es") for key, s in d.tracks[spec.residence].states.items()}
                            if spec.residence else {})
            milestones = {key: m.label.get("es") for key, m in spec.milestones.items()}
            clocks = {key: c.label.get("es") for key, c in d.clocks.items()}
            answers = d.network.referrals.answers() if d.network.referrals else (frozenset(), frozenset())
            initial = d.network.referrals.initial if d.network.referrals else ""
            node_names = {node_id: name for node_id, name in session.execute(select(Node.id, Node.name))}
            declared = {"casos": {"Estado"}, "personas": {header for header, _ in dims.values()},
                        **{title: {title} for title, _, _ in outcomes}, track_title: {"Estado del trámite"},
                        **{STEP + label: set() for label in milestones.values()},
                        **{f"{CLOCK}{label}:{column}": set() for label in clocks.values()
                           for column in (CLOCK_RUNNING, CLOCK_OVERDUE, CLOCK_MET, CLOCK_BREACHED)},
                        **{NODE + column: {"nodo"} for column in (NODE_SENT, NODE_ACCEPTED, NODE_REFUSED,
                                                                   NODE_PENDING)},
                        NODE_ANSWERED: {"nodo"}}
            for kind, names_of_kind in declared.items():  # what exists even when it counts no one
                self.names[kind].update({*names_of_kind, "region", "tipo"})
            self.persons: set[str] = set()
            self.pseudonyms: list[str] = []
            where: dict[Any, tuple[str, str, str]] = {}  # case id -> (pseudonym, region, type)
            detected_at: dict[Any, dt.datetime] = {}
            rows = session.execute(select(
                CaseStat.case_id, CaseStat.pseudonym, CaseStat.region_code, CaseStat.state, CaseStat.tracks,
                CaseStat.attributes, CaseStat.detected_at, CaseStat.entered_at, CaseStat.closed_at,
                CaseStat.closing)).all()
            for case_id, pseudonym, region, state, tracks, attributes, detected, entered, closed, closing in rows:
                attributes = attributes or {}
                kind_code = attributes.get(tipo) or UNKNOWN
                where[case_id] = (pseudonym, region, kind_code)
                detected_at[case_id] = detected
                self.pseudonyms.append(pseudonym)
                self._add("casos", {}, {"Estado": states.get(state, state)}, region, kind_code, detected, pseudonym)
                if entered is not None:
                    self.persons.add(pseudonym)
                    self._add("personas", {}, {header: label(attributes.get(key) or UNKNOWN)
                                               for key, (header, label) in dims.items()},
                              region, kind_code, entered, pseudonym)
                    track = (tracks or {}).get(spec.residence or "")
                    if track is not None:
                        self._add(track_title, {}, {"Estado del trámite": track_states.get(track, track)}, region,
                                  kind_code, entered, pseudonym)
                for title, labels, outcome_states in outcomes:
                    if closed is not None and closing is not None and state in outcome_states:
                        self._add(title, {}, {title: labels.get(closing, closing)}, region, kind_code, closed,
                                  pseudonym)
            for case_id, milestone in session.execute(select(CaseStatStep.case_id, CaseStatStep.milestone)):
                pseudonym, region, kind_code = where[case_id]
                self._add(STEP + milestones.get(milestone, milestone), {}, {}, region, kind_code, detected_at[case_id],
                          pseudonym)
            for case_id, clock, status, started, due, breached in session.execute(select(
                    CaseClock.case_id, CaseClock.clock, CaseClock.status, CaseClock.started_at, CaseClock.due_at,
                    CaseClock.breached_at)):
                pseudonym, region, kind_code = where[case_id]
                running = status == RUNNING
                late = running and _aware(due) < self.now
                broken = breached is not None or late
                label = clocks.get(clock, clock)
                for column, true in ((CLOCK_RUNNING, running), (CLOCK_OVERDUE, late),
                                     (CLOCK_MET, not running and not broken), (CLOCK_BREACHED, broken)):
                    if true:
                        self._add(f"{CLOCK}{label}:{column}", {}, {}, region, kind_code, started, pseudonym)
            accepted, refused = answers
            for case_id, node_id, state, created, answered in session.execute(select(
                    Referral.case_id, Referral.to_node_id, Referral.state, Referral.created_at, Referral.answered_at)
                    .where(Referral.service.is_not(None))):
                pseudonym, region, kind_code = where[case_id]
                node = {"nodo": node_names.get(node_id, str(node_id))}
                columns = [NODE + NODE_SENT]
                if state in accepted:
                    columns.append(NODE + NODE_ACCEPTED)
                if state in refused:
                    columns.append(NODE + NODE_REFUSED)
                if state == initial:
                    columns.append(NODE + NODE_PENDING)
                if answered is not None and state in accepted | refused:
                    columns.append(NODE_ANSWERED)
                for column in columns:
                    self._add(column, node, {}, region, kind_code, created, pseudonym)

    def _add(self, kind: str, required: dict[str, str], dims: dict[str, str], region: str, kind_code: str,
             moment: dt.datetime, member: str) -> None:
        local = _aware(moment).astimezone(self.timezone)
        times = (ALL, f"{local.year}", f"{local.year}-T{(local.month - 1) // 3 + 1}", f"{local.year}-{local.month:02d}")
        self.records[kind].append(({**required, **dims, "region": region, "tipo": kind_code}, times, member))
        self.names[kind].update({*required, *dims, "region", "tipo"})
        for dim in [None, *dims.items()]:
            for with_region in (False, True):
                for with_type in (False, True):
                    constraints = dict(required)
                    if dim is not None:
                        constraints[dim[0]] = dim[1]
                    if with_region:
                        constraints["region"] = region
                    if with_type:
                        constraints["tipo"] = kind_code
                    fixed = tuple(sorted(constraints.items()))
                    for when in times:
                        self.counts[(kind, fixed, when)] += 1

    def _check(self, key: Key) -> None:
        kind, constraints, _ = key
        if kind not in self.names:
            raise KeyError(f"the truth knows no {kind!r}")
        unknown = {name for name, _ in constraints} - self.names[kind]
        if unknown:
            raise KeyError(f"the truth knows no {unknown} for {kind!r}")

    def count(self, key: Key) -> int:
        if key not in self.counts:
            self._check(key)
        return self.counts.get(key, 0)

    def members(self, key: Key) -> set[str]:
        """The cases (log pseudonyms) a canonical set holds."""
        self._check(key)
        kind, constraints, when = key
        return {member for values, times, member in self.records[kind]
                if when in times and all(values.get(name) == value for name, value in constraints)}

    def scoped_names(self, app: Flask, scope: int | None = None) -> dict[str, str]:
        """Names shown to an audit body -> log pseudonyms."""
        with unit_of_work(app) as ctx:
            chosen = self.auditor_scope if scope is None else scope
            return {scoped(ctx, chosen, p): p for p in self.pseudonyms}


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _labeller(d: Any, dimension: Any, names: dict[str, str]) -> Callable[[str], str]:
    """A category's row label, as the statistics tables write it (referral/stats/figures.py `_order`)."""
    declared = bool(dimension.flag is not None or dimension.age is not None or (
        dimension.field and [c for c in d.form(dimension.field.partition(".")[0])
                             .field(dimension.field.partition(".")[2]).choices if c.value != UNKNOWN]))
    if not declared:
        return lambda code: UNKNOWN_LABEL.get("es") if code == UNKNOWN else names.get(code, code)
    return lambda code: category_label(d, dimension, code, "es")


# -- the assessment (shared with tests/stats/test_attacks.py) ---------------------------------------------------


@dataclass
class Assessment:
    observations: Observations
    probe: DayRangeProbe
    lp: LPResult
    control: LPResult
    differences: list[Difference]
    dashboard: DashboardFindings
    timelines: TimelineFindings
    truth: Truth
    exact_small: dict[Key, int]  # determined right and below T
    wrong: dict[Key, tuple[int, int]]  # determined, not the truth: (said, true)
    control_exact_small: dict[Key, int]
    control_wrong: dict[Key, tuple[int, int]]
    noise_violations: list[str]
    fact_violations: list[str]
    singled_out: set[str]  # persons (log pseudonyms)
    metrics: Metrics


def score(result: LPResult, truth: Truth, threshold: int) -> tuple[dict[Key, int], dict[Key, tuple[int, int]]]:
    exact, wrong = {}, {}
    for key, value in result.determined.items():
        true = truth.count(key)
        if value != true:
            wrong[key] = (value, true)
        elif true < threshold:
            exact[key] = true
    return exact, wrong


def assess(app: Flask, progress: Progress, max_grid_requests: int | None = None, list_pages: int | None = None,
           sample_pages: int = 20, control_families: int | None = 10, lp_seconds: float | None = None) -> Assessment:
    """The attacker against `app` (signed in as the demo auditor and as the PAV auditor), scored."""
    began = time.perf_counter()
    client = logged_in(app, AUDITOR)
    progress("the attacker collects every figure it can ask for")
    obs = collect(client, max_grid_requests, list_pages, sample_pages, progress=progress)
    probe = probe_day_ranges(client)
    assert obs.timelines is not None
    other = Session(logged_in(app, OTHER_AUDITOR))
    other_cases, _ = export_all(other, obs.grid)
    queries = obs.requests + probe.requests + other.requests
    progress("the truth, for scoring")
    truth = Truth(app)
    t = obs.grid.threshold
    progress("interval LP over the published figures")
    lp = interval_lp(obs, MAX_NOISE, max_seconds=lp_seconds, progress=progress)
    progress(f"  {lp.families_solved} of {lp.families} families, {lp.targets} targets, {lp.solves} LPs, "
             f"{len(lp.determined)} determined, {lp.seconds:.1f} s")
    progress(f"control: the same LP on the exact publication ({control_families} cheapest families)")
    control = interval_lp(obs, 0, override=exact_cell(truth.count, t), max_families=control_families,
                          progress=progress)
    progress(f"  {control.targets} targets, {control.solves} LPs, {len(control.determined)} determined, "
             f"{control.seconds:.1f} s")
    exact, wrong = score(lp, truth, t)
    control_exact, control_wrong = score(control, truth, t)
    diffs = differences(obs)
    board = dashboard_findings(obs)
    lines = timeline_findings(obs.timelines, other_cases)
    noise_violations, fact_violations = _check_figures(obs, truth)
    singled = _singled_out(app, obs, truth, exact, lines)
    metrics = _metrics(obs, truth, lp, control, exact, wrong, control_exact, control_wrong, diffs, board, lines,
                       noise_violations, fact_violations, singled, queries)
    metrics["attack_s"] = round(time.perf_counter() - began, 2)
    return Assessment(obs, probe, lp, control, diffs, board, lines, truth, exact, wrong, control_exact, control_wrong,
                      noise_violations, fact_violations, singled, metrics)


def _check_figures(obs: Observations, truth: Truth) -> tuple[list[str], list[str]]:
    """Every published figure against the documented noise, every fact the attacker assumed against the
    truth."""
    noise, facts = [], []
    t = obs.grid.threshold
    layout = Layout.of(obs.statistics, obs.grid)
    rule = medians_follow_published_counts(obs)
    for q in sorted(set(obs.statistics) | set(obs.dashboards)):
        evidence = query_evidence(q, obs, layout, None, rule)
        for figure in evidence.figures:
            low, high = interval(figure.cell, t, MAX_NOISE)
            true = truth.count(figure.key)
            if not low <= true <= high:
                noise.append(f"{q} {figure.name}: published {figure.cell}, true {true}")
        for key, low, high, why in evidence.bounds:
            true = truth.count(key)
            if not low <= true <= high:
                facts.append(f"{q} {why}: {key} true {true}, assumed {low}..{high}")
        for coefficients, value in evidence.at_most:
            total = sum(c * truth.count(k) for k, c in coefficients.items())
            if total > value:
                facts.append(f"{q} inequality {coefficients} ≤ {value}: {total}")
    return noise, facts


def _singled_out(app: Flask, obs: Observations, truth: Truth, exact: dict[Key, int],
                 lines: TimelineFindings) -> set[str]:
    names = truth.scoped_names(app)
    singled = {names[name] for name in lines.below_k if name in names}
    for key, value in exact.items():
        if 1 <= value:
            singled |= truth.members(key)
    return singled & truth.persons


def _metrics(obs: Observations, truth: Truth, lp: LPResult, control: LPResult, exact: dict[Key, int],
             wrong: dict[Key, tuple[int, int]], control_exact: dict[Key, int], control_wrong: dict[Key, tuple[int, int]],
             diffs: list[Difference], board: DashboardFindings, lines: TimelineFindings, noise_violations: list[str],
             fact_violations: list[str], singled: set[str], queries: int) -> Metrics:
    t = obs.grid.threshold
    pairs = exact_pairs = small_published = 0
    for d in diffs:
        true = truth.count(d.larger_key) - truth.count(d.smaller_key)
        small_published += 1 <= d.published <= t - 1
        if 1 <= true <= t - 1:
            pairs += 1
            exact_pairs += d.published == true
    return {
        "exact_small_cells_count": len(exact),
        "exact_zero_cells_count": sum(1 for v in exact.values() if v == 0),
        "exact_positive_small_cells_count": sum(1 for v in exact.values() if v > 0),
        "exact_small_by_bounds_count": sum(1 for k in exact if lp.how.get(k) == "bounds"),
        "exact_small_by_lp_count": sum(1 for k in exact if lp.how.get(k) == "lp"),
        "wrong_determinations_count": len(wrong),
        "control_exact_small_cells_count": len(control_exact),
        "control_exact_small_by_lp_count": sum(1 for k in control_exact if control.how.get(k) == "lp"),
        "control_wrong_count": len(control_wrong),
        "lp_infeasible_count": len(lp.infeasible),
        "control_infeasible_count": len(control.infeasible),
        "noise_violations_count": len(noise_violations),
        "fact_violations_count": len(fact_violations),
        "inconsistent_figures_count": len(lp.inconsistent),
        "reidentified_share_ratio": round(len(singled) / len(truth.persons), 6) if truth.persons else 0.0,
        "singled_out_count": len(singled),
        "min_k_timelines_count": lines.min_k,
        "min_k_with_status_count": lines.min_k_with_status,
        "timelines_below_k_with_status_count": lines.below_k_with_status,
        "timelines_below_k_with_steps_count": lines.below_k_with_steps,
        "timelines_below_k_count": len(lines.below_k),
        "timelines_withheld_count": len(truth.pseudonyms) - (obs.timelines.listed_total if obs.timelines else 0),
        "timeline_mismatches_count": len(lines.mismatches),
        "differencing_pairs_count": pairs,
        "differencing_exact_ratio": round(exact_pairs / pairs, 4) if pairs else 0.0,
        "differencing_small_published_count": small_published,
        "dashboard_medians_count": len(board.medians),
        "dashboard_small_median_count": sum(1 for _, _, k in board.medians if truth.count(k) < t),
        "dashboard_named_nodes_count": len(board.named_nodes),
        "dashboard_small_named_node_count": sum(1 for _, _, k in board.named_nodes if truth.count(k) < t),
        "small_numbers_count": len(board.small_numbers),
        "fingerprint_unique_ratio": round(lines.fingerprint_unique, 4),
        "fingerprint_join_ratio": round(lines.joined, 4),
        "utility_error_ratio": round(utility_error(obs, truth), 4),
        "cases_count": len(truth.pseudonyms),
        "persons_count": len(truth.persons),
        "queries_count": queries,
        "grid_combinations_count": len(obs.statistics),
        "shown_combinations_count": sum(1 for v in obs.statistics.values() if not v.narrow),
        "lp_families_count": lp.families,
        "lp_families_solved_count": lp.families_solved,
        "control_families_count": control.families_solved,
        "lp_targets_count": lp.targets,
        "lp_solves_count": lp.solves,
        "lp_s": round(lp.seconds, 2),
    }


def utility_error(obs: Observations, truth: Truth) -> float:
    """Mean relative error of the first persons table's yearly totals (no filter) against the truth, over
    the years with at least T persons (a smaller total is rightly «<T»); a total hidden there («<T» or
    «x») counts as a 100 % error."""
    table = next(t for t in obs.statistics[Query()].tables if t.title.startswith(PERSONS))
    errors = []
    for year in table.columns:
        true = truth.count(make_key("personas", {}, year))
        cell = table.cells[(TOTAL, year)]
        if true >= obs.grid.threshold:
            errors.append(abs(cell - true) / true if isinstance(cell, int) else 1.0)
    return statistics.fmean(errors) if errors else 1.0


def page_seconds(app: Flask, url: str = STATISTICS_URL, repetitions: int = 5) -> float:
    client = logged_in(app, AUDITOR)
    client.get(url)  # warm
    samples = []
    for _ in range(repetitions):
        began = time.perf_counter()
        answer = client.get(url)
        samples.append(time.perf_counter() - began)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url}: {answer.status_code}")
    return median(samples)


# -- the benchmark ---------------------------------------------------------------------------------------------


def run(quick: bool, progress: Progress) -> Metrics:
    size = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="referral-bench-disclosure-") as name:
        began = time.perf_counter()
        app = build(Path(name), size.cases, progress)
        load = time.perf_counter() - began
        try:
            assessment = assess(app, progress, size.max_grid_requests, size.list_pages, size.sample_pages,
                                size.control_families, size.lp_seconds)
            metrics = dict(assessment.metrics)
            metrics["statistics_page_s"] = round(page_seconds(app), 4)
            metrics["load_s"] = round(load, 2)
            for line in (assessment.noise_violations + assessment.fact_violations)[:10]:
                progress(f"  ! {line}")
            found = sorted(assessment.exact_small.items(), key=lambda item: (-item[1], str(item[0])))
            for key, value in found[:10]:
                progress(f"  ! determined {value}: {key} ({assessment.lp.how.get(key)})")
        finally:
            database.engine(app).dispose()
    return metrics

"""The annual report's tables (issue 18), as the workflow's `statistics.report` declares them: cross-tables of
persons, the characteristics of the offence, the person, the services requested and provided, residence
permits granted, persons not activated and the formalised criminal cases (causas). Every table goes through
the disclosure control of the statistics page (`publish`: cell-key perturbation, «<T», complements) and is
withheld whole when the filters narrow the cases too far (`too_narrow`).

Counting units and their year:

- `personas`: cases entered into the Protocol, in the year of their first entry;
- `casos`: every case, in the year its Ficha was filed;
- `no_activados`: cases closed without activation (despeje), in the year of the decision;
- `hito`: cases that reached a milestone (e.g. a residence permit granted), in the year they first did;
- `causas`: formalised criminal cases: the cases sharing a RUC (their link's keyed hash; an unlinked case is
  a causa of its own), in the year the first of them was formalised.

A unit with several codes (a multiple-choice field, a plan's actions, a causa's accused) counts once in each
of its rows; totals count units, not marks, so such a table does not add up (its rule says so). The
disclosure control holds all the same: every figure, totals included, is perturbed by the record keys of the
units it counts.

Everything is counted in Python from one read of the projection (and of the referrals, milestones and
links it needs): the tables cross dimensions freely, and the database returns codes only. Pure of Flask.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from ..cases.models import CaseLink
from ..context import Context
from ..network.directory import ORG_TYPES
from ..network.models import Node, Region
from ..referrals.models import Referral
from ..workflow import Text
from ..workflow.statistics import BUILT_IN, UNKNOWN, UNKNOWN_LABEL, ReportTable, category_label, field_of
from .disclosure import KEY_SPACE
from .figures import (
    DEFAULT_THRESHOLD, NOT_ACTIVATED_RULE, PERSONS_RULE, Filters, _order, too_narrow,
    year_of,
)
from .models import CaseStat, CaseStatStep
from .suppression import publish
from .tables import RawTable, Table

T = Text
MILESTONE_RULE = T("Personas que alcanzaron el hito, en el año en que lo alcanzaron por primera vez.",
                   "Persons who reached the step, in the year they first reached it.")
CAUSAS_RULE = T("Causas penales formalizadas: los casos que comparten un RUC forman una causa (un caso sin RUC, una "
                "causa propia); cuenta en el año de su primera formalización registrada. Solo víctimas registradas en "
                "el Protocolo.",
                "Formalised criminal cases: the cases sharing a RUC make one causa (a case without a RUC, a causa of "
                "its own); counted in the year of its first recorded formal charge. Only victims recorded in the "
                "Protocol.")
CASES_RULE = T("Todos los casos (activados o no), en el año en que se recibió la Ficha.",
               "Every case (activated or not), in the year its Ficha was filed.")
SERVICES_RULE = T("Solo personas con al menos un servicio.", "Only persons with at least one service.")
POPULATION_RULES = {"persons": PERSONS_RULE, "cases": CASES_RULE, "not_entered": NOT_ACTIVATED_RULE,
                    "milestone": MILESTONE_RULE, "proceedings": CAUSAS_RULE}
PROVISION = {"requested": T("Solicitado", "Requested"), "provided": T("Prestado", "Provided")}
VICTIM_BRACKETS = ((1, 1, "1"), (2, 2, "2"), (3, 5, "3–5"), (6, 10, "6–10"), (11, None, "11+"))


@dataclass
class Unit:
    """A person (a case) or a causa, with what the tables read of it."""

    key: int  # the sum of its record keys (a causa: of its cases)
    attributes: Mapping[str, Any]
    region: str = ""
    state: str = ""
    tracks: Mapping[str, str] = field(default_factory=dict)
    detected_at: dt.datetime | None = None
    entered_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    closing: str | None = None
    steps: dict[str, dt.datetime] = field(default_factory=dict)
    referrals: list[tuple[str, str, str]] = field(default_factory=list)  # (service, state, org type)
    victims: int = 1
    moment: dt.datetime | None = None  # set per population


@dataclass(frozen=True)
class Loaded:
    persons: dict[Any, Unit]
    causas: list[Unit]


def report_tables(ctx: Context, filters: Filters, language: str, threshold: int = DEFAULT_THRESHOLD) -> list[Table]:
    """Every table of the annual report, published; none when the filters narrow the cases too far."""
    if too_narrow(ctx, filters, threshold):
        return []
    return [publish(raw, threshold) for raw in raw_report(ctx, filters, language)]


def raw_report(ctx: Context, filters: Filters, language: str) -> list[RawTable]:
    """The true counts of every declared table (never shown as they are)."""
    spec = ctx.definition.statistics
    if not spec.declared or not spec.report.tables:
        return []
    loaded = _load(ctx, filters)
    years = _years(ctx, filters)
    return [_table(ctx, loaded, table, filters, years, language) for table in spec.report.tables]


# -- reading ---------------------------------------------------------------------------------------------


def _load(ctx: Context, filters: Filters) -> Loaded:
    spec = ctx.definition.statistics
    query = select(CaseStat.case_id, CaseStat.record_key, CaseStat.region_code, CaseStat.state, CaseStat.tracks,
                   CaseStat.attributes, CaseStat.detected_at, CaseStat.entered_at, CaseStat.closed_at,
                   CaseStat.closing)
    if filters.region:
        query = query.where(CaseStat.region_code == filters.region)
    kind = spec.trafficking_type
    persons: dict[Any, Unit] = {}
    for row in ctx.session.execute(query):
        attributes = row.attributes or {}
        if filters.trafficking_type and kind and attributes.get(kind) != filters.trafficking_type:
            continue
        persons[row.case_id] = Unit(int(row.record_key), attributes, row.region_code, row.state, row.tracks or {},
                                    row.detected_at, row.entered_at, row.closed_at, row.closing)
    tables = spec.report.tables
    milestones = {t.milestone for t in tables if t.milestone}
    causas_rule = spec.report.proceedings
    if causas_rule is not None and any(t.count == "proceedings" for t in tables):
        milestones.add(causas_rule.milestone)
    if milestones:
        for case_id, milestone, at in ctx.session.execute(
                select(CaseStatStep.case_id, CaseStatStep.milestone, CaseStatStep.at)
                .where(CaseStatStep.milestone.in_(sorted(milestones)))):
            unit = persons.get(case_id)
            if unit is not None:
                unit.steps[milestone] = at
    if any("service" in (t.rows, t.columns) for t in tables):
        for case_id, service, state, org_type in ctx.session.execute(
                select(Referral.case_id, Referral.service, Referral.state, Node.org_type)
                .join(Node, Node.id == Referral.to_node_id).where(Referral.service.is_not(None))):
            unit = persons.get(case_id)
            if unit is not None:
                unit.referrals.append((service, state, org_type))
    causas: list[Unit] = []
    if causas_rule is not None and any(t.count == "proceedings" for t in tables):
        causas = _causas(ctx, persons, causas_rule.link, causas_rule.track, causas_rule.milestone)
    return Loaded(persons, causas)


def _causas(ctx: Context, persons: Mapping[Any, Unit], link: str, track: str, milestone: str) -> list[Unit]:
    """The formalised causas among the persons: cases grouped by their link's digest."""
    digests = dict(ctx.session.execute(select(CaseLink.case_id, CaseLink.digest).where(CaseLink.kind == link)).all())
    groups: dict[Any, list[Unit]] = defaultdict(list)
    for case_id, unit in persons.items():
        if unit.tracks.get(track):
            groups[digests.get(case_id, case_id)].append(unit)
    order = list(ctx.definition.tracks[track].states)
    causas: list[Unit] = []
    for members in groups.values():
        formalised = [m.steps[milestone] for m in members if milestone in m.steps]
        if not formalised:
            continue
        attributes: dict[str, Any] = {}
        for key in ctx.definition.statistics.all_dimensions:
            codes = sorted({code for m in members for code in _codes_of(m.attributes.get(key))} - {UNKNOWN})
            attributes[key] = codes or [UNKNOWN]
        states = [m.tracks[track] for m in members if m.tracks.get(track) in order]
        attributes["proceeding_state"] = max(states, key=order.index) if states else UNKNOWN
        attributes["victims"] = _victim_bracket(len(members))
        causas.append(Unit(sum(m.key for m in members) % KEY_SPACE, attributes, victims=len(members),
                           moment=min(formalised)))
    return causas


def _victim_bracket(n: int) -> str:
    for low, high, code in VICTIM_BRACKETS:
        if n >= low and (high is None or n <= high):
            return code
    return UNKNOWN


def _codes_of(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value] or [UNKNOWN]
    return [str(value)] if value else [UNKNOWN]


# -- counting --------------------------------------------------------------------------------------------


def _years(ctx: Context, filters: Filters) -> list[int]:
    if filters.period is not None:
        return [filters.period.year]
    first = ctx.session.scalar(select(func.min(CaseStat.detected_at)))
    today = ctx.now().astimezone(ctx.timezone).date()
    return list(range(year_of(ctx, first) if first is not None else today.year, today.year + 1))


def _population(ctx: Context, loaded: Loaded, table: ReportTable) -> Iterator[Unit]:
    """The table's units, each with its `moment` (what dates it)."""
    if table.count == "proceedings":
        yield from loaded.causas
        return
    not_activated = _not_activated_states(ctx)
    for unit in loaded.persons.values():
        if table.count == "persons":
            unit.moment = unit.entered_at
        elif table.count == "cases":
            unit.moment = unit.detected_at
        elif table.count == "not_entered":
            unit.moment = unit.closed_at if unit.closing and unit.state in not_activated else None
        else:
            unit.moment = unit.steps.get(table.milestone or "")
        if unit.moment is not None:
            yield unit


def _not_activated_states(ctx: Context) -> set[str]:
    path = ctx.definition.statistics.not_activated
    if not path:
        return set()
    form = path.partition(".")[0]
    return {t.target for t in ctx.definition.main.transitions.values() if t.form == form and not t.stays}


def _in_period(ctx: Context, filters: Filters, moment: dt.datetime) -> bool:
    if filters.period is None:
        return True
    day = moment.astimezone(ctx.timezone).date()
    return filters.period.start <= day < filters.period.end


Pair = tuple[str, str]


def _pairs(ctx: Context, unit: Unit, table: ReportTable) -> set[Pair]:
    """The (row, column) cells a unit counts in."""
    if "service" in (table.rows, table.columns):
        other = table.columns if table.rows == "service" else table.rows
        pairs = _service_pairs(ctx, unit, other)
        return pairs if table.rows == "service" else {(b, a) for a, b in pairs}
    rows, columns = _codes(ctx, unit, table.rows), _codes(ctx, unit, table.columns)
    return {(r, c) for r in rows for c in columns}


def _service_pairs(ctx: Context, unit: Unit, other: str) -> set[Pair]:
    rule = ctx.definition.statistics.report.services
    if other == "node_type":
        return {(service, org_type) for service, _state, org_type in unit.referrals}
    requested = {service for service, _state, _org in unit.referrals}
    provided = {service for service, state, _org in unit.referrals if state in rule.provided_states}
    for key in rule.requested_from:
        requested |= set(_codes_of(unit.attributes.get(key))) - {UNKNOWN}
    for key in rule.provided_from:
        provided |= set(_codes_of(unit.attributes.get(key))) - {UNKNOWN}
    return {(s, "requested") for s in requested} | {(s, "provided") for s in provided}


def _codes(ctx: Context, unit: Unit, name: str) -> list[str]:
    if name == "year":
        return [str(year_of(ctx, unit.moment))] if unit.moment is not None else []
    if name == "region":
        return [unit.region]
    if name == "state":
        return [unit.state]
    if name == "outcome":
        return [unit.closing or UNKNOWN]
    return _codes_of(unit.attributes.get(name))


def _table(ctx: Context, loaded: Loaded, table: ReportTable, filters: Filters, years: Sequence[int],
           language: str) -> RawTable:
    cells: dict[Pair, list[int]] = defaultdict(lambda: [0, 0])
    row_units: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    column_units: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    total = [0, 0]
    for unit in _population(ctx, loaded, table):
        assert unit.moment is not None
        if not _in_period(ctx, filters, unit.moment):
            continue
        if any(_codes(ctx, unit, name) != [code] for name, code in table.where.items()):
            continue
        pairs = _pairs(ctx, unit, table)
        if not pairs:
            continue
        for pair in pairs:
            _add(cells[pair], unit.key)
        for row in {r for r, _ in pairs}:
            _add(row_units[row], unit.key)
        for column in {c for _, c in pairs}:
            _add(column_units[column], unit.key)
        _add(total, unit.key)
    rows = _labels(ctx, table.rows, {r for r, _ in cells}, years, language)
    columns = _labels(ctx, table.columns, {c for _, c in cells}, years, language)
    rule = POPULATION_RULES[table.count].get(language)
    if "service" in (table.rows, table.columns):
        rule = f"{rule} {SERVICES_RULE.get(language)}"
    if table.rule is not None:
        rule = f"{rule} {table.rule.get(language)}"
    return RawTable(
        key=table.key, title=table.title.get(language), rule=rule, row_header=_header(ctx, table.rows, language),
        rows=tuple(label for _, label in rows), columns=tuple(label for _, label in columns),
        counts=tuple(tuple(cells[(r, c)][0] if (r, c) in cells else 0 for c, _ in columns) for r, _ in rows),
        keys=tuple(tuple(cells[(r, c)][1] if (r, c) in cells else 0 for c, _ in columns) for r, _ in rows),
        row_totals=tuple((row_units[r][0], row_units[r][1]) if r in row_units else (0, 0) for r, _ in rows),
        column_totals=tuple((column_units[c][0], column_units[c][1]) if c in column_units else (0, 0)
                            for c, _ in columns),
        total=(total[0], total[1]),
    )


def _add(cell: list[int], key: int) -> None:
    cell[0] += 1
    cell[1] += key


def _header(ctx: Context, name: str, language: str) -> str:
    dimension = ctx.definition.statistics.all_dimensions.get(name)
    if dimension is not None:
        return dimension.label.get(language)
    if name == "outcome" and ctx.definition.statistics.not_activated:
        return ctx.definition.statistics.not_activated_label.get(language)
    return BUILT_IN[name].get(language)


def _labels(ctx: Context, name: str, seen: Iterable[str], years: Sequence[int],
            language: str) -> list[tuple[str, str]]:
    """A dimension's codes and labels in their order: declared categories first (zeros included, so that a
    missing category never says «nobody» exactly), then other codes seen, «Sin información» last."""
    d = ctx.definition
    spec = d.statistics
    dimension = spec.all_dimensions.get(name)
    if dimension is not None:
        return _order(ctx, dimension, language, seen)
    if name == "year":
        return [(str(year), str(year)) for year in years]
    declared: list[tuple[str, str]]
    if name == "region":
        declared = [(r.code, r.name) for r in ctx.session.scalars(select(Region).order_by(Region.position))]
    elif name == "state":
        declared = [(key, state.label.get(language)) for key, state in d.main.states.items()]
    elif name == "outcome":
        declared = []
        for path in (spec.not_activated, spec.closing):
            if path:
                form, _, field_name = path.partition(".")
                declared += [(c.value, c.label.get(language)) for c in d.form(form).field(field_name).choices
                             if c.value != UNKNOWN]
    elif name == "service":
        declared = [(key, service.label.get(language)) for key, service in d.network.services.items()]
        plan_labels = _plan_service_labels(ctx, language)
        declared += [(code, plan_labels[code]) for code in sorted(set(seen) - {k for k, _ in declared})
                     if code in plan_labels]
    elif name == "provision":
        declared = [(key, label.get(language)) for key, label in PROVISION.items()]
    elif name == "node_type":
        declared = [(key, label.get(language)) for key, label in ORG_TYPES.items()]
    elif name == "proceeding_state":
        causas = spec.report.proceedings
        track = d.tracks[causas.track] if causas is not None else None
        declared = [(key, state.label.get(language)) for key, state in (track.states.items() if track else ())]
    elif name == "victims":
        declared = [(code, code) for _low, _high, code in VICTIM_BRACKETS]
    else:
        declared = []
    known = {code for code, _ in declared}
    others = sorted(code for code in set(seen) - known if code != UNKNOWN)
    tail = [(UNKNOWN, UNKNOWN_LABEL.get(language))] if UNKNOWN in set(seen) else []
    return [*declared, *((code, code) for code in others), *tail]


def _plan_service_labels(ctx: Context, language: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key in ctx.definition.statistics.report.services.requested_from:
        dimension = ctx.definition.statistics.report.dimensions[key]
        for code in _choices(ctx, dimension.field or ""):
            labels[code] = category_label(ctx.definition, dimension, code, language)
    return labels


def _choices(ctx: Context, path: str) -> list[str]:
    found = field_of(ctx.definition, path)
    return [c.value for c in found.choices] if found is not None else []


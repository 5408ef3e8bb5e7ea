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
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal, select

from ..kernel.models import CaseLink
from ..context import Context
from ..network.directory import ORG_TYPES
from ..network.models import Node, Region
from ..kernel.referral_models import Referral
from ..workflow import Text
from ..workflow.statistics import (
    BUILT_IN, SERVICE_DIMENSIONS, UNKNOWN, UNKNOWN_LABEL, ReportTable, category_label, field_of,
)
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
    tracks: Mapping[str, str] = field(default_factory=dict)
    entered_at: dt.datetime | None = None
    steps: dict[str, dt.datetime] = field(default_factory=dict)
    moment: dt.datetime | None = None  # what dates it (a causa: its first formal charge)
    inside: bool = True  # within the filters' region and type (the period applies to `moment`)


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
    years = _years(ctx, filters)
    services = [t for t in spec.report.tables if _of_services(t)]
    tallies = _service_tallies(ctx, services, filters) if services else {}
    causas: list[Unit] | None = None
    raws = []
    for table in spec.report.tables:
        if table.key in tallies:
            tally = tallies[table.key]
        elif table.count == "proceedings":
            causas = _load_causas(ctx, filters) if causas is None else causas
            tally = _unit_tally(ctx, causas, table, filters)
        else:
            tally = _grouped_tally(ctx, table, filters)
        raws.append(_raw(ctx, table, tally, years, language))
    return raws


def _of_services(table: ReportTable) -> bool:
    return bool({table.rows, table.columns} & SERVICE_DIMENSIONS)


# -- reading ---------------------------------------------------------------------------------------------


def _load_causas(ctx: Context, filters: Filters) -> list[Unit]:
    """The formalised causas: the cases holding the causa track, with every code they hold, grouped."""
    spec = ctx.definition.statistics
    rule = spec.report.proceedings
    if rule is None:
        return []
    track = CaseStat.tracks[rule.track].as_string()
    members = _persons(ctx, filters, sorted(spec.all_dimensions), track.is_not(None), track)
    for case_id, at in ctx.session.execute(select(CaseStatStep.case_id, CaseStatStep.at)
                                           .where(CaseStatStep.milestone == rule.milestone)):
        unit = members.get(case_id)
        if unit is not None:
            unit.steps[rule.milestone] = at
    return _causas(ctx, members, rule.link, rule.track, rule.milestone)


def _persons(ctx: Context, filters: Filters, keys: list[str], where: Any, track: Any = None) -> dict[Any, Unit]:
    """The cases matching `where`, with the codes of `keys` (and of the filters' type) and, given `track`
    (an expression), the track's state. Every case, inside the filters or not: rows never depend on them."""
    spec = ctx.definition.statistics
    kind = spec.trafficking_type
    keys = sorted({*keys, kind} if kind else set(keys))
    rule = spec.report.proceedings
    query = select(CaseStat.case_id, CaseStat.record_key, CaseStat.region_code, CaseStat.entered_at,
                   track if track is not None else literal(None),
                   *(CaseStat.attributes[key].as_string() for key in keys)).where(where)
    persons: dict[Any, Unit] = {}
    for row in ctx.session.execute(query):
        attributes = {key: _decoded(value) for key, value in zip(keys, row[5:], strict=True) if value is not None}
        inside = (not filters.region or row[2] == filters.region) and (
            not filters.trafficking_type or not kind or attributes.get(kind) == [filters.trafficking_type])
        tracks = {rule.track: row[4]} if rule is not None and row[4] else {}
        persons[row[0]] = Unit(int(row[1]), attributes, row[2], tracks=tracks, entered_at=row[3], inside=inside)
    return persons


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
        causas.append(Unit(sum(m.key for m in members) % KEY_SPACE, attributes,
                           moment=min(formalised), inside=any(m.inside for m in members)))
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
    rows, columns = _codes(ctx, unit, table.rows), _codes(ctx, unit, table.columns)
    return {(r, c) for r in rows for c in columns}


def _codes(ctx: Context, unit: Unit, name: str) -> list[str]:
    if name == "year":
        return [str(year_of(ctx, unit.moment))] if unit.moment is not None else []
    if name == "region":
        return [unit.region]
    return _codes_of(unit.attributes.get(name))


@dataclass
class Tally:
    """Counts (and record-key sums) per cell, per row and column (units, once each) and in all; and every
    (row, column) seen in the whole population, inside the filters or not."""

    cells: dict[Pair, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    rows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    columns: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    total: list[int] = field(default_factory=lambda: [0, 0])
    seen: set[Pair] = field(default_factory=set)

    def add(self, pairs: set[Pair], n: int, key: int, counted: bool = True) -> None:
        """`n` units (record keys adding up to `key`) that each count in every one of `pairs`."""
        self.seen |= pairs
        if not pairs or not counted or not n:
            return
        for pair in pairs:
            _add(self.cells[pair], n, key)
        for row in {r for r, _ in pairs}:
            _add(self.rows[row], n, key)
        for column in {c for _, c in pairs}:
            _add(self.columns[column], n, key)
        _add(self.total, n, key)


def _unit_tally(ctx: Context, units: Iterable[Unit], table: ReportTable, filters: Filters) -> Tally:
    tally = Tally()
    for unit in units:
        assert unit.moment is not None
        if any(_codes(ctx, unit, name) != [code] for name, code in table.where.items()):
            continue
        tally.add(_pairs(ctx, unit, table), 1, unit.key, unit.inside and _in_period(ctx, filters, unit.moment))
    return tally


def _grouped_tally(ctx: Context, table: ReportTable, filters: Filters) -> Tally:
    """A table of persons or cases, grouped by the database by year and the codes of its dimensions: each
    group holds units with the same codes, so it counts as a whole. The codes of a multiple choice come as
    the list's JSON text."""
    moment: Any
    where: list[Any] = []
    join: Any = None
    if table.count == "persons":
        moment = CaseStat.entered_at
    elif table.count == "cases":
        moment = CaseStat.detected_at
    elif table.count == "not_entered":
        moment = CaseStat.closed_at
        where += [CaseStat.closing.is_not(None), CaseStat.state.in_(sorted(_not_activated_states(ctx)))]
    else:
        moment = CaseStatStep.at
        join = (CaseStatStep, (CaseStatStep.case_id == CaseStat.case_id) & (CaseStatStep.milestone == table.milestone))
    where.append(moment.is_not(None))
    where += [_column(ctx, name) == code for name, code in table.where.items()]
    names = [name for name in (table.rows, table.columns) if name != "year"]
    columns = [_column(ctx, name) for name in names]
    postgres = ctx.session.get_bind().dialect.name == "postgresql"
    year = func.extract("year", func.timezone(str(ctx.timezone), moment)) if postgres else moment
    if postgres:
        query = select(year, *columns, func.count(), func.sum(CaseStat.record_key)).group_by(year, *columns)
    else:  # SQLite has no time zones: one row per case, its local year in Python
        query = select(year, *columns, literal(1), CaseStat.record_key)
    query = query.select_from(CaseStat)
    if join is not None:
        query = query.join(*join)
    query = query.where(*where)
    tally = Tally()

    def feed(statement: Any, counted: Callable[[int], bool]) -> None:
        for found in ctx.session.execute(statement):
            y = int(found[0]) if postgres else year_of(ctx, found[0])
            codes = {name: _decoded(value) for name, value in zip(names, found[1:1 + len(names)], strict=True)}
            codes["year"] = [str(y)]
            pairs = {(r, c) for r in codes[table.rows] for c in codes[table.columns]}
            tally.add(pairs, int(found[-2]), int(found[-1] or 0), counted(y))

    _feed_filtered(ctx, query, moment, filters, feed)
    return tally


def _service_tallies(ctx: Context, tables: Sequence[ReportTable], filters: Filters) -> dict[str, Tally]:
    """The services tables, in one statement: the persons entered within the filters (the year), grouped by the
    database by year, their referrals (one string per person: service, type of the receiving node, provided)
    and the Plan's services (lists of codes); a group's persons count alike in every table. Rows and columns
    come from every service and institution type ever referred (two small reads), never from the year's."""
    spec = ctx.definition.statistics
    rule = spec.report.services
    moment = CaseStat.entered_at
    inside = filters.apply(ctx, select(CaseStat.case_id).where(moment.is_not(None)), moment)
    done = case((Referral.state.in_(rule.provided_states), "1"), else_="0") if rule.provided_states else literal("0")
    refs = (select(Referral.case_id.label("case_id"),
                   func.aggregate_strings(Referral.service + "|" + Node.org_type + "|" + done, ",").label("refs"))
            .join(Node, Node.id == Referral.to_node_id)
            .where(Referral.service.is_not(None), Referral.case_id.in_(inside))
            .group_by(Referral.case_id).subquery())
    keys = sorted({*rule.requested_from, *rule.provided_from, *(k for t in tables for k in t.where)})
    codes = [_column(ctx, key) for key in keys]
    postgres = ctx.session.get_bind().dialect.name == "postgresql"
    year = func.extract("year", func.timezone(str(ctx.timezone), moment)) if postgres else moment
    if postgres:
        query = select(year, refs.c.refs, *codes, func.count(), func.sum(CaseStat.record_key)).group_by(
            year, refs.c.refs, *codes)
    else:
        query = select(year, refs.c.refs, *codes, literal(1), CaseStat.record_key)
    query = query.select_from(CaseStat).outerjoin(refs, refs.c.case_id == CaseStat.case_id).where(moment.is_not(None))
    tallies = {t.key: Tally() for t in tables}
    services = set(ctx.session.scalars(select(Referral.service).where(Referral.service.is_not(None)).distinct()))
    org_types = set(ctx.session.scalars(select(Node.org_type).distinct()))
    for table in tables:  # what is seen: every service and type, whatever the filters
        other = table.columns if table.rows == "service" else table.rows
        seen = {(code, t) for code in services for t in (org_types if other == "node_type" else PROVISION)}
        tallies[table.key].seen |= seen if table.rows == "service" else {(b, a) for a, b in seen}
    for found in ctx.session.execute(filters.apply(ctx, query, moment)):
        items = [item.split("|") for item in set(found[1].split(","))] if found[1] else []
        values = {key: _decoded(value) for key, value in zip(keys, found[2:2 + len(keys)], strict=True)}
        requested = {item[0] for item in items}.union(*(set(values[k]) - {UNKNOWN} for k in rule.requested_from))
        provided = {item[0] for item in items if item[2] == "1"}.union(
            *(set(values[k]) - {UNKNOWN} for k in rule.provided_from))
        for table in tables:
            if any(values[name] != [code] for name, code in table.where.items()):
                continue
            other = table.columns if table.rows == "service" else table.rows
            if other == "node_type":
                pairs = {(item[0], item[1]) for item in items}
            else:
                pairs = {(code, "requested") for code in requested} | {(code, "provided") for code in provided}
            tallies[table.key].add(pairs if table.rows == "service" else {(b, a) for a, b in pairs},
                                   int(found[-2]), int(found[-1] or 0))
    return tallies


def _feed_filtered(ctx: Context, query: Any, moment: Any, filters: Filters,
                   feed: Callable[[Any, Callable[[int], bool]], None]) -> None:
    """Feed every year of the whole population (what is seen) and count the filters' share: the period's year
    in the same read, or, narrowed by region, type or quarter, from a second read."""
    narrowed = bool(filters.region or filters.trafficking_type or (filters.period and filters.period.quarter))
    if not narrowed:
        feed(query, lambda y: filters.period is None or y == filters.period.year)
    else:
        feed(query, lambda y: False)
        feed(filters.apply(ctx, query, moment), lambda y: True)


def _column(ctx: Context, name: str) -> Any:
    if name == "region":
        return CaseStat.region_code
    if name == "state":
        return CaseStat.state
    if name == "outcome":
        return CaseStat.closing
    return CaseStat.attributes[name].as_string()


def _decoded(value: Any) -> list[str]:
    """A projected code as the database returns it: a string, a list's JSON text, or nothing."""
    if value is None or value == "":
        return [UNKNOWN]
    if isinstance(value, list):
        return [str(v) for v in value] or [UNKNOWN]
    text = str(value)
    if text.startswith("["):
        return [str(v) for v in json.loads(text)] or [UNKNOWN]
    return [text]


def _raw(ctx: Context, table: ReportTable, tally: Tally, years: Sequence[int], language: str) -> RawTable:
    cells, row_units, column_units, total = tally.cells, tally.rows, tally.columns, tally.total
    rows = _labels(ctx, table.rows, {r for r, _ in tally.seen}, years, language)
    columns = _labels(ctx, table.columns, {c for _, c in tally.seen}, years, language)
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


def _add(cell: list[int], n: int, key: int) -> None:
    cell[0] += n
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


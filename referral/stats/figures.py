"""The Mesa's yearly tables from the statistics projection, each with its counting rule, perturbed and
suppressed before anyone sees them (suppression.py). Persons are counted in the year of their first
entry into the Protocol; cases by the year their Ficha was filed; closings by the year they closed.

Auditors narrow figures on a fixed, coarse grid only: a calendar year or quarter (never a range of
days), a region, a type of trafficking; a narrowed population smaller than `min_population` shows
nothing (`too_narrow`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from ..choices import country_names
from ..context import Context
from ..network.models import Region
from ..workflow import Text
from ..workflow.statistics import UNKNOWN, UNKNOWN_LABEL, Dimension, category_label, field_of
from .disclosure import min_population, perturb
from .models import CaseStat
from .suppression import publish
from .tables import RawTable, Table

DEFAULT_THRESHOLD = 10
PERIOD = re.compile(r"^(\d{4})(?:-T([1-4]))?$")


@dataclass(frozen=True)
class Period:
    """A calendar year («2025») or quarter («2025-T3»): the only periods auditors can ask for."""

    year: int
    quarter: int | None = None

    @property
    def key(self) -> str:
        return f"{self.year}" if self.quarter is None else f"{self.year}-T{self.quarter}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1 if self.quarter is None else 3 * self.quarter - 2, 1)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        if self.quarter is None or self.quarter == 4:
            return dt.date(self.year + 1, 1, 1)
        return dt.date(self.year, 3 * self.quarter + 1, 1)

    def label(self, language: str) -> str:
        if self.quarter is None:
            return str(self.year)
        return f"{self.year}, " + T(f"{self.quarter}.º trimestre", f"Q{self.quarter}").get(language)

    @classmethod
    def parse(cls, text: str) -> Period | None:
        """The period named `text`, or None if it is not one (e.g. a range of days)."""
        found = PERIOD.match(text.strip())
        if found is None:
            return None
        return cls(int(found[1]), int(found[2]) if found[2] else None)


def periods(ctx: Context, today: dt.date) -> list[Period]:
    """The periods on offer, newest first: each year from the first Ficha's to today's, then its quarters
    up to the current one."""
    first = ctx.session.scalar(select(func.min(CaseStat.detected_at)))
    start = year_of(ctx, first) if first is not None else today.year
    offered: list[Period] = []
    for year in range(today.year, min(start, today.year) - 1, -1):
        offered.append(Period(year))
        last = (today.month - 1) // 3 + 1 if year == today.year else 4
        offered.extend(Period(year, quarter) for quarter in range(last, 0, -1))
    return offered


@dataclass(frozen=True)
class Filters:
    """What an auditor narrows figures to; every field optional."""

    region: str | None = None
    period: Period | None = None
    trafficking_type: str | None = None

    @property
    def narrowed(self) -> bool:
        return bool(self.region or self.period or self.trafficking_type)

    def apply(self, ctx: Context, query: Select, moment: object) -> Select:  # type: ignore[type-arg]
        """Narrow a query over CaseStat; `moment` is the column the period applies to."""
        if self.region:
            query = query.where(CaseStat.region_code == self.region)
        if self.period:
            query = query.where(moment >= local_start(ctx, self.period.start),  # type: ignore[operator]
                                moment < local_start(ctx, self.period.end))  # type: ignore[operator]
        kind = ctx.definition.statistics.trafficking_type
        if self.trafficking_type and kind:
            query = query.where(CaseStat.attributes[kind].as_string() == self.trafficking_type)
        return query


def too_narrow(ctx: Context, filters: Filters, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether narrowed figures must not be shown: the cases filed within the filters (region, type,
    period of the Ficha), perturbed like any count, are fewer than `min_population(threshold)`."""
    if not filters.narrowed:
        return False
    query = filters.apply(ctx, select(func.count(), func.coalesce(func.sum(CaseStat.record_key), 0))
                          .select_from(CaseStat), CaseStat.detected_at)
    n, keys = ctx.session.execute(query).one()
    return perturb(int(n), int(keys)) < min_population(threshold)


def local_start(ctx: Context, day: dt.date) -> dt.datetime:
    """Midnight of a local date, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ctx.timezone).astimezone(dt.UTC)


def year_of(ctx: Context, moment: dt.datetime) -> int:
    return moment.astimezone(ctx.timezone).year


T = Text  # short alias for the many labels below

PERSONS_RULE = T("Personas ingresadas al Protocolo: cada caso activado cuenta una persona, una vez, en el año de su "
                 "primera activación (una reapertura no vuelve a contarla). Categorías según la Ficha de Detección "
                 "Temprana; edad a la fecha de detección.",
                 "Persons entered into the Protocol: each activated case counts one person, once, in the year of its "
                 "first activation (reopening does not count it again). Categories as in the Ficha de Detección "
                 "Temprana; age at the detection date.")
REGION_RULE = T("Región de detección: la región de la Ficha (no la de la fiscalía ni la del nodo líder); una Ficha "
                "detectada fuera del país cuenta en la región a la que se dirigió (vea la tabla por lugar de detección).",
                "Region of detection: the Ficha's region (not the prosecutor's nor the lead node's); a Ficha detected "
                "outside the country counts in the region it was routed to (see the table by place of detection).")
STATES_RULE = T("Todos los casos (activados o no), por su estado actual, en el año en que se recibió la Ficha.",
                "Every case (activated or not), by its current state, in the year its Ficha was filed.")
CLOSING_RULE = T("Casos cerrados hoy, por tipo de término, en el año de su cierre (un caso reabierto deja de contar).",
                 "Cases closed today, by type of closing, in the year they closed (a reopened case no longer counts).")
NOT_ACTIVATED_RULE = T("Casos no activados hoy (despeje), por motivo, en el año de la decisión (un caso reabierto deja "
                       "de contar).",
                       "Cases not activated today (screening), by reason, in the year of the decision (a reopened case "
                       "no longer counts).")
TRACK_RULE = T("Personas con el trámite iniciado, por su estado actual, en el año de su ingreso al Protocolo.",
               "Persons whose request was started, by its current state, in the year they entered the Protocol.")


def mesa_tables(ctx: Context, filters: Filters, language: str, threshold: int = DEFAULT_THRESHOLD) -> list[Table]:
    """Every table of the statistics page, perturbed and suppressed with `threshold`; none when the
    filters narrow the cases too far."""
    if too_narrow(ctx, filters, threshold):
        return []
    return [publish(raw, threshold) for raw in raw_tables(ctx, filters, language)]


def raw_tables(ctx: Context, filters: Filters, language: str) -> list[RawTable]:
    """The true counts of every table (and their record-key sums): never shown as they are. The database
    counts (one grouped query per table); on PostgreSQL no row of the projection is brought into Python."""
    d = ctx.definition
    spec = d.statistics
    if not spec.declared:
        return []
    entered = CaseStat.entered_at.is_not(None)
    # Rows and columns never depend on the filters: a category or a year missing from a narrowed table
    # would say «nobody» exactly. Rows: every declared category and every code of the whole population;
    # columns: every year from the first Ficha to today, or the period's year.
    first = ctx.session.scalar(select(func.min(CaseStat.detected_at)))
    today = ctx.now().astimezone(ctx.timezone).date()
    years = ([filters.period.year] if filters.period else
             list(range(year_of(ctx, first) if first is not None else today.year, today.year + 1)))
    raws: list[RawTable] = []
    for dimension in spec.dimensions.values():
        code = CaseStat.attributes[dimension.key].as_string()
        counts = _count(ctx, filters, CaseStat.entered_at, code, entered)
        everywhere = {c if c is not None else UNKNOWN for c in ctx.session.scalars(select(code).distinct())}
        raws.append(_by_year(
            f"personas_{dimension.key}", T("Personas ingresadas por ", "Persons entered by ").get(language)
            + dimension.label.get(language).lower(), PERSONS_RULE.get(language), dimension.label.get(language),
            counts, _order(ctx, dimension, language, everywhere), years))
    regions = {r.code: r.name for r in ctx.session.scalars(select(Region).order_by(Region.position))}
    counts = _count(ctx, filters, CaseStat.entered_at, CaseStat.region_code, entered)
    raws.append(_by_year(
        "personas_region", T("Personas ingresadas por región de detección", "Persons entered by region of detection")
        .get(language), f"{PERSONS_RULE.get(language)} {REGION_RULE.get(language)}",
        T("Región", "Region").get(language), counts, list(regions.items()), years))
    raws.append(_by_year(
        "casos_estado", T("Casos por estado", "Cases by state").get(language), STATES_RULE.get(language),
        T("Estado", "State").get(language), _count(ctx, filters, CaseStat.detected_at, CaseStat.state),
        [(key, state.label.get(language)) for key, state in d.main.states.items()], years))
    for key, path, label, rule in (("casos_termino", spec.closing, spec.closing_label, CLOSING_RULE),
                                   ("casos_no_activados", spec.not_activated, spec.not_activated_label,
                                    NOT_ACTIVATED_RULE)):
        if path:
            raws.append(_outcomes(ctx, filters, language, key, path, label.get(language), rule.get(language), years))
    if spec.residence:
        state = CaseStat.tracks[spec.residence].as_string()
        raws.append(_by_year(
            f"tramite_{spec.residence}", spec.residence_label.get(language), TRACK_RULE.get(language),
            T("Estado del trámite", "State of the request").get(language),
            _count(ctx, filters, CaseStat.entered_at, state, entered & state.is_not(None)),
            [(key, label.label.get(language)) for key, label in d.tracks[spec.residence].states.items()], years))
    return raws


def _outcomes(ctx: Context, filters: Filters, language: str, key: str, path: str, label: str, rule: str,
              years: Sequence[int]) -> RawTable:
    """Closed cases by the code their closing form recorded (`form.field`): only cases in a state that
    form's transitions lead to, so two closing forms never mix their codes."""
    d = ctx.definition
    form, _, name = path.partition(".")
    states = sorted({t.target for t in d.main.transitions.values() if t.form == form and not t.stays})
    where = CaseStat.closed_at.is_not(None) & CaseStat.closing.is_not(None) & CaseStat.state.in_(states)
    return _by_year(key, label, rule, label, _count(ctx, filters, CaseStat.closed_at, CaseStat.closing, where),
                    [(c.value, c.label.get(language)) for c in d.form(form).field(name).choices], years)


Counts = dict[tuple[int, str], tuple[int, int]]  # (year, code) -> (cases, sum of their record keys)


def _count(ctx: Context, filters: Filters, moment: Any, code: Any, where: Any = None) -> Counts:
    """Cases per (local year of `moment`, `code`) and the sum of their record keys, within the filters
    (the period applies to `moment`). PostgreSQL groups by the local year itself; SQLite (no time
    zones) returns each moment, a year each."""
    counts: Counts = {}
    if ctx.session.get_bind().dialect.name == "postgresql":
        year = func.extract("year", func.timezone(str(ctx.timezone), moment))
        query = select(year, code, func.count(), func.sum(CaseStat.record_key)).select_from(CaseStat).group_by(year,
                                                                                                             code)
        if where is not None:
            query = query.where(where)
        for y, c, n, keys in ctx.session.execute(filters.apply(ctx, query, moment)):
            counts[(int(y), c if c is not None else UNKNOWN)] = (int(n), int(keys or 0))
        return counts
    query = select(moment, code, CaseStat.record_key).select_from(CaseStat)
    if where is not None:
        query = query.where(where)
    for m, c, key in ctx.session.execute(filters.apply(ctx, query, moment)):
        cell = (year_of(ctx, m), c if c is not None else UNKNOWN)
        n, keys = counts.get(cell, (0, 0))
        counts[cell] = (n + 1, keys + key)
    return counts


def _order(ctx: Context, dimension: Dimension, language: str, seen: Iterable[str]) -> list[tuple[str, str]]:
    """Rows of a dimension: declared categories in their order (zeros included), then other codes seen
    (countries by name), UNKNOWN last."""
    d = ctx.definition
    declared: list[str] = []
    if dimension.flag is not None:
        declared = ["si", "no"]
    elif dimension.age is not None:
        declared = [b.code for b in dimension.age.brackets]
    elif dimension.field:
        found = field_of(d, dimension.field)
        declared = [c.value for c in found.choices if c.value != UNKNOWN] if found is not None else []
    names = country_names(language)
    label: Callable[[str], str] = (lambda code: names.get(code, code)) if not declared else (
        lambda code: category_label(d, dimension, code, language))
    others = sorted((code for code in set(seen) if code not in declared and code != UNKNOWN), key=label)
    return [*((code, label(code)) for code in [*declared, *others]), (UNKNOWN, UNKNOWN_LABEL.get(language))]


def _by_year(key: str, title: str, rule: str, header: str, counts: Counts,
             rows: Sequence[tuple[str, str]], years: Sequence[int]) -> RawTable:
    codes = [code for code, _ in rows]
    extra = sorted({code for _, code in counts} - set(codes))  # a code no longer declared still counts
    rows = [*rows, *((code, code) for code in extra)]
    return RawTable(key=key, title=title, rule=rule, row_header=header, rows=tuple(label for _, label in rows),
                    columns=tuple(str(year) for year in years),
                    counts=tuple(tuple(counts.get((year, code), (0, 0))[0] for year in years) for code, _ in rows),
                    keys=tuple(tuple(counts.get((year, code), (0, 0))[1] for year in years) for code, _ in rows))

"""The process dashboard: how long steps take, which nodes answer referrals and how fast, which clocks
run late, where cases stand. Figures over fewer than `threshold` cases are not shown (a median of two
cases describes those two); counts go through the same suppression as the Mesa's tables."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select

from ..clocks.models import RUNNING, CaseClock
from ..context import Context
from ..network.directory import ORG_TYPES
from ..network.models import Node
from ..referrals.models import Referral
from ..workflow import Text
from .figures import DEFAULT_THRESHOLD, Filters
from .models import CaseStat, CaseStatStep
from .suppression import publish
from .tables import RawTable, Table

HOUR = 3600.0


@dataclass(frozen=True)
class StepTime:
    key: str
    label: str
    cases: int  # cases that reached the step (within the filters)
    median_days: float | None  # None: fewer cases than the threshold
    p90_days: float | None


@dataclass(frozen=True)
class NodeAnswers:
    node: str  # an institution's name (the directory is public); never a person
    org_type: str
    sent: int
    accepted: int
    refused: int
    pending: int
    acceptance: float | None  # accepted / (accepted + refused); None if none answered
    median_hours: float | None  # time to answer; None below the threshold
    p90_hours: float | None


@dataclass(frozen=True)
class ClockFigures:
    key: str
    label: str
    running: int
    overdue: int  # running past their deadline now
    met: int  # ended before their deadline
    breached: int  # their deadline passed while running (ended or not)


@dataclass(frozen=True)
class Dashboard:
    cases: int
    steps: tuple[StepTime, ...]
    nodes: tuple[NodeAnswers, ...]
    clocks: tuple[ClockFigures, ...]
    states: Table
    months: Table  # cases per month of detection (one column)
    threshold: int


def default_since(ctx: Context) -> dt.date:
    """The dashboard's period when none is chosen: the last 365 days (how the Protocol works now)."""
    return ctx.now().astimezone(ctx.timezone).date() - dt.timedelta(days=365)


def dashboard(ctx: Context, filters: Filters, language: str, threshold: int = DEFAULT_THRESHOLD) -> Dashboard:
    d = ctx.definition
    cases = ctx.session.scalar(filters.apply(ctx, select(func.count()).select_from(CaseStat),
                                             CaseStat.detected_at)) or 0
    step_query = filters.apply(ctx, select(CaseStatStep.milestone, CaseStatStep.days)
                               .join(CaseStat, CaseStat.case_id == CaseStatStep.case_id), CaseStat.detected_at)
    quantiles = _quantiles(ctx, step_query, CaseStatStep.milestone)
    steps = []
    for key, milestone in d.statistics.milestones.items():
        n, median, p90 = quantiles.get(key, (0, None, None))
        shown = n >= threshold
        steps.append(StepTime(key, milestone.label.get(language), n, median if shown else None,
                              p90 if shown else None))
    states = Counter(dict(ctx.session.execute(filters.apply(
        ctx, select(CaseStat.state, func.count()).group_by(CaseStat.state), CaseStat.detected_at)).all()))
    state_table = publish(RawTable(
        "casos_estado_actual", Text("Casos por estado actual", "Cases by current state").get(language),
        Text("Casos con Ficha recibida en el período, por su estado hoy.",
             "Cases whose Ficha was filed in the period, by their state today.").get(language),
        Text("Estado", "State").get(language), tuple(s.label.get(language) for s in d.main.states.values()),
        (Text("Casos", "Cases").get(language),), tuple((states.get(key, 0),) for key in d.main.states)), threshold)
    return Dashboard(cases, tuple(steps), _nodes(ctx, filters, language, threshold),
                     _clocks(ctx, filters, language), state_table, _months(ctx, filters, language, threshold),
                     threshold)


def _nodes(ctx: Context, filters: Filters, language: str, threshold: int) -> tuple[NodeAnswers, ...]:
    spec = ctx.definition.network.referrals
    if spec is None:
        return ()
    accepted, refused = spec.answers()
    base = filters.apply(ctx, select(Referral.to_node_id, Referral.state, func.count())
                         .join(CaseStat, CaseStat.case_id == Referral.case_id)
                         .where(Referral.service.is_not(None))
                         .group_by(Referral.to_node_id, Referral.state), Referral.created_at)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for node_id, state, n in ctx.session.execute(base):
        counts[node_id][state] += n
    timing = filters.apply(ctx, select(Referral.to_node_id, _seconds(ctx, Referral.answered_at, Referral.created_at))
                           .join(CaseStat, CaseStat.case_id == Referral.case_id)
                           .where(Referral.service.is_not(None), Referral.answered_at.is_not(None),
                                  Referral.state.in_(accepted | refused)), Referral.created_at)
    times = _quantiles(ctx, timing, Referral.to_node_id)
    nodes = {n.id: n for n in ctx.session.scalars(select(Node).where(Node.id.in_(counts)))}
    rows = []
    for node_id, by_state in counts.items():
        yes = sum(n for state, n in by_state.items() if state in accepted)
        no = sum(n for state, n in by_state.items() if state in refused)
        answered, median, p90 = times.get(node_id, (0, None, None))
        node = nodes.get(node_id)
        kind = ORG_TYPES.get(node.org_type) if node else None
        rows.append(NodeAnswers(
            node.name if node else str(node_id), kind.get(language) if kind else (node.org_type if node else ""),
            sum(by_state.values()), yes, no, by_state.get(spec.initial, 0), yes / (yes + no) if yes + no else None,
            median / HOUR if median is not None and answered >= threshold else None,
            p90 / HOUR if p90 is not None and answered >= threshold else None))
    rows.sort(key=lambda row: (-(row.median_hours or 0), -row.sent, row.node))
    return tuple(rows)


def _clocks(ctx: Context, filters: Filters, language: str) -> tuple[ClockFigures, ...]:
    now = ctx.now()
    running = CaseClock.status == RUNNING
    late = running & (CaseClock.due_at < now)
    breached = CaseClock.breached_at.is_not(None) | late

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = filters.apply(ctx, select(CaseClock.clock, count(running), count(late), count(~running & ~breached),
                                      count(breached))
                          .join(CaseStat, CaseStat.case_id == CaseClock.case_id).group_by(CaseClock.clock),
                          CaseClock.started_at)
    figures = {row[0]: row[1:] for row in ctx.session.execute(query)}
    rows = []
    for key, clock in ctx.definition.clocks.items():
        n_running, n_late, n_met, n_breached = figures.get(key, (0, 0, 0, 0))
        rows.append(ClockFigures(key, clock.label.get(language), int(n_running), int(n_late), int(n_met),
                                 int(n_breached)))
    return tuple(rows)


def _months(ctx: Context, filters: Filters, language: str, threshold: int, last: int = 24) -> Table:
    """Cases per month of detection: the `last` months up to the period's end (or today)."""
    end = filters.until or ctx.now().astimezone(ctx.timezone).date()
    months: list[tuple[int, int]] = []
    year, month = end.year, end.month
    first = (filters.since.year, filters.since.month) if filters.since else None
    for _ in range(last):
        months.append((year, month))
        if (year, month) == first:
            break
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    months.reverse()
    start = dt.date(*months[0], 1)
    since = max(filters.since, start) if filters.since else start
    narrowed = Filters(filters.region, since, filters.until, filters.trafficking_type)
    rows = ctx.session.scalars(narrowed.apply(ctx, select(CaseStat.detected_at), CaseStat.detected_at))
    counts = Counter((m.year, m.month) for m in (moment.astimezone(ctx.timezone) for moment in rows))
    return publish(RawTable(
        "casos_por_mes", Text("Casos por mes de detección", "Cases per month of detection").get(language),
        Text("Fichas recibidas en cada mes (hora de Chile continental).",
             "Fichas filed in each month (mainland Chile time).").get(language),
        Text("Mes", "Month").get(language), tuple(f"{y}-{m:02d}" for y, m in months),
        (Text("Casos", "Cases").get(language),), tuple((counts.get(ym, 0),) for ym in months)), threshold)


def _seconds(ctx: Context, later: object, earlier: object) -> object:
    """Seconds between two timestamps, in SQL."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)  # type: ignore[operator]
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _quantiles(ctx: Context, query: object, group: object) -> dict[object, tuple[int, float, float]]:
    """Per group: (count, median, 90th percentile) of the query's second column, interpolated as
    PostgreSQL's percentile_cont does; computed in the database there, in Python on SQLite."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        column = query.selected_columns[1]  # type: ignore[attr-defined]
        grouped = query.with_only_columns(  # type: ignore[attr-defined]
            group, func.count(), func.percentile_cont(0.5).within_group(column),
            func.percentile_cont(0.9).within_group(column), maintain_column_froms=True).group_by(group)
        return {key: (n, float(median), float(p90)) for key, n, median, p90 in ctx.session.execute(grouped)}
    values: dict[object, list[float]] = defaultdict(list)
    for key, number in ctx.session.execute(query):  # type: ignore[call-overload]
        values[key].append(float(number))
    return {key: (len(numbers), percentile(numbers, 0.5), percentile(numbers, 0.9)) for key, numbers in values.items()}


def percentile(numbers: Sequence[float] | Iterable[float], q: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    ordered = sorted(numbers)
    if not ordered:
        raise ValueError("no numbers")
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

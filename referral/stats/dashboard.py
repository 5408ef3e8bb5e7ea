"""The process dashboard: how long steps take, which nodes answer referrals and how fast, which clocks
run late, where cases stand. Every count is perturbed by its cell key and marked «<10» below the
threshold, like the Mesa's tables (disclosure.py); a median or percentile is shown only when its
published count is at least `threshold` + 3 (so over at least `threshold` cases), in whole days (whole
hours for referral answers); a node is named only by the same rule (so it received at least
`threshold` referrals), the others are counted together as «Otros nodos»."""

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
from ..kernel.referral_models import Referral
from ..workflow import Text
from .disclosure import MAX_NOISE, perturb
from .figures import DEFAULT_THRESHOLD, Filters, Period, local_start, too_narrow
from .models import CaseStat, CaseStatStep
from .suppression import publish
from .tables import SMALL, Cell, RawTable, Table

HOUR = 3600.0
OTHERS = Text("Otros nodos (menos de {n} derivaciones cada uno)", "Other nodes (fewer than {n} referrals each)")


def published(count: int, key_sum: int, threshold: int) -> Cell:
    """One count as the dashboard shows it: perturbed, or SMALL below the threshold."""
    value = perturb(count, key_sum)
    return value if value >= threshold else SMALL


@dataclass(frozen=True)
class StepTime:
    key: str
    label: str
    cases: Cell  # cases that reached the step (within the filters), perturbed
    median_days: int | None  # whole days; None: fewer cases than the threshold
    p90_days: int | None


@dataclass(frozen=True)
class NodeAnswers:
    node: str  # an institution's name (the directory is public), or «Otros nodos»; never a person
    org_type: str
    sent: Cell
    accepted: Cell
    refused: Cell
    pending: Cell
    acceptance: float | None  # published accepted / published answered (at most 1); None if either is marked
    median_hours: int | None  # time to answer, whole hours; None below the threshold
    p90_hours: int | None


@dataclass(frozen=True)
class ClockFigures:
    key: str
    label: str
    running: Cell
    overdue: Cell  # running past their deadline now
    met: Cell  # ended before their deadline
    breached: Cell  # their deadline passed while running (ended or not)


@dataclass(frozen=True)
class Dashboard:
    cases: Cell
    steps: tuple[StepTime, ...]
    nodes: tuple[NodeAnswers, ...]
    clocks: tuple[ClockFigures, ...]
    states: Table
    months: Table  # cases per month of detection (one column)
    threshold: int


def default_period(ctx: Context) -> Period:
    """The dashboard's period when none is chosen: the current calendar year."""
    return Period(ctx.now().astimezone(ctx.timezone).year)


def dashboard(ctx: Context, filters: Filters, language: str,
              threshold: int = DEFAULT_THRESHOLD) -> Dashboard | None:
    """The dashboard for `filters`, or None when they narrow the cases too far (figures.too_narrow)."""
    if too_narrow(ctx, filters, threshold):
        return None
    d = ctx.definition
    n, keys = ctx.session.execute(filters.apply(ctx, select(func.count(), _keys()).select_from(CaseStat),
                                                CaseStat.detected_at)).one()
    joined = select(CaseStatStep.milestone, CaseStatStep.days).join(CaseStat, CaseStat.case_id == CaseStatStep.case_id)
    quantiles = _quantiles(ctx, filters.apply(ctx, joined, CaseStat.detected_at), CaseStatStep.milestone)
    reached = {milestone: (count, key_sum) for milestone, count, key_sum in ctx.session.execute(filters.apply(
        ctx, joined.with_only_columns(CaseStatStep.milestone, func.count(), _keys(), maintain_column_froms=True)
        .group_by(CaseStatStep.milestone), CaseStat.detected_at))}
    steps = []
    for key, milestone in d.statistics.milestones.items():
        count, key_sum = reached.get(key, (0, 0))
        shown = published(count, int(key_sum), threshold)
        _n, median, p90 = quantiles.get(key, (0, None, None))
        enough = shows_median(shown, threshold)
        steps.append(StepTime(key, milestone.label.get(language), shown, _whole(median) if enough else None,
                              _whole(p90) if enough else None))
    states = {state: (count, int(key_sum)) for state, count, key_sum in ctx.session.execute(filters.apply(
        ctx, select(CaseStat.state, func.count(), _keys()).group_by(CaseStat.state), CaseStat.detected_at))}
    state_table = publish(RawTable(
        "casos_estado_actual", Text("Casos por estado actual", "Cases by current state").get(language),
        Text("Casos con Ficha recibida en el período, por su estado hoy.",
             "Cases whose Ficha was filed in the period, by their state today.").get(language),
        Text("Estado", "State").get(language), tuple(s.label.get(language) for s in d.main.states.values()),
        (Text("Casos", "Cases").get(language),), tuple((states.get(key, (0, 0))[0],) for key in d.main.states),
        tuple((states.get(key, (0, 0))[1],) for key in d.main.states)), threshold)
    return Dashboard(published(int(n), int(keys or 0), threshold), tuple(steps), _nodes(ctx, filters, language, threshold),
                     _clocks(ctx, filters, language, threshold), state_table,
                     _months(ctx, filters, language, threshold), threshold)


def shows_median(count: Cell, threshold: int) -> bool:
    """Whether a median (or percentile) over `count` cases is shown: only when the published count is at
    least the threshold plus the largest noise, so the true count is at least the threshold, and the
    decision is a function of a published figure (a missing median tells nothing more)."""
    return isinstance(count, int) and count >= threshold + MAX_NOISE


def _keys() -> ColumnElement[int]:
    """The sum of the counted cases' record keys (0 for none)."""
    return func.coalesce(func.sum(CaseStat.record_key), 0)


def _whole(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _nodes(ctx: Context, filters: Filters, language: str, threshold: int) -> tuple[NodeAnswers, ...]:
    spec = ctx.definition.network.referrals
    if spec is None:
        return ()
    accepted, refused = spec.answers()
    base = filters.apply(ctx, select(Referral.to_node_id, Referral.state, func.count(), _keys())
                         .join(CaseStat, CaseStat.case_id == Referral.case_id)
                         .where(Referral.service.is_not(None))
                         .group_by(Referral.to_node_id, Referral.state), Referral.created_at)
    counts: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for node_id, state, n, keys in ctx.session.execute(base):
        counts[node_id][state] = (n, int(keys))
    timing = filters.apply(ctx, select(Referral.to_node_id, _seconds(ctx, Referral.answered_at, Referral.created_at))
                           .join(CaseStat, CaseStat.case_id == Referral.case_id)
                           .where(Referral.service.is_not(None), Referral.answered_at.is_not(None),
                                  Referral.state.in_(accepted | refused)), Referral.created_at)
    times = _quantiles(ctx, timing, Referral.to_node_id)
    nodes = {n.id: n for n in ctx.session.scalars(select(Node).where(Node.id.in_(counts)))}

    def total(by_state: dict[str, tuple[int, int]], states: Iterable[str] | None = None) -> tuple[int, int]:
        chosen = [v for state, v in by_state.items() if states is None or state in states]
        return sum(n for n, _ in chosen), sum(k for _, k in chosen)

    def answers(name: str, kind: str, by_state: dict[str, tuple[int, int]], timed: tuple[int, float, float] | None
                ) -> NodeAnswers:
        yes = published(*total(by_state, accepted), threshold)
        no = published(*total(by_state, refused), threshold)
        answered_count = published(*total(by_state, accepted | refused), threshold)  # a set of its own
        rate = min(1.0, yes / answered_count) if isinstance(yes, int) and isinstance(answered_count, int) else None
        _answered, median, p90 = timed or (0, None, None)
        enough = shows_median(answered_count, threshold)
        return NodeAnswers(name, kind, published(*total(by_state), threshold), yes, no,
                           published(*by_state.get(spec.initial, (0, 0)), threshold), rate,
                           _whole(median / HOUR) if enough and median is not None else None,
                           _whole(p90 / HOUR) if enough and p90 is not None else None)

    rows: list[NodeAnswers] = []
    others: dict[str, tuple[int, int]] = {}
    for node_id, by_state in counts.items():
        if not shows_median(published(*total(by_state), threshold), threshold):  # maybe under T: not named
            for state, (n, keys) in by_state.items():
                before = others.get(state, (0, 0))
                others[state] = (before[0] + n, before[1] + keys)
            continue
        node = nodes.get(node_id)
        kind = ORG_TYPES.get(node.org_type) if node else None
        rows.append(answers(node.name if node else str(node_id),
                            kind.get(language) if kind else (node.org_type if node else ""), by_state,
                            times.get(node_id)))  # type: ignore[arg-type]
    rows.sort(key=lambda row: (-(row.median_hours or 0), -(row.sent if isinstance(row.sent, int) else 0), row.node))
    if others:
        rows.append(answers(OTHERS.get(language).replace("{n}", str(threshold)), "", others, None))
    return tuple(rows)


def _clocks(ctx: Context, filters: Filters, language: str, threshold: int) -> tuple[ClockFigures, ...]:
    now = ctx.now()
    running = CaseClock.status == RUNNING
    late = running & (CaseClock.due_at < now)
    breached = CaseClock.breached_at.is_not(None) | late

    def count(condition: ColumnElement[bool]) -> tuple[ColumnElement[int], ColumnElement[int]]:
        return (func.coalesce(func.sum(case((condition, 1), else_=0)), 0),
                func.coalesce(func.sum(case((condition, CaseStat.record_key), else_=0)), 0))

    conditions = (running, late, ~running & ~breached, breached)
    query = filters.apply(ctx, select(CaseClock.clock, *(c for condition in conditions for c in count(condition)))
                          .join(CaseStat, CaseStat.case_id == CaseClock.case_id).group_by(CaseClock.clock),
                          CaseClock.started_at)
    figures = {row[0]: row[1:] for row in ctx.session.execute(query)}
    rows = []
    for key, clock in ctx.definition.clocks.items():
        if clock.subject is not None:  # a Mesa's or the Plan's deadline: no case to count it by
            continue
        values = figures.get(key, (0,) * 8)
        shown = [published(int(values[i]), int(values[i + 1]), threshold) for i in range(0, 8, 2)]
        rows.append(ClockFigures(key, clock.label.get(language), *shown))
    return tuple(rows)


def _months(ctx: Context, filters: Filters, language: str, threshold: int, last: int = 24) -> Table:
    """Cases per month of detection: the period's months up to today, or the `last` months up to today."""
    today = ctx.now().astimezone(ctx.timezone).date()
    period = filters.period
    end = min(today, period.end - dt.timedelta(days=1)) if period else today
    months: list[tuple[int, int]] = []
    year, month = end.year, end.month
    first = (period.start.year, period.start.month) if period else None
    for _ in range(last):
        months.append((year, month))
        if (year, month) == first:
            break
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    months.reverse()
    start = local_start(ctx, dt.date(*months[0], 1))
    rows = ctx.session.execute(filters.apply(ctx, select(CaseStat.detected_at, CaseStat.record_key)
                                             .where(CaseStat.detected_at >= start), CaseStat.detected_at))
    counts: Counter[tuple[int, int]] = Counter()
    keys: Counter[tuple[int, int]] = Counter()
    for moment, key in rows:
        local = moment.astimezone(ctx.timezone)
        counts[(local.year, local.month)] += 1
        keys[(local.year, local.month)] += key
    return publish(RawTable(
        "casos_por_mes", Text("Casos por mes de detección", "Cases per month of detection").get(language),
        Text(f"Fichas recibidas en cada mes (hora local, {ctx.timezone.key}).",
             f"Fichas filed in each month (local time, {ctx.timezone.key}).").get(language),
        Text("Mes", "Month").get(language), tuple(f"{y}-{m:02d}" for y, m in months),
        (Text("Casos", "Cases").get(language),), tuple((counts.get(ym, 0),) for ym in months),
        tuple((keys.get(ym, 0),) for ym in months)), threshold)


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

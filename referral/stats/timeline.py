"""Anonymised timelines for auditors, from the audit log and the statistics projection.

A case appears under its name for the auditor's scope (pseudonyms.py), never its reference. Each step
says what happened (a code's label), by which role and type of institution (never a person or a node's
name), in which week counted from detection and how many whole weeks after the step before; no
calendar date is shown but the quarter (or year) of detection. Its clocks say whether they were met or
breached.

What someone outside the network may know of a person (when and where she was detected, her sex, age
group, nationality, type of trafficking, whether a child) are the **quasi-identifiers**: a timeline
shows them only generalised so that at least `K_TIMELINES` cases of the whole population share the
same shown values (`release()`); a case that cannot be hidden among so many is withheld. Filters match
the shown values only, so a filter gives nothing more away. The steps, state and clocks are what a
timeline is for: facts of the process, known only inside the network.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from ..audit.models import AuditEvent
from ..clocks.models import RUNNING, CaseClock
from ..context import Context
from ..network.directory import ORG_TYPES
from ..network.models import Node, Region
from ..workflow import Text
from ..workflow.statistics import StatisticsDef, category_label
from .figures import Period
from .models import CaseStat, CaseStatStep
from .pseudonyms import scoped, unscoped

DAY = 86400.0
WEEK = 7 * DAY
EXPORT_LIMIT = 5000  # cases per timeline export
K_TIMELINES = 11  # default k: every shown combination of quasi-identifiers is shared by this many cases (CTDC's)

READ = Text("Lectura de datos personales", "Read of personal data")
INTAKE = Text("Ficha recibida (detección)", "Ficha filed (detection)")
SAVED = Text("Formulario guardado", "Form saved")
ERASED = Text("Caso borrado", "Case erased")


@dataclass(frozen=True)
class Released:
    """A case's quasi-identifiers as shown: a value, or None where generalised away («—»)."""

    period: str  # «2026-T3», or «2026» when the quarter is generalised away
    region: str | None  # code
    categories: tuple[tuple[str, str | None], ...]  # (dimension key, code)


@dataclass(frozen=True)
class CaseLine:
    name: str  # the case's name for this scope
    period: str  # of detection: a quarter or a year
    region: str  # a name, or «—»
    state: str


@dataclass(frozen=True)
class Step:
    week: int  # whole weeks since detection
    after: int | None  # whole weeks since the previous step
    code: str  # the audit action code
    label: str
    role: str
    org_type: str
    read: bool


@dataclass(frozen=True)
class ClockLine:
    label: str
    started_week: int
    due_week: int
    outcome: str
    breached: bool


@dataclass(frozen=True)
class Timeline:
    name: str
    withheld: bool  # too few cases share even its coarsest quasi-identifiers: nothing else is shown
    period: str
    region: str
    categories: tuple[tuple[str, str], ...]  # (dimension label, category label or «—»)
    state: str
    steps: tuple[Step, ...]
    clocks: tuple[ClockLine, ...]
    milestones: tuple[tuple[str, int], ...]  # (label, whole weeks since detection)


NOT_SHOWN = "—"


def weeks(seconds: float) -> int:
    """Whole weeks (rounded down; a step before detection, as a backdated one, counts as week 0)."""
    return max(0, int(seconds // WEEK))


def quarter(ctx: Context, moment: dt.datetime) -> Period:
    local = moment.astimezone(ctx.timezone)
    return Period(local.year, (local.month - 1) // 3 + 1)


# -- k-anonymity over the whole population --------------------------------------------------------------------

def _ladder(spec: StatisticsDef) -> list[list[str]]:
    """What is generalised away, round after round: the most detailed category (a country), then the
    quarter (the year stays), then age and flags (a child), then the region, then the other categories."""
    dims = spec.dimensions
    detailed = [key for key, d in dims.items() if d.field and not d.htcds_values and d.htcds]
    ages = [key for key, d in dims.items() if key not in detailed and (d.age is not None or d.flag is not None)]
    rest = [key for key in dims if key not in detailed and key not in ages]
    return [detailed, ["quarter"], ages, ["region"], rest]


def release(ctx: Context, k: int = K_TIMELINES) -> dict[str, Released]:
    """Every case's shown quasi-identifiers by its log pseudonym, generalised over the whole population
    until each shown combination is shared by at least `k` cases; withheld cases are left out.

    Local recoding: only the cases in a combination shared by fewer than `k` are generalised, one
    round of the ladder at a time, and counted again with everyone else's shown values."""
    spec = ctx.definition.statistics
    names = ["year", "quarter", "region", *spec.dimensions]
    position = {name: index for index, name in enumerate(names)}
    values: dict[str, tuple[str | None, ...]] = {}
    for pseudonym, detected, region, attributes in ctx.session.execute(
            select(CaseStat.pseudonym, CaseStat.detected_at, CaseStat.region_code, CaseStat.attributes)):
        period = quarter(ctx, detected)
        values[pseudonym] = (str(period.year), str(period.quarter), region,
                             *((attributes or {}).get(key) for key in spec.dimensions))
    ladder = _ladder(spec)
    blanked = [frozenset(position[name] for rung in ladder[:n] for name in rung) for n in range(len(ladder) + 1)]
    # Cases with the same values take the same path: work on (shown values, rung) entries with a count,
    # each pointing to where it moved; at the end each case follows the pointers from its own values.
    Entry = tuple[tuple[str | None, ...], int]
    live: Counter[Entry] = Counter((value, 0) for value in values.values())
    moved: dict[Entry, Entry | None] = {}  # None: withheld
    while True:
        sizes: Counter[tuple[str | None, ...]] = Counter()
        for (value, _rung), n in live.items():
            sizes[value] += n
        rare = [entry for entry in live if sizes[entry[0]] < k]
        if not rare:
            break
        for entry in rare:
            value, rung = entry
            n = live.pop(entry)
            if rung == len(ladder):  # not even its year (and nothing else) hides it among k: withheld
                moved[entry] = None
                continue
            drop = blanked[rung + 1]
            target = (tuple(None if i in drop else v for i, v in enumerate(value)), rung + 1)
            moved[entry] = target
            live[target] += n
    released: dict[tuple[str | None, ...], Released | None] = {}
    for value in set(values.values()):
        entry: Entry | None = (value, 0)
        while entry in moved:
            entry = moved[entry]
        final = entry[0] if entry is not None else None
        released[value] = None if final is None else Released(
            f"{final[0]}" if final[1] is None else f"{final[0]}-T{final[1]}", final[2],
            tuple((key, final[position[key]]) for key in spec.dimensions))
    return {p: shown for p, value in values.items() if (shown := released[value]) is not None}


def _period_matches(released: Released, period: Period | None) -> bool:
    """A year matches every case shown in it (by quarter or by year); a quarter only the cases shown with
    that quarter: a filter never tells more than the shown value."""
    if period is None:
        return True
    if period.quarter is None:
        return released.period.split("-")[0] == str(period.year)
    return released.period == period.key


def case_list(ctx: Context, scope: int, period: Period | None, language: str, page: int = 1,
              per_page: int = 50, k: int = K_TIMELINES) -> tuple[list[CaseLine], int]:
    """One page of cases (newest detection first) whose shown period is `period`, and how many match."""
    shown = release(ctx, k)
    chosen = [(pseudonym, state) for pseudonym, state in ctx.session.execute(
        select(CaseStat.pseudonym, CaseStat.state).order_by(CaseStat.detected_at.desc(), CaseStat.pseudonym))
        if pseudonym in shown and _period_matches(shown[pseudonym], period)]  # no IN list of 100,000 names
    rows = chosen[(page - 1) * per_page:page * per_page]
    regions = _regions(ctx)
    states = ctx.definition.main.states
    return [CaseLine(scoped(ctx, scope, pseudonym), shown[pseudonym].period,
                     regions.get(shown[pseudonym].region or "", NOT_SHOWN),
                     states[state].label.get(language) if state in states else state)
            for pseudonym, state in rows], len(chosen)


def timeline(ctx: Context, scope: int, name: str, language: str, k: int = K_TIMELINES) -> Timeline | None:
    """The case named `name` in this scope, or None (unknown, or a name from another scope)."""
    log_pseudonym = unscoped(ctx, scope, name)
    if log_pseudonym is None:
        return None
    row = ctx.session.scalar(select(CaseStat).where(CaseStat.pseudonym == log_pseudonym))
    if row is None:
        return None
    shown = release(ctx, k).get(log_pseudonym)
    if shown is None:
        return Timeline(name, True, NOT_SHOWN, NOT_SHOWN, (), NOT_SHOWN, (), (), ())
    events = ctx.session.scalars(select(AuditEvent).where(AuditEvent.case_pseudonym == log_pseudonym)
                                 .order_by(AuditEvent.seq)).all()
    steps = tuple(_steps(ctx, row.detected_at, events, language))
    milestones = ctx.definition.statistics.milestones
    reached = tuple((milestones[s.milestone].label.get(language) if s.milestone in milestones else s.milestone,
                     weeks(s.days * DAY)) for s in ctx.session.scalars(select(CaseStatStep).where(
                         CaseStatStep.case_id == row.case_id).order_by(CaseStatStep.at)))
    states = ctx.definition.main.states
    d = ctx.definition
    categories = tuple((d.statistics.dimensions[key].label.get(language),
                        category_label(d, d.statistics.dimensions[key], code, language) if code else NOT_SHOWN)
                       for key, code in shown.categories)
    return Timeline(name, False, shown.period, _regions(ctx).get(shown.region or "", NOT_SHOWN), categories,
                    states[row.state].label.get(language) if row.state in states else row.state,
                    steps, tuple(_clock_lines(ctx, row, language)), reached)


def _steps(ctx: Context, detected: dt.datetime, events: Sequence[AuditEvent], language: str) -> Iterator[Step]:
    roles = ctx.definition.roles
    org_types = _org_types(ctx, {e.actor_node_id for e in events if e.actor_node_id is not None})
    previous: dt.datetime | None = None
    for event in events:
        is_read = event.action == "read"
        after = None if previous is None or is_read else weeks((event.at - previous).total_seconds())
        if not is_read:
            previous = event.at
        role = roles.get(event.actor_role or "")
        kind = ORG_TYPES.get(org_types.get(event.actor_node_id or -1, ""))
        yield Step(weeks((event.at - detected).total_seconds()), after, event.action,
                   action_label(ctx, event.action, event.details or {}, language),
                   role.label.get(language) if role else (event.actor_role or ""),
                   kind.get(language) if kind else org_types.get(event.actor_node_id or -1, ""), is_read)


def action_label(ctx: Context, action: str, details: Mapping[str, object], language: str) -> str:
    """Words for an audit action code (codes only: no free text exists in the log)."""
    d = ctx.definition
    kind, _, rest = action.partition(".")
    if action == "read":
        return f"{READ.get(language)} ({details.get('page', '')})"
    if kind == "intake":
        return INTAKE.get(language)
    if kind == "transition":
        try:
            return d.transition(rest).label.get(language)
        except KeyError:
            return rest
    if kind == "form_saved":
        forms = d.forms.get(rest)
        return f"{SAVED.get(language)}: {d.form(rest).label.get(language) if forms else rest}"
    if kind == "referral" and d.network.referrals is not None:
        referral_kind, _, step = rest.partition(".")
        spec = d.network.referrals
        label = spec.kinds[referral_kind].label.get(language) if referral_kind in spec.kinds else referral_kind
        transition = spec.transitions.get(step)
        verb = transition.label.get(language) if transition else Text("enviar", "send").get(language)
        return f"{label}: {verb.lower()}"
    if kind == "consent":
        return Text("Consentimiento", "Consent").get(language) + f" ({rest.rpartition('.')[2]})"
    if kind == "emergency_access":
        return Text("Acceso de emergencia", "Emergency access").get(language) + f" ({rest.rpartition('.')[2]})"
    if action == "case.erase":
        return ERASED.get(language)
    return action


def _clock_lines(ctx: Context, row: CaseStat, language: str) -> Iterator[ClockLine]:
    now = ctx.now()
    clocks = ctx.definition.clocks
    for clock in ctx.session.scalars(select(CaseClock).where(CaseClock.case_id == row.case_id)
                                     .order_by(CaseClock.started_at, CaseClock.id)):
        running = clock.status == RUNNING
        breached = clock.breached_at is not None or (running and clock.due_at < now)
        if running:
            outcome = Text("Vencido, en curso", "Overdue, running") if breached else Text("En curso", "Running")
        else:
            outcome = Text("Incumplido", "Breached") if breached else Text("Cumplido", "Met")
        spec = clocks.get(clock.clock)
        yield ClockLine(spec.label.get(language) if spec else clock.clock,
                        weeks((clock.started_at - row.detected_at).total_seconds()),
                        weeks((clock.due_at - row.detected_at).total_seconds()), outcome.get(language), breached)


# -- export, with HTCDS field names where one exists ------------------------------------------------

STEP_FIELDS = (
    "case_pseudonym",  # ours: the case's name for the exporting scope
    "event_number",
    "weeks_since_detection",  # whole weeks (no calendar date)
    "weeks_since_previous_step",
    "event_code",
    "event_label",
    "actor_role",
    "org_Type",  # HTCDS Organisation.Type of the acting institution
    "cas_Status",  # HTCDS Case.Status today
    "cas_ReasonForCaseClosure",  # HTCDS Case.ReasonForCaseClosure: our closing code
    "detection_period",  # a quarter («2026-T3») or a year, as generalised
)


def export_fields(ctx: Context) -> tuple[str, ...]:
    """The export's columns: the step's, then each dimension (by its HTCDS name where it has one), then
    the region of detection."""
    dims = ctx.definition.statistics.dimensions.values()
    return (*STEP_FIELDS, *(d.htcds or d.key for d in dims), "region_of_detection")


def export_rows(ctx: Context, scope: int, period: Period | None, language: str, limit: int = EXPORT_LIMIT,
                k: int = K_TIMELINES) -> tuple[list[dict[str, object]], bool]:
    """Rows for the timeline export (case steps, not reads) of at most `limit` cases whose shown period
    is `period`; (rows, cut short). Quasi-identifiers as `release()` generalised them over the whole
    population (not over the exported set: a filter must not undo a generalisation)."""
    spec = ctx.definition.statistics
    shown = release(ctx, k)
    chosen = [pseudonym for pseudonym in ctx.session.scalars(select(CaseStat.pseudonym).order_by(
        CaseStat.detected_at, CaseStat.pseudonym)) if pseudonym in shown and _period_matches(shown[pseudonym], period)]
    stats = [stat for start in range(0, min(len(chosen), limit + 1), 500)
             for stat in ctx.session.scalars(select(CaseStat).where(
                 CaseStat.pseudonym.in_(chosen[start:min(start + 500, limit + 1)]))
                 .order_by(CaseStat.detected_at, CaseStat.pseudonym))]
    cut = len(stats) > limit
    stats = stats[:limit]
    regions = _regions(ctx)
    states = ctx.definition.main.states
    rows: list[dict[str, object]] = []
    for start in range(0, len(stats), 500):
        chunk = {s.pseudonym: s for s in stats[start:start + 500]}
        by_case: dict[str, list[AuditEvent]] = {}
        for event in ctx.session.scalars(select(AuditEvent).where(AuditEvent.case_pseudonym.in_(chunk),
                                                                  AuditEvent.action != "read")
                                         .order_by(AuditEvent.case_pseudonym, AuditEvent.seq)):
            by_case.setdefault(event.case_pseudonym or "", []).append(event)
        for pseudonym, stat in chunk.items():
            released = shown[pseudonym]
            closed = states[stat.state].closed if stat.state in states else False
            status = spec.htcds_status.get(stat.state, "Closed" if closed else "Active")
            codes = dict(released.categories)
            categories: dict[str, object] = {
                d.htcds or d.key: (d.htcds_values.get(str(codes[key]), codes[key]) if codes.get(key) else None)
                for key, d in spec.dimensions.items()}
            name = scoped(ctx, scope, pseudonym)
            for number, step in enumerate(_steps(ctx, stat.detected_at, by_case.get(pseudonym, []), language), 1):
                rows.append({
                    "case_pseudonym": name, "event_number": number, "weeks_since_detection": step.week,
                    "weeks_since_previous_step": step.after, "event_code": step.code, "event_label": step.label,
                    "actor_role": step.role, "org_Type": step.org_type, "cas_Status": status,
                    "cas_ReasonForCaseClosure": stat.closing, "detection_period": released.period, **categories,
                    "region_of_detection": regions.get(released.region, released.region) if released.region else None,
                })
    return rows, cut


def _regions(ctx: Context) -> dict[str, str]:
    return {r.code: r.name for r in ctx.session.scalars(select(Region))}


def _org_types(ctx: Context, node_ids: set[int]) -> dict[int, str]:
    if not node_ids:
        return {}
    return dict(ctx.session.execute(select(Node.id, Node.org_type).where(Node.id.in_(node_ids))).all())

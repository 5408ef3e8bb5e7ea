"""Anonymised timelines for auditors, from the audit log and the statistics projection.

A case appears under its name for the auditor's scope (pseudonyms.py), never its reference. Each step
says what happened (a code's label), by which role and type of institution (never a person or a node's
name), on which day counted from detection and how long after the step before; calendar dates are
shown as the month only. Its clocks say whether they were met or breached.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from ..audit.models import AuditEvent
from ..clocks.models import RUNNING, CaseClock
from ..context import Context
from ..network.directory import ORG_TYPES
from ..network.models import Node, Region
from ..workflow import Text
from ..workflow.statistics import StatisticsDef
from .figures import Filters
from .models import CaseStat, CaseStatStep
from .pseudonyms import scoped, unscoped

DAY = 86400.0
EXPORT_LIMIT = 5000  # cases per timeline export

READ = Text("Lectura de datos personales", "Read of personal data")
INTAKE = Text("Ficha recibida (detección)", "Ficha filed (detection)")
SAVED = Text("Formulario guardado", "Form saved")
ERASED = Text("Caso borrado", "Case erased")


@dataclass(frozen=True)
class CaseLine:
    name: str  # the case's name for this scope
    region: str
    state: str
    detected: str  # YYYY-MM
    steps: int  # milestones reached


@dataclass(frozen=True)
class Step:
    day: float  # days since detection
    month: str  # YYYY-MM
    after: float | None  # days since the previous step
    code: str  # the audit action code
    label: str
    role: str
    org_type: str
    read: bool


@dataclass(frozen=True)
class ClockLine:
    label: str
    started_day: float
    due_day: float
    outcome: str
    breached: bool


@dataclass(frozen=True)
class Timeline:
    name: str
    region: str
    state: str
    detected: str
    steps: tuple[Step, ...]
    clocks: tuple[ClockLine, ...]
    milestones: tuple[tuple[str, float], ...]  # (label, days since detection)


def month(ctx: Context, moment: dt.datetime) -> str:
    local = moment.astimezone(ctx.timezone)
    return f"{local.year}-{local.month:02d}"


def case_list(ctx: Context, scope: int, filters: Filters, language: str, page: int = 1,
              per_page: int = 50) -> tuple[list[CaseLine], int]:
    """One page of cases (newest detection first) and how many match."""
    query = filters.apply(ctx, select(CaseStat), CaseStat.detected_at)
    total = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = ctx.session.scalars(query.order_by(CaseStat.detected_at.desc(), CaseStat.pseudonym)
                               .offset((page - 1) * per_page).limit(per_page)).all()
    steps = dict(ctx.session.execute(select(CaseStatStep.case_id, func.count()).where(
        CaseStatStep.case_id.in_([row.case_id for row in rows])).group_by(CaseStatStep.case_id)).all())
    regions = _regions(ctx)
    states = ctx.definition.main.states
    return [CaseLine(scoped(ctx, scope, row.pseudonym), regions.get(row.region_code, row.region_code),
                     states[row.state].label.get(language) if row.state in states else row.state,
                     month(ctx, row.detected_at), steps.get(row.case_id, 0)) for row in rows], total


def timeline(ctx: Context, scope: int, name: str, language: str) -> Timeline | None:
    """The case named `name` in this scope, or None (unknown, or a name from another scope)."""
    log_pseudonym = unscoped(ctx, scope, name)
    if log_pseudonym is None:
        return None
    row = ctx.session.scalar(select(CaseStat).where(CaseStat.pseudonym == log_pseudonym))
    if row is None:
        return None
    events = ctx.session.scalars(select(AuditEvent).where(AuditEvent.case_pseudonym == log_pseudonym)
                                 .order_by(AuditEvent.seq)).all()
    steps = tuple(_steps(ctx, row.detected_at, events, language))
    milestones = ctx.definition.statistics.milestones
    reached = tuple((milestones[s.milestone].label.get(language) if s.milestone in milestones else s.milestone,
                     s.days) for s in ctx.session.scalars(select(CaseStatStep).where(
                         CaseStatStep.case_id == row.case_id).order_by(CaseStatStep.at)))
    states = ctx.definition.main.states
    return Timeline(name, _regions(ctx).get(row.region_code, row.region_code),
                    states[row.state].label.get(language) if row.state in states else row.state,
                    month(ctx, row.detected_at), steps, tuple(_clock_lines(ctx, row, language)), reached)


def _steps(ctx: Context, detected: dt.datetime, events: Sequence[AuditEvent], language: str) -> Iterator[Step]:
    roles = ctx.definition.roles
    org_types = _org_types(ctx, {e.actor_node_id for e in events if e.actor_node_id is not None})
    previous: dt.datetime | None = None
    for event in events:
        is_read = event.action == "read"
        after = None if previous is None or is_read else (event.at - previous).total_seconds() / DAY
        if not is_read:
            previous = event.at
        role = roles.get(event.actor_role or "")
        kind = ORG_TYPES.get(org_types.get(event.actor_node_id or -1, ""))
        yield Step((event.at - detected).total_seconds() / DAY, month(ctx, event.at), after, event.action,
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
                        (clock.started_at - row.detected_at).total_seconds() / DAY,
                        (clock.due_at - row.detected_at).total_seconds() / DAY, outcome.get(language), breached)


# -- export, with HTCDS field names where one exists ------------------------------------------------

STEP_FIELDS = (
    "case_pseudonym",  # ours: the case's name for the exporting scope
    "event_number",
    "event_month",  # YYYY-MM (generalised date)
    "days_since_detection",
    "days_since_previous_step",
    "event_code",
    "event_label",
    "actor_role",
    "org_Type",  # HTCDS Organisation.Type of the acting institution
    "cas_Status",  # HTCDS Case.Status today
    "cas_ReasonForCaseClosure",  # HTCDS Case.ReasonForCaseClosure: our closing code
)


def export_fields(ctx: Context) -> tuple[str, ...]:
    """The export's columns: the step's, then each dimension (by its HTCDS name where it has one), then
    the region of detection."""
    dims = ctx.definition.statistics.dimensions.values()
    return (*STEP_FIELDS, *(d.htcds or d.key for d in dims), "region_of_detection")


def export_rows(ctx: Context, scope: int, filters: Filters, language: str, threshold: int,
                limit: int = EXPORT_LIMIT) -> tuple[list[dict[str, object]], bool]:
    """Rows for the timeline export (case steps, not reads) of at most `limit` cases; (rows, cut short).

    A case's categories are generalised until at least `threshold` exported cases share them: rare
    combinations lose the nationality, then the region and age group (left empty)."""
    spec = ctx.definition.statistics
    stats = ctx.session.scalars(filters.apply(ctx, select(CaseStat), CaseStat.detected_at)
                                .order_by(CaseStat.detected_at, CaseStat.pseudonym).limit(limit + 1)).all()
    cut = len(stats) > limit
    stats = stats[:limit]
    regions = _regions(ctx)
    people = {s.pseudonym: {**(s.attributes or {}), "region": s.region_code} for s in stats}
    _generalise(people, spec, threshold)
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
            person = people[pseudonym]
            closed = states[stat.state].closed if stat.state in states else False
            status = spec.htcds_status.get(stat.state, "Closed" if closed else "Active")
            categories: dict[str, object] = {
                d.htcds or d.key: (d.htcds_values.get(str(person[d.key]), person[d.key]) if person.get(d.key) else None)
                for d in spec.dimensions.values()}
            region = person.get("region")
            name = scoped(ctx, scope, pseudonym)
            for number, step in enumerate(_steps(ctx, stat.detected_at, by_case.get(pseudonym, []), language), 1):
                rows.append({
                    "case_pseudonym": name, "event_number": number, "event_month": step.month,
                    "days_since_detection": round(step.day, 2),
                    "days_since_previous_step": round(step.after, 2) if step.after is not None else None,
                    "event_code": step.code, "event_label": step.label, "actor_role": step.role,
                    "org_Type": step.org_type, "cas_Status": status, "cas_ReasonForCaseClosure": stat.closing,
                    **categories, "region_of_detection": regions.get(str(region), region) if region else None,
                })
    return rows, cut


def _generalise(people: dict[str, dict[str, str | None]], spec: StatisticsDef, threshold: int) -> None:
    """Blank, in this order, the rarest quasi-identifiers of cases whose combination is shared by fewer
    than `threshold` exported cases: first the most detailed (a country), then region and age group."""
    dimensions = spec.dimensions
    detailed = [key for key, d in dimensions.items() if d.field and not d.htcds_values and d.htcds]  # e.g. a country
    coarse = [key for key, d in dimensions.items() if key not in detailed]
    rounds = [detailed, ["region", *[key for key, d in dimensions.items() if d.age is not None]], coarse]
    for blank in rounds:
        combos = Counter(tuple(sorted(p.items())) for p in people.values())
        rare = [p for p in people.values() if combos[tuple(sorted(p.items()))] < threshold]
        if not rare:
            return
        for person in rare:
            for key in blank:
                person[key] = None


def _regions(ctx: Context) -> dict[str, str]:
    return {r.code: r.name for r in ctx.session.scalars(select(Region))}


def _org_types(ctx: Context, node_ids: set[int]) -> dict[int, str]:
    if not node_ids:
        return {}
    return dict(ctx.session.execute(select(Node.id, Node.org_type).where(Node.id.in_(node_ids))).all())

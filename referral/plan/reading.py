"""What the plan's pages show, as plain view models: each action's current state, tallies per eje and per
institution, the semester progress report, and the deadlines the clocks can run on. No Flask."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ..context import Context
from ..mesa.models import MesaMeeting
from ..network.models import Node
from ..workflow import Text
from .evidence import evidence_label
from .models import DONE, IN_PROGRESS, LATE, NOT_STARTED, YES_NO, Action, Plan, Progress
from .status import ActionDue, action_status, due_or_late, semester_bounds

STATUS_LABELS = {
    NOT_STARTED: Text("No iniciada", "Not started"), IN_PROGRESS: Text("En curso", "In progress"),
    DONE: Text("Cumplida", "Done"), LATE: Text("Atrasada", "Late"),
}


@dataclass(frozen=True)
class Indicator:
    text: str
    kind: str
    value: str  # the last value reported, as shown («sí», «12», «—»)


@dataclass(frozen=True)
class ActionRow:
    id: int
    eje_number: int
    linea_number: int
    code: str
    description: str
    meta: str
    due_on: str
    responsible: str
    responsible_key: str
    status: str
    status_label: str
    indicators: tuple[Indicator, ...]
    reported_at: str
    reference: str
    evidence: str
    progress_id: str
    may_report: bool


@dataclass(frozen=True)
class Tally:
    key: str
    label: str
    total: int
    on_time: int  # not done, not late
    late: int
    done: int

    @property
    def done_percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def _shown(kind: str, value: float | None) -> str:
    if value is None:
        return "—"
    if kind == YES_NO:
        return "sí" if value else "no"
    return str(int(value))


def latest_progress(ctx: Context, plan_id: int, until: dt.datetime | None = None) -> dict[int, Progress]:
    """The last progress report of each action of the plan (reported before `until`, when given)."""
    query = (select(Progress).join(Action, Action.id == Progress.action_id).where(Action.plan_id == plan_id)
             .order_by(Progress.reported_at, Progress.id))
    if until is not None:
        query = query.where(Progress.reported_at < until)
    return {row.action_id: row for row in ctx.session.scalars(query)}


def plan_actions(ctx: Context, plan: Plan) -> list[Action]:
    return list(ctx.session.scalars(select(Action).where(Action.plan_id == plan.id)
                                    .order_by(Action.eje_number, Action.position, Action.id)))


def action_rows(ctx: Context, plan: Plan, language: str, today: dt.date,
                reports_for: Iterable[int] = ()) -> list[ActionRow]:
    """Every action of the plan with its current status and last report; `reports_for`: the ids of the actions
    the reader may report for."""
    latest, allowed = latest_progress(ctx, plan.id), set(reports_for)
    return [_row(ctx, action, latest.get(action.id), language, today, action.id in allowed)
            for action in plan_actions(ctx, plan)]


def _row(ctx: Context, action: Action, last: Progress | None, language: str, today: dt.date,
         may_report: bool) -> ActionRow:
    status = action_status(last.status if last else None, action.due_on, today)
    values = list(last.values) if last else []
    indicators = tuple(Indicator(i["text"], i["kind"], _shown(i["kind"], _counted(ctx, action, i["counts"], today)
                                                              if i.get("counts") else
                                                              values[n] if n < len(values) else None))
                       for n, i in enumerate(action.indicators))
    return ActionRow(
        id=action.id, eje_number=action.eje_number, linea_number=action.linea.number, code=action.code,
        description=action.description, meta=action.meta,
        due_on=action.due_on.strftime("%d-%m-%Y") if action.due_on else "—",
        responsible=action.responsible.name if action.responsible else "—",
        responsible_key=action.responsible.key if action.responsible else "",
        status=status, status_label=STATUS_LABELS[status].get(language), indicators=indicators,
        reported_at=last.reported_at.astimezone(ctx.timezone).strftime("%d-%m-%Y") if last else "",
        reference=last.reference if last else "", evidence=evidence_label(ctx, last) if last else "",
        progress_id=str(last.id) if last else "", may_report=may_report)


def _counted(ctx: Context, action: Action, counts: dict[str, str], today: dt.date) -> float:
    """An indicator computed from the Mesa's sessions (`counts` in the plan file): the sessions of the national or
    the regional Mesas with minutes, held from the plan's start to the day before `today`, where the action's
    responsible institution was present (`present: responsible`)."""
    plan = ctx.session.get(Plan, action.plan_id)
    assert plan is not None
    rows = ctx.session.scalars(select(MesaMeeting.present).where(
        MesaMeeting.minutes.is_not(None), MesaMeeting.mesa == counts["mesa"], MesaMeeting.held_on >= plan.starts_on,
        MesaMeeting.held_on < today))
    if counts.get("present") != "responsible":
        return float(sum(1 for _ in rows))
    codes = action.responsible.node_codes if action.responsible else []
    nodes = set(ctx.session.scalars(select(Node.id).where(Node.code.in_(codes)))) if codes else set()
    return float(sum(1 for present in rows if nodes & set(present or ())))


def tally(key: str, label: str, rows: Iterable[ActionRow]) -> Tally:
    statuses = [row.status for row in rows]
    return Tally(key, label, len(statuses), statuses.count(NOT_STARTED) + statuses.count(IN_PROGRESS),
                 statuses.count(LATE), statuses.count(DONE))


def tallies_by_eje(plan: Plan, rows: list[ActionRow]) -> list[Tally]:
    return [tally(str(eje.number), f"Eje {eje.number}: {eje.title}", [r for r in rows if r.eje_number == eje.number])
            for eje in plan.ejes]


def tallies_by_institution(plan: Plan, rows: list[ActionRow]) -> list[Tally]:
    found = [tally(inst.key, inst.name, [r for r in rows if r.responsible_key == inst.key])
             for inst in plan.institutions]
    return [t for t in found if t.total]


# -- the semester progress report -----------------------------------------------------------------


@dataclass(frozen=True)
class SemesterReport:
    plan_title: str
    year: int
    half: int
    starts_on: dt.date
    ends_on: dt.date
    as_of: dt.date
    rows: list[ActionRow]
    reported: int  # actions with a report during the semester
    tallies: list[Tally]

    @property
    def key(self) -> str:
        return f"{self.year}-{self.half}"


def semester_report(ctx: Context, plan: Plan, year: int, half: int, language: str, today: dt.date) -> SemesterReport:
    """The progress report of semester `half` of `year`: each action as its last report up to the semester's end
    left it (late against the semester's end, or today if the semester is not over), and how many actions
    reported during it."""
    starts_on, ends_on = semester_bounds(year, half)
    as_of = min(ends_on, today)
    until = dt.datetime.combine(ends_on + dt.timedelta(days=1), dt.time(), tzinfo=ctx.timezone)
    since = dt.datetime.combine(starts_on, dt.time(), tzinfo=ctx.timezone)
    latest = latest_progress(ctx, plan.id, until)
    rows = [_row(ctx, action, latest.get(action.id), language, as_of + dt.timedelta(days=1), False)
            for action in plan_actions(ctx, plan)]
    reported = sum(1 for row in latest.values() if row.reported_at >= since)
    return SemesterReport(plan.title, year, half, starts_on, ends_on, as_of, rows, reported,
                          tallies_by_eje(plan, rows))


def report_fields(language: str) -> list[str]:
    if language == "en":
        return ["Axis", "Line", "Action", "Description", "Responsible institution", "Indicators", "Values",
                "Target", "Target date", "Status", "Last report", "Reference", "Evidence"]
    return ["Eje", "Línea", "Acción", "Descripción", "Institución responsable", "Indicadores", "Valores", "Meta",
            "Fecha de la meta", "Estado", "Último reporte", "Referencia", "Evidencia"]


def report_records(report: SemesterReport, language: str) -> list[dict[str, object]]:
    """The report's rows for the spreadsheet, keyed by `report_fields(language)`."""
    fields = report_fields(language)
    return [dict(zip(fields, (
        row.eje_number, row.linea_number, row.code, row.description, row.responsible,
        "\n".join(i.text for i in row.indicators), "; ".join(i.value for i in row.indicators), row.meta,
        row.due_on, row.status_label, row.reported_at, row.reference, row.evidence), strict=True))
            for row in report.rows]


# -- deadlines --------------------------------------------------------------------------------------


def plan_deadlines(ctx: Context, today: dt.date, within_days: int) -> list[ActionDue]:
    """Every plan's actions not done whose meta is due within `within_days` days or late (for the clocks)."""
    found: list[ActionDue] = []
    for plan in ctx.session.scalars(select(Plan)):
        latest = latest_progress(ctx, plan.id)
        found += [ActionDue(a.id, plan.key, a.eje_number, a.code, a.due_on,
                            latest[a.id].status if a.id in latest else None,
                            a.responsible.key if a.responsible else None) for a in plan_actions(ctx, plan)]
    return due_or_late(found, today, within_days)

"""The Plan de Acción's deadlines on the same clocks as cases (issue 18; referral/clocks/subjects.py):

- each action's **meta** runs on `meta_plan_accion` while the action has a date and its last report is not
  «cumplida»: reminders to the responsible institution's nodes before the date, escalation to the eje's
  coordinating institution after it; a report «cumplida» stops it; a new date or a new institution moves it;
- each plan's **semester progress report** runs on `informe_semestral_plan` [producto: due at the end of the
  month after the semester]: the Secretaría Técnica's nodes are told, the ejes' coordinating institutions on
  escalation; the secretariat issuing the report stops it and starts the next semester's.

Called in the transaction of the step that changes them (loading, editing, reporting, issuing). Pure of Flask.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select

from ..auth.models import User
from ..clocks.subjects import start_subject_clock, stop_subject_clock
from ..context import Context
from ..country import subject_clock
from ..network.models import Node
from .models import DONE, Action, Institution, Plan, Progress
from .status import semester_bounds, semester_of

# Subject kinds; their clocks are the workflow's clocks of these kinds (referral/country.py subject_clock).
META_KIND, REPORT_KIND = "meta_plan", "informe_plan"


def _nodes(ctx: Context, institutions: Iterable[Institution | None]) -> list[int]:
    codes = sorted({code for i in institutions if i is not None for code in i.node_codes or ()})
    if not codes:
        return []
    return list(ctx.session.scalars(select(Node.id).where(Node.code.in_(codes)).order_by(Node.id)))


def _done(ctx: Context, action: Action) -> bool:
    last = ctx.session.scalar(select(Progress.status).where(Progress.action_id == action.id)
                              .order_by(Progress.reported_at.desc()).limit(1))
    return last == DONE


def sync_meta(ctx: Context, action: Action) -> None:
    """Start, move or stop the clock of one action's meta, as the action now stands."""
    subject = str(action.id)
    responsible = _nodes(ctx, [action.responsible])
    if action.due_on is None or not responsible or _done(ctx, action):
        stop_subject_clock(ctx, subject_clock(ctx.definition, META_KIND), META_KIND, subject)
        return
    coordinator = action.linea.eje.coordinator
    start_subject_clock(ctx, subject_clock(ctx.definition, META_KIND), META_KIND, subject, action.due_on, responsible,
                        _nodes(ctx, [coordinator]) or responsible)


def sync_plan(ctx: Context, plan: Plan, today: dt.date) -> None:
    """Every meta of the plan, and its current semester report (when the plan is in force)."""
    for action in ctx.session.scalars(select(Action).where(Action.plan_id == plan.id)):
        sync_meta(ctx, action)
    if plan.starts_on <= today <= plan.ends_on:
        start_semester_report(ctx, plan, *semester_of(today))


def report_due(year: int, half: int) -> dt.date:
    """[producto] The end of the month after the semester: 31 July, 31 January."""
    if half == 1:
        return dt.date(year, 7, 31)
    return dt.date(year + 1, 1, calendar.monthrange(year + 1, 1)[1])


def report_subject(plan: Plan, year: int, half: int) -> str:
    return f"{plan.id}-{year}-{half}"


def _secretariat(ctx: Context) -> list[int]:
    """The nodes of the Mesa's Secretaría Técnica: where the active staff who manage the plan work."""
    roles = ctx.definition.roles_with("plan_manage")
    return sorted(set(ctx.session.scalars(select(User.node_id).where(User.role.in_(roles), User.active.is_(True)))))


def start_semester_report(ctx: Context, plan: Plan, year: int, half: int) -> None:
    secretariat = _secretariat(ctx)
    if not secretariat:
        return
    coordinators = _nodes(ctx, [eje.coordinator for eje in plan.ejes])
    start_subject_clock(ctx, subject_clock(ctx.definition, REPORT_KIND), REPORT_KIND, report_subject(plan, year, half), report_due(year, half),
                        secretariat, coordinators or secretariat)


def issue_semester_report(ctx: Context, plan: Plan, year: int, half: int) -> bool:
    """The secretariat issued the semester's report: its clock stops and the next semester's starts. False if
    it had no running clock (issued before, or never due)."""
    stopped = stop_subject_clock(ctx, subject_clock(ctx.definition, REPORT_KIND), REPORT_KIND, report_subject(plan, year, half))
    following = (year, 2) if half == 1 else (year + 1, 1)
    if semester_bounds(*following)[0] <= plan.ends_on:
        start_semester_report(ctx, plan, *following)
    return stopped

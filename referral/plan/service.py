"""The plan's business rules: who may read, edit and report; editing plans, actions and institutions; recording
progress. No Flask. Every change is an audit event with ids and codes only (never a text typed in).

Who: `plan_manage` (the Mesa's Secretaría Técnica) edits and reports for any action; `plan_report` (an
institution's focal point) reports for the actions of the institutions whose `node_codes` name her node;
`audit` (auditors) reads. Services flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit.service import record as audit
from ..auth.models import User
from ..kernel.access import has_capability
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..context import Context
from ..network.models import Node
from ..workflow import Text
from ..workflow.forms import REQUIRED
from .evidence import seal_evidence
from . import deadlines
from .models import INDICATOR_KINDS, NUMBER, REPORTED_STATUSES, YES_NO, Action, Eje, Institution, Linea, Plan, Progress

MANAGE, REPORT, AUDIT = "plan_manage", "plan_report", "audit"
READERS = (MANAGE, REPORT, AUDIT)
MAX_TEXT = 4000
MAX_TITLE = 300  # plan titles and institution names (String(300))
MAX_VALUE = 10_000_000
MAX_ID = 2**31 - 1  # ids in URLs and forms beyond any row (and any integer column)

NOT_A_NUMBER = Text("Escriba un número entero, 0 o mayor.", "Type a whole number, 0 or more.")
NOT_YES_NO = Text("Elija sí o no.", "Choose yes or no.")
NOT_A_DATE = Text("Escriba una fecha válida (AAAA-MM-DD).", "Type a valid date (YYYY-MM-DD).")
TOO_LONG = Text(f"Escriba como máximo {MAX_TEXT} caracteres.", f"Type at most {MAX_TEXT} characters.")
TITLE_TOO_LONG = Text(f"Escriba como máximo {MAX_TITLE} caracteres.", f"Type at most {MAX_TITLE} characters.")
UNKNOWN_CHOICE = Text("Elija una opción de la lista.", "Choose an option from the list.")
UNKNOWN_NODE = Text("Hay códigos que no son nodos del directorio.", "Some codes are not nodes of the directory.")
DATE_ORDER = Text("El término no puede ser anterior al inicio.", "The end cannot be before the start.")
KEY_TAKEN = Text("Ya existe un plan con esa clave.", "A plan with that key already exists.")
BAD_KEY = Text("Use de 3 a 60 letras minúsculas, números o guiones.", "Use 3 to 60 lowercase letters, digits or hyphens.")


class PlanNotFound(CaseNotFound):
    message = Text("No existe ese plan, eje, institución o acción.", "There is no such plan, axis, institution or action.")


class NotYourAction(AccessDenied):
    message = Text("Su institución no es la responsable de esta acción: no puede reportar su avance.",
                   "Your institution is not responsible for this action: you may not report its progress.")


class ProgressAlreadyRecorded(CaseError):
    """The same report page was sent twice (a double click): the first one was stored."""

    message = Text("Este avance ya fue registrado.", "This progress was already recorded.")


# -- who ------------------------------------------------------------------------------------------


def may_manage(ctx: Context, user: User) -> bool:
    return has_capability(ctx, user, MANAGE)


def may_report_or_manage(ctx: Context, user: User) -> bool:
    """The plan is her work (the secretariat, a focal point), not only something she may read (an auditor)."""
    return has_capability(ctx, user, MANAGE) or has_capability(ctx, user, REPORT)


def may_read(ctx: Context, user: User) -> bool:
    return any(has_capability(ctx, user, capability) for capability in READERS)


def node_code(ctx: Context, user: User) -> str | None:
    return ctx.session.scalar(select(Node.code).where(Node.id == user.node_id))


def reports_for(ctx: Context, user: User, action: Action, code: str | None = None) -> bool:
    """Whether `user` may report progress of `action`: the secretariat for any; a focal point for her own
    institution's (one whose node codes name her node)."""
    if may_manage(ctx, user):
        return True
    if not has_capability(ctx, user, REPORT) or action.responsible is None:
        return False
    return (code or node_code(ctx, user)) in action.responsible.node_codes


# -- loading rows ---------------------------------------------------------------------------------


def get_plan(ctx: Context, plan_id: int) -> Plan:
    plan = ctx.session.get(Plan, plan_id) if 0 < plan_id <= MAX_ID else None
    if plan is None:
        raise PlanNotFound()
    return plan


def get_action(ctx: Context, plan_id: int, action_id: int) -> Action:
    action = ctx.session.get(Action, action_id) if 0 < action_id <= MAX_ID else None
    if action is None or action.plan_id != plan_id:
        raise PlanNotFound()
    return action


def get_institution(ctx: Context, plan_id: int, key: str) -> Institution:
    if not 0 < plan_id <= MAX_ID:
        raise PlanNotFound()
    found = ctx.session.scalar(select(Institution).where(Institution.plan_id == plan_id, Institution.key == key))
    if found is None:
        raise PlanNotFound()
    return found


def get_eje(ctx: Context, plan_id: int, number: int) -> Eje:
    if not (0 < plan_id <= MAX_ID and 0 < number <= MAX_ID):
        raise PlanNotFound()
    found = ctx.session.scalar(select(Eje).where(Eje.plan_id == plan_id, Eje.number == number))
    if found is None:
        raise PlanNotFound()
    return found


def plans(ctx: Context) -> list[Plan]:
    return list(ctx.session.scalars(select(Plan).order_by(Plan.starts_on.desc(), Plan.id.desc())))


# -- parsing what was typed -------------------------------------------------------------------------


def _text(errors: dict[str, list[Text]], field: str, value: str, *, required: bool = True,
          limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        errors[field] = [REQUIRED]
    elif len(value) > limit:
        errors[field] = [TOO_LONG if limit == MAX_TEXT else TITLE_TOO_LONG]
    return value


def _whole(raw: str) -> int | None:
    """A whole number typed in ASCII digits (not «²» or «١»), or None."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _date(errors: dict[str, list[Text]], field: str, value: str, *, required: bool = True) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors[field] = [REQUIRED]
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = [NOT_A_DATE]
        return None


def parse_value(kind: str, raw: str) -> tuple[float | None, Text | None]:
    """One indicator's value as typed: a yes/no indicator takes «si»/«no» (1/0), a number a whole number ≥ 0;
    empty is no value."""
    raw = (raw or "").strip().lower()
    if not raw:
        return None, None
    if kind == YES_NO:
        return ({"si": 1, "sí": 1, "no": 0}.get(raw), None) if raw in ("si", "sí", "no") else (None, NOT_YES_NO)
    number = _whole(raw)
    if number is not None and number <= MAX_VALUE:
        return number, None
    return None, NOT_A_NUMBER


# -- progress -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressInput:
    status: str
    values: tuple[str, ...]  # one per indicator, as typed
    reference: str
    filename: str = ""
    read: Callable[[int], bytes] | None = None  # the evidence file, read in chunks; None when none was chosen


def _progress_values(action: Action, values: ProgressInput) -> tuple[list[float | None], dict[str, list[Text]]]:
    errors: dict[str, list[Text]] = {}
    if values.status not in REPORTED_STATUSES:
        errors["status"] = [UNKNOWN_CHOICE]
    parsed: list[float | None] = []
    for index, indicator in enumerate(action.indicators):
        raw = values.values[index] if index < len(values.values) else ""
        value, error = parse_value(indicator["kind"], raw)
        parsed.append(value)
        if error is not None:
            errors[f"value_{index}"] = [error]
    _text(errors, "reference", values.reference, required=False)
    return parsed, errors


def record_progress(ctx: Context, user: User, plan_id: int, action_id: int, values: ProgressInput,
                    token: str) -> Progress:
    """Record one progress report of an action (status, values, reference, optional evidence). Raise
    PlanNotFound, NotYourAction, InvalidInput, ProgressAlreadyRecorded (the same page sent twice). One audit
    event (ids and the status code). Flushes; the caller commits; an evidence blob written is deleted again if
    the unit of work rolls back."""
    action = get_action(ctx, plan_id, action_id)
    if not reports_for(ctx, user, action):
        raise NotYourAction()
    if not token or len(token) > 64:
        raise InvalidInput({"token": [REQUIRED]})
    parsed, errors = _progress_values(action, values)
    if errors:
        raise InvalidInput(errors)
    if ctx.session.scalar(select(Progress.id).where(Progress.token == token)) is not None:
        raise ProgressAlreadyRecorded()
    row = Progress(id=uuid.uuid4(), action_id=action.id, user_id=user.id, node_id=user.node_id,
                   reported_at=ctx.now(), status=values.status, values=parsed,
                   reference=values.reference.strip(), token=token)
    if values.read is not None and values.filename.strip():
        seal_evidence(ctx, row, values.filename, values.read)
    try:  # of two clicks at once, the second waits on the token's unique index and stops here
        with ctx.session.begin_nested():
            ctx.session.add(row)
    except IntegrityError:
        raise ProgressAlreadyRecorded() from None
    audit(ctx, "plan.progress.create", role=user.role, node_id=user.node_id, subject=str(row.id),
          details={"plan": action.plan_id, "action": action.id, "status": row.status,
                   "evidence": row.evidence_blob_id is not None})
    ctx.session.flush()
    deadlines.sync_meta(ctx, action)  # «cumplida» stops the meta's clock; another status keeps it running
    return row


def get_progress(ctx: Context, plan_id: int, progress_id: str) -> Progress:
    try:
        wanted = uuid.UUID(progress_id)
    except ValueError:
        raise PlanNotFound() from None
    row = ctx.session.get(Progress, wanted)
    if row is None or row.action.plan_id != plan_id:
        raise PlanNotFound()
    return row


def evidence_read(ctx: Context, user: User, row: Progress) -> None:
    """The download of an evidence document is an audit event (ids only)."""
    if not row.evidence_blob_id:
        raise PlanNotFound()
    audit(ctx, "plan.evidence.download", role=user.role, node_id=user.node_id, subject=str(row.id),
          details={"action": row.action_id})


# -- editing (plan_manage) ------------------------------------------------------------------------


def _apply(row: object, values: dict[str, object]) -> list[str]:
    """Set the values that differ; the names of those changed."""
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return changed


def _require_manager(ctx: Context, user: User) -> None:
    if not may_manage(ctx, user):
        raise AccessDenied()


@dataclass(frozen=True)
class ActionFields:
    description: str
    meta: str
    due_on: str
    responsible: str  # an institution key of the plan, or "" for none
    indicators: tuple[tuple[str, str], ...]  # (text, kind); an empty text drops the indicator


def _action_values(ctx: Context, action: Action, fields: ActionFields) -> dict[str, object]:
    errors: dict[str, list[Text]] = {}
    values: dict[str, object] = {
        "description": _text(errors, "description", fields.description),
        "meta": _text(errors, "meta", fields.meta),
        "due_on": _date(errors, "due_on", fields.due_on, required=False),
    }
    responsible = None
    if fields.responsible:
        responsible = ctx.session.scalar(select(Institution).where(Institution.plan_id == action.plan_id,
                                                                   Institution.key == fields.responsible))
        if responsible is None:
            errors["responsible"] = [UNKNOWN_CHOICE]
    values["responsible_id"] = responsible.id if responsible else None
    indicators = []
    for index, (text, kind) in enumerate(fields.indicators):
        if not text.strip():
            continue
        if kind not in INDICATOR_KINDS:
            errors[f"indicator_kind_{index}"] = [UNKNOWN_CHOICE]
        indicators.append({"text": _text(errors, f"indicator_{index}", text), "kind": kind})
    if not indicators:
        errors["indicator_0"] = [REQUIRED]
    values["indicators"] = indicators
    if errors:
        raise InvalidInput(errors)
    return values


def edit_action(ctx: Context, user: User, plan_id: int, action_id: int, fields: ActionFields) -> list[str]:
    """Change an action's fields; the names of the fields changed. One audit event naming them (no text)."""
    _require_manager(ctx, user)
    action = get_action(ctx, plan_id, action_id)
    changed = _apply(action, _action_values(ctx, action, fields))
    if changed:
        audit(ctx, "plan.action.update", role=user.role, node_id=user.node_id, subject=str(action.id),
              details={"plan": plan_id, "fields": changed})
    ctx.session.flush()
    if changed:
        deadlines.sync_meta(ctx, action)  # a new date or institution moves the meta's clock
    return changed


def new_action(ctx: Context, user: User, plan_id: int, eje_number: int, linea_number: int,
               fields: ActionFields) -> Action:
    """Add an action at the end of a línea, coded «línea.n» after its last one. One audit event."""
    _require_manager(ctx, user)
    eje = get_eje(ctx, plan_id, eje_number)
    linea = next((line for line in eje.lineas if line.number == linea_number), None)
    if linea is None:
        raise PlanNotFound()
    action = Action(plan_id=plan_id, linea_id=linea.id, eje_number=eje.number, description="", meta="", indicators=[])
    values = _action_values(ctx, action, fields)
    taken = set(ctx.session.scalars(select(Action.code).where(Action.plan_id == plan_id,
                                                               Action.eje_number == eje.number)))
    number = 1 + len(linea.actions)
    while f"{linea.number}.{number}" in taken:
        number += 1
    action.code = f"{linea.number}.{number}"
    action.position = 1 + max((a.position for line in eje.lineas for a in line.actions), default=0)
    for name, value in values.items():
        setattr(action, name, value)
    ctx.session.add(action)
    ctx.session.flush()
    audit(ctx, "plan.action.create", role=user.role, node_id=user.node_id, subject=str(action.id),
          details={"plan": plan_id, "eje": eje.number, "code": action.code})
    deadlines.sync_meta(ctx, action)
    return action


def edit_institution(ctx: Context, user: User, plan_id: int, key: str, name: str, node_codes: str) -> list[str]:
    """Rename an institution or change the nodes whose focal points report for it (codes separated by commas or
    spaces, each a node of the directory). One audit event naming the fields changed."""
    _require_manager(ctx, user)
    institution = get_institution(ctx, plan_id, key)
    errors: dict[str, list[Text]] = {}
    values: dict[str, object] = {"name": _text(errors, "name", name, limit=MAX_TITLE)}
    codes = sorted({code.strip().upper() for code in node_codes.replace(",", " ").split() if code.strip()})
    known = set(ctx.session.scalars(select(Node.code).where(Node.code.in_(codes)))) if codes else set()
    if set(codes) - known:
        errors["node_codes"] = [UNKNOWN_NODE]
    values["node_codes"] = codes
    if errors:
        raise InvalidInput(errors)
    changed = _apply(institution, values)
    if changed:
        audit(ctx, "plan.institution.update", role=user.role, node_id=user.node_id, subject=str(institution.id),
              details={"plan": plan_id, "institution": institution.key, "fields": changed})
    ctx.session.flush()
    if "node_codes" in changed:  # the nodes told of its metas (and of the ejes it coordinates) change
        deadlines.sync_plan(ctx, institution.plan, ctx.now().astimezone(ctx.timezone).date())
    return changed


@dataclass(frozen=True)
class PlanFields:
    key: str
    title: str
    starts_on: str
    ends_on: str
    copy_from: str  # the id of a plan whose institutions, ejes, líneas and actions are copied (no progress), or ""


def _plan_values(ctx: Context, fields: PlanFields) -> tuple[dict[str, object], Plan | None]:
    errors: dict[str, list[Text]] = {}
    key = fields.key.strip()
    if not (3 <= len(key) <= 60 and all(ch in "abcdefghijklmnopqrstuvwxyz0123456789-" for ch in key)):
        errors["key"] = [BAD_KEY]
    elif ctx.session.scalar(select(Plan.id).where(Plan.key == key)) is not None:
        errors["key"] = [KEY_TAKEN]
    values: dict[str, object] = {"key": key, "title": _text(errors, "title", fields.title, limit=MAX_TITLE),
                                 "starts_on": _date(errors, "starts_on", fields.starts_on),
                                 "ends_on": _date(errors, "ends_on", fields.ends_on)}
    if values["starts_on"] and values["ends_on"] and values["ends_on"] < values["starts_on"]:  # type: ignore[operator]
        errors["ends_on"] = [DATE_ORDER]
    source = None
    if fields.copy_from:
        wanted = _whole(fields.copy_from)
        source = ctx.session.get(Plan, wanted) if wanted else None
        if source is None:
            errors["copy_from"] = [UNKNOWN_CHOICE]
    if errors:
        raise InvalidInput(errors)
    return values, source


def create_plan(ctx: Context, user: User, fields: PlanFields) -> Plan:
    """A new plan for a new period, empty or with the structure of another plan copied (institutions, ejes,
    líneas, actions with their indicators and metas; no dates of metas, no progress). One audit event."""
    _require_manager(ctx, user)
    values, source = _plan_values(ctx, fields)
    plan = Plan(created_at=ctx.now(), **values)
    ctx.session.add(plan)
    ctx.session.flush()
    if source is not None:
        _copy_structure(ctx, source, plan)
    audit(ctx, "plan.create", role=user.role, node_id=user.node_id, subject=str(plan.id),
          details={"plan": plan.key, "copied_from": source.id if source else None})
    ctx.session.flush()
    deadlines.sync_plan(ctx, plan, ctx.now().astimezone(ctx.timezone).date())
    return plan


def issue_semester_report(ctx: Context, user: User, plan: Plan, year: int, half: int) -> bool:
    """The Secretaría Técnica issues the semester's progress report: its clock stops (the next semester's
    starts). One audit event (the plan and the semester); False, and nothing recorded, if it was issued before
    (a second click) or was never due."""
    _require_manager(ctx, user)
    issued = deadlines.issue_semester_report(ctx, plan, year, half)
    if issued:
        audit(ctx, "plan.report.issue", role=user.role, node_id=user.node_id, subject=str(plan.id),
              details={"plan": plan.id, "semester": f"{year}-{half}"})
    ctx.session.flush()
    return issued


def _copy_structure(ctx: Context, source: Plan, plan: Plan) -> None:
    institutions = {}
    for old in source.institutions:
        institutions[old.id] = Institution(plan_id=plan.id, key=old.key, name=old.name, node_codes=list(old.node_codes))
        ctx.session.add(institutions[old.id])
    ctx.session.flush()
    for old_eje in source.ejes:
        coordinator = institutions.get(old_eje.coordinator_id) if old_eje.coordinator_id else None
        eje = Eje(plan_id=plan.id, number=old_eje.number, title=old_eje.title, objective=old_eje.objective,
                  coordinator_id=coordinator.id if coordinator else None)
        ctx.session.add(eje)
        ctx.session.flush()
        for old_linea in old_eje.lineas:
            linea = Linea(eje_id=eje.id, number=old_linea.number, title=old_linea.title)
            ctx.session.add(linea)
            ctx.session.flush()
            for old in old_linea.actions:
                responsible = institutions.get(old.responsible_id) if old.responsible_id else None
                ctx.session.add(Action(plan_id=plan.id, linea_id=linea.id, eje_number=eje.number, code=old.code,
                                       position=old.position, description=old.description,
                                       indicators=[dict(i) for i in old.indicators], meta=old.meta, due_on=None,
                                       responsible_id=responsible.id if responsible else None))
    ctx.session.flush()


def indicator_kind_label(kind: str) -> Text:
    return {YES_NO: Text("Sí/no", "Yes/no"), NUMBER: Text("Número", "Number")}.get(kind, Text(kind))

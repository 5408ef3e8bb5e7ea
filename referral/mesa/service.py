"""The Mesa's meetings: record a session (date, institutions present, minutes, agreements), mark an agreement done,
and count the sessions with minutes for the Plan's indicators. Pure of Flask; the caller commits.

Who: `plan_manage` (the Secretaría Técnica) records sessions and marks any agreement done; `plan_report` (an
institution's focal point of the Plan) marks done the agreements of its own node. Each agreement's due date runs
on the clock `acuerdo_mesa_intersectorial` (referral/clocks/subjects.py): its responsible node is told when it
starts and before the date, and the node that recorded the session when it is late. Every change is an audit event
with ids and codes only: nothing of the minutes or of an agreement's text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit.service import record as audit
from ..auth.models import User
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..cases.meetings import REQUIRED, TOO_LONG, UNKNOWN_CHOICE  # the words of a case meeting's form
from ..cases.meetings import AgreementInput  # an agreement as typed: the same as a case meeting's
from ..clocks.subjects import start_subject_clock, stop_subject_clock
from ..context import Context
from ..country import subject_clock
from ..network.grants import holds_capability
from ..network.models import Node, Region
from ..workflow import Text
from .models import DONE, NATIONAL, OPEN, REGIONAL, MesaAgreement, MesaMeeting

SUBJECT_KIND = "acuerdo_mesa"  # its clock is the workflow's clock of this subject kind (referral/country.py)
MANAGE, REPORT, AUDIT = "plan_manage", "plan_report", "audit"
MAX_MINUTES = 20000
MAX_AGREEMENT = 1000
MAX_AGREEMENTS = 20

NO_ONE_PRESENT = Text("Marque al menos una institución presente.", "Mark at least one institution present.")
FUTURE = Text("La fecha de la sesión no puede ser posterior a hoy.", "The session's date cannot be after today.")
PAST_DUE = Text("La fecha comprometida no puede ser anterior a la sesión.",
                "The due date cannot be before the session.")
INCOMPLETE = Text("Un acuerdo necesita texto, institución responsable y fecha comprometida.",
                  "An agreement needs a text, a responsible institution and a due date.")
TOO_MANY = Text("Demasiados acuerdos en una sesión.", "Too many agreements in one session.")


class MesaNotFound(CaseNotFound):
    message = Text("No existe esa Mesa, sesión o acuerdo.", "There is no such Table, session or agreement.")


class NotResponsible(AccessDenied):
    message = Text("Solo la institución responsable (o la Secretaría Técnica) marca este acuerdo.",
                   "Only the responsible institution (or the Technical Secretariat) marks this agreement.")


class MeetingAlreadyRecorded(CaseError):
    """The same «Registrar sesión» page was sent twice (a double click): the first one recorded it."""


class AgreementAlreadyDone(CaseError):
    message = Text("Este acuerdo ya estaba cumplido.", "This agreement was already done.")


@dataclass(frozen=True)
class Mesa:
    """The national Mesa (region None) or one region's."""

    key: str  # "nacional" or the region's code
    region_code: str | None
    label: Text

    @property
    def kind(self) -> str:
        return NATIONAL if self.region_code is None else REGIONAL


@dataclass(frozen=True)
class MeetingInput:
    held_on: dt.date | None
    present: tuple[int, ...]
    minutes: str
    agreements: tuple[AgreementInput, ...]


# -- who -------------------------------------------------------------------------------------------------

def may_manage(ctx: Context, user: User) -> bool:
    return holds_capability(ctx, user, MANAGE)


def may_read(ctx: Context, user: User) -> bool:
    return any(holds_capability(ctx, user, c) for c in (MANAGE, REPORT, AUDIT))


def may_mark(ctx: Context, user: User, agreement: MesaAgreement) -> bool:
    """The Secretaría Técnica, or a focal point of the Plan at the agreement's responsible node."""
    return may_manage(ctx, user) or (holds_capability(ctx, user, REPORT) and user.node_id == agreement.responsible_node_id)


# -- which Mesa --------------------------------------------------------------------------------------------


def mesas(ctx: Context) -> list[Mesa]:
    """The national Mesa, then each region's (north to south), from the network's regions."""
    regional = [Mesa(r.code, r.code, Text(f"Mesa regional de {r.name}", f"Regional Table of {r.name}"))
                for r in ctx.session.scalars(select(Region).order_by(Region.position))]
    return [Mesa(NATIONAL, None, ctx.protocol.country.coordination_body), *regional]


def mesa_of(ctx: Context, key: str) -> Mesa:
    if key == NATIONAL:
        return Mesa(NATIONAL, None, ctx.protocol.country.coordination_body)
    region = ctx.session.get(Region, key) if len(key) <= 8 else None
    if region is None:
        raise MesaNotFound()
    return Mesa(region.code, region.code, Text(f"Mesa regional de {region.name}", f"Regional Table of {region.name}"))


def node_choices(ctx: Context, mesa: Mesa) -> list[tuple[int, str]]:
    """The directory's active institutions (nodes), by name, that may be present or responsible: every one for the
    national Mesa; the region's own and the national ones for a regional Mesa [producto]."""
    query = select(Node).where(Node.active).order_by(Node.short_name)
    if mesa.region_code is not None:
        query = query.where(or_(Node.home_region == mesa.region_code, Node.level == "national"))
    return [(n.id, n.short_name) for n in ctx.session.scalars(query)]


# -- recording a session -------------------------------------------------------------------------------------

def validate(ctx: Context, mesa: Mesa, values: MeetingInput) -> dict[str, list[Text]]:
    errors: dict[str, list[Text]] = {}
    known = {node_id for node_id, _ in node_choices(ctx, mesa)}
    today = ctx.now().astimezone(ctx.timezone).date()
    if values.held_on is None:
        errors["held_on"] = [REQUIRED]
    elif values.held_on > today:
        errors["held_on"] = [FUTURE]
    if not values.present:
        errors["present"] = [NO_ONE_PRESENT]
    elif set(values.present) - known:
        errors["present"] = [UNKNOWN_CHOICE]
    if len(values.minutes) > MAX_MINUTES:
        errors["minutes"] = [TOO_LONG]
    if sum(not a.blank for a in values.agreements) > MAX_AGREEMENTS:
        errors["agreements"] = [TOO_MANY]
    for i, item in enumerate(values.agreements):
        if item.blank:
            continue
        if not item.text.strip() or item.responsible is None or item.due_on is None:
            errors[f"agreements-{i}-text"] = [INCOMPLETE]
        if len(item.text) > MAX_AGREEMENT:
            errors[f"agreements-{i}-text"] = [TOO_LONG]
        if item.responsible is not None and item.responsible not in known:
            errors[f"agreements-{i}-responsible"] = [UNKNOWN_CHOICE]
        if item.due_on is not None and values.held_on is not None and item.due_on < values.held_on:
            errors[f"agreements-{i}-due_on"] = [PAST_DUE]
    return errors


def record_meeting(ctx: Context, user: User, mesa: Mesa, values: MeetingInput, token: str) -> MesaMeeting:
    """Record one session of a Mesa with its agreements; each agreement's clock starts. Raise AccessDenied,
    InvalidInput, MeetingAlreadyRecorded (the same page sent twice). Flushes; the caller commits."""
    if not may_manage(ctx, user):
        raise AccessDenied()
    if not token or len(token) > 64:
        raise InvalidInput({"token": [REQUIRED]})
    errors = validate(ctx, mesa, values)
    if errors or values.held_on is None:
        raise InvalidInput(errors)
    if ctx.session.scalar(select(MesaMeeting.id).where(MesaMeeting.token == token)) is not None:
        raise MeetingAlreadyRecorded()
    meeting = MesaMeeting(mesa=mesa.kind, region_code=mesa.region_code, held_on=values.held_on,
                          present=sorted(set(values.present)), minutes=values.minutes.strip() or None, token=token,
                          recorded_by=user.id, recorder_node_id=user.node_id, created_at=ctx.now())
    try:  # of two clicks at once, the second waits on the token's unique index and stops here
        with ctx.session.begin_nested():
            ctx.session.add(meeting)
    except IntegrityError:
        raise MeetingAlreadyRecorded() from None
    agreements = [MesaAgreement(meeting_id=meeting.id, position=i, text=item.text.strip(),
                                responsible_node_id=item.responsible, due_on=item.due_on, status=OPEN)
                  for i, item in enumerate(a for a in values.agreements if not a.blank)]
    ctx.session.add_all(agreements)
    ctx.session.flush()
    for agreement in agreements:
        # [producto] escalation goes to the node that recorded the session (the secretariat that coordinates it)
        start_subject_clock(ctx, subject_clock(ctx.definition, SUBJECT_KIND), SUBJECT_KIND, str(agreement.id), agreement.due_on,
                            node_ids=[agreement.responsible_node_id], escalate_node_ids=[meeting.recorder_node_id])
    audit(ctx, "mesa.sesion.registrar", role=user.role, node_id=user.node_id, subject=f"mesa_sesion:{meeting.id}",
          details={"mesa": mesa.kind, "region": mesa.region_code, "presentes": len(meeting.present),
                   "acta": meeting.minutes is not None, "acuerdos": [a.id for a in agreements]})
    return meeting


class MinutesAlreadyRecorded(CaseError):
    message = Text("Esta sesión ya tiene acta.", "This session already has minutes.")


def add_minutes(ctx: Context, user: User, meeting_id: int, minutes: str) -> MesaMeeting:
    """Record the minutes of a session recorded without them (once: an acta approved later). Raise AccessDenied,
    MesaNotFound, InvalidInput, MinutesAlreadyRecorded. The row is locked: of two clicks, the second is told."""
    if not may_manage(ctx, user):
        raise AccessDenied()
    meeting = ctx.session.scalar(select(MesaMeeting).where(MesaMeeting.id == meeting_id).with_for_update())
    if meeting is None:
        raise MesaNotFound()
    if not minutes.strip():
        raise InvalidInput({"minutes": [REQUIRED]})
    if len(minutes) > MAX_MINUTES:
        raise InvalidInput({"minutes": [TOO_LONG]})
    if meeting.minutes is not None:
        raise MinutesAlreadyRecorded()
    meeting.minutes = minutes.strip()
    audit(ctx, "mesa.sesion.acta", role=user.role, node_id=user.node_id, subject=f"mesa_sesion:{meeting.id}",
          details={"mesa": meeting.mesa, "region": meeting.region_code})
    ctx.session.flush()
    return meeting


def open_agreement(ctx: Context, user: User, agreement_id: int) -> MesaAgreement:
    """The agreement, if this user may mark it done; else MesaNotFound or NotResponsible (before any form is read)."""
    agreement = ctx.session.get(MesaAgreement, agreement_id)
    if agreement is None:
        raise MesaNotFound()
    if not may_mark(ctx, user, agreement):
        raise NotResponsible()
    return agreement


def complete_agreement(ctx: Context, user: User, agreement_id: int) -> MesaAgreement:
    """Mark an agreement done (its clock stops: met, or late). Raise MesaNotFound, NotResponsible,
    AgreementAlreadyDone. The row is locked: of two clicks, the second is told it was already done."""
    agreement = ctx.session.scalar(select(MesaAgreement).where(MesaAgreement.id == agreement_id).with_for_update())
    if agreement is None:
        raise MesaNotFound()
    if not may_mark(ctx, user, agreement):
        raise NotResponsible()
    if agreement.status == DONE:
        raise AgreementAlreadyDone()
    agreement.status, agreement.done_at, agreement.done_by = DONE, ctx.now(), user.id
    stop_subject_clock(ctx, subject_clock(ctx.definition, SUBJECT_KIND), SUBJECT_KIND, str(agreement.id))
    audit(ctx, "mesa.acuerdo.cumplir", role=user.role, node_id=user.node_id, subject=f"mesa_acuerdo:{agreement.id}",
          details={"sesion": agreement.meeting_id, "responsable": agreement.responsible_node_id})
    ctx.session.flush()
    return agreement


# -- for the Plan's indicators -------------------------------------------------------------------------------

def count_minutes(session: Session, mesa: str | None = None, region: str | None = None,
                  start: dt.date | None = None, end: dt.date | None = None) -> int:
    """Sessions with recorded minutes («Número de actas de sesiones»): of the national Mesa (`mesa="nacional"`), of
    the regional ones (`"regional"`, or one `region` code), or of all; held from `start` to `end`, both included."""
    query = select(func.count()).select_from(MesaMeeting).where(MesaMeeting.minutes.is_not(None))
    if mesa is not None:
        query = query.where(MesaMeeting.mesa == mesa)
    if region is not None:
        query = query.where(MesaMeeting.region_code == region)
    if start is not None:
        query = query.where(MesaMeeting.held_on >= start)
    if end is not None:
        query = query.where(MesaMeeting.held_on <= end)
    return int(session.scalar(query) or 0)

"""Coordination meetings of a case (mesa de caso): convene the case's nodes, record the minutes and the
agreements, and mark an agreement done.

Who convenes and who may be invited are the workflow's (`meetings:`). The place and purpose, the minutes and
each agreement's text are sealed under the case key and read by the convener's node and the invited nodes
(`MeetingsDef.readable_by`). Each step is a step of a meeting or an agreement for the clocks
(`Occurrence.of_subject`): convening may start a clock of the meeting (its invitees told), recording an
agreement one of that agreement (its responsible node reminded before the due date, the convener told when
it is late), marking it done stops it. Timeline and audit events carry ids only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit.service import record as audit
from ..auth.models import User
from ..clocks.service import on_occurrence
from ..context import Context
from ..kernel.keystore import open_cell, seal_cell
from ..network.models import Node
from ..vault import Cell
from ..workflow import Actor, Text
from ..workflow.clocks import Occurrence
from ..workflow.meetings import CANCELLED, CONVENED, HELD, MeetingsDef
from ..workflow.meetings import DONE as DONE_STEP
from ..workflow.meetings import OPEN as OPEN_STEP
from ..kernel.access import open_case
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..kernel.meeting_models import DONE, OPEN, CaseAgreement, CaseMeeting
from ..kernel.models import Case, Participant, live_participant
from ..kernel.timeline import append_event

MAX_TEXT = 8000  # narrative
MAX_LINE = 500  # place, an agreement, the note that closes it
MAX_AGREEMENTS = 20
EVENT = "meeting"  # the timeline's kind for meetings and agreements

REQUIRED = Text("Este campo es obligatorio.", "This field is required.")
TOO_LONG = Text("El texto es demasiado largo.", "The text is too long.")
UNKNOWN_CHOICE = Text("Elija una opción de la lista.", "Choose an option from the list.")
NO_INVITEES = Text("Invite al menos a un nodo del caso.", "Invite at least one node of the case.")
PAST_DUE = Text("La fecha comprometida no puede ser anterior a hoy.", "The due date cannot be before today.")
TOO_MANY = Text("Demasiados acuerdos en un acta.", "Too many agreements in one set of minutes.")
EVENT_TEXTS = {
    "mesa.convocar": Text("Convocó una mesa de caso", "Convened a case meeting"),
    "mesa.acta": Text("Registró el acta y los acuerdos de una mesa de caso",
                      "Recorded the minutes and agreements of a case meeting"),
    "acuerdo.cumplir": Text("Marcó cumplido un acuerdo de mesa de caso", "Marked a case-meeting agreement done"),
    "mesa.cancelar": Text("Canceló una mesa de caso", "Called off a case meeting"),
}
# Why a convener calls a meeting off [producto]: codes stored in clear (they say nothing of the person).
CANCEL_REASONS = {
    "reprogramada": Text("Se convocará en otra fecha", "It will be convened on another date"),
    "persona_no_disponible": Text("La persona no puede asistir o no está disponible",
                                  "The person cannot attend or is not available"),
    "nodos_no_disponibles": Text("Los nodos invitados no pueden asistir", "The invited nodes cannot attend"),
    "ya_no_necesaria": Text("Ya no es necesaria", "No longer needed"),
}
REASON_REQUIRED = Text("Elija el motivo de la cancelación.", "Choose why the meeting is called off.")


class MeetingAlreadyConvened(CaseError):
    """The same «Convocar mesa» page was sent twice (a double click): the first one convened it."""

    message = Text("Esta mesa ya fue convocada.", "This meeting was already convened.")


class MinutesAlreadyRecorded(CaseError):
    message = Text("El acta de esta mesa ya fue registrada.", "The minutes of this meeting were already recorded.")


class MeetingClosed(CaseError):
    """The meeting already has its minutes, or was already called off (a second click): nothing to cancel."""

    message = Text("Esta mesa ya tiene acta o ya fue cancelada.", "This meeting already has minutes or was called off.")


class AgreementAlreadyDone(CaseError):
    message = Text("Este acuerdo ya fue marcado como cumplido.", "This agreement was already marked done.")


def meeting_cell(meeting_id: uuid.UUID, column: str) -> Cell:
    return Cell("case_meetings", column, meeting_id)


def agreement_cell(agreement_id: uuid.UUID, column: str) -> Cell:
    return Cell("case_agreements", column, agreement_id)


@dataclass(frozen=True)
class MeetingInput:
    starts_at: dt.datetime | None  # local wall-clock time, naive
    modality: str
    place: str
    purpose: str
    invited: tuple[int, ...]


@dataclass(frozen=True)
class AgreementInput:
    text: str
    responsible: int | None
    due_on: dt.date | None

    @property
    def blank(self) -> bool:
        return not self.text.strip() and self.responsible is None and self.due_on is None


@dataclass(frozen=True)
class MinutesInput:
    attendees: tuple[int, ...]
    narrative: str
    agreements: tuple[AgreementInput, ...]


def meetings_def(ctx: Context) -> MeetingsDef:
    if ctx.definition.meetings is None:
        raise CaseNotFound()
    return ctx.definition.meetings


def may_convene(ctx: Context, relations: frozenset[str]) -> bool:
    meetings = ctx.definition.meetings
    return meetings is not None and meetings.may_convene(relations)


def open_for_convening(ctx: Context, user: User, reference: str) -> Case:
    """The case, if the user's node may convene a meeting of it; else AccessDenied."""
    meetings_def(ctx)
    case, actor = open_case(ctx, user, reference)
    if not may_convene(ctx, actor.relations):
        raise AccessDenied()
    return case


def case_nodes(ctx: Context, case: Case) -> list[Node]:
    """The nodes that may be invited or made responsible: live participants holding an attendee relation."""
    meetings = meetings_def(ctx)
    return list(ctx.session.scalars(
        select(Node).where(Node.id.in_(select(Participant.node_id).where(
            Participant.case_id == case.id, Participant.relation.in_(meetings.attendees),
            live_participant(ctx.now())))).order_by(Node.short_name, Node.id)))


def node_choices(ctx: Context, case: Case) -> list[tuple[int, str]]:
    return [(node.id, node.short_name) for node in case_nodes(ctx, case)]


def modality_choices(ctx: Context, language: str) -> list[tuple[str, str]]:
    return [(key, label.get(language)) for key, label in meetings_def(ctx).modalities.items()]


def _too_long(errors: dict[str, list[Text]], key: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors.setdefault(key, []).append(TOO_LONG)


def validate_meeting(ctx: Context, case: Case, values: MeetingInput) -> dict[str, list[Text]]:
    errors: dict[str, list[Text]] = {}
    if values.starts_at is None:
        errors["starts_at"] = [REQUIRED]
    if values.modality not in meetings_def(ctx).modalities:
        errors["modality"] = [UNKNOWN_CHOICE]
    _too_long(errors, "place", values.place, MAX_LINE)
    _too_long(errors, "purpose", values.purpose, MAX_TEXT)
    if not values.invited:
        errors["invited"] = [NO_INVITEES]
    elif set(values.invited) - {node_id for node_id, _ in node_choices(ctx, case)}:
        errors["invited"] = [UNKNOWN_CHOICE]
    return errors


def convene(ctx: Context, user: User, reference: str, values: MeetingInput, token: str) -> CaseMeeting:
    """Convene a meeting of the case's nodes; its clocks tell the invitees. Raise AccessDenied, InvalidInput,
    MeetingAlreadyConvened (the same page sent twice). Flushes; the caller commits."""
    case = open_for_convening(ctx, user, reference)
    if not token or len(token) > 64:
        raise InvalidInput({"token": [REQUIRED]})
    errors = validate_meeting(ctx, case, values)
    if errors or values.starts_at is None:
        raise InvalidInput(errors)
    if ctx.session.scalar(select(CaseMeeting.id).where(CaseMeeting.token == token)) is not None:
        raise MeetingAlreadyConvened()
    starts_at = values.starts_at.replace(tzinfo=ctx.timezone).astimezone(dt.UTC)
    meeting = CaseMeeting(id=uuid.uuid4(), case_id=case.id, convener_node_id=user.node_id, convener_user_id=user.id,
                          invited=sorted(set(values.invited) - {user.node_id}), starts_at=starts_at,
                          modality=values.modality, token=token, created_at=ctx.now())
    meeting.data = seal_cell(ctx, case, {"place": values.place.strip(), "purpose": values.purpose.strip()},
                             meeting_cell(meeting.id, "data"))
    try:  # of two clicks at once, the second waits on the token's unique index and stops here
        with ctx.session.begin_nested():
            ctx.session.add(meeting)
    except IntegrityError:
        raise MeetingAlreadyConvened() from None
    append_event(ctx, case, user, kind=EVENT, action="mesa.convocar", machine=EVENT, subject=str(meeting.id))
    _clocks(ctx, case, Occurrence.of_subject("meeting_state", None, CONVENED, str(meeting.id),
                                             {"starts_at": starts_at}))
    ctx.session.flush()
    return meeting


def _clocks(ctx: Context, case: Case, occurrence: Occurrence) -> None:

    ctx.session.flush()  # the meeting or agreement row exists before its parties are looked up
    on_occurrence(ctx, case, occurrence)


def _meeting_of(ctx: Context, case: Case, meeting_id: uuid.UUID, *, lock: bool = False) -> CaseMeeting:
    query = select(CaseMeeting).where(CaseMeeting.id == meeting_id, CaseMeeting.case_id == case.id)
    meeting = ctx.session.scalar(query.with_for_update() if lock else query)
    if meeting is None:
        raise CaseNotFound()
    return meeting


def _readable(ctx: Context, user: User, meeting: CaseMeeting, actor: Actor) -> bool:
    return meetings_def(ctx).readable_by(meeting.convener_node_id, meeting.invited, user.node_id, actor.relations)


def open_meeting(ctx: Context, user: User, reference: str, meeting_id: uuid.UUID, *,
                 lock: bool = False) -> tuple[Case, CaseMeeting]:
    """The case and one of its meetings whose minutes the user's node records (the convener's); else
    AccessDenied (CaseNotFound for a meeting it may not even read)."""
    meetings_def(ctx)
    case, actor = open_case(ctx, user, reference)
    meeting = _meeting_of(ctx, case, meeting_id, lock=lock)
    if not _readable(ctx, user, meeting, actor):
        raise CaseNotFound()
    if meeting.convener_node_id != user.node_id:
        raise AccessDenied()
    return case, meeting


def validate_minutes(ctx: Context, case: Case, meeting: CaseMeeting, values: MinutesInput) -> dict[str, list[Text]]:
    errors: dict[str, list[Text]] = {}
    if set(values.attendees) - set(meeting.invited) - {meeting.convener_node_id}:
        errors["attendees"] = [UNKNOWN_CHOICE]
    if not values.narrative.strip():
        errors["narrative"] = [REQUIRED]
    _too_long(errors, "narrative", values.narrative, MAX_TEXT)
    if len(values.agreements) > MAX_AGREEMENTS:
        errors["agreements"] = [TOO_MANY]
    nodes = {node_id for node_id, _ in node_choices(ctx, case)}
    today = ctx.now().astimezone(ctx.timezone).date()
    for i, item in enumerate(values.agreements):
        if item.blank:
            continue
        where = f"agreements-{i}-"
        if not item.text.strip():
            errors[where + "text"] = [REQUIRED]
        _too_long(errors, where + "text", item.text, MAX_LINE)
        if item.responsible is None or item.responsible not in nodes:
            errors[where + "responsible"] = [REQUIRED if item.responsible is None else UNKNOWN_CHOICE]
        if item.due_on is None:
            errors[where + "due_on"] = [REQUIRED]
        elif item.due_on < today:
            errors[where + "due_on"] = [PAST_DUE]
    return errors


def record_minutes(ctx: Context, user: User, reference: str, meeting_id: uuid.UUID,
                   values: MinutesInput) -> list[CaseAgreement]:
    """Seal the minutes and each agreement; every agreement starts its clocks, the meeting's stop. Raise
    AccessDenied, InvalidInput, MinutesAlreadyRecorded (sent twice). Flushes; the caller commits."""
    case, meeting = open_meeting(ctx, user, reference, meeting_id, lock=True)
    if meeting.minutes is not None:
        raise MinutesAlreadyRecorded()
    if meeting.cancelled_at is not None:
        raise MeetingClosed()
    errors = validate_minutes(ctx, case, meeting, values)
    if errors:
        raise InvalidInput(errors)
    meeting.minutes = seal_cell(ctx, case, {"attendees": sorted(set(values.attendees)),
                                            "narrative": values.narrative.strip()}, meeting_cell(meeting.id, "minutes"))
    meeting.minutes_at, meeting.minutes_user_id = ctx.now(), user.id
    agreements = [_agreement(ctx, case, meeting, position, item)
                  for position, item in enumerate(a for a in values.agreements if not a.blank)]
    append_event(ctx, case, user, kind=EVENT, action="mesa.acta", machine=EVENT, subject=str(meeting.id))
    _clocks(ctx, case, Occurrence.of_subject("meeting_state", CONVENED, HELD, str(meeting.id)))
    for agreement in agreements:
        _clocks(ctx, case, Occurrence.of_subject("agreement_state", None, OPEN_STEP, str(agreement.id),
                                                 {"due_on": agreement.due_on}))
    ctx.session.flush()
    return agreements


def cancel_meeting(ctx: Context, user: User, reference: str, meeting_id: uuid.UUID, reason: str) -> CaseMeeting:
    """The convener calls off a meeting that has no minutes yet, with a reason from CANCEL_REASONS; its clock
    stops (the invitees are reminded no more). Raise AccessDenied, CaseNotFound, InvalidInput, MeetingClosed
    (minutes recorded, or called off already: a second click). Flushes; the caller commits."""
    case, meeting = open_meeting(ctx, user, reference, meeting_id, lock=True)
    if meeting.minutes is not None or meeting.cancelled_at is not None:
        raise MeetingClosed()
    if reason not in CANCEL_REASONS:
        raise InvalidInput({"motivo": [REASON_REQUIRED]})
    meeting.cancelled_at, meeting.cancelled_user_id, meeting.cancel_reason = ctx.now(), user.id, reason
    append_event(ctx, case, user, kind=EVENT, action="mesa.cancelar", machine=EVENT, subject=str(meeting.id))
    _clocks(ctx, case, Occurrence.of_subject("meeting_state", CONVENED, CANCELLED, str(meeting.id)))
    ctx.session.flush()
    return meeting


def cancel_reason_choices(language: str) -> list[tuple[str, str]]:
    return [(code, text.get(language)) for code, text in CANCEL_REASONS.items()]


def _agreement(ctx: Context, case: Case, meeting: CaseMeeting, position: int, item: AgreementInput) -> CaseAgreement:
    assert item.responsible is not None and item.due_on is not None  # validated
    row = CaseAgreement(id=uuid.uuid4(), case_id=case.id, meeting_id=meeting.id, position=position,
                        responsible_node_id=item.responsible, due_on=item.due_on, status=OPEN, created_at=ctx.now())
    row.data = seal_cell(ctx, case, {"text": item.text.strip()}, agreement_cell(row.id, "data"))
    ctx.session.add(row)
    return row


def open_agreement(ctx: Context, user: User, reference: str, agreement_id: uuid.UUID, *,
                   lock: bool = False) -> tuple[Case, CaseAgreement]:
    """The case and one of its agreements the user's node is responsible for; AccessDenied if it is another
    node's, CaseNotFound if the node may not even read it."""
    meetings_def(ctx)
    case, actor = open_case(ctx, user, reference)
    query = select(CaseAgreement).where(CaseAgreement.id == agreement_id, CaseAgreement.case_id == case.id)
    agreement = ctx.session.scalar(query.with_for_update() if lock else query)
    if agreement is None or not _readable(ctx, user, _meeting_of(ctx, case, agreement.meeting_id), actor):
        raise CaseNotFound()
    if agreement.responsible_node_id != user.node_id:
        raise AccessDenied()
    return case, agreement


def complete_agreement(ctx: Context, user: User, reference: str, agreement_id: uuid.UUID, note: str) -> CaseAgreement:
    """The responsible node marks its agreement done (an optional sealed note); its clocks stop. Raise
    AccessDenied, InvalidInput, AgreementAlreadyDone (sent twice). Flushes; the caller commits."""
    case, agreement = open_agreement(ctx, user, reference, agreement_id, lock=True)
    if agreement.status == DONE:
        raise AgreementAlreadyDone()
    if len(note) > MAX_LINE:
        raise InvalidInput({"note": [TOO_LONG]})
    agreement.status, agreement.done_at, agreement.done_user_id = DONE, ctx.now(), user.id
    if note.strip():
        agreement.done_note = seal_cell(ctx, case, {"note": note.strip()}, agreement_cell(agreement.id, "done_note"))
    append_event(ctx, case, user, kind=EVENT, action="acuerdo.cumplir", machine=EVENT, subject=str(agreement.meeting_id))
    _clocks(ctx, case, Occurrence.of_subject("agreement_state", OPEN_STEP, DONE_STEP, str(agreement.id)))
    ctx.session.flush()
    return agreement


def event_text(action: str, language: str) -> str:
    """The timeline's words for a step of a meeting or an agreement (nothing of its content)."""
    words = EVENT_TEXTS.get(action)
    return words.get(language) if words else action


# -- reading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementView:
    id: str
    text: str
    responsible: str
    due_on: str
    done: bool
    done_at: str
    done_note: str
    may_complete: bool  # the reader's node is responsible and it is still open


@dataclass(frozen=True)
class MeetingView:
    id: str
    starts_at: str
    modality: str
    place: str
    purpose: str
    convener: str
    invited: tuple[str, ...]
    minutes_recorded: bool
    attendees: tuple[str, ...]
    narrative: str
    minutes_at: str
    agreements: tuple[AgreementView, ...]
    may_record_minutes: bool
    cancelled: str = ""  # «when · why» once its convener called it off
    may_cancel: bool = False  # the reader's node convened it and it has neither minutes nor a cancellation
    cancel_reasons: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MeetingsSection:
    label: str
    meetings: tuple[MeetingView, ...]
    may_convene: bool
    open_for_me: int  # open agreements the reader's node is responsible for


def meetings_section(ctx: Context, user: User, reference: str, language: str) -> tuple[uuid.UUID, MeetingsSection | None]:
    """The meetings of the case this user's node reads, newest first (None when the workflow has none)."""
    case, actor = open_case(ctx, user, reference)
    meetings = ctx.definition.meetings
    if meetings is None:
        return case.id, None
    rows = [m for m in ctx.session.scalars(select(CaseMeeting).where(CaseMeeting.case_id == case.id)
                                           .order_by(CaseMeeting.starts_at.desc(), CaseMeeting.id))
            if _readable(ctx, user, m, actor)]
    agreements: dict[uuid.UUID, list[CaseAgreement]] = {}
    names: dict[int, str] = {}
    if rows:  # no meeting the node reads: no agreements and no names to look up (no statements)
        for row in ctx.session.scalars(select(CaseAgreement).where(CaseAgreement.meeting_id.in_([m.id for m in rows]))
                                       .order_by(CaseAgreement.position)):
            agreements.setdefault(row.meeting_id, []).append(row)
        names = {node.id: node.short_name for node in ctx.session.scalars(select(Node).where(Node.id.in_(
            {n for m in rows for n in [m.convener_node_id, *m.invited]})))}
    views = tuple(_view(ctx, case, m, agreements.get(m.id, []), names, user, language) for m in rows)
    mine = sum(1 for m in views for a in m.agreements if a.may_complete)
    return case.id, MeetingsSection(meetings.label.get(language), views, meetings.may_convene(actor.relations), mine)


def case_meetings(ctx: Context, user: User, reference: str, language: str) -> MeetingsSection | None:
    """The case page's meetings section; the meetings shown are an audit event (their ids only). Flushes."""
    case_id, section = meetings_section(ctx, user, reference, language)
    if section is not None and section.meetings:
        audit(ctx, "read", role=user.role, node_id=user.node_id, case_id=case_id,
              details={"page": "meetings", "meetings": [m.id for m in section.meetings]})
    return section


def _when(ctx: Context, moment: dt.datetime | None) -> str:
    return moment.astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M") if moment else ""


def _view(ctx: Context, case: Case, row: CaseMeeting, agreements: list[CaseAgreement], names: Mapping[int, str],
          user: User, language: str) -> MeetingView:
    data: Mapping[str, Any] = open_cell(ctx, case, row.data, meeting_cell(row.id, "data"))
    minutes: Mapping[str, Any] = open_cell(ctx, case, row.minutes, meeting_cell(row.id, "minutes")) \
        if row.minutes is not None else {}
    modality = meetings_def(ctx).modalities.get(row.modality)
    attendees = minutes.get("attendees") or []
    open_, convener = row.minutes is None and row.cancelled_at is None, row.convener_node_id == user.node_id
    reason = CANCEL_REASONS.get(row.cancel_reason or "") if row.cancelled_at is not None else None
    return MeetingView(
        id=str(row.id), starts_at=_when(ctx, row.starts_at), modality=modality.get(language) if modality else row.modality,
        place=str(data.get("place") or ""), purpose=str(data.get("purpose") or ""),
        convener=names.get(row.convener_node_id, ""), invited=tuple(names.get(n, "") for n in row.invited),
        minutes_recorded=row.minutes is not None,
        attendees=tuple(names.get(int(n), "") for n in attendees if isinstance(n, int)),
        narrative=str(minutes.get("narrative") or ""), minutes_at=_when(ctx, row.minutes_at),
        agreements=tuple(_agreement_view(ctx, case, a, user) for a in agreements),
        may_record_minutes=open_ and convener,
        cancelled=f"{_when(ctx, row.cancelled_at)} · {reason.get(language)}" if reason else "",
        may_cancel=open_ and convener,
        cancel_reasons=tuple(cancel_reason_choices(language)) if open_ and convener else (),
    )


def _agreement_view(ctx: Context, case: Case, row: CaseAgreement, user: User) -> AgreementView:
    data: Mapping[str, Any] = open_cell(ctx, case, row.data, agreement_cell(row.id, "data"))
    note: Mapping[str, Any] = open_cell(ctx, case, row.done_note, agreement_cell(row.id, "done_note")) \
        if row.done_note is not None else {}
    return AgreementView(
        id=str(row.id), text=str(data.get("text") or ""), responsible=row.responsible_node.short_name,
        due_on=row.due_on.strftime("%d-%m-%Y"), done=row.status == DONE, done_at=_when(ctx, row.done_at),
        done_note=str(note.get("note") or ""),
        may_complete=row.status == OPEN and row.responsible_node_id == user.node_id,
    )


def minutes_form_context(ctx: Context, user: User, reference: str, meeting_id: uuid.UUID,
                         language: str) -> tuple[Case, MeetingView, list[tuple[int, str]], list[tuple[int, str]]]:
    """For the «Acta» page: the case, the meeting, who may be marked present, who may be responsible."""
    case, meeting = open_meeting(ctx, user, reference, meeting_id)
    names = {node.id: node.short_name for node in ctx.session.scalars(select(Node).where(Node.id.in_(
        [meeting.convener_node_id, *meeting.invited])))}
    view = _view(ctx, case, meeting, [], names, user, language)
    present = [(meeting.convener_node_id, names.get(meeting.convener_node_id, ""))] + \
        [(n, names.get(n, "")) for n in meeting.invited]
    return case, view, present, node_choices(ctx, case)

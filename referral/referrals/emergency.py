"""Break the glass: time-limited access to a case outside the coordinator's scope, with a stated reason.

The coordinator's node gets the emergency relation with an expiry (`Participant.expires_at`): from
that moment the relation is not live (access checks compare with the clock), and the sweep ends it and
deletes the key wrap. Every grant is on the case's timeline and on the auditors' list of exceptions.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from ..audit.service import record
from ..auth.models import User
from ..kernel.access import has_capability, relations_of
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..kernel.models import Case, Participant
from ..kernel.participation import end_participant, end_participation
from ..kernel.records import details_cell
from ..kernel.timeline import append_event
from ..context import Context
from ..kernel.keystore import seal_cell, sync_wraps
from ..workflow import Text
from ..kernel.referral_models import EmergencyAccess
from .notes import note as note_text

ACCESS_EVENT = "emergency_access"
NOTE_MAX = 1000

NOT_ALLOWED = Text("Su rol no puede pedir acceso de emergencia.", "Your role cannot ask for emergency access.")
ALREADY = Text("Su nodo ya tiene acceso a este caso: ábralo directamente.",
               "Your node already has access to this case: open it directly.")
UNKNOWN = Text("Elija un motivo de la lista.", "Choose a reason from the list.")
NO_HOLDER = Text("Ningún nodo conserva acceso a este caso; no se puede abrir.",
                 "No node keeps access to this case; it cannot be opened.")


def hours_range(ctx: Context) -> range:
    spec = ctx.definition.network.emergency_access
    return range(1, (spec.max_hours if spec else 0) + 1)


def may_break_glass(ctx: Context, user: User) -> bool:
    spec = ctx.definition.network.emergency_access
    return spec is not None and user.active and user.role in spec.roles and has_capability(ctx, user, "case_access")


def grant(ctx: Context, user: User, reference: str, *, reason: str, note: str, hours: int | None = None) -> EmergencyAccess:
    """Give the user's node time-limited access to the case; raise AccessDenied, CaseNotFound, InvalidInput."""
    spec = ctx.definition.network.emergency_access
    if spec is None or not may_break_glass(ctx, user):
        raise AccessDenied(NOT_ALLOWED)
    hours = spec.duration.value if hours is None else hours
    errors: dict[str, list[Text]] = {}
    if reason not in spec.reasons:
        errors["reason"] = [UNKNOWN]
    # a break-glass access is always explained, for the case team's and the auditors' review
    note = note_text(note, "note", errors, limit=NOTE_MAX, required=True)
    if hours not in hours_range(ctx):
        errors["hours"] = [Text(f"Entre 1 y {spec.max_hours} horas.", f"Between 1 and {spec.max_hours} hours.")]
    if errors:
        raise InvalidInput(errors)
    case = ctx.session.scalar(select(Case).where(Case.reference == reference.strip().upper()))
    if case is None:
        raise CaseNotFound()
    if relations_of(ctx, user.node_id, case):
        raise InvalidInput({"reference": [ALREADY]})
    for stale in ctx.session.scalars(select(EmergencyAccess).where(  # expired, not yet swept: end it now
            EmergencyAccess.case_id == case.id, EmergencyAccess.node_id == user.node_id, EmergencyAccess.active)):
        _end(ctx, case, stale, None)
    holder = ctx.session.scalar(select(Participant.node_id).where(
        Participant.case_id == case.id, Participant.active, Participant.node_id != user.node_id)
        .order_by(Participant.id).limit(1))
    if holder is None:
        raise CaseError(NO_HOLDER)
    now = ctx.now()
    participant = Participant(case_id=case.id, node_id=user.node_id, relation=spec.relation, since=now,
                              expires_at=now + dt.timedelta(hours=hours))
    ctx.session.add(participant)
    ctx.act_as(holder)  # the key is re-wrapped for the coordinator's node through a node that holds it
    sync_wraps(ctx, case)
    access = EmergencyAccess(id=uuid.uuid4(), case_id=case.id, user_id=user.id, user_role=user.role,
                             node_id=user.node_id, reason=reason, participant_id=participant.id, granted_at=now,
                             expires_at=participant.expires_at, active=True)
    access.details = seal_cell(ctx, case, {"note": note}, details_cell("emergency_accesses", access.id))
    ctx.session.add(access)
    ctx.act_as(user.node_id)
    case.touch(now)
    append_event(ctx, case, user, kind=ACCESS_EVENT, action="acceso_emergencia.otorgar", machine=ACCESS_EVENT,
                 from_state=None, to_state="vigente", subject=str(access.id))
    ctx.session.flush()
    return access


def end_access(ctx: Context, user: User, reference: str) -> EmergencyAccess:
    """The coordinator closes her own emergency access before it expires."""
    case = ctx.session.scalar(select(Case).where(Case.reference == reference))
    if case is None:
        raise CaseNotFound()
    access = ctx.session.scalar(select(EmergencyAccess).where(
        EmergencyAccess.case_id == case.id, EmergencyAccess.node_id == user.node_id, EmergencyAccess.active,
        EmergencyAccess.expires_at > ctx.now()).order_by(EmergencyAccess.expires_at.desc()).limit(1))
    if access is None:
        raise AccessDenied()
    _end(ctx, case, access, user)
    return access


def expire(ctx: Context, now: dt.datetime) -> int:
    """End every emergency access whose time is up (the clock sweep calls this every minute)."""
    ended = 0
    for access in ctx.session.scalars(select(EmergencyAccess).where(
            EmergencyAccess.active, EmergencyAccess.expires_at <= now).order_by(EmergencyAccess.expires_at)):
        case = ctx.session.get(Case, access.case_id)
        if case is not None:
            _end(ctx, case, access, None)
            ended += 1
    return ended


def _end(ctx: Context, case: Case, access: EmergencyAccess, user: User | None) -> None:
    spec = ctx.definition.network.emergency_access
    access.active, access.ended_at = False, min(ctx.now(), access.expires_at)  # an expiry ended it then
    if access.participant_id is not None:  # this grant's own row: a newer grant keeps its access
        end_participant(ctx, case, access.participant_id)
    elif spec is not None:  # (its row was removed): end the relation
        end_participation(ctx, case, access.node_id, spec.relation)
    sync_wraps(ctx, case)
    if user is not None:
        append_event(ctx, case, user, kind=ACCESS_EVENT, action="acceso_emergencia.terminar", machine=ACCESS_EVENT,
                     from_state="vigente", to_state="terminado", subject=str(access.id))
    else:  # it expired: the system ends it
        record(ctx, f"{ACCESS_EVENT}.acceso_emergencia.expirar", role=access.user_role, node_id=access.node_id,
               case_id=case.id, subject=str(access.id))
    ctx.session.flush()

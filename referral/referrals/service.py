"""Derivaciones: send one, answer it, follow it to its end; access follows the referral.

A referral gives the receiving node its service's relation to the case while it is live (pending or
accepted), and so a wrap of the case key; when it ends (refused, done, not done, revoked) the relation
ends and the wrap is deleted in the same transaction, unless another live referral or relation still
gives that node a reason to read the case. A lead-role transfer is a referral of a kind that hands
the lead relation over when the receiver accepts. Rules come from `referrals:` in the workflow.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from ..auth.models import User
from ..kernel.access import open_case
from ..kernel.errors import CaseNotFound, InvalidInput
from ..kernel.models import Case, Participant, live_participant
from ..kernel.participation import end_participation
from ..kernel.records import details_cell, facts_for
from ..kernel.timeline import append_event
from ..kernel.claims import claim_version
from ..clocks.service import on_occurrence
from ..context import Context
from ..kernel.keystore import open_cell, seal_cell, sync_wraps
from ..network.models import Node
from ..workflow import Actor, Text, TransitionRefused
from ..workflow.clocks import Occurrence
from ..workflow.network import RECEIVER, SENDER, Party, ReferralKind, check_answer, check_send, permitted
from .consent import covering_consent
from ..kernel.referral_models import Referral
from .notes import note as note_text

NOTE_MAX = 2000
REFERRAL_EVENT = "referral"

OWN_NODE = Text("No puede derivar a su propio nodo.", "You cannot refer to your own node.")
NO_SUCH_NODE = Text("Elija un nodo activo de la lista.", "Choose an active node from the list.")
NOT_OFFERED = Text("Ese nodo no ofrece el servicio pedido; elija otro de la lista.",
                   "That node does not offer the service asked for; choose another from the list.")
ALREADY_LIVE = Text("Ya hay una derivación viva de este servicio a ese nodo.",
                    "There is already a live referral of this service to that node.")
ALREADY_LEAD = Text("Ese nodo ya es el nodo líder del caso.", "That node already leads the case.")
NO_LEAD = Text("El caso no tiene nodo líder que traspasar.", "The case has no lead node to transfer.")
NEEDS_CONSENT = Text(
    "No hay un consentimiento vigente que cubra compartir el caso con ese nodo. Registre el consentimiento "
    "o, si es coordinador/a, indique el motivo para derivar sin él.",
    "No live consent covers sharing the case with that node. Record the consent or, as a coordinator, "
    "state the reason to refer without it.")
NO_OVERRIDE = Text("Solo la coordinación del punto focal puede derivar sin consentimiento.",
                   "Only the focal-point coordination may refer without consent.")
UNKNOWN_REASON = Text("Elija un motivo de la lista.", "Choose a reason from the list.")
DUE_PAST = Text("La fecha comprometida no puede estar en el pasado.", "The committed date cannot be in the past.")
ENDED = Text("Esta derivación ya terminó; no admite más acciones.", "This referral has ended; no further action.")
NOT_FOUND = Text("Esa derivación no existe en este caso.", "There is no such referral in this case.")


class ReferralNotFound(CaseNotFound):
    message = NOT_FOUND


def _text(raw: str | None, key: str, errors: dict[str, list[Text]], *, required: bool = False) -> str:
    return note_text(raw, key, errors, limit=NOTE_MAX, required=required)


def send_referral(ctx: Context, user: User, reference: str, *, kind: str, service: str | None, to_node_id: int,
                  expected_version: int, due_on: dt.date | None = None, note: str = "",
                  override_reason: str | None = None, override_note: str = "") -> Referral:
    """Refer the case to a node; raise TransitionRefused, InvalidInput or StaleCase. Nothing is kept on failure."""
    case, actor = open_case(ctx, user, reference)
    claim_version(ctx, case, expected_version)
    d = ctx.definition
    facts = facts_for(ctx, case)
    spec = check_send(d, kind, service, facts, user.role, actor.relations)
    errors: dict[str, list[Text]] = {}
    node = ctx.session.get(Node, to_node_id)
    if node is None or not node.active:
        errors["to_node"] = [NO_SUCH_NODE]
    elif node.id == user.node_id:
        errors["to_node"] = [OWN_NODE]
    elif service is not None and service not in (node.services or []):
        errors["to_node"] = [NOT_OFFERED]
    note = _text(note, "note", errors)
    if due_on is not None and due_on < ctx.now().astimezone(ctx.timezone).date():
        errors["due_on"] = [DUE_PAST]
    if errors:
        raise InvalidInput(errors)
    assert node is not None
    relation = _relation_for(ctx, spec, service)
    if spec.transfers:
        _check_transfer(ctx, case, spec, node)
    elif _live(ctx, case, kind=None, service=service, to_node_id=node.id):
        raise InvalidInput({"to_node": [ALREADY_LIVE]})
    consent_id, override_note = _consent_for(ctx, case, actor, user, spec, node, override_reason, override_note)
    now = ctx.now()
    referral = Referral(
        id=uuid.uuid4(), case_id=case.id, kind=kind, service=service, relation=relation, from_node_id=user.node_id,
        to_node_id=node.id, state=d.network.referrals.initial if d.network.referrals else "pendiente",
        due_on=due_on, consent_id=consent_id, override_reason=override_reason if consent_id is None else None,
        created_by_user_id=user.id, created_at=now, version=1,
    )
    details = {key: value for key, value in (("note", note), ("override", override_note)) if value}
    if details:
        referral.details = seal_cell(ctx, case, details, details_cell("referrals", referral.id))
    ctx.session.add(referral)
    _join(ctx, case, node.id, relation)
    append_event(ctx, case, user, kind=REFERRAL_EVENT, action=f"{kind}.enviar", machine=kind,
                 from_state=None, to_state=referral.state, subject=str(referral.id))
    on_occurrence(ctx, case, Occurrence.of_referral(kind, None, referral.state, str(referral.id),
                                                    {"due_on": due_on} if due_on else None))
    ctx.session.flush()
    return referral


def answer_referral(ctx: Context, user: User, reference: str, referral_id: uuid.UUID, key: str, *,
                    expected_version: int, reason: str | None = None, note: str = "") -> Referral:
    """Move one referral (accept, refuse, done, not done, revoke); access follows its new state."""
    case, actor = open_case(ctx, user, reference)
    referral = _referral(ctx, case, referral_id)
    if referral.ended_at is not None:
        raise TransitionRefused("state", ENDED)
    transition = check_answer(ctx.definition, key, referral.kind, referral.state, party_of(user, actor, referral))
    claim_version(ctx, case, expected_version)
    errors: dict[str, list[Text]] = {}
    referrals = ctx.definition.network.referrals
    assert referrals is not None
    if transition.reasons is not None:
        if reason not in referrals.reasons[transition.reasons]:
            errors["reason"] = [UNKNOWN_REASON]
        note = _text(note, "note", errors, required=reason == "otro")
    else:
        note = _text(note, "note", errors)
    if errors:
        raise InvalidInput(errors)
    now = ctx.now()
    from_state, referral.state = referral.state, transition.target
    referral.version += 1
    if from_state == referrals.initial:
        referral.answered_at = now
    if transition.reasons is not None:
        referral.answer_reason = reason
    if note:
        details = open_details(ctx, case, referral)
        details[f"answer_{key}"] = note
        referral.details = seal_cell(ctx, case, details, details_cell("referrals", referral.id))
    spec = referrals.kinds[referral.kind]
    if spec.transfers and transition.target == "aceptada":
        _hand_over(ctx, case, spec, referral)
        referral.ended_at = now
    elif not referrals.states[transition.target].live:
        referral.ended_at = now
        _leave(ctx, case, referral)
    append_event(ctx, case, user, kind=REFERRAL_EVENT, action=f"{referral.kind}.{key}", machine=referral.kind,
                 from_state=from_state, to_state=referral.state, subject=str(referral.id))
    on_occurrence(ctx, case, Occurrence.of_referral(referral.kind, from_state, referral.state, str(referral.id),
                                                    {"due_on": referral.due_on} if referral.due_on else None))
    ctx.session.flush()
    return referral


def revoke_uncovered(ctx: Context, case: Case, user: User, consent_id: uuid.UUID) -> list[Referral]:
    """After a consent is revoked: revoke the live referrals it alone covered (not those overridden)."""
    referrals = ctx.definition.network.referrals
    if referrals is None:
        return []
    ended = []
    for referral in ctx.session.scalars(select(Referral).where(
            Referral.case_id == case.id, Referral.consent_id == consent_id,
            Referral.state.in_(referrals.live_states()), Referral.ended_at.is_(None))):
        other = covering_consent(ctx, case, referral.to_node)
        if other is not None:
            referral.consent_id = other.id
            continue
        from_state, referral.state = referral.state, "revocada"
        referral.answer_reason, referral.ended_at = "consentimiento_revocado", ctx.now()
        referral.version += 1
        _leave(ctx, case, referral)
        append_event(ctx, case, user, kind=REFERRAL_EVENT, action=f"{referral.kind}.revocar", machine=referral.kind,
                     from_state=from_state, to_state=referral.state, subject=str(referral.id))
        on_occurrence(ctx, case, Occurrence.of_referral(referral.kind, from_state, referral.state, str(referral.id)))
        ended.append(referral)
    return ended


# -- helpers ------------------------------------------------------------------------------------


def party_of(user: User, actor: Actor, referral: Referral) -> Party:
    """The user's case relations, plus receptor / emisor when their node is that end of the referral."""
    relations = set(actor.relations)
    if user.node_id == referral.to_node_id:
        relations.add(RECEIVER)
    if user.node_id == referral.from_node_id:
        relations.add(SENDER)
    return Party(user.role, frozenset(relations))


def open_details(ctx: Context, case: Case, referral: Referral) -> dict[str, Any]:
    if referral.details is None:
        return {}
    value = open_cell(ctx, case, referral.details, details_cell("referrals", referral.id))
    return dict(value) if isinstance(value, dict) else {}


def _referral(ctx: Context, case: Case, referral_id: uuid.UUID) -> Referral:
    referral = ctx.session.get(Referral, referral_id)
    if referral is None or referral.case_id != case.id:
        raise ReferralNotFound()
    return referral


def _relation_for(ctx: Context, spec: ReferralKind, service: str | None) -> str:
    if spec.transfers:
        assert spec.relation is not None  # the validator ensures it
        return spec.relation
    relation = ctx.definition.network.services[str(service)].relation
    assert relation is not None  # check_send allows referable services only
    return relation


def _live(ctx: Context, case: Case, *, kind: str | None, service: str | None, to_node_id: int) -> bool:
    referrals = ctx.definition.network.referrals
    live = referrals.live_states() if referrals else ()
    query = select(Referral.id).where(Referral.case_id == case.id, Referral.to_node_id == to_node_id,
                                      Referral.state.in_(live), Referral.ended_at.is_(None))
    query = query.where(Referral.kind == kind) if kind else query.where(Referral.service == service)
    return ctx.session.scalar(query.limit(1)) is not None


def _check_transfer(ctx: Context, case: Case, spec: ReferralKind, node: Node) -> None:
    holders = set(ctx.session.scalars(select(Participant.node_id).where(
        Participant.case_id == case.id, Participant.relation == spec.transfers, live_participant(ctx.now()))))
    if not holders:
        raise TransitionRefused("guard", NO_LEAD)
    if node.id in holders:
        raise InvalidInput({"to_node": [ALREADY_LEAD]})
    if _live(ctx, case, kind=spec.key, service=None, to_node_id=node.id) or ctx.session.scalar(
            select(Referral.id).where(Referral.case_id == case.id, Referral.kind == spec.key,
                                      Referral.state == "pendiente").limit(1)) is not None:
        raise InvalidInput({"to_node": [Text("Ya hay un traspaso pendiente; revóquelo antes de proponer otro.",
                                             "A transfer is already pending; revoke it before proposing another.")]})


def _consent_for(ctx: Context, case: Case, actor: Actor, user: User, spec: ReferralKind, node: Node,
                 override_reason: str | None, override_note: str) -> tuple[uuid.UUID | None, str]:
    """The consent that covers sharing with `node`, or a permitted override with its reason."""
    if not spec.needs_consent:
        return None, ""
    consent = covering_consent(ctx, case, node)
    if consent is not None:
        return consent.id, ""
    rules = ctx.definition.network.consent
    if rules is None:
        return None, ""
    if not override_reason:
        raise InvalidInput({"override_reason": [NEEDS_CONSENT]})
    if not permitted(rules.override_by, user.role, actor.relations):
        raise TransitionRefused("forbidden", NO_OVERRIDE)
    errors: dict[str, list[Text]] = {}
    if override_reason not in rules.override_reasons:
        errors["override_reason"] = [UNKNOWN_REASON]
    note = _text(override_note, "override_note", errors, required=override_reason == "otro")
    if errors:
        raise InvalidInput(errors)
    return None, note


def _join(ctx: Context, case: Case, node_id: int, relation: str) -> None:
    exists = ctx.session.scalar(select(Participant.id).where(
        Participant.case_id == case.id, Participant.node_id == node_id, Participant.relation == relation,
        live_participant(ctx.now())))
    if exists is None:
        ctx.session.add(Participant(case_id=case.id, node_id=node_id, relation=relation, since=ctx.now()))
    sync_wraps(ctx, case)


def _leave(ctx: Context, case: Case, referral: Referral) -> None:
    """End the receiver's relation unless another live referral gives it the same one."""
    referrals = ctx.definition.network.referrals
    live = referrals.live_states() if referrals else ()
    ctx.session.flush()
    still = ctx.session.scalar(select(Referral.id).where(
        Referral.case_id == case.id, Referral.to_node_id == referral.to_node_id, Referral.relation == referral.relation,
        Referral.state.in_(live), Referral.ended_at.is_(None), Referral.id != referral.id).limit(1))
    if still is None:
        end_participation(ctx, case, referral.to_node_id, referral.relation)


def _hand_over(ctx: Context, case: Case, spec: ReferralKind, referral: Referral) -> None:
    """Accepted transfer: the receiver becomes the holder of the transferred relation, alone.

    The new relation is added before the old ones end, so the receiver's wrap is never deleted."""
    assert spec.transfers is not None
    previous = set(ctx.session.scalars(select(Participant.node_id).where(
        Participant.case_id == case.id, Participant.relation == spec.transfers, live_participant(ctx.now()))))
    ctx.session.add(Participant(case_id=case.id, node_id=referral.to_node_id, relation=spec.transfers,
                                since=ctx.now()))
    ctx.session.flush()
    for node_id in previous - {referral.to_node_id}:
        end_participation(ctx, case, node_id, spec.transfers)
    end_participation(ctx, case, referral.to_node_id, referral.relation)
    sync_wraps(ctx, case)

"""The referral machine (workflow.yaml `referrals:`): who may move a referral, from which states, with
which reasons; access (the service's relation and the key wrap) follows the referral's life; what is
refused at send time. Services called as the views call them, each step its own committed unit.

Setups (a Metropolitana Ficha filed by salud.rm: MINSAL-CL-RM nodo_detector, CAVD-CL-RM punto_focal,
PAV coordinacion_nacional):
- `team_case`: lead CAVD-CL-RM, consent "red"; SERNAMEG is in the case only through a referral.
- `lead_case`: lead SERNAMEG, consent "red"; a referral to SERNAMEG leaves it the lead when it ends, so
  its users can still open the case and be told "state" rather than AccessDenied.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from referral.kernel.access import open_case
from referral.kernel.errors import AccessDenied, InvalidInput, StaleCase
from referral.kernel.models import Case, CaseEvent, Participant
from referral.cases.reading import form_revision
from referral.kernel.key_models import CaseKeyWrap
from referral.network.models import Node
from referral.kernel.referral_models import Referral
from referral.referrals.service import ReferralNotFound, answer_referral, send_referral
from referral.workflow import TransitionRefused

from ..backends import both_backends
from ..steps import activate, case_id, case_version, fire, file_case, node_id, user
from ..units import unit_of_work
from . import opens, answer, consent, has_wrap, refer, relations, state_of

ENDED = ("rechazada", "cumplida", "no_cumplida", "revocada")
TRANSITIONS = ("aceptar", "rechazar", "cumplir", "no_cumplir", "revocar")
SOURCES = {"aceptar": {"pendiente"}, "rechazar": {"pendiente"}, "cumplir": {"aceptada"},
           "no_cumplir": {"aceptada"}, "revocar": {"pendiente", "aceptada"}}
VALID_REASON = {"rechazar": "sin_cupo", "no_cumplir": "perdida_de_contacto", "revocar": "ya_no_necesaria"}


# -- helpers ----------------------------------------------------------------------------------------

def team_case(app: Any) -> str:
    reference = file_case(app)
    activate(app, reference, lead="CAVD-CL-RM")
    consent(app, reference)
    return reference


def lead_case(app: Any) -> str:
    reference = file_case(app)
    activate(app, reference, lead="SERNAMEG")
    consent(app, reference)
    return reference


def snapshot(app: Any, reference: str, rid: uuid.UUID | None = None) -> dict[str, Any]:
    """Everything a referral step could write: the referral row, the case row, events, access."""
    with unit_of_work(app) as ctx:
        cid = case_id(app, reference)
        case = ctx.session.get(Case, cid)
        assert case is not None
        found: dict[str, Any] = {
            "case": (case.version, case.state),
            "events": ctx.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == cid)),
            "participants": sorted(ctx.session.execute(select(
                Participant.node_id, Participant.relation, Participant.active).where(Participant.case_id == cid)).all()),
            "wraps": sorted(ctx.session.scalars(select(CaseKeyWrap.node_id).where(CaseKeyWrap.case_id == cid))),
            "referrals": sorted((str(r.id), r.state, r.version, r.answer_reason, r.ended_at is None) for r in
                                ctx.session.scalars(select(Referral).where(Referral.case_id == cid))),
        }
    return found


def answer_with(app: Any, reference: str, rid: uuid.UUID, key: str, by: str, *, version: int | None = None,
                **extra: Any) -> None:
    """One answer in its own unit of work; on refusal nothing is committed (as in a view)."""
    expected = case_version(app, reference) if version is None else version
    with unit_of_work(app) as ctx:
        answer_referral(ctx, user(ctx, by), reference, rid, key, expected_version=expected, **extra)
        ctx.session.commit()


def refused(app: Any, reference: str, rid: uuid.UUID, key: str, by: str, **extra: Any) -> Exception:
    """Attempt an answer that must fail; check that the in-session referral was not touched either."""
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None
        before = (row.state, row.version, row.answer_reason, row.ended_at)
        with pytest.raises(Exception) as caught:
            answer_referral(ctx, user(ctx, by), reference, rid, key,
                            expected_version=case_version(app, reference), **extra)
        if not isinstance(caught.value, (InvalidInput, StaleCase)):
            # a refusal by the rules never touches the referral, even in the (rolled back) session
            assert (row.state, row.version, row.answer_reason, row.ended_at) == before
    return caught.value


def reads_ficha(app: Any, who: str, reference: str) -> bool:
    """Opening the case and decrypting its Ficha (needs both the relation and the wrap)."""
    with unit_of_work(app) as ctx:
        _, view = form_revision(ctx, user(ctx, who), reference, "ficha", None, "es")
        return view is not None and bool(view.sections)


def drive(app: Any, reference: str, rid: uuid.UUID, target: str, receiver: str, sender: str) -> None:
    if target == "pendiente":
        return
    if target == "rechazada":
        answer(app, reference, rid, "rechazar", receiver, reason="sin_cupo")
    elif target == "revocada":
        answer(app, reference, rid, "revocar", sender, reason="derivada_por_error")
    else:
        answer(app, reference, rid, "aceptar", receiver)
        if target == "cumplida":
            answer(app, reference, rid, "cumplir", receiver)
        elif target == "no_cumplida":
            answer(app, reference, rid, "no_cumplir", receiver, reason="persona_desiste")
    assert state_of(app, rid) == target


# -- the machine: from which states -----------------------------------------------------------------

@pytest.mark.parametrize("state", ["pendiente", "aceptada", *ENDED])
def test_each_transition_is_refused_outside_its_source_states(app: Any, state: str) -> None:
    reference = lead_case(app)  # SERNAMEG stays in the case as lead whatever happens to the referral
    rid = refer(app, reference, "SERNAMEG")
    drive(app, reference, rid, state, "gestor.sernameg", "coordinador.rm")
    party = {"aceptar": "gestor.sernameg", "rechazar": "gestor.sernameg", "cumplir": "gestor.sernameg",
             "no_cumplir": "gestor.sernameg", "revocar": "coordinador.rm"}
    refusals = 0
    for key in TRANSITIONS:
        if state in SOURCES[key]:
            continue
        before = snapshot(app, reference)
        error = refused(app, reference, rid, key, party[key], reason=VALID_REASON.get(key))
        assert isinstance(error, TransitionRefused), (key, error)
        assert error.code == "state", (key, error.code)
        assert snapshot(app, reference) == before, key  # nothing written
        refusals += 1
    assert refusals == {"pendiente": 2, "aceptada": 2}.get(state, 5)
    assert state_of(app, rid) == state


@pytest.mark.parametrize("key,start,target", [
    ("aceptar", "pendiente", "aceptada"), ("rechazar", "pendiente", "rechazada"),
    ("cumplir", "aceptada", "cumplida"), ("no_cumplir", "aceptada", "no_cumplida"),
    ("revocar", "pendiente", "revocada"), ("revocar", "aceptada", "revocada"),
])
def test_each_transition_moves_from_its_source_state(app: Any, key: str, start: str, target: str) -> None:
    reference = team_case(app)
    rid = refer(app, reference, "SERNAMEG")
    drive(app, reference, rid, start, "gestor.sernameg", "coordinador.rm")
    version = case_version(app, reference)
    by = "coordinador.rm" if key == "revocar" else "gestor.sernameg"
    answer(app, reference, rid, key, by, reason=VALID_REASON.get(key))
    assert state_of(app, rid) == target
    assert case_version(app, reference) == version + 1
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None
        assert row.answer_reason == VALID_REASON.get(key)
        assert (row.ended_at is not None) == (target in ENDED)
        assert row.answered_at is not None
        event = ctx.session.scalar(select(CaseEvent).where(CaseEvent.case_id == row.case_id)
                                   .order_by(CaseEvent.seq.desc()).limit(1))
        assert event is not None
        assert (event.kind, event.action, event.from_state, event.to_state, event.subject) == (
            "referral", f"derivacion.{key}", start, target, str(rid))


# -- the machine: by whom ---------------------------------------------------------------------------

# In `team_case`, coordinador.rm refers to SERNAMEG: SERNAMEG is receptor; CAVD-CL-RM (coordinador.rm,
# gestor.rm) is emisor, punto_focal and nodo_lider; PAV (coordinacion.nacional) coordinacion_nacional;
# MINSAL-CL-RM (salud.rm) nodo_detector; PDI-BITRAP-CL-RM (policia.rm) is not in the case.
ALLOWED = {
    "aceptar": {"gestor.sernameg"},
    "rechazar": {"gestor.sernameg"},
    "cumplir": {"gestor.sernameg", "coordinador.rm", "gestor.rm", "coordinacion.nacional"},
    "no_cumplir": {"gestor.sernameg", "coordinador.rm", "gestor.rm", "coordinacion.nacional"},
    "revocar": {"coordinador.rm", "gestor.rm", "coordinacion.nacional"},
}
PEOPLE = ("gestor.sernameg", "coordinador.rm", "gestor.rm", "coordinacion.nacional", "salud.rm")


@pytest.mark.parametrize("key", TRANSITIONS)
def test_only_the_declared_parties_may_answer(app: Any, key: str) -> None:
    reference = team_case(app)
    rid = refer(app, reference, "SERNAMEG")
    start = next(iter(sorted(SOURCES[key])))
    drive(app, reference, rid, start, "gestor.sernameg", "coordinador.rm")
    for who in PEOPLE:
        if who in ALLOWED[key]:
            continue
        before = snapshot(app, reference)
        error = refused(app, reference, rid, key, who, reason=VALID_REASON.get(key))
        assert isinstance(error, TransitionRefused) and error.code == "forbidden", (who, error)
        assert snapshot(app, reference) == before, who
    # a node outside the case cannot even open it
    for outsider in ("policia.rm", "coordinador.ta"):
        error = refused(app, reference, rid, key, outsider, reason=VALID_REASON.get(key))
        assert isinstance(error, AccessDenied), (outsider, error)
    # each allowed party can (fresh referral each time: the first success ends this one)
    assert state_of(app, rid) == start


@pytest.mark.parametrize("key,who", [(k, w) for k in TRANSITIONS for w in sorted(ALLOWED[k])])
def test_every_allowed_party_may_answer(app: Any, key: str, who: str) -> None:
    reference = team_case(app)
    rid = refer(app, reference, "SERNAMEG")
    start = "pendiente" if "pendiente" in SOURCES[key] else "aceptada"
    drive(app, reference, rid, start, "gestor.sernameg", "coordinador.rm")
    answer(app, reference, rid, key, who, reason=VALID_REASON.get(key))
    assert state_of(app, rid) != start


def test_the_sender_is_the_node_not_the_team(app: Any) -> None:
    """The lead's gestor refers to LIBERA: the focal point's gestor (not emisor, not a coordinator) may
    neither revoke nor record the outcome; the focal point's coordinator may; the receiver may not revoke."""
    reference = lead_case(app)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    assert relations(app, reference, "LIBERA") == {"derivacion_salud"}
    for who in ("gestor.rm", "ong", "salud.rm"):
        error = refused(app, reference, rid, "revocar", who, reason="ya_no_necesaria")
        assert isinstance(error, TransitionRefused) and error.code == "forbidden", who
    for who in ("gestor.sernameg", "gestor.rm", "coordinador.rm"):
        error = refused(app, reference, rid, "aceptar", who)
        assert isinstance(error, TransitionRefused) and error.code == "forbidden", who
    answer(app, reference, rid, "aceptar", "ong")  # a receiver of role deteccion
    error = refused(app, reference, rid, "cumplir", "gestor.rm")
    assert isinstance(error, TransitionRefused) and error.code == "forbidden"
    answer(app, reference, rid, "revocar", "coordinador.rm", reason="ya_no_necesaria")
    assert state_of(app, rid) == "revocada"
    assert relations(app, reference, "LIBERA") == set()


def test_an_unknown_action_and_a_referral_of_another_case_are_refused(app: Any) -> None:
    reference = team_case(app)
    other = team_case(app)
    rid = refer(app, other, "SERNAMEG")
    error = refused(app, reference, rid, "aceptar", "coordinador.rm")
    assert isinstance(error, ReferralNotFound)
    rid_here = refer(app, reference, "SERNAMEG")
    error = refused(app, reference, rid_here, "archivar", "gestor.sernameg")
    assert isinstance(error, TransitionRefused) and error.code == "unknown"
    assert state_of(app, rid) == state_of(app, rid_here) == "pendiente"


# -- reasons ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,by,start", [
    ("rechazar", "gestor.sernameg", "pendiente"),
    ("no_cumplir", "gestor.sernameg", "aceptada"),
    ("revocar", "coordinador.rm", "pendiente"),
])
def test_reasons_are_required_known_and_otro_needs_a_note(app: Any, key: str, by: str, start: str) -> None:
    reference = team_case(app)
    rid = refer(app, reference, "SERNAMEG")
    drive(app, reference, rid, start, "gestor.sernameg", "coordinador.rm")
    before = snapshot(app, reference)
    for extra in ({}, {"reason": ""}, {"reason": "porque_si"}, {"reason": "sin_cupo" if key != "rechazar" else
                                                                "persona_desiste"}):
        error = refused(app, reference, rid, key, by, **extra)
        assert isinstance(error, InvalidInput) and "reason" in error.errors, extra
    for note in ("", "   "):
        error = refused(app, reference, rid, key, by, reason="otro", note=note)
        assert isinstance(error, InvalidInput) and "note" in error.errors
    error = refused(app, reference, rid, key, by, reason=VALID_REASON[key], note="x" * 2001)
    assert isinstance(error, InvalidInput) and "note" in error.errors
    assert snapshot(app, reference) == before
    answer(app, reference, rid, key, by, reason="otro", note="  Motivo explicado al nodo.  ")
    with unit_of_work(app) as ctx:
        from referral.referrals.service import open_details

        row = ctx.session.get(Referral, rid)
        assert row is not None and row.answer_reason == "otro"
        case = ctx.session.get(Case, row.case_id)
        ctx.act_as(node_id(app, "CAVD-CL-RM"))
        assert open_details(ctx, case, row) == {f"answer_{key}": "Motivo explicado al nodo."}


def test_accepting_needs_no_reason_and_ignores_one(app: Any) -> None:
    reference = team_case(app)
    rid = refer(app, reference, "SERNAMEG")
    answer(app, reference, rid, "aceptar", "gestor.sernameg", reason="sin_cupo")
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None and row.state == "aceptada" and row.answer_reason is None


# -- stale pages --------------------------------------------------------------------------------------

@both_backends
def test_an_answer_from_a_stale_page_is_refused_and_writes_nothing(app: Any) -> None:
    reference = team_case(app)
    rid = refer(app, reference, "SERNAMEG")
    old = case_version(app, reference)
    consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))  # someone else acts meanwhile
    before = snapshot(app, reference)
    with pytest.raises(StaleCase):
        answer_with(app, reference, rid, "aceptar", "gestor.sernameg", version=old)
    assert snapshot(app, reference) == before
    answer_with(app, reference, rid, "aceptar", "gestor.sernameg", version=old + 1)
    assert state_of(app, rid) == "aceptada"
    with pytest.raises(StaleCase):  # the same button pressed twice
        answer_with(app, reference, rid, "cumplir", "gestor.sernameg", version=old + 1)
    assert state_of(app, rid) == "aceptada"


@both_backends
def test_a_referral_sent_from_a_stale_page_is_refused_and_writes_nothing(app: Any) -> None:
    reference = team_case(app)
    old = case_version(app, reference)
    refer(app, reference, "MINSAL-CL-RM", service="salud_fisica")
    before = snapshot(app, reference)
    with unit_of_work(app) as ctx, pytest.raises(StaleCase):
        send_referral(ctx, user(ctx, "coordinador.rm"), reference, kind="derivacion", service="alojamiento",
                      to_node_id=node_id(app, "SERNAMEG"), expected_version=old)
    assert snapshot(app, reference) == before
    assert relations(app, reference, "SERNAMEG") == set()


# -- access follows the referral ----------------------------------------------------------------------

@both_backends
@pytest.mark.parametrize("end", ENDED)
def test_access_appears_on_send_and_disappears_when_the_referral_ends(app: Any, end: str) -> None:
    reference = team_case(app)
    assert relations(app, reference, "SERNAMEG") == set()
    assert not has_wrap(app, reference, "SERNAMEG")
    assert not opens(app, "gestor.sernameg", reference)
    rid = refer(app, reference, "SERNAMEG")
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    assert reads_ficha(app, "gestor.sernameg", reference)
    if end in ("cumplida", "no_cumplida"):
        answer(app, reference, rid, "aceptar", "gestor.sernameg")
        assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}  # accepted: still live
        assert has_wrap(app, reference, "SERNAMEG")
    if end in ("cumplida", "no_cumplida"):
        answer(app, reference, rid, "cumplir" if end == "cumplida" else "no_cumplir", "gestor.sernameg",
               reason=None if end == "cumplida" else "servicio_no_disponible")
    else:
        drive(app, reference, rid, end, "gestor.sernameg", "coordinador.rm")
    assert state_of(app, rid) == end
    assert relations(app, reference, "SERNAMEG") == set()
    assert not has_wrap(app, reference, "SERNAMEG")
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        open_case(ctx, user(ctx, "gestor.sernameg"), reference)
    with unit_of_work(app) as ctx:  # the ended relation is kept (inactive) for the record
        rows = ctx.session.execute(select(Participant.relation, Participant.active, Participant.until).where(
            Participant.case_id == case_id(app, reference), Participant.node_id == node_id(app, "SERNAMEG"))).all()
        assert [(r, a) for r, a, _ in rows] == [("derivacion_alojamiento", False)]
        assert rows[0][2] is not None
    # the rest of the team is untouched
    for code in ("CAVD-CL-RM", "MINSAL-CL-RM", "PAV"):
        assert has_wrap(app, reference, code), code
    assert opens(app, "coordinador.rm", reference)


@both_backends
def test_a_node_that_is_also_the_lead_keeps_its_access_when_the_referral_ends(app: Any) -> None:
    reference = lead_case(app)
    rid = refer(app, reference, "SERNAMEG")
    assert relations(app, reference, "SERNAMEG") == {"nodo_lider", "derivacion_alojamiento"}
    answer(app, reference, rid, "rechazar", "gestor.sernameg", reason="sin_cupo")
    assert relations(app, reference, "SERNAMEG") == {"nodo_lider"}
    assert has_wrap(app, reference, "SERNAMEG")
    assert reads_ficha(app, "gestor.sernameg", reference)


@both_backends
def test_two_live_referrals_with_the_same_relation_keep_the_node_until_both_end(app: Any) -> None:
    reference = file_case(app, by="policia.rm")  # MINSAL-CL-RM is not in this case
    activate(app, reference, lead="CAVD-CL-RM")
    consent(app, reference)
    fisica = refer(app, reference, "MINSAL-CL-RM", service="salud_fisica")
    mental = refer(app, reference, "MINSAL-CL-RM", service="salud_mental")
    assert relations(app, reference, "MINSAL-CL-RM") == {"derivacion_salud"}
    with unit_of_work(app) as ctx:  # one relation row, not two
        assert ctx.session.scalar(select(func.count()).select_from(Participant).where(
            Participant.case_id == case_id(app, reference), Participant.node_id == node_id(app, "MINSAL-CL-RM"),
            Participant.active)) == 1
    answer(app, reference, fisica, "rechazar", "salud.rm", reason="fuera_de_competencia")
    assert relations(app, reference, "MINSAL-CL-RM") == {"derivacion_salud"}
    assert has_wrap(app, reference, "MINSAL-CL-RM")
    assert reads_ficha(app, "salud.rm", reference)
    answer(app, reference, mental, "aceptar", "salud.rm")
    answer(app, reference, mental, "cumplir", "coordinador.rm")
    assert relations(app, reference, "MINSAL-CL-RM") == set()
    assert not has_wrap(app, reference, "MINSAL-CL-RM")
    assert not opens(app, "salud.rm", reference)


@both_backends
def test_referrals_with_different_relations_end_separately(app: Any) -> None:
    reference = team_case(app)
    shelter = refer(app, reference, "SERNAMEG", service="alojamiento")
    legal = refer(app, reference, "SERNAMEG", service="asesoria_juridica")
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento", "derivacion_juridica"}
    answer(app, reference, shelter, "revocar", "coordinador.rm", reason="ya_no_necesaria")
    assert relations(app, reference, "SERNAMEG") == {"derivacion_juridica"}
    assert has_wrap(app, reference, "SERNAMEG")
    answer(app, reference, legal, "rechazar", "gestor.sernameg", reason="fuera_de_cobertura")
    assert relations(app, reference, "SERNAMEG") == set()
    assert not has_wrap(app, reference, "SERNAMEG")


@both_backends
def test_a_new_referral_after_an_ended_one_gives_access_again(app: Any) -> None:
    reference = team_case(app)
    first = refer(app, reference, "SERNAMEG")
    answer(app, reference, first, "rechazar", "gestor.sernameg", reason="sin_cupo")
    assert not has_wrap(app, reference, "SERNAMEG")
    second = refer(app, reference, "SERNAMEG")
    assert second != first
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    assert reads_ficha(app, "gestor.sernameg", reference)


# -- refusals at send time ------------------------------------------------------------------------------

def send_refused(app: Any, reference: str, to: str | int, **kwargs: Any) -> Exception:
    by = kwargs.pop("by", "coordinador.rm")
    before = snapshot(app, reference)
    target = to if isinstance(to, int) else node_id(app, to)
    with unit_of_work(app) as ctx, pytest.raises(Exception) as caught:
        send_referral(ctx, user(ctx, by), reference, kind=kwargs.pop("kind", "derivacion"),
                      service=kwargs.pop("service", "alojamiento"), to_node_id=target,
                      expected_version=case_version(app, reference), **kwargs)
    assert snapshot(app, reference) == before
    return caught.value


def test_a_referral_to_the_own_node_is_refused(app: Any) -> None:
    reference = team_case(app)
    error = send_refused(app, reference, "CAVD-CL-RM", service="salud_mental")
    assert isinstance(error, InvalidInput) and "to_node" in error.errors
    assert relations(app, reference, "CAVD-CL-RM") == {"punto_focal", "nodo_lider"}
    led = lead_case(app)  # the lead's gestor cannot refer to its own node either
    error = send_refused(app, led, "SERNAMEG", service="salud_mental", by="gestor.sernameg")
    assert isinstance(error, InvalidInput) and "to_node" in error.errors


def test_a_referral_to_an_inactive_or_unknown_node_is_refused(app: Any) -> None:
    reference = team_case(app)
    with unit_of_work(app) as ctx:
        node = ctx.session.get(Node, node_id(app, "INCAMI"))
        assert node is not None
        node.active = False
        ctx.session.commit()
    try:
        error = send_refused(app, reference, "INCAMI")
        assert isinstance(error, InvalidInput) and "to_node" in error.errors
        error = send_refused(app, reference, 987654)
        assert isinstance(error, InvalidInput) and "to_node" in error.errors
    finally:
        with unit_of_work(app) as ctx:
            node = ctx.session.get(Node, node_id(app, "INCAMI"))
            assert node is not None
            node.active = True
            ctx.session.commit()
    refer(app, reference, "INCAMI")  # active again: accepted
    assert relations(app, reference, "INCAMI") == {"derivacion_alojamiento"}


def test_a_referral_to_a_node_not_offering_the_service_is_refused(app: Any) -> None:
    reference = team_case(app)
    error = send_refused(app, reference, "MINSAL-CL-RM", service="alojamiento")
    assert isinstance(error, InvalidInput) and "to_node" in error.errors
    error = send_refused(app, reference, "SERNAMEG", service="proteccion_policial")
    assert isinstance(error, InvalidInput) and "to_node" in error.errors


def test_a_duplicate_live_referral_is_refused_until_the_first_ends(app: Any) -> None:
    reference = team_case(app)
    first = refer(app, reference, "SERNAMEG")
    error = send_refused(app, reference, "SERNAMEG")
    assert isinstance(error, InvalidInput) and "to_node" in error.errors
    answer(app, reference, first, "aceptar", "gestor.sernameg")
    error = send_refused(app, reference, "SERNAMEG")  # accepted is live too
    assert isinstance(error, InvalidInput) and "to_node" in error.errors
    refer(app, reference, "INCAMI")  # the same service to another node is fine
    refer(app, reference, "SERNAMEG", service="salud_mental")  # another service to the same node is fine
    answer(app, reference, first, "cumplir", "gestor.sernameg")
    refer(app, reference, "SERNAMEG")  # ended: may be sent again


def test_a_derivacion_before_activation_is_refused(app: Any) -> None:
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "tomar_caso")
    consent(app, reference)
    error = send_refused(app, reference, "SERNAMEG")
    assert isinstance(error, TransitionRefused) and error.code == "state"


def test_an_emergency_shelter_referral_is_allowed_before_activation(app: Any) -> None:
    reference = file_case(app)
    consent(app, reference)
    rid = refer(app, reference, "SERNAMEG", kind="emergencia", service="alojamiento")
    assert state_of(app, rid) == "pendiente"
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None and (row.kind, row.service, row.relation) == (
            "emergencia", "alojamiento", "derivacion_alojamiento")
        assert ctx.session.get(Case, row.case_id).state == "detectado"


def test_an_emergency_referral_for_a_service_outside_its_list_is_refused(app: Any) -> None:
    reference = team_case(app)
    error = send_refused(app, reference, "CAJ-CL-RM", kind="emergencia", service="asesoria_juridica")
    assert isinstance(error, TransitionRefused) and error.code == "guard"
    error = send_refused(app, reference, "SERNAMEG", kind="emergencia", service="salud_mental")
    assert isinstance(error, TransitionRefused) and error.code == "guard"
    rid = refer(app, reference, "PDI-BITRAP-CL-RM", kind="emergencia", service="proteccion_policial")
    assert relations(app, reference, "PDI-BITRAP-CL-RM") == {"derivacion_policial"}
    assert state_of(app, rid) == "pendiente"


def test_an_unknown_kind_or_a_service_without_relation_is_refused(app: Any) -> None:
    reference = team_case(app)
    error = send_refused(app, reference, "SERNAMEG", kind="favor")
    assert isinstance(error, TransitionRefused) and error.code == "unknown"
    error = send_refused(app, reference, "PAV", service="coordinacion")
    assert isinstance(error, TransitionRefused) and error.code == "guard"


def test_a_due_date_in_the_past_is_refused_today_is_fine(app: Any, clock: Any) -> None:
    reference = team_case(app)
    today = clock.now.astimezone(dt.timezone(dt.timedelta(hours=-3))).date()
    error = send_refused(app, reference, "SERNAMEG", due_on=today - dt.timedelta(days=1))
    assert isinstance(error, InvalidInput) and "due_on" in error.errors
    rid = refer(app, reference, "SERNAMEG", due_on=today)
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None and row.due_on == today


def test_only_the_coordination_or_the_lead_may_refer(app: Any) -> None:
    reference = team_case(app)
    error = send_refused(app, reference, "SERNAMEG", by="salud.rm")  # the detecting node
    assert isinstance(error, TransitionRefused) and error.code == "forbidden"
    error = send_refused(app, reference, "SERNAMEG", by="policia.rm")  # not in the case
    assert isinstance(error, AccessDenied)
    error = send_refused(app, reference, "SERNAMEG", by="auditor")
    assert isinstance(error, AccessDenied)
    rid = refer(app, reference, "SERNAMEG", by="gestor.rm")  # the lead's gestor
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None and row.from_node_id == node_id(app, "CAVD-CL-RM")


def test_a_referral_only_node_may_not_refer_onwards(app: Any) -> None:
    reference = team_case(app)
    refer(app, reference, "SERNAMEG")
    error = send_refused(app, reference, "INCAMI", by="gestor.sernameg")
    assert isinstance(error, TransitionRefused) and error.code == "forbidden"

"""Transfer of the lead role (referral kind `traspaso`): the proposed node holds `nodo_lider_propuesto`
while it decides and the current lead stays in charge; on acceptance the lead role moves (and the old
lead's access with it, unless another relation keeps it); a refusal changes nothing but removes the
proposed node's access. One pending transfer at a time; never to the current lead.

Setup: a Metropolitana Ficha filed by salud.rm, activated with SERNAMEG (gestor.sernameg) as lead,
consent "red". CAVD-CL-TA (coordinador.ta, gestor.ta) is not in the case until proposed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from referral.kernel.errors import AccessDenied, InvalidInput
from referral.cases.transitions import fire_transition
from referral.kernel.referral_models import Referral
from referral.cases.reading import case_page
from referral.workflow import TransitionRefused

from ..backends import both_backends
from ..steps import activate, case_version, fire, file_case, user
from ..units import unit_of_work
from . import opens, answer, consent, has_wrap, refer, relations, state_of


def led_case(app: Any, lead: str = "SERNAMEG") -> str:
    reference = file_case(app)
    activate(app, reference, lead=lead)
    consent(app, reference)
    return reference


def propose(app: Any, reference: str, to: str, by: str = "gestor.sernameg", **extra: Any) -> uuid.UUID:
    return refer(app, reference, to, by=by, kind="traspaso", service=None, **extra)


def leads(app: Any, reference: str) -> set[str]:
    from referral.kernel.models import Case, Participant
    from referral.network.models import Node

    with unit_of_work(app) as ctx:
        return set(ctx.session.scalars(select(Node.code).join(Participant, Participant.node_id == Node.id)
                                       .join(Case, Case.id == Participant.case_id)
                                       .where(Case.reference == reference, Participant.relation == "nodo_lider",
                                              Participant.active)))


def transition_keys(app: Any) -> set[str]:
    return set(app.extensions["referral.protocol"].definition.network.referrals.transitions)


def withdraw_key(app: Any) -> str:
    """The step that withdraws a pending transfer (to revocada): `revocar`, or a transfer-only step."""
    referrals = app.extensions["referral.protocol"].definition.network.referrals
    found = [t.key for t in referrals.transitions.values() if t.target == "revocada" and "pendiente" in t.sources
             and (not t.kinds or "traspaso" in t.kinds)]
    assert len(found) == 1, found
    return found[0]


def actions(app: Any, reference: str, rid: uuid.UUID, who: str) -> set[str]:
    with unit_of_work(app) as ctx:
        network = case_page(ctx, user(ctx, who), reference, "es").network
    rows = [r for r in network.referrals if r.id == str(rid)]
    assert rows, who
    return {a.key for a in rows[0].actions}


@both_backends
def test_while_pending_the_old_lead_stays_in_charge(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None
        assert (row.kind, row.service, row.relation, row.state) == ("traspaso", None, "nodo_lider_propuesto",
                                                                   "pendiente")
    assert leads(app, reference) == {"SERNAMEG"}
    assert relations(app, reference, "CAVD-CL-TA") == {"nodo_lider_propuesto"}
    assert has_wrap(app, reference, "CAVD-CL-TA")
    assert opens(app, "gestor.ta", reference)
    # the lead acts as lead; the proposed node may not yet
    fire(app, "gestor.sernameg", reference, "iniciar_informe")
    with pytest.raises(TransitionRefused) as caught:
        fire(app, "gestor.ta", reference, "enviar_informe")
    assert caught.value.code == "forbidden"


@both_backends
def test_on_acceptance_the_receiver_leads_and_the_old_lead_loses_access(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    answer(app, reference, rid, "aceptar", "gestor.ta")
    assert state_of(app, rid) == "aceptada"
    assert leads(app, reference) == {"CAVD-CL-TA"}
    assert relations(app, reference, "CAVD-CL-TA") == {"nodo_lider"}
    assert has_wrap(app, reference, "CAVD-CL-TA")
    assert relations(app, reference, "SERNAMEG") == set()
    assert not has_wrap(app, reference, "SERNAMEG")
    assert not opens(app, "gestor.sernameg", reference)
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None and row.ended_at is not None and row.answered_at is not None
    # the new lead acts as lead
    fire(app, "gestor.ta", reference, "iniciar_informe")


@both_backends
def test_an_old_lead_with_another_relation_keeps_its_access(app: Any) -> None:
    reference = led_case(app, lead="CAVD-CL-RM")  # the focal point leads
    rid = propose(app, reference, "SERNAMEG", by="gestor.rm")
    answer(app, reference, rid, "aceptar", "gestor.sernameg")
    assert leads(app, reference) == {"SERNAMEG"}
    assert relations(app, reference, "CAVD-CL-RM") == {"punto_focal"}
    assert has_wrap(app, reference, "CAVD-CL-RM")
    assert opens(app, "gestor.rm", reference)
    with pytest.raises(TransitionRefused) as caught:  # no longer the lead's gestor
        fire(app, "gestor.rm", reference, "iniciar_informe")
    assert caught.value.code == "forbidden"


@both_backends
def test_an_accepted_transfer_is_finished(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    answer(app, reference, rid, "aceptar", "gestor.ta")
    version = case_version(app, reference)
    keys = transition_keys(app)
    assert {"aceptar", "rechazar", "revocar"} <= keys
    for key in sorted(keys):  # every step the definition has, by the receiver and by the case team
        for who in ("gestor.ta", "coordinador.rm"):
            with pytest.raises(TransitionRefused):
                answer(app, reference, rid, key, who, reason="ya_no_necesaria", note="x")
    assert actions(app, reference, rid, "coordinador.rm") == set()
    assert actions(app, reference, rid, "gestor.ta") == set()
    assert state_of(app, rid) == "aceptada"
    assert case_version(app, reference) == version


@both_backends
def test_an_accepted_transfer_cannot_be_revoked(app: Any) -> None:
    """Revoking it afterwards would say the lead never moved, while it did (and cannot move back)."""
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    answer(app, reference, rid, "aceptar", "gestor.ta")
    for key in ("revocar", withdraw_key(app)):
        with pytest.raises(TransitionRefused):
            answer(app, reference, rid, key, "coordinador.rm", reason="derivada_por_error")
    assert state_of(app, rid) == "aceptada"
    assert leads(app, reference) == {"CAVD-CL-TA"}
    assert actions(app, reference, rid, "coordinador.rm") == set()


@both_backends
def test_a_refused_transfer_leaves_the_lead_and_removes_the_proposed_node(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    answer(app, reference, rid, "rechazar", "coordinador.ta", reason="fuera_de_cobertura")
    assert state_of(app, rid) == "rechazada"
    assert leads(app, reference) == {"SERNAMEG"}
    assert relations(app, reference, "SERNAMEG") == {"nodo_lider"}
    assert has_wrap(app, reference, "SERNAMEG")
    assert relations(app, reference, "CAVD-CL-TA") == set()
    assert not has_wrap(app, reference, "CAVD-CL-TA")
    assert not opens(app, "gestor.ta", reference)


@both_backends
def test_a_revoked_pending_transfer_removes_the_proposed_node(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    answer(app, reference, rid, withdraw_key(app), "gestor.sernameg", reason="ya_no_necesaria")
    assert state_of(app, rid) == "revocada"
    assert relations(app, reference, "CAVD-CL-TA") == set()
    assert leads(app, reference) == {"SERNAMEG"}
    assert not has_wrap(app, reference, "CAVD-CL-TA")


def test_only_one_pending_transfer_at_a_time(app: Any) -> None:
    reference = led_case(app)
    first = propose(app, reference, "CAVD-CL-TA")
    for to in ("CAVD-CL-TA", "LIBERA"):
        with pytest.raises(InvalidInput) as caught:
            propose(app, reference, to, by="coordinador.rm")
        assert "to_node" in caught.value.errors
    assert relations(app, reference, "LIBERA") == set()
    answer(app, reference, first, "rechazar", "gestor.ta", reason="sin_cupo")
    second = propose(app, reference, "LIBERA")
    assert relations(app, reference, "LIBERA") == {"nodo_lider_propuesto"}
    answer(app, reference, second, "aceptar", "ong")
    assert leads(app, reference) == {"LIBERA"}


def test_a_transfer_to_the_current_lead_is_refused(app: Any) -> None:
    reference = led_case(app, lead="CAVD-CL-RM")
    with pytest.raises(InvalidInput) as caught:
        propose(app, reference, "CAVD-CL-RM", by="coordinacion.nacional")
    assert "to_node" in caught.value.errors
    from referral.kernel.models import Case

    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(Referral.id).join(Case, Case.id == Referral.case_id).where(
            Case.reference == reference)).all() == []
    assert leads(app, reference) == {"CAVD-CL-RM"}


def test_after_an_accepted_transfer_the_new_lead_may_propose_the_next(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    answer(app, reference, rid, "aceptar", "gestor.ta")
    with pytest.raises(InvalidInput):  # the new lead is the current lead
        propose(app, reference, "CAVD-CL-TA", by="coordinador.rm")
    with pytest.raises(AccessDenied):  # the old lead is out of the case
        propose(app, reference, "LIBERA", by="gestor.sernameg")
    nxt = propose(app, reference, "SERNAMEG", by="gestor.ta")
    answer(app, reference, nxt, "aceptar", "gestor.sernameg")
    assert leads(app, reference) == {"SERNAMEG"}
    assert relations(app, reference, "CAVD-CL-TA") == set()


def test_who_may_propose_a_transfer_and_when(app: Any) -> None:
    reference = led_case(app)
    with pytest.raises(TransitionRefused) as caught:
        propose(app, reference, "CAVD-CL-TA", by="salud.rm")  # the detecting node
    assert caught.value.code == "forbidden"
    unled = file_case(app)
    fire(app, "coordinador.rm", unled, "tomar_caso")
    consent(app, unled)
    with pytest.raises(TransitionRefused) as caught:  # not activated: no transfer
        propose(app, unled, "CAVD-CL-TA", by="coordinador.rm")
    assert caught.value.code == "state"


def test_only_the_proposed_node_accepts(app: Any) -> None:
    reference = led_case(app)
    rid = propose(app, reference, "CAVD-CL-TA")
    for who in ("gestor.sernameg", "coordinador.rm", "coordinacion.nacional"):
        with pytest.raises(TransitionRefused) as caught:
            answer(app, reference, rid, "aceptar", who)
        assert caught.value.code == "forbidden", who
    assert leads(app, reference) == {"SERNAMEG"}


def test_the_proposed_node_reads_the_case_it_may_take_over(app: Any) -> None:
    from referral.cases.reading import form_revision

    reference = led_case(app)
    propose(app, reference, "CAVD-CL-TA")
    with unit_of_work(app) as ctx:
        _, ficha = form_revision(ctx, user(ctx, "gestor.ta"), reference, "ficha", None, "es")
    assert ficha is not None
    assert [s.label for s in ficha.sections] == [
        "Detección", "Persona", "Indicadores observados", "Elementos del delito (art. 411 quáter Código Penal)", "Riesgos inmediatos",
        "Denuncia", "Co-víctimas y relato", "Consentimiento"]
    with unit_of_work(app) as ctx:  # and it is not in the case's team actions as lead
        with pytest.raises(TransitionRefused):
            fire_transition(ctx, user(ctx, "gestor.ta"), reference, "iniciar_informe", None,
                            case_version(app, reference))

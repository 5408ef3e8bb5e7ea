"""Consent as records (workflow.yaml `consent:`): scopes, validity, revocation; a referral needs a live
consent that covers its receiving node, or a coordinator's override with a stated reason (which the
auditors see, without any personal data); revoking a consent revokes what it alone covered; in a child
case the child alone cannot consent.

The test clock's today is 2026-11-18 (Santiago).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from referral.kernel.access import open_case
from referral.kernel.errors import AccessDenied, InvalidInput
from referral.kernel.models import Case
from referral.referrals.consent import ConsentNotFound, covering_consent, is_live, live_consents, record_consent
from referral.kernel.referral_models import Consent, Referral
from referral.referrals.reading import exceptions
from referral.referrals.service import send_referral
from referral.network.models import Node
from referral.workflow import TransitionRefused

from ..backends import both_backends
from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES
from ..steps import activate, case_id, case_version, file_case, node_id, user
from ..units import unit_of_work
from . import AUDIT_SCOPE, answer, audit_name, consent, has_wrap, refer, relations, revoke, state_of

TODAY = dt.date(2026, 11, 18)
PERSONAL = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE, "Yulimar", "Quintero")


def active_case(app: Any, lead: str = "CAVD-CL-RM", **ficha: Any) -> str:
    reference = file_case(app, **ficha)
    activate(app, reference, lead=lead)
    return reference


def child_case(app: Any) -> str:
    return file_case(app, fecha_nacimiento=dt.date(2011, 6, 3), consentimiento_de="representante")


def live_ids(app: Any, reference: str) -> set[uuid.UUID]:
    """The live consents' ids; the case page's rule for one consent read (`is_live`) must say the same."""
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        found = {c.id for c in live_consents(ctx, case)}
        every = ctx.session.scalars(select(Consent).where(Consent.case_id == case.id))
        assert {c.id for c in every if is_live(ctx, c)} == found
        return found


def covering(app: Any, reference: str, code: str) -> uuid.UUID | None:
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        node = ctx.session.get(Node, node_id(app, code))
        found = covering_consent(ctx, case, node)
        return found.id if found else None


def consent_refused(app: Any, reference: str, by: str = "coordinador.rm", **kwargs: Any) -> Exception:
    values: dict[str, Any] = {"given_by": "persona", "scope": "red", "given_on": dt.date(2026, 11, 1),
                              "evidence": "firma"}
    values.update(kwargs)
    before = (count_consents(app, reference), case_version(app, reference))
    with unit_of_work(app) as ctx, pytest.raises(Exception) as caught:
        record_consent(ctx, user(ctx, by), reference, expected_version=case_version(app, reference), **values)
    assert (count_consents(app, reference), case_version(app, reference)) == before  # nothing kept
    return caught.value


def count_consents(app: Any, reference: str) -> int:
    with unit_of_work(app) as ctx:
        return len(ctx.session.scalars(select(Consent).where(Consent.case_id == case_id(app, reference))).all())


def send_refused(app: Any, reference: str, to: str, by: str = "coordinador.rm", **kwargs: Any) -> Exception:
    with unit_of_work(app) as ctx, pytest.raises(Exception) as caught:
        send_referral(ctx, user(ctx, by), reference, kind=kwargs.pop("kind", "derivacion"),
                      service=kwargs.pop("service", "alojamiento"), to_node_id=node_id(app, to),
                      expected_version=case_version(app, reference), **kwargs)
    assert relations(app, reference, to) & {"derivacion_alojamiento", "derivacion_salud"} == set()
    return caught.value


def referral_row(app: Any, rid: uuid.UUID) -> Referral:
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, rid)
        assert row is not None
        ctx.session.expunge(row)
        return row


# -- the records ----------------------------------------------------------------------------------------

def test_consents_of_each_scope_are_recorded_and_live(app: Any) -> None:
    reference = active_case(app)
    red = consent(app, reference, scope="red")
    ngo = consent(app, reference, scope="tipo_nodo", org_type="NGO", given_by="persona", evidence="verbal_registrado")
    shelter = consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"), note="Firmó en la casa.")
    assert live_ids(app, reference) == {red, ngo, shelter}
    with unit_of_work(app) as ctx:
        rows = {c.id: c for c in ctx.session.scalars(select(Consent).where(Consent.case_id == case_id(app, reference)))}
        assert (rows[red].scope, rows[red].node_id, rows[red].org_type) == ("red", None, None)
        assert (rows[ngo].scope, rows[ngo].node_id, rows[ngo].org_type) == ("tipo_nodo", None, "NGO")
        assert (rows[shelter].scope, rows[shelter].node_id, rows[shelter].org_type) == (
            "nodo", node_id(app, "SERNAMEG"), None)
        assert rows[shelter].details is not None and b"Firm" not in rows[shelter].details  # the note is sealed
        assert rows[red].recorded_by_node_id == node_id(app, "CAVD-CL-RM")


def test_a_node_or_type_scope_needs_its_target(app: Any) -> None:
    reference = active_case(app)
    error = consent_refused(app, reference, scope="nodo")
    assert isinstance(error, InvalidInput) and "node" in error.errors
    error = consent_refused(app, reference, scope="tipo_nodo")
    assert isinstance(error, InvalidInput) and "org_type" in error.errors
    error = consent_refused(app, reference, scope="todo")
    assert isinstance(error, InvalidInput) and "scope" in error.errors
    error = consent_refused(app, reference, evidence="rumor")
    assert isinstance(error, InvalidInput) and "evidence" in error.errors
    error = consent_refused(app, reference, given_by="vecino")
    assert isinstance(error, InvalidInput) and "given_by" in error.errors
    assert live_ids(app, reference) == set()


def test_given_on_in_the_future_is_refused_today_is_fine(app: Any) -> None:
    reference = active_case(app)
    error = consent_refused(app, reference, given_on=TODAY + dt.timedelta(days=1))
    assert isinstance(error, InvalidInput) and "given_on" in error.errors
    error = consent_refused(app, reference, given_on=None)
    assert isinstance(error, InvalidInput) and "given_on" in error.errors
    error = consent_refused(app, reference, given_on=dt.date(2026, 11, 10), valid_until=dt.date(2026, 11, 9))
    assert isinstance(error, InvalidInput) and "valid_until" in error.errors
    assert live_ids(app, reference) == set()
    today = consent(app, reference, given_on=TODAY)
    assert live_ids(app, reference) == {today}


def test_a_consent_whose_validity_ended_is_not_live(app: Any) -> None:
    reference = active_case(app)
    ended = consent(app, reference, given_on=dt.date(2026, 10, 1), valid_until=dt.date(2026, 11, 17))
    assert live_ids(app, reference) == set()
    assert covering(app, reference, "SERNAMEG") is None
    error = send_refused(app, reference, "SERNAMEG")
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors
    last_day = consent(app, reference, given_on=dt.date(2026, 10, 1), valid_until=TODAY)  # valid through today
    assert live_ids(app, reference) == {last_day}
    assert ended not in live_ids(app, reference)


def test_a_consent_expires_as_the_days_pass(app: Any, clock: Any) -> None:
    reference = active_case(app)
    until = consent(app, reference, valid_until=dt.date(2026, 11, 20))
    assert live_ids(app, reference) == {until}
    clock.advance(days=2)  # 2026-11-20 12:00 in Santiago: its last day
    assert live_ids(app, reference) == {until}
    clock.advance(days=1)
    assert live_ids(app, reference) == set()


def test_a_revoked_consent_is_not_live_and_cannot_be_revoked_twice(app: Any) -> None:
    reference = active_case(app)
    given = consent(app, reference)
    assert revoke(app, reference, given) == []
    assert live_ids(app, reference) == set()
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Consent, given)
        assert row is not None and row.revoked_at is not None
        assert row.revoked_by_user_id == user(ctx, "coordinador.rm").id
    with pytest.raises(InvalidInput):
        revoke(app, reference, given)
    with pytest.raises(ConsentNotFound):
        revoke(app, reference, uuid.uuid4())


def test_an_entry_consent_does_not_cover_sharing(app: Any) -> None:
    reference = active_case(app)
    consent(app, reference, scope="ingreso")
    assert covering(app, reference, "SERNAMEG") is None
    error = send_refused(app, reference, "SERNAMEG")
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors


def test_who_records_and_revokes_consent(app: Any) -> None:
    reference = active_case(app, lead="SERNAMEG")
    error = consent_refused(app, reference, by="salud.rm")  # the detecting node
    assert isinstance(error, TransitionRefused) and error.code == "forbidden"
    error = consent_refused(app, reference, by="gestor.rm")  # focal point, but not a coordinator
    assert isinstance(error, TransitionRefused) and error.code == "forbidden"
    error = consent_refused(app, reference, by="policia.rm")  # not in the case
    assert isinstance(error, AccessDenied)
    by_lead = consent(app, reference, by="gestor.sernameg")
    with pytest.raises(TransitionRefused):
        revoke(app, reference, by_lead, by="salud.rm")
    assert live_ids(app, reference) == {by_lead}
    revoke(app, reference, by_lead, by="coordinacion.nacional")
    assert live_ids(app, reference) == set()


# -- covering a referral ----------------------------------------------------------------------------------

def test_a_referral_without_consent_is_refused_for_a_coordinator_without_override(app: Any) -> None:
    reference = active_case(app)
    error = send_refused(app, reference, "SERNAMEG")
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors
    assert relations(app, reference, "SERNAMEG") == set() and not has_wrap(app, reference, "SERNAMEG")


def test_the_lead_may_not_override_consent(app: Any) -> None:
    reference = active_case(app, lead="SERNAMEG")
    error = send_refused(app, reference, "INCAMI", by="gestor.sernameg")
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors
    error = send_refused(app, reference, "INCAMI", by="gestor.sernameg", override_reason="riesgo_vital",
                         override_note="Urgente")
    assert isinstance(error, TransitionRefused) and error.code == "forbidden"
    assert relations(app, reference, "INCAMI") == set() and not has_wrap(app, reference, "INCAMI")
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(Referral).where(Referral.case_id == case_id(app, reference))).all() == []


@both_backends
def test_a_coordinator_override_is_recorded_and_listed_for_auditors_without_personal_data(app: Any) -> None:
    reference = active_case(app)
    note = f"{VICTIM_GIVEN} duerme en la calle esta noche"
    rid = refer(app, reference, "SERNAMEG", override_reason="riesgo_vital", override_note=note)
    row = referral_row(app, rid)
    assert (row.consent_id, row.override_reason) == (None, "riesgo_vital")
    assert row.details is not None and note.encode() not in row.details  # the typed reason is sealed
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    with unit_of_work(app) as ctx:
        rows = exceptions(ctx, "es", AUDIT_SCOPE)
    mine = [r for r in rows if r.case == audit_name(app, reference)]
    assert len(mine) == 1
    found = mine[0]
    assert found.kind == "Derivación sin consentimiento"
    assert found.role == "Coordinador/a de punto focal"
    assert found.node_type == "CentralGovernmentOrganisation"
    assert found.reason == "Riesgo para la vida o la integridad de la persona"
    text = repr(rows)
    for word in (reference, *PERSONAL, note, "duerme"):
        assert word not in text, word
    with unit_of_work(app) as ctx:
        english = [r for r in exceptions(ctx, "en", AUDIT_SCOPE) if r.case == audit_name(app, reference)]
    assert english[0].reason == "Risk to the person's life or safety"
    # the typed reason is the case team's: the focal point reads it, the shelter that received the case does not
    from referral.referrals.reading import referral_detail

    with unit_of_work(app) as ctx:
        _, team_view, _ = referral_detail(ctx, user(ctx, "coordinador.rm"), reference, rid, "es")
        _, shelter_view, _ = referral_detail(ctx, user(ctx, "gestor.sernameg"), reference, rid, "es")
    assert note in [text for _, text in team_view.notes]
    assert note not in [text for _, text in shelter_view.notes]


def test_an_override_needs_a_known_reason_and_otro_needs_a_note(app: Any) -> None:
    reference = active_case(app)
    error = send_refused(app, reference, "SERNAMEG", override_reason="capricho")
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors
    error = send_refused(app, reference, "SERNAMEG", override_reason="otro")
    assert isinstance(error, InvalidInput) and "override_note" in error.errors
    error = send_refused(app, reference, "SERNAMEG", override_reason="otro", override_note="   ")
    assert isinstance(error, InvalidInput) and "override_note" in error.errors
    rid = refer(app, reference, "SERNAMEG", override_reason="otro", override_note="Orden verbal de la fiscal.")
    assert referral_row(app, rid).override_reason == "otro"


def test_a_covering_consent_wins_over_an_override(app: Any) -> None:
    reference = active_case(app)
    given = consent(app, reference)
    rid = refer(app, reference, "SERNAMEG", override_reason="riesgo_vital", override_note="x")
    row = referral_row(app, rid)
    assert (row.consent_id, row.override_reason) == (given, None)
    with unit_of_work(app) as ctx:
        assert [r for r in exceptions(ctx, "es", AUDIT_SCOPE) if r.case == audit_name(app, reference)] == []


def test_consent_by_organisation_type_covers_that_type_only(app: Any) -> None:
    reference = active_case(app)
    ngo = consent(app, reference, scope="tipo_nodo", org_type="NGO")
    assert covering(app, reference, "INCAMI") == ngo
    assert covering(app, reference, "SERNAMEG") is None
    rid = refer(app, reference, "INCAMI")
    assert referral_row(app, rid).consent_id == ngo
    error = send_refused(app, reference, "SERNAMEG")  # a CentralGovernmentOrganisation
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors


def test_consent_for_one_node_covers_that_node_only(app: Any) -> None:
    reference = active_case(app)
    one = consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))
    assert covering(app, reference, "SERNAMEG") == one
    assert covering(app, reference, "INCAMI") is None
    rid = refer(app, reference, "SERNAMEG")
    assert referral_row(app, rid).consent_id == one
    error = send_refused(app, reference, "INCAMI")
    assert isinstance(error, InvalidInput) and "override_reason" in error.errors


def test_the_most_specific_live_consent_covers(app: Any) -> None:
    reference = active_case(app)
    red = consent(app, reference, scope="red")
    ngo = consent(app, reference, scope="tipo_nodo", org_type="NGO")
    one = consent(app, reference, scope="nodo", node_id=node_id(app, "INCAMI"))
    assert covering(app, reference, "INCAMI") == one
    assert covering(app, reference, "LIBERA") == ngo
    assert covering(app, reference, "SERNAMEG") == red


# -- revoking ---------------------------------------------------------------------------------------------

@both_backends
def test_revoking_a_consent_revokes_the_live_referrals_it_alone_covered(app: Any) -> None:
    reference = active_case(app)
    shelter_only = consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))
    pending = refer(app, reference, "SERNAMEG")
    accepted = refer(app, reference, "SERNAMEG", service="salud_mental")
    answer(app, reference, accepted, "aceptar", "gestor.sernameg")
    done = refer(app, reference, "SERNAMEG", service="asesoria_juridica")
    answer(app, reference, done, "rechazar", "gestor.sernameg", reason="sin_cupo")
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento", "derivacion_salud"}
    version = case_version(app, reference)
    ended = revoke(app, reference, shelter_only)
    assert set(ended) == {pending, accepted}
    for rid in (pending, accepted):
        row = referral_row(app, rid)
        assert (row.state, row.answer_reason) == ("revocada", "consentimiento_revocado")
        assert row.ended_at is not None
    assert referral_row(app, done).answer_reason == "sin_cupo"  # an ended referral is left alone
    assert state_of(app, done) == "rechazada"
    assert relations(app, reference, "SERNAMEG") == set()
    assert not has_wrap(app, reference, "SERNAMEG")
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        open_case(ctx, user(ctx, "gestor.sernameg"), reference)
    assert case_version(app, reference) == version + 1
    from referral.kernel.models import CaseEvent

    with unit_of_work(app) as ctx:
        steps = [(e.kind, e.action, e.to_state, e.subject) for e in ctx.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id(app, reference)).order_by(CaseEvent.seq))][-3:]
    assert steps[0] == ("consent", "consent.nodo", "revocado", str(shelter_only))
    assert sorted(steps[1:]) == sorted([("referral", "derivacion.revocar", "revocada", str(pending)),
                                        ("referral", "derivacion.revocar", "revocada", str(accepted))])


@both_backends
def test_revoking_leaves_referrals_covered_by_another_live_consent(app: Any) -> None:
    reference = active_case(app)
    red = consent(app, reference, scope="red")
    one = consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))
    rid = refer(app, reference, "SERNAMEG")
    assert referral_row(app, rid).consent_id == one  # the most specific
    assert revoke(app, reference, one) == []
    row = referral_row(app, rid)
    assert (row.state, row.consent_id, row.answer_reason) == ("pendiente", red, None)
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    assert revoke(app, reference, red) == [rid]  # now it was the only one
    assert state_of(app, rid) == "revocada"
    assert not has_wrap(app, reference, "SERNAMEG")


@both_backends
def test_revoking_a_consent_that_did_not_cover_a_referral_leaves_it(app: Any) -> None:
    reference = active_case(app)
    one = consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))
    red = consent(app, reference, scope="red")
    rid = refer(app, reference, "SERNAMEG")
    assert referral_row(app, rid).consent_id == one
    assert revoke(app, reference, red) == []
    assert state_of(app, rid) == "pendiente"
    assert referral_row(app, rid).consent_id == one


@both_backends
def test_revoking_leaves_overridden_referrals(app: Any) -> None:
    reference = active_case(app)
    overridden = refer(app, reference, "SERNAMEG", override_reason="riesgo_vital", override_note="x")
    red = consent(app, reference, scope="red")
    covered = refer(app, reference, "INCAMI")
    assert referral_row(app, covered).consent_id == red
    assert revoke(app, reference, red) == [covered]
    assert state_of(app, overridden) == "pendiente"
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    assert state_of(app, covered) == "revocada"
    assert not has_wrap(app, reference, "INCAMI")


def test_an_expired_consent_does_not_rescue_a_referral_on_revocation(app: Any, clock: Any) -> None:
    reference = active_case(app)
    short = consent(app, reference, scope="red", valid_until=dt.date(2026, 11, 19))
    one = consent(app, reference, scope="nodo", node_id=node_id(app, "SERNAMEG"))
    rid = refer(app, reference, "SERNAMEG")
    clock.advance(days=3)
    assert live_ids(app, reference) == {one}
    assert revoke(app, reference, one) == [rid]
    assert state_of(app, rid) == "revocada"
    assert short not in live_ids(app, reference)


# -- children -----------------------------------------------------------------------------------------------

def test_in_a_child_case_the_child_alone_cannot_consent(app: Any) -> None:
    reference = child_case(app)
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(Case.flags).where(Case.reference == reference)).get("nna") is True
    error = consent_refused(app, reference, given_by="persona")
    assert isinstance(error, InvalidInput) and "given_by" in error.errors
    assert live_ids(app, reference) == set()
    guardian = consent(app, reference, given_by="representante_legal")
    body = consent(app, reference, given_by="organismo_proteccion", scope="nodo",
                   node_id=node_id(app, "MEJOR-NINEZ-CL-RM"), evidence="resolucion")
    assert live_ids(app, reference) == {guardian, body}


def test_in_an_adult_case_the_person_consents(app: Any) -> None:
    reference = active_case(app)
    assert live_ids(app, reference) == set()
    assert consent(app, reference, given_by="persona") in live_ids(app, reference)

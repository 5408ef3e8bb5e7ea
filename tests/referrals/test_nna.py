"""Child (NNA) cases: `activar` waits for a referral to the region's Mejor Niñez office (kind
`proteccion_nna`, pending is enough) and for the recorded communication to the Family Court or the
Local Children's Office (`registrar_comunicacion_nna`, form comunicacion_nna). Adults are unaffected.

The region's Mejor Niñez office is the node holding the `proteccion_especializada` assignment of the
region (the demo assigns MEJOR-NINEZ-CL-XX); `ensure_mejor_ninez` assigns it if a database lacks it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from referral.auth.models import User
from referral.kernel.errors import InvalidInput
from referral.kernel.models import Case, FormRecord
from referral.network.directory import assign
from referral.network.models import Assignment, Node
from referral.workflow import TransitionRefused

from ..steps import case_id, fire, file_case, node_id
from ..units import unit_of_work
from . import answer, consent, refer, relations, state_of

MEJOR_NINEZ = "Mejor Niñez"
COMMUNICATION = {"destinatario": "tribunal_familia", "fecha": dt.datetime(2026, 11, 18, 10, 15), "medio": "oficio"}
LEAD_VALUES = {"fundamento": "Indicadores claros de captación."}
MN_USER = "gestor.mejorninez.rm"


def ensure_mejor_ninez(app: Any, region: str) -> None:
    """The region's proteccion_especializada assignment (idempotent: the demo may already have it)."""
    with unit_of_work(app) as ctx:
        found = ctx.session.scalar(select(Assignment).where(Assignment.function == "proteccion_especializada",
                                                            Assignment.region_code == region))
        if found is None:
            node = ctx.session.scalar(select(Node).where(Node.code == f"MEJOR-NINEZ-{region}"))
            assign(ctx.session, "proteccion_especializada", node, region)
            ctx.session.commit()
        else:
            assert found.node_id == node_id(app, f"MEJOR-NINEZ-{region}")


def ensure_mejor_ninez_user(app: Any) -> str:
    """A case worker at MEJOR-NINEZ-CL-RM (the demo has none) so the office can answer a referral."""
    with unit_of_work(app) as ctx:
        if ctx.session.scalar(select(User).where(User.email == f"{MN_USER}@demo.cl")) is None:
            ctx.session.add(User(email=f"{MN_USER}@demo.cl", display_name="Mejor Niñez RM (pruebas)",
                                 password_hash="x", role="gestor", node_id=node_id(app, "MEJOR-NINEZ-CL-RM"),
                                 active=True))
            ctx.session.commit()
    return MN_USER


def child_case(app: Any) -> str:
    ensure_mejor_ninez(app, "CL-RM")
    reference = file_case(app, fecha_nacimiento=dt.date(2011, 6, 3), consentimiento_de="representante")
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(Case.flags).where(Case.reference == reference)).get("nna") is True
    fire(app, "coordinador.rm", reference, "tomar_caso")
    consent(app, reference, given_by="representante_legal")
    return reference


def adult_case(app: Any) -> str:
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "tomar_caso")
    consent(app, reference)
    return reference


def activate(app: Any, reference: str, by: str = "coordinador.rm") -> None:
    fire(app, by, reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")), **LEAD_VALUES})


def activation_refused(app: Any, reference: str) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as caught:
        activate(app, reference)
    assert state_of_case(app, reference) == "en_evaluacion"
    assert relations(app, reference, "SERNAMEG") == set()
    return caught.value


def state_of_case(app: Any, reference: str) -> str:
    with unit_of_work(app) as ctx:
        return str(ctx.session.scalar(select(Case.state).where(Case.reference == reference)))


def communicate(app: Any, reference: str, by: str = "coordinador.rm", **changes: Any) -> None:
    fire(app, by, reference, "registrar_comunicacion_nna", {**COMMUNICATION, **changes})


def refer_mejor_ninez(app: Any, reference: str, region: str = "CL-RM", **extra: Any) -> Any:
    return refer(app, reference, f"MEJOR-NINEZ-{region}", kind="proteccion_nna", service="proteccion_nna", **extra)


# -- the guards --------------------------------------------------------------------------------------

def test_a_child_case_cannot_be_activated_without_mejor_ninez_and_the_communication(app: Any) -> None:
    reference = child_case(app)
    error = activation_refused(app, reference)
    assert error.code == "guard"
    assert MEJOR_NINEZ in error.reason.es
    assert "Mejor Niñez" in error.reason.get("en")


def test_the_referral_alone_is_not_enough(app: Any) -> None:
    reference = child_case(app)
    rid = refer_mejor_ninez(app, reference)
    assert state_of(app, rid) == "pendiente"
    error = activation_refused(app, reference)
    assert error.code == "guard"
    assert MEJOR_NINEZ not in error.reason.es
    assert "Tribunal de Familia" in error.reason.es


def test_the_communication_alone_is_not_enough(app: Any) -> None:
    reference = child_case(app)
    communicate(app, reference)
    error = activation_refused(app, reference)
    assert MEJOR_NINEZ in error.reason.es


def test_with_a_pending_referral_and_the_communication_the_child_case_is_activated(app: Any) -> None:
    reference = child_case(app)
    rid = refer_mejor_ninez(app, reference)
    communicate(app, reference)
    activate(app, reference)
    assert state_of_case(app, reference) == "activado"
    assert state_of(app, rid) == "pendiente"  # pending was enough
    assert relations(app, reference, "SERNAMEG") == {"nodo_lider"}
    assert relations(app, reference, "MEJOR-NINEZ-CL-RM") == {"derivacion_nna"}


def test_an_accepted_referral_counts(app: Any) -> None:
    reference = child_case(app)
    worker = ensure_mejor_ninez_user(app)
    rid = refer_mejor_ninez(app, reference)
    answer(app, reference, rid, "aceptar", worker)
    communicate(app, reference)
    activate(app, reference)
    assert state_of_case(app, reference) == "activado"


@pytest.mark.parametrize("end", ["revocada", "rechazada"])
def test_an_ended_mejor_ninez_referral_does_not_count(app: Any, end: str) -> None:
    reference = child_case(app)
    rid = refer_mejor_ninez(app, reference)
    communicate(app, reference)
    if end == "revocada":
        answer(app, reference, rid, "revocar", "coordinador.rm", reason="derivada_por_error")
    else:
        answer(app, reference, rid, "rechazar", ensure_mejor_ninez_user(app), reason="sin_cupo")
    assert state_of(app, rid) == end
    error = activation_refused(app, reference)
    assert MEJOR_NINEZ in error.reason.es
    refer_mejor_ninez(app, reference)  # a new one, pending: now it may be activated
    activate(app, reference)
    assert state_of_case(app, reference) == "activado"


def test_a_child_protection_referral_to_another_node_does_not_count(app: Any) -> None:
    reference = child_case(app)
    refer(app, reference, "TRIB-FAMILIA-CL-RM", kind="proteccion_nna", service="proteccion_nna")
    refer(app, reference, "OLN-CL-RM", kind="proteccion_nna", service="proteccion_nna")
    communicate(app, reference)
    error = activation_refused(app, reference)
    assert MEJOR_NINEZ in error.reason.es


def test_an_emergency_shelter_referral_to_mejor_ninez_is_not_the_child_protection_referral(app: Any) -> None:
    """The rule asks for the child-protection referral («Derivación de protección NNA»); Mejor Niñez also
    runs shelters, and an emergency bed there is not the referral of the child to specialised protection."""
    reference = child_case(app)
    rid = refer(app, reference, "MEJOR-NINEZ-CL-RM", kind="emergencia", service="alojamiento")
    assert relations(app, reference, "MEJOR-NINEZ-CL-RM") == {"derivacion_alojamiento"}
    communicate(app, reference)
    error = activation_refused(app, reference)
    assert MEJOR_NINEZ in error.reason.es
    assert state_of(app, rid) == "pendiente"


def test_the_referral_must_go_to_the_mejor_ninez_office_of_the_case_region(app: Any) -> None:
    """A Metropolitana child referred to the Tarapacá office does not meet the rule for its region."""
    reference = child_case(app)
    ensure_mejor_ninez(app, "CL-TA")
    refer_mejor_ninez(app, reference, region="CL-TA")
    communicate(app, reference)
    error = activation_refused(app, reference)
    assert MEJOR_NINEZ in error.reason.es


def test_the_communication_form_is_validated(app: Any) -> None:
    reference = child_case(app)
    for changes in ({"fecha": dt.datetime(2026, 11, 19, 10, 0)},  # tomorrow: future
                    {"medio": None}, {"destinatario": "prensa"}, {"fecha": None}):
        with pytest.raises(InvalidInput) as caught:
            communicate(app, reference, **changes)
        assert set(caught.value.errors) & {"fecha", "medio", "destinatario"}, changes
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(FormRecord).where(
            FormRecord.case_id == case_id(app, reference), FormRecord.form_key == "comunicacion_nna")).all() == []
    communicate(app, reference, destinatario="oficina_local_ninez", medio="correo", identificador="OF-12/2026")
    with unit_of_work(app) as ctx:
        record = ctx.session.scalar(select(FormRecord).where(
            FormRecord.case_id == case_id(app, reference), FormRecord.form_key == "comunicacion_nna"))
        assert record is not None and record.status == "submitted"


def test_who_records_the_communication(app: Any) -> None:
    reference = child_case(app)
    for who in ("salud.rm", "gestor.rm"):  # the detecting node; a focal-point gestor (not the lead)
        with pytest.raises(TransitionRefused) as caught:
            communicate(app, reference, by=who)
        assert caught.value.code == "forbidden", who
    communicate(app, reference, by="coordinacion.nacional")


def test_the_communication_may_be_recorded_after_activation_by_the_lead(app: Any) -> None:
    reference = child_case(app)
    refer_mejor_ninez(app, reference)
    communicate(app, reference)
    activate(app, reference)
    communicate(app, reference, by="gestor.sernameg", fecha=dt.datetime(2026, 11, 18, 11, 0))
    with unit_of_work(app) as ctx:
        revisions = ctx.session.scalars(select(FormRecord.revision).where(
            FormRecord.case_id == case_id(app, reference), FormRecord.form_key == "comunicacion_nna")).all()
    assert sorted(revisions) == [1, 2]


# -- adults --------------------------------------------------------------------------------------------

def test_an_adult_case_is_activated_without_either(app: Any) -> None:
    reference = adult_case(app)
    activate(app, reference)
    assert state_of_case(app, reference) == "activado"


def test_the_child_protection_kind_is_refused_in_an_adult_case(app: Any) -> None:
    ensure_mejor_ninez(app, "CL-RM")
    reference = adult_case(app)
    with pytest.raises(TransitionRefused) as caught:
        refer_mejor_ninez(app, reference)
    assert caught.value.code == "guard"
    assert relations(app, reference, "MEJOR-NINEZ-CL-RM") == set()


def test_the_communication_is_refused_in_an_adult_case(app: Any) -> None:
    reference = adult_case(app)
    with pytest.raises(TransitionRefused):
        communicate(app, reference)
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(FormRecord).where(
            FormRecord.case_id == case_id(app, reference), FormRecord.form_key == "comunicacion_nna")).all() == []


def test_the_child_protection_kind_is_offered_only_in_child_cases(app: Any) -> None:
    from referral.cases.reading import case_page

    from ..steps import user

    child = child_case(app)
    adult = adult_case(app)
    with unit_of_work(app) as ctx:
        child_kinds = {k.key for k in case_page(ctx, user(ctx, "coordinador.rm"), child, "es").network.kinds}
        adult_kinds = {k.key for k in case_page(ctx, user(ctx, "coordinador.rm"), adult, "es").network.kinds}
    assert "proteccion_nna" in child_kinds and "emergencia" in child_kinds
    assert "proteccion_nna" not in adult_kinds and "emergencia" in adult_kinds
    assert "derivacion" not in child_kinds | adult_kinds  # neither is activated yet

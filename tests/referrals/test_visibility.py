"""What a node there through a referral reads (workflow.yaml `forms:` readers and sections): a shelter
reads who the person is and the risks, never the offence or the complaint; the plan only for the case
team; the Informe Social's sections its service needs. The case team sees every referral of the case;
a referral-only node sees its own referral alone, no consents, and only its own referral's steps on the
timeline. View-model level: referral.cases.reading and referral.referrals.reading.

Setup: a Metropolitana Ficha filed by salud.rm, activated with SERNAMEG as lead, taken to follow-up
(Informe Social and plan approved), consent "red"; then the lead refers: alojamiento to INCAMI
(ong.incami), salud_mental to LIBERA (ong), asesoria_juridica to CAVD-CL-TA (coordinador.ta) and
proteccion_policial to PDI-BITRAP-CL-RM (policia.rm).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from referral.kernel.errors import AccessDenied, InvalidInput
from referral.cases.reading import case_page, form_revision
from referral.referrals.reading import referral_detail

from ..backends import both_backends
from ..clocks import to_follow_up
from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN
from ..steps import activate, file_case, user
from ..units import unit_of_work
from . import answer, consent, refer

DETECCION, PERSONA, INDICADORES, DELITO, RIESGOS, DENUNCIA, OTROS, CONSENTIMIENTO = (
    "Detección", "Persona", "Indicadores observados", "Elementos del delito (art. 411 quáter Código Penal)",
    "Riesgos inmediatos", "Denuncia", "Co-víctimas y relato", "Consentimiento")
WHOLE_FICHA = [DETECCION, PERSONA, INDICADORES, DELITO, RIESGOS, DENUNCIA, OTROS, CONSENTIMIENTO]
WHOLE_INFORME = ["Caracterización", "Necesidades por área", "Seguridad", "Proyecto de vida y evaluación profesional",
                 "Firma"]


@pytest.fixture
def network(app: Any) -> dict[str, Any]:
    reference = file_case(app)
    activate(app, reference, lead="SERNAMEG")
    to_follow_up(app, reference)
    consent(app, reference)
    ids = {
        "INCAMI": refer(app, reference, "INCAMI", by="gestor.sernameg", service="alojamiento", note="Cama hoy"),
        "LIBERA": refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental"),
        "CAVD-CL-TA": refer(app, reference, "CAVD-CL-TA", by="gestor.sernameg", service="asesoria_juridica"),
        "PDI": refer(app, reference, "PDI-BITRAP-CL-RM", by="gestor.sernameg", service="proteccion_policial"),
    }
    return {"reference": reference, **ids}


def sections(app: Any, who: str, reference: str, form: str) -> list[str]:
    with unit_of_work(app) as ctx:
        _, view = form_revision(ctx, user(ctx, who), reference, form, None, "es")
    assert view is not None, form
    return [s.label for s in view.sections]


def values(app: Any, who: str, reference: str, form: str) -> str:
    with unit_of_work(app) as ctx:
        _, view = form_revision(ctx, user(ctx, who), reference, form, None, "es")
    assert view is not None
    return " | ".join(f.value for s in view.sections for f in s.fields)


def denied(app: Any, who: str, reference: str, form: str) -> bool:
    with unit_of_work(app) as ctx:
        try:
            form_revision(ctx, user(ctx, who), reference, form, None, "es")
        except AccessDenied:
            return True
        return False


# -- the Ficha ---------------------------------------------------------------------------------------------

@both_backends
def test_a_shelter_reads_the_person_and_the_risks_only(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    assert sections(app, "ong.incami", reference, "ficha") == [PERSONA, RIESGOS]
    text = values(app, "ong.incami", reference, "ficha")
    assert VICTIM_GIVEN in text  # decrypted through its own wrap
    whole = values(app, "coordinador.rm", reference, "ficha")
    for word in ("Estación Central", "Explotación sexual", "Engaño"):  # Detección; the offence
        assert word in whole and word not in text, word


def test_a_health_node_reads_the_person_and_the_risks_only(app: Any, network: dict[str, Any]) -> None:
    assert sections(app, "ong", network["reference"], "ficha") == [PERSONA, RIESGOS]


def test_the_police_read_the_complaint_too(app: Any, network: dict[str, Any]) -> None:
    assert sections(app, "policia.rm", network["reference"], "ficha") == [PERSONA, RIESGOS, DENUNCIA]


def test_a_legal_referral_reads_the_whole_ficha(app: Any, network: dict[str, Any]) -> None:
    assert sections(app, "coordinador.ta", network["reference"], "ficha") == WHOLE_FICHA
    assert VICTIM_DOCUMENT in values(app, "coordinador.ta", network["reference"], "ficha")


def test_the_case_team_reads_the_whole_ficha(app: Any, network: dict[str, Any]) -> None:
    for who in ("coordinador.rm", "gestor.sernameg", "salud.rm", "coordinacion.nacional"):
        assert sections(app, who, network["reference"], "ficha") == WHOLE_FICHA, who


def test_a_lead_that_also_receives_a_shelter_referral_still_reads_everything(app: Any) -> None:
    reference = file_case(app)
    activate(app, reference, lead="SERNAMEG")
    consent(app, reference)
    refer(app, reference, "SERNAMEG", service="alojamiento")
    assert sections(app, "gestor.sernameg", reference, "ficha") == WHOLE_FICHA


def test_two_referral_relations_read_the_union_of_their_sections(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    refer(app, reference, "INCAMI", by="gestor.sernameg", service="regularizacion_migratoria")
    assert sections(app, "ong.incami", reference, "ficha") == [PERSONA, RIESGOS]  # social: persona only
    assert sections(app, "policia.rm", reference, "ficha") == [PERSONA, RIESGOS, DENUNCIA]


# -- the Informe Social, the plan and the case's own forms ----------------------------------------------

@both_backends
def test_a_shelter_reads_the_informe_needs_and_safety_but_not_the_plan(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    assert sections(app, "ong.incami", reference, "informe_social") == ["Necesidades por área", "Seguridad"]
    text = values(app, "ong.incami", reference, "informe_social")
    whole = values(app, "coordinador.rm", reference, "informe_social")
    for word in ("Estudiar peluquería", "Una prima en Santiago"):  # project and characterisation
        assert word in whole and word not in text, word
    assert denied(app, "ong.incami", reference, "plan")


def test_a_health_node_reads_the_informe_needs_only(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    assert sections(app, "ong", reference, "informe_social") == ["Necesidades por área"]
    assert denied(app, "ong", reference, "plan")


def test_a_legal_referral_reads_neither_the_informe_nor_the_plan(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    assert denied(app, "coordinador.ta", reference, "informe_social")
    assert denied(app, "coordinador.ta", reference, "plan")
    assert denied(app, "policia.rm", reference, "informe_social")


def test_referral_nodes_do_not_read_the_case_decisions(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    for who in ("ong.incami", "ong", "coordinador.ta", "policia.rm"):
        assert denied(app, who, reference, "decision_activacion"), who
        assert denied(app, who, reference, "comunicacion_nna"), who
    assert sections(app, "coordinador.rm", reference, "plan") == ["Objetivos", "Acciones", "Acuerdo de la persona",
                                                                  "Observaciones"]
    assert sections(app, "coordinador.rm", reference, "informe_social") == WHOLE_INFORME


def test_the_case_page_marks_the_forms_a_shelter_may_not_read(app: Any, network: dict[str, Any]) -> None:
    with unit_of_work(app) as ctx:
        page = case_page(ctx, user(ctx, "ong.incami"), network["reference"], "es")
    readable = {slot.key: slot.readable for slot in page.forms}
    assert readable["ficha"] is True and readable["informe_social"] is True
    assert readable["plan"] is False
    assert not any(slot.editable for slot in page.forms)
    assert page.relations == frozenset({"derivacion_alojamiento"})
    # the timeline shows no details of forms it may not read
    for event in page.timeline:
        for detail in event.details:
            assert "Indicadores claros de captación" not in detail.value


# -- the referral list --------------------------------------------------------------------------------------

@both_backends
def test_the_case_team_sees_every_referral_and_the_consents(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    expected = {str(network[k]) for k in ("INCAMI", "LIBERA", "CAVD-CL-TA", "PDI")}
    for who in ("coordinador.rm", "gestor.sernameg", "salud.rm", "coordinacion.nacional"):
        with unit_of_work(app) as ctx:
            view = case_page(ctx, user(ctx, who), reference, "es").network
        assert {r.id for r in view.referrals} == expected, who
        assert view.consents is not None and len(view.consents) == 1, who


@both_backends
def test_a_referral_only_node_sees_its_own_referral_and_no_consents(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    for who, key in (("ong.incami", "INCAMI"), ("ong", "LIBERA"), ("coordinador.ta", "CAVD-CL-TA"),
                     ("policia.rm", "PDI")):
        with unit_of_work(app) as ctx:
            view = case_page(ctx, user(ctx, who), reference, "es").network
        assert [r.id for r in view.referrals] == [str(network[key])], who
        assert view.consents is None, who
        assert view.kinds == (), who  # may not refer onwards
        assert not view.may_record_consent, who
    with unit_of_work(app) as ctx:
        view = case_page(ctx, user(ctx, "ong.incami"), reference, "es").network
    row = view.referrals[0]
    assert row.to_node == "INCAMI" and {a.key for a in row.actions} == {"aceptar", "rechazar"}
    assert ("Nota para el nodo", "Cama hoy") in row.notes


def test_a_referral_only_node_cannot_open_another_referral(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        referral_detail(ctx, user(ctx, "ong.incami"), reference, network["LIBERA"], "es")
    with unit_of_work(app) as ctx:
        _, row, _ = referral_detail(ctx, user(ctx, "ong.incami"), reference, network["INCAMI"], "es")
    assert row.id == str(network["INCAMI"])
    with unit_of_work(app) as ctx:
        _, row, _ = referral_detail(ctx, user(ctx, "coordinador.rm"), reference, network["LIBERA"], "es")
    assert row.to_node == "LIBERA"


def test_a_node_with_two_referrals_sees_both(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    second = refer(app, reference, "INCAMI", by="gestor.sernameg", service="regularizacion_migratoria")
    with unit_of_work(app) as ctx:
        view = case_page(ctx, user(ctx, "ong.incami"), reference, "es").network
    assert {r.id for r in view.referrals} == {str(network["INCAMI"]), str(second)}


# -- the timeline --------------------------------------------------------------------------------------------

def timeline(app: Any, who: str, reference: str) -> list[str]:
    with unit_of_work(app) as ctx:
        page = case_page(ctx, user(ctx, who), reference, "es")
    return [e.text for e in page.timeline]


@both_backends
def test_a_referral_only_node_sees_only_its_own_referral_steps(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    answer(app, reference, network["LIBERA"], "aceptar", "ong")
    answer(app, reference, network["INCAMI"], "aceptar", "ong.incami")
    texts = timeline(app, "ong.incami", reference)
    mine = [t for t in texts if "INCAMI" in t]
    assert mine == ["Derivación (Alojamiento o casa de acogida) a INCAMI: Aceptada",
                    "Derivación (Alojamiento o casa de acogida) a INCAMI: enviada"]
    for other in ("LIBERA", "CAVD Tarapacá", "PDI-BITRAP Metropolitana"):
        assert not [t for t in texts if other in t], other
    assert not [t for t in texts if t.startswith("Consentimiento")]
    assert "Activar el Protocolo" in texts  # the case's own steps are shown
    team = timeline(app, "coordinador.rm", reference)
    for node in ("INCAMI", "LIBERA", "CAVD Tarapacá", "PDI-BITRAP Metropolitana"):
        assert any(f" a {node}: " in t for t in team), node
    assert "Consentimiento registrado: Compartir con cualquier nodo de la red del Protocolo" in team


def test_the_timeline_hides_other_referrals_after_mine_ended_too(app: Any, network: dict[str, Any]) -> None:
    reference = network["reference"]
    refer(app, reference, "INCAMI", by="gestor.sernameg", service="regularizacion_migratoria")
    answer(app, reference, network["INCAMI"], "rechazar", "ong.incami", reason="sin_cupo")
    texts = timeline(app, "ong.incami", reference)
    assert "Derivación (Alojamiento o casa de acogida) a INCAMI: Rechazada" in texts
    assert not [t for t in texts if "LIBERA" in t or "CAVD Tarapacá" in t]
    assert "Derivación (Regularización migratoria) a INCAMI: enviada" in texts


def test_an_emergency_access_is_team_level(app: Any, network: dict[str, Any]) -> None:
    from referral.referrals.emergency import grant

    reference = network["reference"]
    # coordinador.ta holds a legal referral here: an emergency access is refused (it already reads the case)
    with unit_of_work(app) as ctx, pytest.raises(InvalidInput):
        grant(ctx, user(ctx, "coordinador.ta"), reference, reason="riesgo_vital", note="x")
    with unit_of_work(app) as ctx:
        grant(ctx, user(ctx, "coordinador.ap"), reference, reason="riesgo_vital", note="Explicación")
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        view = case_page(ctx, user(ctx, "coordinador.ap"), reference, "es").network
    assert len(view.referrals) == 4 and view.consents is not None
    assert sections(app, "coordinador.ap", reference, "ficha") == WHOLE_FICHA
    assert uuid.UUID(view.referrals[0].id)

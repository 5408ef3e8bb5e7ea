"""Return is not repatriation (issue 15 item 4), rule by rule, through the services on the real database:
the closing block applies only to a return the person did not ask for; the return track needs her own
request and informed choice; a referral for return needs that request; the travel needs documents and
the return organisation's acceptance; her choice must cover a grave-danger residence request."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from referral.kernel.errors import InvalidInput
from referral.workflow import TransitionRefused
from referral.workflow.definition import load_definition, read_workflow
from referral.workflow.errors import DefinitionError

from .clocks import RESIDENCIA
from .definitions import write_single
from .referrals import answer, consent, refer
from .steps import activate, file_case, fire, node_id, save

LAW_BLOCK = "Retorno bloqueado (Ley 21.325"
VOLUNTARY_ONLY = "El retorno asistido es voluntario: para cerrar por retorno asistido"
LEAD = "gestor.sernameg"

REQUEST: dict[str, Any] = {
    "pedido_por_la_persona": True, "fecha_solicitud": dt.date(2026, 11, 18),
    "en_sus_palabras": "Quiero volver con mi familia.", "pais_destino": "VE", "consentimiento_de": "persona",
    "forma_consentimiento": "firma", "informado_por": "Trabajadora social",
    "alternativas_informadas": ["residencia_temporal", "riesgos_retorno"], "riesgo_retorno": "bajo",
}
CLOSE_AS_RETURN = {"motivo": "retorno_asistido", "retorno_voluntario": True, "fecha_cierre": dt.date(2026, 11, 18)}
TRAVEL = {"organizacion_retorno": "1", "fecha_viaje": dt.date(2026, 11, 25), "recepcion_coordinada": True,
          "organizacion_reintegracion": "OIM en origen"}
DOCUMENTS = {"documento_viaje": "pasaporte_vigente", "consulado": "Consulado de Venezuela"}


def refused(app: Any, by: str, reference: str, action: str, values: dict[str, Any] | None = None) -> str:
    with pytest.raises(TransitionRefused) as caught:
        fire(app, by, reference, action, values)
    return caught.value.reason.es


def active_case(app: Any, *, residence_danger: bool | None = None) -> str:
    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    if residence_danger is not None:
        fire(app, LEAD, reference, "iniciar_residencia")
        save(app, LEAD, reference, "solicitud_residencia", {**RESIDENCIA, "peligro_grave": residence_danger})
        fire(app, LEAD, reference, "presentar_residencia")
    return reference


def test_closing_as_a_return_nobody_asked_for_is_blocked_and_with_grave_danger_the_law_is_cited(app: Any) -> None:
    plain = active_case(app)
    assert VOLUNTARY_ONLY in refused(app, "coordinador.rm", plain, "cerrar", CLOSE_AS_RETURN)
    danger = active_case(app, residence_danger=True)
    assert LAW_BLOCK in refused(app, "coordinador.rm", danger, "cerrar", CLOSE_AS_RETURN)
    # another reason for closing is not a return: the residence request does not block it
    fire(app, "coordinador.rm", danger, "cerrar", {"motivo": "desiste", "fecha_cierre": dt.date(2026, 11, 18)})


def test_the_return_track_starts_only_on_the_persons_own_informed_request(app: Any) -> None:
    reference = active_case(app)
    with pytest.raises(InvalidInput) as caught:  # an unticked box is a missing answer, then the guard
        fire(app, LEAD, reference, "solicitar_retorno", {**REQUEST, "pedido_por_la_persona": False})
    assert set(caught.value.errors) == {"pedido_por_la_persona"}
    assert "derecho a pedir residencia temporal" in refused(
        app, LEAD, reference, "solicitar_retorno", {**REQUEST, "alternativas_informadas": ["riesgos_retorno"]})
    assert "ya no admite" not in refused(app, "salud.rm", reference, "solicitar_retorno", REQUEST)  # not her node's
    fire(app, LEAD, reference, "solicitar_retorno", REQUEST)


def test_with_a_grave_danger_residence_request_only_her_explicit_choice_lets_the_return_go_on(app: Any) -> None:
    reference = active_case(app, residence_danger=True)
    assert "elige retornar de todos modos" in refused(app, LEAD, reference, "solicitar_retorno", REQUEST)
    fire(app, LEAD, reference, "solicitar_retorno", {**REQUEST, "elige_pese_a_peligro": True})
    # without grave danger declared, no such choice is asked
    other = active_case(app, residence_danger=False)
    fire(app, LEAD, other, "solicitar_retorno", REQUEST)


def test_a_residence_request_with_grave_danger_filed_after_she_asked_blocks_the_travel_until_she_chooses(
        app: Any) -> None:
    reference = active_case(app)
    fire(app, LEAD, reference, "solicitar_retorno", REQUEST)
    answer(app, reference, refer(app, reference, "OIM", service="retorno_asistido"), "aceptar", "oim")
    fire(app, LEAD, reference, "preparar_retorno")
    save(app, LEAD, reference, "retorno_documentos", DOCUMENTS)
    fire(app, LEAD, reference, "iniciar_residencia")
    save(app, LEAD, reference, "solicitud_residencia", RESIDENCIA)  # declares grave danger
    fire(app, LEAD, reference, "presentar_residencia")
    with_oim = {**TRAVEL, "organizacion_retorno": str(node_id(app, "OIM"))}
    message = refused(app, LEAD, reference, "programar_viaje", with_oim)
    assert "registre de nuevo la solicitud de la persona" in message
    fire(app, LEAD, reference, "retomar_retorno", {**REQUEST, "elige_pese_a_peligro": True})
    fire(app, LEAD, reference, "preparar_retorno")
    fire(app, LEAD, reference, "programar_viaje", with_oim)


def test_a_referral_for_return_needs_her_request_and_ends_being_possible_when_she_withdraws(app: Any) -> None:
    reference = active_case(app)
    with pytest.raises(TransitionRefused) as caught:
        refer(app, reference, "OIM", service="retorno_asistido")
    assert "registre primero que la persona pide retornar" in caught.value.reason.es
    fire(app, LEAD, reference, "solicitar_retorno", REQUEST)
    referral = refer(app, reference, "OIM", service="retorno_asistido")
    answer(app, reference, referral, "aceptar", "oim")
    fire(app, LEAD, reference, "desistir_retorno", {"fecha": dt.date(2026, 11, 18)})
    with pytest.raises(TransitionRefused):
        refer(app, reference, "OIM", service="retorno_asistido")
    # other services are not touched by the rule
    refer(app, reference, "CAJ-CL-RM", service="reparacion_pecuniaria")


def test_the_travel_needs_the_documents_and_the_return_organisations_acceptance(app: Any) -> None:
    reference = active_case(app)
    fire(app, LEAD, reference, "solicitar_retorno", REQUEST)
    fire(app, LEAD, reference, "preparar_retorno")
    with_oim = {**TRAVEL, "organizacion_retorno": str(node_id(app, "OIM"))}
    assert "Complete la lista de documentos" in refused(app, LEAD, reference, "programar_viaje", with_oim)
    save(app, LEAD, reference, "retorno_documentos", {**DOCUMENTS, "documento_viaje": "retenido"})
    assert "aún no tiene documento de viaje" in refused(app, LEAD, reference, "programar_viaje", with_oim)
    save(app, LEAD, reference, "retorno_documentos", DOCUMENTS)
    referral = refer(app, reference, "OIM", service="retorno_asistido")
    assert "aún no acepta" in refused(app, LEAD, reference, "programar_viaje", with_oim)
    answer(app, reference, referral, "aceptar", "oim")
    assert "ya no admite" not in refused(app, "oim", reference, "programar_viaje", with_oim)  # IOM does not
    fire(app, LEAD, reference, "programar_viaje", with_oim)


def _copy_with_service(tmp_path: Path, service: dict[str, Any]) -> Path:
    root = tmp_path / "chile"
    shutil.copytree(Path(__file__).resolve().parents[1] / "workflows" / "chile", root)
    raw = read_workflow(root)[0]
    raw["services"]["retorno_asistido"] = service
    write_single(root, raw)
    return root


def test_a_service_condition_is_checked_at_load(tmp_path: Path) -> None:
    label = {"es": "Retorno asistido", "en": "Assisted return"}
    message = {"es": "No.", "en": "No."}
    with pytest.raises(DefinitionError, match="go together"):
        load_definition(_copy_with_service(tmp_path / "a", {
            "label": label, "relation": "derivacion_retorno", "when": {"track": "retorno", "in": ["solicitado"]}}))
    with pytest.raises(DefinitionError, match="service 'retorno_asistido': condition names unknown state"):
        load_definition(_copy_with_service(tmp_path / "b", {
            "label": label, "relation": "derivacion_retorno", "refused": message,
            "when": {"track": "retorno", "in": ["no_such_state"]}}))

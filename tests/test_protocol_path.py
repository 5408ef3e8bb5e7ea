"""The whole Protocol in the browser: from the Ficha to cierre and reopening, on both databases."""

from __future__ import annotations

import io
import logging
import re
from urllib.parse import quote
from typing import Any

import pytest
from flask import request

from sqlalchemy import select

from referral.auth.models import User
from referral.extensions import database
from referral.kernel.models import Case
from referral.network.models import Node
from referral.stats.models import CaseStat

from .backends import both_backends
from .browser import Browser
from .units import unit_of_work
from .factories import (
    CAUSA_RUC, VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES, causa_post, ficha_post, informe_post,
    plan_post, residencia_post,
)


def node_id(app: Any, code: str) -> int:
    with app.app_context():
        return database.session().scalar(select(Node.id).where(Node.code == code))


def reference_of(response: Any) -> str:
    assert response.status_code == 303, response.status_code
    match = re.search(r"/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def state_of(browser: Browser, reference: str) -> str:
    page = browser.get(f"/casos/{reference}")
    assert page.status_code == 200
    return re.search(r'<p class="state[^"]*">([^<]+)</p>', page.text).group(1)


INDICATORS_ONLY = {"acciones": ["sin_informacion"], "medios": [], "fines": [], "tipo_trata": "sin_informacion",
                   "ambito": "sin_informacion", "indicadores": ["documentos_retenidos", "aislamiento"]}


def stat_type(app: Any, reference: str) -> str:
    """The type of trafficking the statistics projection counts for the case."""
    with app.app_context():
        session = database.session()
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
        return str(session.get(CaseStat, case_id).attributes["tipo_trata"])


def ok(response: Any) -> None:
    assert response.status_code == 303, (response.status_code, re.findall(r'class="(?:error|flash error)"[^>]*>([^<]+)', response.text))


@both_backends
def test_a_case_travels_from_ficha_to_closure_and_is_reopened(app: Any, make_browser: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    addresses: list[str] = []  # every URL requested and every redirect target, to search for personal data

    @app.after_request
    def remember(response: Any) -> Any:
        addresses.extend((request.full_path, response.headers.get("Location", "")))
        return response

    health, coordinator, lead, migration = make_browser(), make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.rm")
    migration.login("migraciones")

    # 1. A health worker files the Ficha on what she saw: indicators, the legal elements «sin información».
    reference = reference_of(health.submit("/fichas/nueva", ficha_post(**INDICATORS_ONLY)))
    assert state_of(health, reference) == "Detectado"
    assert "Sin información" in health.get(f"/casos/{reference}/formularios/ficha").text

    # 2. The regional focal point sees it in triage, takes it, asks for more, then activates.
    assert reference in coordinator.get("/bandeja/triaje").text
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "solicitar_informacion", {"preguntas": "¿Tiene dónde dormir hoy?"}))
    assert state_of(coordinator, reference) == "Información solicitada"
    assert reference in health.get("/bandeja/informacion_pendiente").text
    ok(health.act(reference, "responder_informacion", {"respuesta": "Sí, en un albergue municipal."}))
    assert state_of(coordinator, reference) == "En evaluación"
    cavd = node_id(app, "CAVD-CL-RM")
    assert stat_type(app, reference) == "sin_informacion"  # counted, as «sin información», before triage
    # The focal point qualifies the case as she activates it; the statistics count her qualification.
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(cavd), "fundamento": "Indicadores claros.",
                                              "tipo_trata": "sexual", "ambito": "internacional",
                                              "acciones": ["captacion", "traslado"], "medios": ["engano"],
                                              "fines": ["explotacion_sexual"]}))
    assert state_of(coordinator, reference) == "Activado (ingresado al Protocolo)"
    assert stat_type(app, reference) == "sexual"

    # 3. The lead node writes the Informe Social; the focal point returns it, then approves it.
    ok(lead.act(reference, "iniciar_informe"))
    ok(lead.submit(f"/casos/{reference}/formularios/informe_social/editar", {"redes_apoyo": "Una prima."}))
    # Incomplete: the button is shown disabled with the reason, and a forced post is refused.
    assert "El Informe Social debe estar completo" in lead.get(f"/casos/{reference}").text
    forced = lead.post(f"/casos/{reference}/acciones/enviar_informe", {"case_version": lead.case_version(reference)})
    assert forced.status_code == 409 and "debe estar completo" in forced.text
    ok(lead.submit(f"/casos/{reference}/formularios/informe_social/editar", informe_post()))
    ok(lead.act(reference, "enviar_informe"))
    ok(coordinator.act(reference, "devolver_informe", {"comentarios": "Detallar la red familiar."}))
    assert "Detallar la red familiar." in lead.get(f"/casos/{reference}/formularios/informe_social/editar").text
    ok(lead.submit(f"/casos/{reference}/formularios/informe_social/editar",
                   informe_post(red_familiar="Hijo de 6 años en Maracaibo.")))
    ok(lead.act(reference, "enviar_informe"))
    ok(coordinator.act(reference, "aprobar_informe"))
    assert state_of(lead, reference) == "Plan en elaboración"

    # 4. The plan: drafted, approved, then revised with both versions kept.
    sernameg = node_id(app, "SERNAMEG")
    ok(lead.submit(f"/casos/{reference}/formularios/plan/editar", plan_post(sernameg)))
    ok(lead.act(reference, "enviar_plan"))
    ok(coordinator.act(reference, "aprobar_plan"))
    assert state_of(lead, reference) == "Plan en ejecución"
    ok(lead.submit(f"/casos/{reference}/formularios/plan/editar",
                   plan_post(sernameg, **{"acciones-0-estado": "en_curso"})))
    ok(lead.act(reference, "enviar_plan"))
    ok(coordinator.act(reference, "aprobar_revision_plan"))
    first = lead.get(f"/casos/{reference}/formularios/plan?revision=1")
    second = lead.get(f"/casos/{reference}/formularios/plan?revision=2")
    assert "Pendiente" in first.text and "En curso" in second.text

    # 5. The residence request goes to the migration service and is granted for at least 12 months.
    ok(lead.act(reference, "iniciar_residencia"))
    ok(lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar", residencia_post()))
    ok(lead.act(reference, "presentar_residencia"))
    assert reference in migration.get("/bandeja/residencias").text
    ok(migration.act(reference, "registrar_tramite"))
    short = migration.act(reference, "otorgar_residencia", {
        "fecha_resolucion": "2026-11-18", "numero_permiso": "RT-1", "vigencia_inicio": "2026-11-18",
        "vigencia_fin": "2027-05-18"})
    assert short.status_code == 400 and "al menos 12 meses" in short.text
    assert 'value="RT-1"' in short.text  # nothing typed is lost
    ok(migration.act(reference, "otorgar_residencia", {
        "fecha_resolucion": "2026-11-18", "numero_permiso": "RT-1", "vigencia_inicio": "2026-11-18",
        "vigencia_fin": "2027-11-18"}))
    assert "Otorgada" in lead.get(f"/casos/{reference}").text

    # 5b. The causa penal: the lead records it; a second victim of the same causa (her own case, the same lead
    # node) gets the same RUC, typed differently; each case names the other, and the causa moves on.
    malformed = lead.act(reference, "registrar_causa", causa_post(ruc="23-00417852"))
    assert malformed.status_code == 400 and "debe ser como 2300123456-7" in malformed.text
    ok(lead.act(reference, "registrar_causa", causa_post()))
    other = reference_of(health.submit("/fichas/nueva", ficha_post(nombres="Marisol", numero_documento="VE5521734")))
    ok(coordinator.act(other, "activar", {"nodo_lider": str(cavd), "fundamento": "Misma red de captación."}))
    ok(lead.act(other, "registrar_causa", causa_post(ruc=" 2300417852-k")))
    for this, that in ((reference, other), (other, reference)):
        panel = lead.get(f"/casos/{this}").text
        panel = panel[panel.index("Casos de la misma causa penal"):]
        assert "2 casos en total, este incluido." in panel and f">{that}</a>" in panel
    ok(lead.act(reference, "formalizar_causa", {"fecha": "2026-11-18", "imputados": "3"}))
    assert "Causa penal: <strong>Formalizada</strong>" in coordinator.get(f"/casos/{reference}").text
    assert f'value="{CAUSA_RUC}"' in lead.get(f"/casos/{reference}/acciones/actualizar_causa").text  # opens filled
    ok(lead.act(reference, "actualizar_causa", causa_post(
        no_punibilidad="y", no_punibilidad_actos="Usó un pasaporte falso que le entregó la red.")))
    assert "No punibilidad: la persona cometió actos" in coordinator.get(f"/casos/{reference}").text

    # 6. Follow-up, closure with a reason, reopening by the focal point.
    ok(lead.act(reference, "iniciar_seguimiento"))
    ok(coordinator.act(reference, "cerrar", {"motivo": "objetivos_cumplidos", "fecha_cierre": "2026-11-18"}))
    assert state_of(coordinator, reference) == "Cerrado"
    ok(coordinator.act(reference, "reabrir", {"motivo": "Nueva amenaza de la red."}))
    assert state_of(coordinator, reference) == "Seguimiento"

    # 7. The timeline names who (role and node) did each step.
    timeline = coordinator.get(f"/casos/{reference}").text
    assert "Funcionario/a de detección (ONG, salud, policía) · MINSAL Metropolitana" in timeline
    assert "Coordinador/a de punto focal · CAVD Metropolitana" in timeline
    assert "Funcionario/a de migraciones · SERMIG" in timeline
    assert timeline.count('<li>\n          <p class="when">') >= 25
    assert VICTIM_GIVEN in timeline  # participants read the decrypted summary

    # 8. Key maintenance on the case: rotate its key, then erase it (crypto-shredding).
    runner = app.test_cli_runner()
    rotated = runner.invoke(args=["keys", "rotate-case", reference])
    assert rotated.exit_code == 0, rotated.output
    erased = runner.invoke(args=["cases", "erase", reference, "--reason", "solicitud_titular",
                                 "--by", "administrador@demo.cl", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert coordinator.get(f"/casos/{reference}").status_code == 404

    # 9. Nothing personal reached a log line (every logger, every level, with any exception report),
    # a URL, a redirect, or the output of the key commands on the way.
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    elsewhere = "\n".join(addresses) + rotated.output + erased.output
    assert len(addresses) > 100 and reference in elsewhere  # the search covers the whole path
    for secret in (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE, "Maracaibo", CAUSA_RUC,
                   "2300417852", "pasaporte falso"):
        assert secret not in logged
        assert secret not in elsewhere and quote(secret) not in elsewhere


@both_backends
def test_the_lead_node_searches_for_the_person_by_name_from_the_header(app: Any, make_browser: Any,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Issue 16: the header's search box finds the person by names and date of birth (through the blind indexes)
    for the nodes of her case, and tells any other node nothing; the names never reach a URL or a log."""
    caplog.set_level(logging.DEBUG)
    addresses: list[str] = []

    @app.after_request
    def remember(response: Any) -> Any:
        addresses.extend((request.full_path, response.headers.get("Location", "")))
        return response

    health, coordinator, lead, outsider = make_browser(), make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.sernameg")
    outsider.login("coordinador.ta")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")),
                                              "fundamento": "Indicadores claros."}))
    typed = f"{VICTIM_SURNAMES.lower()} {VICTIM_GIVEN} 02-04-1996"  # any order, any case, the date in the box

    worklist = lead.get("/bandeja/casos_liderados")
    assert 'role="search"' in worklist.text and 'action="/buscar"' in worklist.text
    results = lead.submit("/buscar", {"q": typed}, page_url="/bandeja/casos_liderados")
    assert results.status_code == 200
    assert f'<a href="/casos/{reference}" class="ref">{reference}</a>' in results.text
    assert VICTIM_SURNAMES in results.text  # her summary, decrypted for the row
    assert lead.get(f"/casos/{reference}").status_code == 200
    assert lead.submit("/buscar", {"q": reference}).headers["Location"] == f"/casos/{reference}"

    nothing = outsider.submit("/buscar", {"q": typed}, page_url="/bandeja/triaje")
    assert nothing.status_code == 200 and reference not in nothing.text
    assert "No se encontraron casos que usted pueda abrir." in nothing.text

    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    elsewhere = "\n".join(addresses)
    assert reference in elsewhere  # the addresses were recorded
    for secret in (*VICTIM_GIVEN.split(), *VICTIM_SURNAMES.split(), "1996", VICTIM_DOCUMENT):
        assert secret not in logged and secret.lower() not in elsewhere.lower() and quote(secret) not in elsewhere


RETURN_REQUEST = {
    "pedido_por_la_persona": "y", "fecha_solicitud": "2026-11-18",
    "en_sus_palabras": "Quiero volver con mis hijos; allá tengo dónde vivir.", "pais_destino": "VE",
    "consentimiento_de": "persona", "forma_consentimiento": "verbal_con_interprete",
    "informado_por": "Trabajadora social del CAVD",
    "alternativas_informadas": ["residencia_temporal", "permanecer_proceso", "riesgos_retorno", "desistir"],
    "riesgo_retorno": "medio",
}


def test_a_voluntary_return_the_person_asked_for_with_reintegration_follow_up(app: Any, make_browser: Any) -> None:
    """Issue 15 item 4: return is not repatriation. With a residence request pending that declares grave
    danger, closing as «retorno asistido» is blocked; the person's own request with her informed choice
    opens the return track: documents, IOM, travel, reintegration follow-up, then the case closes."""
    from referral.kernel.referral_models import Referral

    health, coordinator, lead, oim = make_browser(), make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.rm")
    oim.login("oim")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "CAVD-CL-RM")),
                                              "fundamento": "Indicadores claros."}))
    ok(coordinator.submit(f"/casos/{reference}/consentimientos/nuevo", {
        "given_by": "persona", "scope": "red", "given_on": "2026-11-18", "evidence": "firma"}))

    # A residence request declaring grave danger on return is pending: closing as a return is blocked.
    ok(lead.act(reference, "iniciar_residencia"))
    ok(lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar", residencia_post()))
    ok(lead.act(reference, "presentar_residencia"))
    closing = {"motivo": "retorno_asistido", "retorno_voluntario": "y", "fecha_cierre": "2026-11-18"}
    blocked = coordinator.post(f"/casos/{reference}/acciones/cerrar",
                               {**closing, "confirmo": "si", "case_version": coordinator.case_version(reference)})
    assert blocked.status_code == 409 and "Retorno bloqueado (Ley 21.325" in blocked.text
    # Nor may anyone refer her to IOM for a return she has not asked for.
    oim_node = node_id(app, "OIM")
    refused = coordinator.submit(f"/casos/{reference}/derivar/derivacion",
                                 {"servicio": "retorno_asistido", "to_node": str(oim_node)})
    assert refused.status_code != 303 and "registre primero que la persona pide retornar" in refused.text

    # She asks to return. Her choice despite the declared danger must be explicit, else it stays blocked.
    page = lead.get(f"/casos/{reference}/acciones/solicitar_retorno").text
    assert "Alternativas de las que se le informó" in page and "aun así elige retornar" in page
    unexplained = lead.submit(f"/casos/{reference}/acciones/solicitar_retorno", RETURN_REQUEST)
    assert unexplained.status_code == 409 and "elige retornar de todos modos" in unexplained.text
    assert "Quiero volver con mis hijos" in unexplained.text  # nothing typed is lost
    ok(lead.act(reference, "solicitar_retorno", {**RETURN_REQUEST, "elige_pese_a_peligro": "y"}))
    assert "Pedido por la persona" in lead.get(f"/casos/{reference}").text

    # IOM is referred to and accepts; it reads the return forms, not the plan or the Informe Social.
    ok(coordinator.submit(f"/casos/{reference}/derivar/derivacion",
                          {"servicio": "retorno_asistido", "to_node": str(oim_node)}))
    with app.app_context():
        referral_id = database.session().scalar(select(Referral.id).where(Referral.to_node_id == oim_node))
    ok(oim.submit(f"/casos/{reference}/derivaciones/{referral_id}/aceptar", {}))
    assert reference in oim.get("/bandeja/retornos").text  # IOM's list of the returns in progress
    assert oim.get(f"/casos/{reference}/formularios/retorno_solicitud").status_code == 200
    assert oim.get(f"/casos/{reference}/formularios/informe_social").status_code == 403

    # Documents and the consulate, then the travel coordinated with IOM.
    ok(lead.act(reference, "preparar_retorno"))
    travel = {"organizacion_retorno": str(oim_node), "fecha_viaje": "2026-11-25", "recepcion_coordinada": "y",
              "organizacion_reintegracion": "OIM Caracas"}
    early = lead.post(f"/casos/{reference}/acciones/programar_viaje",
                      {**travel, "case_version": lead.case_version(reference)})
    assert early.status_code == 409 and "Complete la lista de documentos" in early.text
    ok(lead.submit(f"/casos/{reference}/formularios/retorno_documentos/editar", {
        "documento_viaje": "en_tramite", "consulado": "Consulado de Venezuela en Santiago"}))
    early = lead.post(f"/casos/{reference}/acciones/programar_viaje",
                      {**travel, "case_version": lead.case_version(reference)})
    assert early.status_code == 409 and "aún no tiene documento de viaje" in early.text
    ok(lead.submit(f"/casos/{reference}/formularios/retorno_documentos/editar", {
        "documento_viaje": "salvoconducto", "consulado": "Consulado de Venezuela en Santiago",
        "certificados": ["nacimiento", "salud"]}))
    ok(lead.act(reference, "programar_viaje", travel))
    ok(lead.act(reference, "registrar_llegada", {"fecha_llegada": "2026-11-18",
                                                  "llegada_confirmada_por": "organizacion_retorno"}))

    # Reintegration follow-up: a clock, contacts as records, then its conclusion.
    case_page = lead.get(f"/casos/{reference}").text
    assert "Retornó: seguimiento de la reintegración" in case_page
    assert "Seguimiento de la reintegración tras el retorno" in case_page  # the clock
    premature = lead.post(f"/casos/{reference}/acciones/concluir_reintegracion",
                          {"resultado": "reintegrada", "fecha": "2026-11-18", "case_version": lead.case_version(reference)})
    assert premature.status_code == 409 and "al menos un contacto" in premature.text
    ok(lead.act(reference, "registrar_contacto_reintegracion", {
        "fecha_contacto": "2026-11-18", "con_quien": "organizacion_reintegracion", "situacion": "estable",
        "apoyos_recibidos": ["apoyo_economico"], "notas": "Vive con su familia."}))
    ok(lead.act(reference, "concluir_reintegracion", {"resultado": "reintegrada", "fecha": "2026-11-18"}))

    # The return was hers: the case closes as an assisted return, residence request still pending.
    ok(coordinator.act(reference, "cerrar", closing))
    assert state_of(coordinator, reference) == "Cerrado"
    assert "Reintegración concluida" in coordinator.get(f"/casos/{reference}").text
    assert reference not in oim.get("/bandeja/retornos").text  # concluded: no longer in progress


@both_backends
def test_a_chilean_victim_detected_abroad_is_filed_without_a_region_and_the_consulate_joins_on_activation(
        app: Any, make_browser: Any) -> None:
    ngo, coordinator, consulate = make_browser(), make_browser(), make_browser()
    ngo.login("ong")
    coordinator.login("coordinador.rm")
    consulate.login("consulado")
    abroad = ficha_post(lugar_deteccion="extranjero", region="", comuna="", pais_deteccion="AR",
                        ciudad_extranjero="Mendoza", pais_explotacion="AR", contexto="consulado", nacionalidad="CL",
                        situacion_migratoria="chilena", forma_ingreso="no_aplica", **INDICATORS_ONLY)
    missing = ngo.submit("/fichas/nueva", {**abroad, "pais_deteccion": ""})
    assert missing.status_code == 400 and "Mendoza" in missing.text  # the country is required; nothing lost
    reference = reference_of(ngo.submit("/fichas/nueva", abroad))
    assert reference in coordinator.get("/bandeja/triaje").text  # routed to the fallback region's focal point
    view = coordinator.get(f"/casos/{reference}/formularios/ficha").text
    assert "Argentina" in view and "Mendoza" in view
    assert consulate.get(f"/casos/{reference}").status_code in (403, 404)  # not before activation
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "CAVD-CL-RM")),
                                              "fundamento": "Chilena explotada en el extranjero.",
                                              "tipo_trata": "laboral", "ambito": "internacional"}))
    assert consulate.get(f"/casos/{reference}").status_code == 200
    assert "Mendoza" in consulate.get(f"/casos/{reference}/formularios/ficha").text
    assert stat_type(app, reference) == "laboral"


@both_backends
def test_a_ficha_detected_in_chile_activates_without_the_consulate(app: Any, make_browser: Any) -> None:
    health, coordinator, consulate = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    consulate.login("consulado")
    refused = health.submit("/fichas/nueva", ficha_post(region=""))  # detected in Chile: the region is required
    assert refused.status_code == 400 and "Estación Central" in refused.text
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "CAVD-CL-RM")), "fundamento": "Sí."}))
    assert consulate.get(f"/casos/{reference}").status_code in (403, 404)


def test_the_lead_node_records_a_case_note_the_team_reads(app: Any, make_browser: Any, clock: Any) -> None:
    """Issue 16 item 2: «Nueva atención» as the lead node; shown newest first to the team it is shared with."""
    health, coordinator, lead = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.rm")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "CAVD-CL-RM")),
                                              "fundamento": "Indicadores claros."}))
    assert f'href="/casos/{reference}/atenciones/nueva"' in lead.get(f"/casos/{reference}").text
    ok(lead.submit(f"/casos/{reference}/atenciones/nueva", {
        "type": "entrevista", "date": "2026-11-18", "participants": "Dupla psicosocial",
        "narrative": "Primera entrevista en el centro.", "next_steps": "Control de salud.",
        "shared_with": ["punto_focal", "coordinacion_nacional"]}))
    clock.advance(minutes=5)  # newest first: the second note is written later
    ok(lead.submit(f"/casos/{reference}/atenciones/nueva", {
        "type": "llamada", "date": "2026-11-18", "narrative": "Llamada de control."}))
    page = coordinator.get(f"/casos/{reference}").text
    assert page.index("Llamada de control.") < page.index("Primera entrevista en el centro.")  # newest first
    assert "Primera entrevista" not in health.get(f"/casos/{reference}").text  # not shared with the detecting node
    national = make_browser()
    national.login("coordinacion.nacional")
    page = national.get(f"/casos/{reference}").text
    assert "Primera entrevista en el centro." in page and "Llamada de control." not in page  # shared with no one


def test_the_lead_node_attaches_a_pdf_the_focal_point_reads_and_the_detecting_node_does_not(
        app: Any, make_browser: Any) -> None:
    """Issue 16 item 3: the lead node attaches the copy of the complaint; the focal point (a reader of that
    kind) downloads it; the detecting node, whose relation does not read it, neither sees nor gets it."""
    health, coordinator, lead = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.sernameg")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")),
                                              "fundamento": "Indicadores claros."}))
    assert f'href="/casos/{reference}/documentos/nuevo"' in lead.get(f"/casos/{reference}").text
    content = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" * 200
    ok(lead.submit(f"/casos/{reference}/documentos/nuevo", {
        "kind": "copia_denuncia", "file": (io.BytesIO(content), "denuncia-fiscalia.pdf", "application/pdf")}))
    page = coordinator.get(f"/casos/{reference}").text
    assert "denuncia-fiscalia.pdf" in page and "Copia de la denuncia" in page
    link = re.search(rf'href="(/casos/{reference}/documentos/[0-9a-f-]{{36}})"', page)
    assert link is not None
    got = coordinator.get(link.group(1))
    assert got.status_code == 200 and got.data == content and got.headers["Content-Type"] == "application/pdf"
    assert "denuncia-fiscalia.pdf" not in health.get(f"/casos/{reference}").text
    assert health.get(link.group(1)).status_code == 404


@both_backends
def test_a_case_worker_is_made_responsible_takes_her_case_and_it_is_reassigned_with_a_reason(
        app: Any, make_browser: Any) -> None:
    """Issue 16 item 4: the lead node's case worker takes the case; at the focal point the node's manager
    names a coordinator, then hands the case to herself with a reason; «Mis casos» follows each of them."""
    health, coordinator, manager, lead = make_browser(), make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    manager.login("gestor.rm")
    lead.login("gestor.sernameg")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")),
                                              "fundamento": "Indicadores claros.", "tipo_trata": "laboral",
                                              "ambito": "internacional"}))
    url = f"/casos/{reference}/responsable"

    # The lead node: nobody is responsible yet; its case worker takes the case for herself.
    page = lead.get(f"/casos/{reference}").text
    assert "sin asignar" in page and "Tomar el caso" in page
    assert reference not in lead.get("/mis-casos").text
    ok(lead.submit(url, page_url=f"/casos/{reference}"))
    assert "(usted)" in lead.get(f"/casos/{reference}").text
    assert reference in lead.get("/mis-casos").text

    # The focal point (another node, its own responsable): the manager names the coordinator...
    with unit_of_work(app) as ctx:
        names = {u.email.split("@")[0]: u.id for u in ctx.session.scalars(select(User))}
    ok(manager.submit(url, {"responsable": str(names["coordinador.rm"])}, page_url=f"/casos/{reference}"))
    assert reference in coordinator.get("/mis-casos").text
    assert "Casa de acogida SernamEG" in lead.get(f"/casos/{reference}").text  # the lead node's stays hers
    # ...then takes it herself: a reassignment without a reason is refused, keeping what was chosen.
    refused = manager.submit(url, {"responsable": str(names["gestor.rm"])}, page_url=f"/casos/{reference}")
    assert refused.status_code == 400 and "Indique el motivo" in refused.text
    assert f'<option value="{names["gestor.rm"]}" selected>' in refused.text
    ok(manager.submit(url, {"responsable": str(names["gestor.rm"]), "motivo": "carga_de_trabajo"},
                      page_url=f"/casos/{reference}"))
    assert reference in manager.get("/mis-casos").text
    assert reference not in coordinator.get("/mis-casos").text
    assert reference in coordinator.get("/casos").text  # «Casos de mi nodo» still lists the node's cases


@both_backends
def test_the_lead_node_holds_a_case_meeting_whose_agreement_is_a_task_on_the_clocks(
        app: Any, make_browser: Any, clock: Any) -> None:
    """Issue 16 item 5: the lead node convenes the focal point to a mesa de caso; its minutes give the focal point
    an agreement, a task with a clock (reminded to the focal point) that stops when the focal point marks it done."""
    from .clocks import tick

    health, coordinator, lead = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.sernameg")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")),
                                              "fundamento": "Indicadores claros.", "tipo_trata": "laboral",
                                              "ambito": "internacional"}))
    focal = str(node_id(app, "CAVD-CL-RM"))
    ok(lead.submit(f"/casos/{reference}/mesas/nueva", {
        "date": "2026-11-20", "time": "10:30", "modality": "videollamada", "place": "Sala virtual del equipo",
        "purpose": "Plan de alojamiento.", "invited": [focal]}))
    tick(app, clock.now)
    notices = coordinator.get("/notificaciones").text
    assert "Mesa de caso (reunión y acta)" in notices and "Sala virtual" not in notices  # nothing of its content
    meeting_page = coordinator.get(f"/casos/{reference}").text
    assert "Sala virtual del equipo" in meeting_page and "Registrar acta" not in meeting_page  # the lead records it
    assert "Sala virtual" not in health.get(f"/casos/{reference}").text  # the detecting node was not invited
    acta = re.search(rf'href="(/casos/{reference}/mesas/[0-9a-f-]+/acta)"', lead.get(f"/casos/{reference}").text)
    assert acta
    ok(lead.submit(acta.group(1), {
        "attendees": [str(node_id(app, "SERNAMEG")), focal], "narrative": "Se revisó el alojamiento.",
        "agreements-0-text": "Gestionar cupo en residencia.", "agreements-0-responsible": focal,
        "agreements-0-due_on": "2026-12-01"}))
    page = coordinator.get(f"/casos/{reference}").text
    assert "Gestionar cupo en residencia." in page and "Marcar cumplido" in page
    assert "Acuerdo de mesa de caso" in page  # its clock runs among the case's deadlines
    tick(app, clock.now)
    assert "Acuerdo de mesa de caso" in coordinator.get("/notificaciones").text
    clock.advance(days=3)
    ok(coordinator.submit(f"/casos/{reference}/acuerdos/{hidden_agreement(page)}/cumplido",
                          {"note": "Cupo confirmado."}, page_url=f"/casos/{reference}"))
    page = lead.get(f"/casos/{reference}").text
    assert "Cupo confirmado." in page
    assert "<strong>Acuerdo de mesa de caso</strong>: Cumplido a tiempo" in page  # its clock stopped, met


def hidden_agreement(page: str) -> str:
    match = re.search(r'name="agreement" value="([0-9a-f-]+)"', page)
    assert match, "no agreement to mark done on the page"
    return match.group(1)


@both_backends
def test_a_case_workers_day_on_one_case_from_the_search_box_to_the_printed_informe(
        app: Any, make_browser: Any, clock: Any) -> None:
    """Issue 16, how it is proven: on one case, the lead node's case worker finds the person by name from the
    header, takes the case, records a note, attaches a PDF, holds a meeting whose agreement becomes the focal
    point's task on the clocks, writes the Informe Social and prints it; each step is read by whom it concerns and
    by nobody else. (The inbox at 390 px is measured in a real Chromium: tests/browser_layout/.)"""
    from .clocks import tick

    health, coordinator, lead = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.sernameg")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")),
                                              "fundamento": "Indicadores claros.", "tipo_trata": "laboral",
                                              "ambito": "internacional"}))
    case_url = f"/casos/{reference}"

    # 1. Search: names (any order) and date of birth in the header's box.
    found = lead.submit("/buscar", {"q": f"{VICTIM_GIVEN} {VICTIM_SURNAMES} 02-04-1996"},
                        page_url="/bandeja/casos_liderados")
    assert found.status_code == 200 and f'href="{case_url}"' in found.text

    # 2. The case worker takes the case: it is hers in «Mis casos».
    ok(lead.submit(f"{case_url}/responsable", page_url=case_url))
    assert reference in lead.get("/mis-casos").text

    # 3. A note of the first interview, shared with the focal point.
    clock.advance(minutes=5)
    ok(lead.submit(f"{case_url}/atenciones/nueva", {
        "type": "entrevista", "date": "2026-11-18", "participants": "Dupla psicosocial",
        "narrative": "Entrevista de acogida en la casa.", "next_steps": "Coordinar mesa de caso.",
        "shared_with": ["punto_focal"]}))
    assert "Entrevista de acogida en la casa." in coordinator.get(case_url).text

    # 4. A PDF: the copy of the complaint, read by the focal point, not by the detecting node.
    content = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" * 100
    ok(lead.submit(f"{case_url}/documentos/nuevo", {
        "kind": "copia_denuncia", "file": (io.BytesIO(content), "denuncia.pdf", "application/pdf")}))
    link = re.search(rf'href="({case_url}/documentos/[0-9a-f-]{{36}})"', coordinator.get(case_url).text)
    assert link is not None and coordinator.get(link.group(1)).data == content
    assert health.get(link.group(1)).status_code == 404

    # 5. A meeting with the focal point; its agreement is the focal point's task with a clock, then done.
    focal = str(node_id(app, "CAVD-CL-RM"))
    ok(lead.submit(f"{case_url}/mesas/nueva", {
        "date": "2026-11-19", "time": "09:00", "modality": "presencial", "place": "Oficina del CAVD",
        "purpose": "Alojamiento y salud.", "invited": [focal]}))
    acta = re.search(rf'href="({case_url}/mesas/[0-9a-f-]+/acta)"', lead.get(case_url).text)
    assert acta is not None
    ok(lead.submit(acta.group(1), {
        "attendees": [str(node_id(app, "SERNAMEG")), focal], "narrative": "Se acordó la derivación a salud.",
        "agreements-0-text": "Solicitar hora en salud mental.", "agreements-0-responsible": focal,
        "agreements-0-due_on": "2026-11-27"}))
    tick(app, clock.now)
    page = coordinator.get(case_url).text
    assert "Solicitar hora en salud mental." in page and "Acuerdo de mesa de caso" in page
    ok(coordinator.submit(f"{case_url}/acuerdos/{hidden_agreement(page)}/cumplido", {"note": "Hora pedida."},
                          page_url=case_url))
    assert "Cumplido a tiempo" in lead.get(case_url).text

    # 6. The Informe Social, written and printed: reference, revision, its content; no navigation.
    ok(lead.act(reference, "iniciar_informe"))
    ok(lead.submit(f"{case_url}/formularios/informe_social/editar",
                   informe_post(red_familiar="Hermana en Antofagasta.")))
    printed = lead.get(f"{case_url}/formularios/informe_social/imprimir")
    assert printed.status_code == 200
    for shown in (reference, "Informe Social", "Hermana en Antofagasta.", "Confidencial"):
        assert shown in printed.text, shown
    assert 'role="search"' not in printed.text and "Cerrar sesión" not in printed.text
    assert health.get(f"{case_url}/formularios/informe_social/imprimir").status_code == 403

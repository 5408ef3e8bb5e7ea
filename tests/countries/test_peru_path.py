"""Peru's Protocol in the browser (issue 19, «How it is proven»): the app booted with WORKFLOW=peru, its demo
accounts signed in with their second factor, a child's case walked from the Ficha to closure through the web
forms: the child-protection referral to the UPE, activation, the emergency CAR with its 10-day clock, the
prosecution numbers (RETA, SISTRA), the Plan de Reintegración Individual, follow-up and closure."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from referral.clocks.models import CaseClock
from referral.extensions import database
from referral.kernel.models import Case
from referral.kernel.referral_models import Referral

from ..backends import both_backends
from .peru import PeruBrowser, node_id

NOMBRES, APELLIDOS, DNI = "Yeni", "Quispe Huamán", "71234567"


def ficha_post(**changes: Any) -> dict[str, Any]:
    """Peru's Ficha as typed into the web form: a girl of 15 met by the DEMUNA in Lima Metropolitana."""
    data: dict[str, Any] = {
        "fecha_deteccion": "2026-11-18T08:30", "departamento": "PE-LMA", "contexto": "centro_salud",
        "funcionario_contacto": "+51 1 400 0000", "solicitante": "institucion",
        "nombres": NOMBRES, "apellidos": APELLIDOS, "sexo": "F", "edad_tipo": "fecha_nacimiento",
        "fecha_nacimiento": "2011-05-03", "nna": "y", "nacionalidad": "PE", "lengua_materna": "quechua",
        "documentos_identidad": ["dni"], "numero_documento": DNI, "situacion_migratoria": "peruana",
        "indicadores": ["oferta_trabajo_falsa", "salario_impago", "traslado_otra_region"],
        "conductas": ["captacion", "transporte"], "fines": ["explotacion_laboral"], "tipo_trata": "laboral",
        "ambito": "interna", "forma_captacion": ["oferta_laboral_falsa"], "relacion_tratante": "tercero",
        "denuncia_realizada": "no", "relato": "Refiere que la trajeron de Huancavelica con una oferta de trabajo.",
        "consentimiento": "si", "consentimiento_de": "organismo_proteccion",
    }
    data.update(changes)
    return data


def plan_post(health: int, education: int) -> dict[str, str]:
    return {
        "situacion_actual": "Acogida en el CAR; retomó el contacto con su madre.", "nivel_riesgo": "medio",
        "proyecto_de_vida": "Terminar el colegio.", "objetivos_corto_plazo": "Protección, salud y escuela.",
        "objetivos_largo_plazo": "Reintegración familiar y educativa.",
        "acciones-0-dimension": "salud", "acciones-0-servicio": "salud_mental",
        "acciones-0-nodo_responsable": str(health), "acciones-0-plazo": "corto",
        "acciones-0-fecha_compromiso": "2026-12-18", "acciones-0-estado": "en_curso",
        "acciones-1-dimension": "educativa", "acciones-1-servicio": "educacion",
        "acciones-1-nodo_responsable": str(education), "acciones-1-plazo": "largo",
        "acciones-1-fecha_compromiso": "2027-03-01", "acciones-1-estado": "pendiente",
        "acuerdo": "si", "opinion": "Quiere volver a estudiar.", "acuerdo_fecha": "2026-11-18",
    }


def ok(response: Any) -> None:
    assert response.status_code == 303, (response.status_code, re.findall(
        r'class="(?:error|flash error)"[^>]*>([^<]+)', response.text))


def reference_of(response: Any) -> str:
    ok(response)
    match = re.search(r"/casos/([A-Z]+-[0-9A-Z]{4}-[0-9A-Z]{4})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def state_of(browser: PeruBrowser, reference: str) -> str:
    page = browser.get(f"/casos/{reference}")
    assert page.status_code == 200, page.status_code
    found = re.search(r'<p class="state[^"]*">([^<]+)</p>', page.text)
    assert found, "the case page shows no state"
    return found.group(1)


def referral_to(app: Any, reference: str, node: int) -> str:
    with app.app_context():
        session = database.session()
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
        found = session.scalar(select(Referral.id).where(Referral.case_id == case_id, Referral.to_node_id == node))
    assert found is not None
    return str(found)


def car_clock(app: Any, reference: str) -> CaseClock:
    with app.app_context():
        session = database.session()
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
        clock = session.scalar(select(CaseClock).where(CaseClock.case_id == case_id,
                                                       CaseClock.clock == "estancia_car_emergencia"))
        assert clock is not None, "the 10-day clock of the emergency CAR never started"
        session.expunge(clock)
        return clock


def walk(app: Any, browser: Any, clock: Any, probe: Callable[[str, str], None] = lambda _stage, _ref: None) -> str:
    """The whole path as Peru's people; returns the case's reference. `probe(stage, reference)` is called at each
    named stage (the route matrix checks there, with other users, the routes the next step uses)."""
    demuna, focal, upe, car = browser(), browser(), browser(), browser()
    for person, name in ((demuna, "demuna.lma"), (focal, "coordinador.lma"), (upe, "upe.lma"),
                         (car, "car.emergencia")):
        assert person.login(name).status_code == 302, f"{name} could not sign in"

    # 1. The DEMUNA files the Ficha on the web form.
    reference = reference_of(demuna.submit("/fichas/nueva", ficha_post()))
    assert state_of(demuna, reference) == "Detectado"
    assert NOMBRES in demuna.get(f"/casos/{reference}/formularios/ficha").text
    probe("detectado", reference)

    # 2. The MIMP focal point of Lima takes it; a child's case cannot be activated before the UPE is referred to.
    assert reference in focal.get("/bandeja/triaje").text
    ok(focal.act(reference, "tomar_caso"))
    assert state_of(focal, reference) == "En evaluación"
    probe("en_evaluacion", reference)
    upe_node, car_node = node_id(app, "UPE-PE-LMA"), node_id(app, "CAR-SANTA-ROSA-1")
    activation = {"nodo_lider": str(upe_node), "fundamento": "Indicadores de captación con fines laborales.",
                  "tipo_trata": "laboral", "ambito": "interna"}
    early = focal.post(f"/casos/{reference}/acciones/activar", {**activation, "confirmo": "si",
                                                               "case_version": focal.case_version(reference)})
    assert early.status_code == 409 and "derive el caso a la Unidad de Protección Especial" in early.text
    ok(focal.submit(f"/casos/{reference}/consentimientos/nuevo", {
        "given_by": "organismo_proteccion", "scope": "red", "given_on": "2026-11-18", "evidence": "resolucion"}))
    ok(focal.submit(f"/casos/{reference}/derivar/proteccion_nna",
                    {"servicio": "proteccion_nna", "to_node": str(upe_node)}))
    probe("nna_derivado", reference)
    ok(upe.submit(f"/casos/{reference}/derivaciones/{referral_to(app, reference, upe_node)}/aceptar", {}))
    ok(focal.act(reference, "activar", activation))
    assert state_of(focal, reference) == "Activado (ingresó al Protocolo)"
    assert reference in upe.get("/bandeja/casos_a_cargo").text
    probe("activado", reference)

    # 3. The emergency CAR: the UPE refers her, the CAR accepts and records the entry; the 10-day clock runs.
    ok(upe.submit(f"/casos/{reference}/derivar/emergencia",
                  {"servicio": "acogida_emergencia", "to_node": str(car_node)}))
    probe("car_derivado", reference)
    ok(car.submit(f"/casos/{reference}/derivaciones/{referral_to(app, reference, car_node)}/aceptar", {}))
    probe("car_aceptado", reference)
    entry = clock.now.astimezone(app.extensions["referral.timezone"]).replace(tzinfo=None, second=0)
    ok(car.act(reference, "ingresar_car_emergencia", {"car": str(car_node), "dispuesto_por": "upe",
                                                      "fecha_ingreso": entry.strftime("%Y-%m-%dT%H:%M")}))
    stay = car_clock(app, reference)
    assert stay.status == "running"
    started = stay.started_at.astimezone(dt.UTC)
    assert started == clock.now  # the entry is recorded as it happens
    # The deadline is the end of the 10th calendar day after the day of entry, in Lima (weekends count too).
    due = stay.due_at.astimezone(app.extensions["referral.timezone"]).replace(tzinfo=None)
    assert due == dt.datetime.combine(entry.date() + dt.timedelta(days=10), dt.time()) + dt.timedelta(days=1)
    page = upe.get(f"/casos/{reference}").text
    assert "En el CAR de emergencia" in page and "Estancia máxima en CAR de emergencia (10 días)" in page
    assert reference in car.get("/bandeja/car_emergencia").text
    assert state_of(upe, reference) == "Activado (ingresó al Protocolo)"  # a track: the case's state is unchanged
    probe("en_car", reference)
    clock.advance(days=6)
    ok(car.act(reference, "egresar_car_emergencia", {
        "fecha_egreso": (entry + dt.timedelta(days=6)).strftime("%Y-%m-%dT%H:%M"), "destino": "familia"}))
    assert car_clock(app, reference).status == "stopped"
    assert "Egresó del CAR de emergencia" in upe.get(f"/casos/{reference}").text
    assert reference not in car.get("/bandeja/car_emergencia").text

    # 4. The prosecution: the lead node records the police complaint (RETA) and the prosecutor's case (SISTRA).
    ok(upe.act(reference, "registrar_persecucion", {
        "numero_reta": "RETA-2026-00417", "dependencia_policial": "DIRCTPTIM", "fecha_denuncia": "2026-11-19",
        "fiscalia": "FISTRAP de Lima", "delitos": ["trata"], "numero_caso_fiscal": "1506014501-2026-118-0",
        "medidas_proteccion": ["reserva_identidad"]}))
    page = upe.get(f"/casos/{reference}").text
    assert "Denuncia registrada (diligencias preliminares)" in page
    probe("persecucion", reference)
    recorded = upe.get(f"/casos/{reference}/formularios/persecucion").text
    assert "RETA-2026-00417" in recorded and "1506014501-2026-118-0" in recorded

    # 5. The Plan de Reintegración Individual: written and sent by the UPE, approved by the focal point.
    ok(upe.act(reference, "iniciar_plan"))
    assert state_of(upe, reference) == "Plan de Reintegración Individual en elaboración"
    ok(upe.submit(f"/casos/{reference}/formularios/plan_reintegracion/editar",
                  plan_post(node_id(app, "MINSA-PE-LMA"), upe_node)))
    probe("plan_en_elaboracion", reference)
    ok(upe.act(reference, "enviar_plan"))
    assert reference in focal.get("/bandeja/por_aprobar").text
    probe("plan_enviado", reference)
    ok(focal.act(reference, "aprobar_plan"))
    assert state_of(focal, reference) == "Plan de Reintegración Individual en ejecución"
    probe("plan_en_ejecucion", reference)

    # 6. Follow-up, then the focal point closes the case.
    ok(upe.act(reference, "iniciar_seguimiento"))
    assert state_of(upe, reference) == "Seguimiento"
    probe("seguimiento", reference)
    ok(focal.act(reference, "cerrar", {"motivo": "objetivos_cumplidos", "fecha_cierre": "2026-11-24"}))
    assert state_of(focal, reference) == "Cerrado"
    assert reference not in upe.get("/bandeja/casos_a_cargo").text
    probe("cerrado", reference)
    return reference


@both_backends
def test_a_childs_case_in_peru_travels_from_the_ficha_through_the_emergency_car_to_closure(
        peru: Any, peru_browser: Any, clock: Any) -> None:
    walk(peru, peru_browser, clock)

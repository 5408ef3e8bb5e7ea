"""`flask demo load`: the demo network and N cases driven through the real services to every state.

Cases are not written into tables directly: each one is filed, triaged, written up and decided by
the demo users through the same service calls the web pages use, with a simulated clock, so the
demo shows real timelines, real encryption and only states the protocol can reach.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask

from ..auth.models import User
from ..cases.assignment import assign
from ..cases.editing import save_form
from ..cases.intake import file_intake
from ..cases.meetings import (AgreementInput, MeetingInput, MinutesInput, complete_agreement, convene,
                             record_minutes)
from ..kernel.models import Case
from ..cases.notes import NoteInput, record_note
from ..cases.transitions import fire_transition
from ..referrals.consent import record_consent
from ..referrals.service import answer_referral, send_referral
from ..context import Context
from ..extensions import database
from .mesa import load_mesa_sessions
from .network import DEMO_PASSWORD, DOMAIN, DemoNetwork, clear_all, load_network
from .plan import load_demo_plan
from .people import Person, PersonFactory

# Where each demo case stops; cycled so that every state (and the residence track) is shown.
STAGES = (
    "detectado", "en_evaluacion", "informacion_solicitada", "no_activado", "activado", "informe_borrador",
    "informe_enviado", "plan_en_elaboracion", "plan_en_ejecucion", "residencia_presentada", "seguimiento",
    "residencia_otorgada", "cerrado", "retorno_voluntario",
)
FOREIGN_STAGES = {"residencia_presentada", "residencia_otorgada", "retorno_voluntario"}
# Fichas of the kinds the network finds hard to file (issue 15): a Chilean detected abroad (index 4, activated
# with MINREL's consular service), and Fichas with indicators only, the legal elements «sin información», that
# the focal point qualifies when she activates them (every fifth case from index 5).
ABROAD_INDEX = 4
ABROAD_REGION = "CL-RM"  # the workflow's region_fallback: where a case detected abroad without a region goes
STAGE_STEPS = {
    "detectado": 0, "en_evaluacion": 1, "informacion_solicitada": 2, "no_activado": 2, "activado": 2,
    "informe_borrador": 4, "informe_enviado": 6, "plan_en_elaboracion": 7, "plan_en_ejecucion": 10,
    "residencia_presentada": 14, "seguimiento": 11, "residencia_otorgada": 16, "cerrado": 12,
    "retorno_voluntario": 20,
}
# The causa penal of some demo cases [fuente: seed 001, one causa with 64 workers]: the victims of cases in
# follow-up share one labour-trafficking causa (their cases are linked); a case with its plan in progress has
# a causa of its own, still under investigation. The RUCs are invented.
SHARED_RUC = "2300814452-6"
CAUSA_STAGES = {"plan_en_ejecucion": "investigacion", "seguimiento": "formalizada", "residencia_otorgada": "juicio"}
INTAKE_USERS = {
    "CL-RM": ("ong", "salud.rm", "policia.rm", "trabajo.rm", "gestor.rm"),
    "CL-TA": ("salud.ta", "policia.ta", "gestor.ta"),
}
TEXTS = (
    "Se realizó entrevista en espacio seguro con apoyo de intérprete cuando fue necesario.",
    "La persona manifiesta interés en regularizar su situación y acceder a trabajo formal.",
    "Se coordina atención en salud mental y acompañamiento psicosocial.",
    "Cuenta con red de apoyo limitada en Chile; mantiene contacto con familia en origen.",
    "Se evalúa alojamiento transitorio y apoyo económico para subsistencia.",
    "Se orienta sobre derechos y sobre la posibilidad de solicitar residencia temporal.",
)
# Case notes (atenciones) the lead node's case worker writes: (type, who took part, narrative, next steps).
NOTES = {
    "entrevista": (
        "Trabajadora social del nodo líder; la persona; intérprete",
        "Primera entrevista en un espacio reservado. La persona relata su situación con calma y pide que no se "
        "contacte a su empleador. Se explican sus derechos y el Protocolo.",
        "Coordinar alojamiento seguro y hora de salud mental; agendar segunda entrevista."),
    "llamada": (
        "Trabajadora social del nodo líder; la persona",
        "Llamada de seguimiento: la persona asiste a sus controles y mantiene el alojamiento. Refiere sentirse "
        "más tranquila.",
        "Nueva llamada en dos semanas; revisar el avance del Plan con el punto focal."),
}


class DemoCases:
    """Drives demo cases through the workflow; holds the simulated clock."""

    def __init__(self, ctx: Context, network: DemoNetwork, seed: int):
        self.ctx = ctx
        self.network = network
        self.rng = random.Random(seed)
        self.seed = seed
        self.people = PersonFactory(seed, [r.code for r in network.regions])
        self.real_now = dt.datetime.now(dt.UTC)
        self.moment = self.real_now
        self._kind = "full"  # the kind of Ficha the current case files (see ABROAD_INDEX)
        ctx.clock = lambda: self.moment

    # -- plumbing -------------------------------------------------------------------------------

    def _local_date(self) -> dt.date:
        return self.ctx.local_now().date()

    def _text(self, sentences: int = 2) -> str:
        return " ".join(self.rng.sample(TEXTS, sentences))

    def _fire(self, user: User, case: Case, key: str, values: dict[str, Any] | None = None) -> None:
        fire_transition(self.ctx, user, case.reference, key, values, case.version)

    def _save(self, user: User, case: Case, form: str, values: dict[str, Any]) -> None:
        save_form(self.ctx, user, case.reference, form, values, case.version)

    def _node_id(self, code: str) -> str:
        return str(self.network.node(code).id)

    # -- one case ---------------------------------------------------------------------------------

    def create(self, index: int) -> Case:
        stage = STAGES[index % len(STAGES)]
        steps = STAGE_STEPS[stage]
        # A case still waiting at an early step was filed recently (a Ficha waits hours or days for
        # triage, not a year), so the demo's clocks look like a working network's: a few overdue.
        oldest = min(420, 3 + 6 * steps + 40 * steps) if steps else 2.5
        start = self.real_now - dt.timedelta(days=self.rng.uniform(3 + 6 * steps if steps else 0.1, oldest))
        self.moment = start
        gaps = sorted(self.rng.uniform(0.05, 1) for _ in range(steps))
        span = (self.real_now - dt.timedelta(hours=2) - start)
        self._times = iter([start + span * gap for gap in gaps])
        person = self.people.draw(self._local_date(), foreign=stage in FOREIGN_STAGES)
        abroad = index == ABROAD_INDEX
        if abroad:
            person = dataclasses.replace(person, nationality="CL", region=ABROAD_REGION)
        self._kind = "abroad" if abroad else "indicators" if index % 5 == 0 and index else "full"
        case = self._intake(person, declined=stage == "no_activado" and self.rng.random() < 0.4)
        self._advance(case, person, stage)
        if stage in CAUSA_STAGES:
            self._causa(case, person, index, CAUSA_STAGES[stage])
        return case

    def _tick(self) -> None:
        self.moment = next(self._times, self.moment + dt.timedelta(hours=1))

    def _intake(self, person: Person, declined: bool) -> Case:
        options = INTAKE_USERS.get(person.region, (f"gestor.{person.region.removeprefix('CL-').lower()}", "ong",
                                                   "ong.incami"))
        user = self.network.user(self.rng.choice(options))
        values = self._ficha(person, declined)
        return file_intake(self.ctx, user, values, secrets.token_urlsafe(16))

    def _ficha(self, person: Person, declined: bool) -> dict[str, Any]:
        return demo_ficha(self.rng, person, self.ctx.local_now(), declined=declined,
                          abroad=self._kind == "abroad", indicators_only=self._kind == "indicators")

    def _advance(self, case: Case, person: Person, stage: str) -> None:
        region = person.region
        coordinator = self.network.coordinator(region)
        worker = self.network.case_worker(region)
        if stage == "detectado":
            return
        self._tick()
        self._fire(coordinator, case, "tomar_caso")
        if stage == "en_evaluacion":
            return
        self._tick()
        if stage == "informacion_solicitada":
            self._fire(coordinator, case, "solicitar_informacion", {"preguntas": "Indicar si la persona cuenta con alojamiento seguro esta noche."})
            return
        if stage == "no_activado":
            referred = self._node_id(f"DT-{region}") if person.trafficking_type == "laboral" else None
            self._fire(coordinator, case, "no_activar", {
                "motivo": "persona_declina" if case.flags.get("nna") is False and self.rng.random() < 0.4 else "no_es_trata",
                "derivado_a": referred, "fundamento": "Los antecedentes no configuran los elementos del art. 411 quáter."})
            return
        child = bool(case.flags.get("nna"))
        self._consent(coordinator, case, child)
        if child:  # Mejor Niñez and the family court first (the NNA rule)
            self._refer(coordinator, case, "proteccion_nna", "proteccion_nna", f"MEJOR-NINEZ-{region}")
            self._fire(coordinator, case, "registrar_comunicacion_nna", {
                "destinatario": self.rng.choice(["tribunal_familia", "oficina_local_ninez"]),
                "fecha": self.ctx.local_now().replace(tzinfo=None, second=0, microsecond=0), "medio": "oficio"})
        elif case.flags.get("urgente") and self.rng.random() < 0.5:
            self._refer(coordinator, case, "emergencia", "alojamiento", "SERNAMEG", answer="aceptar")
        self._fire(coordinator, case, "activar", self._activation(person, region))
        if stage == "activado":
            return
        self._tick()
        self._fire(worker, case, "iniciar_informe")
        self._take(worker, case)
        self._note(worker, case, "entrevista")
        self._tick()
        partial = stage == "informe_borrador"
        self._save(worker, case, "informe_social", self._informe(person, partial))
        if partial:
            return
        self._tick()
        self._fire(worker, case, "enviar_informe")
        if stage == "informe_enviado":
            return
        self._tick()
        self._fire(coordinator, case, "aprobar_informe")
        if stage == "plan_en_elaboracion":
            return
        self._tick()
        self._save(worker, case, "plan", self._plan(person))
        self._tick()
        self._fire(worker, case, "enviar_plan")
        self._tick()
        self._fire(coordinator, case, "aprobar_plan")
        self._tick()
        self._refer(worker, case, "derivacion", "salud_mental", f"MINSAL-{region}",
                    answer=self.rng.choice([None, "aceptar", "aceptar"]), due=self.rng.randint(10, 40))
        self._meeting(worker, case, f"MINSAL-{region}", done=stage != "plan_en_ejecucion")
        if stage in FOREIGN_STAGES - {"retorno_voluntario"}:
            self._residence(case, person, worker, granted=stage == "residencia_otorgada")
        if stage in ("plan_en_ejecucion", "residencia_presentada"):
            return
        self._tick()
        self._fire(worker, case, "iniciar_seguimiento")
        self._note(worker, case, "llamada")
        if stage == "retorno_voluntario":
            self._return(case, person, worker)
        if stage != "cerrado":
            return
        self._tick()
        self._fire(coordinator, case, "cerrar", {
            "motivo": self.rng.choice(["objetivos_cumplidos", "desiste", "perdida_contacto", "traslado"]),
            "fecha_cierre": self._local_date(), "observaciones": self._text(1)})

    def _take(self, worker: User, case: Case) -> None:
        """The lead node's case worker becomes the case's responsible person («Mis casos»)."""
        assign(self.ctx, worker, case.reference, worker.id, None, case.version)

    def _note(self, worker: User, case: Case, kind: str) -> None:
        """One case note by the lead node, shared as the form suggests (no draw from the main generator: the
        people and the other cases of a seed stay as they were)."""
        participants, narrative, next_steps = NOTES[kind]
        values = NoteInput(type=kind, date=self._local_date(), participants=participants, narrative=narrative,
                           next_steps=next_steps, shared_with=("nodo_lider", "punto_focal"))
        record_note(self.ctx, worker, case.reference, values, secrets.token_urlsafe(16))

    def _meeting(self, worker: User, case: Case, invited_code: str, *, done: bool) -> None:
        """The lead node convenes the health service it referred to (a mesa de caso on the approved plan); its
        minutes give the lead node an agreement, done a few days later, or, in a case still in its plan, open and
        due next week (so the demo's clocks show tasks to do, not months-old failures)."""
        invited = self.network.node(invited_code).id
        starts = self.ctx.local_now().replace(tzinfo=None, second=0, microsecond=0)
        meeting = convene(self.ctx, worker, case.reference, MeetingInput(
            starts_at=starts, modality="videollamada", place="Sala virtual del nodo líder",
            purpose="Revisar el Plan aprobado y coordinar la atención en salud mental.", invited=(invited,)),
            secrets.token_urlsafe(16))
        due = (self._local_date() if done else self.real_now.astimezone(self.ctx.timezone).date()) + dt.timedelta(days=7)
        (agreement,) = record_minutes(self.ctx, worker, case.reference, meeting.id, MinutesInput(
            attendees=(worker.node_id, invited),
            narrative="Se revisan las acciones del Plan; la persona está de acuerdo con la derivación a salud mental.",
            agreements=(AgreementInput("Acompañar a la persona a su primera hora en salud mental.", worker.node_id,
                                       due),)))
        if done:
            self._tick()
            complete_agreement(self.ctx, worker, case.reference, agreement.id, "Acompañada a su primera atención.")

    def _causa(self, case: Case, person: Person, index: int, status: str) -> None:
        """The lead node records the causa penal and its steps up to `status` (no random draws: the people
        and the other cases of a seed stay as they were)."""
        worker = self.network.case_worker(person.region)
        shared = status != "investigacion"
        self._tick()
        self._fire(worker, case, "registrar_causa", {
            "ruc": SHARED_RUC if shared else f"2400{index:06d}-K", "fiscalia": "Fiscalía Regional",
            "unidad": "Fiscalía de Alta Complejidad" if shared else None, "fecha_denuncia": self._local_date(),
            "delitos": ["trata", "asociacion_ilicita"] if shared else ["trata"],
            "certificacion_victima": "certificada_uravit" if shared else "en_tramite",
            "fecha_certificacion": self._local_date() if shared else None,
            "medidas_proteccion": ["reserva_identidad", "programa_victimas_testigos"] if shared else [],
            "no_punibilidad": shared,
            "no_punibilidad_actos": "Ingresó al país con documentos falsos que le entregó la red." if shared else None,
        })
        steps = ("formalizar_causa", "acusar_causa", "iniciar_juicio_oral")
        for step in steps[:{"investigacion": 0, "formalizada": 1, "juicio": 3}[status]]:
            self._tick()
            self._fire(worker, case, step, {"fecha": self._local_date(), "imputados": 4,
                                            # the annual report counts causas by their accused's nationality
                                            "imputados_nacionalidad": [{"nacionalidad": "CL", "numero": 2},
                                                                       {"nacionalidad": person.nationality,
                                                                        "numero": 2}],
                                            "tribunal": "Juzgado de Garantía" if step != "iniciar_juicio_oral"
                                            else "Tribunal de Juicio Oral en lo Penal"})

    def _return(self, case: Case, person: Person, worker: User) -> None:
        """A voluntary return the person asked for: documents, IOM, travel and reintegration follow-up."""
        self._tick()
        self._fire(worker, case, "solicitar_retorno", {
            "pedido_por_la_persona": True, "fecha_solicitud": self._local_date(),
            "en_sus_palabras": "Quiero volver con mi madre y mis hijos; allá tengo dónde vivir.",
            "pais_destino": person.nationality, "consentimiento_de": "persona",
            "forma_consentimiento": "firma", "informado_por": "Trabajadora social del CAVD",
            "alternativas_informadas": ["residencia_temporal", "permanecer_proceso", "riesgos_retorno",
                                        "apoyo_reintegracion", "desistir"],
            "riesgo_retorno": "bajo", "riesgo_fundamento": "La red de explotación operaba en Chile."})
        self._tick()
        self._refer(worker, case, "derivacion", "retorno_asistido", "OIM", answer="aceptar")
        self._fire(worker, case, "preparar_retorno")
        self._tick()
        self._save(worker, case, "retorno_documentos", {
            "documento_viaje": "salvoconducto", "consulado": "Consulado en Santiago",
            "consulado_fecha": self._local_date(), "certificados": ["nacimiento", "salud"]})
        self._tick()
        self._fire(worker, case, "programar_viaje", {
            "organizacion_retorno": self._node_id("OIM"), "fecha_viaje": self._local_date(),
            "recepcion_coordinada": True, "organizacion_reintegracion": "Oficina de la OIM en el país de origen",
            "apoyos_reintegracion": ["apoyo_economico", "insercion_laboral"]})
        self._tick()
        self._fire(worker, case, "registrar_llegada", {"fecha_llegada": self._local_date(),
                                                       "llegada_confirmada_por": "organizacion_retorno"})
        self._tick()
        self._fire(worker, case, "registrar_contacto_reintegracion", {
            "fecha_contacto": self._local_date(), "con_quien": "persona", "situacion": "estable",
            "apoyos_recibidos": ["apoyo_economico"], "notas": "Vive con su familia; busca trabajo."})

    def _activation(self, person: Person, region: str) -> dict[str, Any]:
        """The focal point activates and qualifies the case (decision_activacion v2)."""
        sexual = person.trafficking_type == "sexual"
        return {"nodo_lider": self._node_id(f"CAVD-{region}"), "fundamento": "Se configuran indicadores de trata.",
                "tipo_trata": person.trafficking_type,
                "ambito": "internacional" if self._kind == "abroad" or person.nationality != "CL" else "interna",
                "acciones": ["captacion", "traslado"] if self._kind == "abroad" else ["sin_informacion"],
                "medios": [] if person.minor else ["engano"],
                "fines": ["explotacion_sexual"] if sexual else ["trabajos_forzados"]}

    def _consent(self, coordinator: User, case: Case, child: bool) -> None:
        record_consent(self.ctx, coordinator, case.reference, scope="red",
                       given_by="organismo_proteccion" if child else "persona", given_on=self._local_date(),
                       evidence="resolucion" if child else self.rng.choice(["firma", "verbal_registrado"]),
                       expected_version=case.version)

    def _refer(self, sender: User, case: Case, kind: str, service: str, node_code: str, *,
               answer: str | None = None, due: int | None = None) -> None:
        referral = send_referral(
            self.ctx, sender, case.reference, kind=kind, service=service, to_node_id=self.network.node(node_code).id,
            expected_version=case.version,
            due_on=self._local_date() + dt.timedelta(days=due) if due else None)
        if answer is not None:
            self._tick()
            receiver = next((u for u in self.network.users.values() if u.node_id == referral.to_node_id
                             and u.role in ("gestor", "coordinador", "deteccion")), None)
            if receiver is not None:
                answer_referral(self.ctx, receiver, case.reference, referral.id, answer, expected_version=case.version)

    def _residence(self, case: Case, person: Person, worker: User, granted: bool) -> None:
        migration = self.network.user("migraciones")
        self._tick()
        self._fire(worker, case, "iniciar_residencia")
        self._tick()
        self._save(worker, case, "solicitud_residencia", {
            "finalidad": "regularizar", "exencion_costos": True,
            "certificacion": self.rng.choice(["si", "en_tramite"]), "certificacion_fiscalia": "Fiscalía Regional",
            "certificacion_fecha": self._local_date(), "tipo_documento": "pasaporte",
            "numero_documento": person.document_number, "pais_documento": person.nationality,
            "situacion_migratoria_actual": "irregular", "peligro_grave": self.rng.random() < 0.3,
            "fecha_preparacion": self._local_date(), "permiso_trabajo": True, "cedula_solicitada": True,
        })
        self._tick()
        self._fire(worker, case, "presentar_residencia")
        self._tick()
        self._fire(migration, case, "registrar_tramite")
        if not granted:
            return
        self._tick()
        start = self._local_date()
        self._fire(migration, case, "otorgar_residencia", {
            "fecha_resolucion": start, "numero_permiso": f"RT-{self.rng.randint(100000, 999999)}",
            "vigencia_inicio": start, "vigencia_fin": start.replace(year=start.year + 1) + dt.timedelta(days=1),
            "permiso_trabajo": True})

    def _informe(self, person: Person, partial: bool) -> dict[str, Any]:
        values = {
            "nivel_educacional": self.rng.choice(["basica_completa", "media_incompleta", "media_completa", "tecnica"]),
            "nivel_ingresos": self.rng.choice(["sin_ingresos", "bajo"]),
            "tipo_explotacion": person.trafficking_type, "redes_apoyo": self._text(1),
            "opinion_persona": "Desea estabilidad, trabajo formal y seguridad para su familia.",
            "alojamiento": self._text(1), "salud_mental": self._text(1), "hijos_en_origen": self.rng.randint(0, 3),
        }
        if not partial:
            values.update({"riesgo": self.rng.choice(["bajo", "medio", "alto"]), "riesgo_fundamentos": self._text(1),
                           "proyecto_vida": self._text(1), "evaluacion_profesional": self._text(2),
                           "firmante_cargo": "Trabajadora social", "firmado": True})
        return values

    def _plan(self, person: Person) -> dict[str, Any]:
        region = person.region
        due = self._local_date() + dt.timedelta(days=30)
        actions = [
            {"necesidad": "salud_mental", "servicio": "salud_mental", "nodo_responsable": self._node_id(f"MINSAL-{region}"),
             "plazo": "corto", "fecha_compromiso": due, "estado": "en_curso", "notas_seguimiento": None},
            {"necesidad": "juridica", "servicio": "asesoria_juridica", "nodo_responsable": self._node_id(f"CAJ-{region}"),
             "plazo": "corto", "fecha_compromiso": due, "estado": "pendiente", "notas_seguimiento": None},
        ]
        if person.nationality != "CL":
            actions.append({"necesidad": "migratoria", "servicio": "regularizacion_migratoria",
                            "nodo_responsable": self._node_id("SERMIG"), "plazo": "largo",
                            "fecha_compromiso": due + dt.timedelta(days=60), "estado": "pendiente",
                            "notas_seguimiento": None})
        if person.nationality != "CL" or self.rng.random() < 0.5:
            actions.append({"necesidad": "reparacion", "servicio": "reparacion_pecuniaria",
                            "nodo_responsable": self._node_id(f"CAJ-{region}"), "plazo": "largo",
                            "fecha_compromiso": due + dt.timedelta(days=90), "estado": "pendiente",
                            "notas_seguimiento": None})
        return {"objetivos_corto_plazo": "Protección inmediata, salud y alojamiento seguro.",
                "objetivos_largo_plazo": "Reinserción laboral y regularización migratoria.", "acciones": actions,
                "acuerdo": self.rng.choice(["si", "si", "parcial"]),
                "opinion": "Está de acuerdo con empezar por la salud; prefiere esperar para decidir la querella.",
                "acuerdo_fecha": self._local_date(), "explicado_por": "Trabajadora social del CAVD",
                "interprete": False}


def load_demo(app: Flask, *, cases: int, seed: int, progress: Callable[[str], None] = print) -> str:
    """Wipe the database and load the demo network, users and `cases` cases."""
    if app.config["WORKFLOW"] != "chile":
        raise RuntimeError("the demo data is written for the Chilean workflow (REFERRAL_WORKFLOW=chile)")
    engine = database.engine(app)
    clear_all(engine)
    session = database.factory(app)()
    try:
        network = load_network(session, app.config["PASSWORD_PROFILE"],
                               app.extensions["referral.protocol"].definition,
                               masters=app.extensions["referral.vault"].masters)
        session.commit()
        ctx = Context(session=session, protocol=app.extensions["referral.protocol"],
                      vault=app.extensions["referral.vault"], timezone=app.extensions["referral.timezone"],
                      blobs=app.extensions["referral.blobs"])
        load_demo_plan(ctx, network)
        load_mesa_sessions(ctx)  # issue 18: the Mesa Intersectorial's sessions and agreements
        session.commit()
        generator = DemoCases(ctx, network, seed)
        for index in range(cases):
            generator.create(index)
            session.commit()
            if (index + 1) % 25 == 0 or index + 1 == cases:
                progress(f"  {index + 1}/{cases} demo cases")
    finally:
        session.close()
    return (f"demo loaded: {len(network.regions)} regions, {len(network.nodes)} nodes, {len(network.users)} users, "
            f"{cases} cases (seed {seed}). Every demo user's password: {DEMO_PASSWORD} (emails @{DOMAIN}). "
            "Coordinators, migration, auditor, the Mesa's secretariat and focal points, and administrator also need a code: flask --app wsgi demo code EMAIL")


def demo_ficha(rng: random.Random, person: Person, local_now: dt.datetime, *, declined: bool = False,
               abroad: bool = False, indicators_only: bool = False) -> dict[str, Any]:
    """A realistic Ficha (version 2) for `person`, detected a few hours before `local_now` (local wall-clock
    time); `abroad`: a Chilean detected abroad (no region); `indicators_only`: the legal elements unknown."""
    sexual = person.trafficking_type == "sexual"
    detected = local_now.replace(second=0, microsecond=0) - dt.timedelta(hours=rng.randint(1, 30))
    edad_tipo = "fecha_nacimiento" if person.birth_date else ("estimada" if person.estimated_age else "desconocida")
    consent = "no" if declined else ("no_consultado_nna" if person.minor else "si")
    risks = rng.sample(["peligro_inminente", "necesidad_medica_urgente", "sin_alojamiento_seguro",
                        "tratante_busca"], rng.choice([0, 0, 0, 1, 2]))
    complaint = rng.choice(["si", "si", "no", "sin_informacion"])
    values = {
        "fecha_deteccion": detected, "lugar_deteccion": "chile", "funcionario_contacto": "+56 2 2000 0000",
        "region": person.region, "comuna": rng.choice(
            ["Santiago", "Estación Central", "Iquique", "Alto Hospicio", "Arica", "Rancagua", "Talca", "Calama"]),
        "contexto": rng.choice(["lugar_trabajo", "centro_salud", "paso_fronterizo", "albergue", "consulado"]),
        "solicitante": rng.choice(["victima", "tercero", "institucion"]),
        "nombres": person.given_names, "apellidos": person.surnames, "sexo": person.sex,
        "edad_tipo": edad_tipo, "fecha_nacimiento": person.birth_date, "edad_estimada": person.estimated_age,
        "nna": person.minor, "nacionalidad": person.nationality,
        "idiomas": ["es"] if person.nationality not in ("HT", "CN", "TH", "BR") else ["otro"],
        "idioma_otro": None if person.nationality not in ("HT", "CN", "TH", "BR") else "Idioma de origen",
        "requiere_interprete": person.nationality in ("HT", "CN", "TH", "BR"),
        "documentos_identidad": ["pasaporte"] if rng.random() < 0.6 else ["ninguno"],
        "documentos_retenidos": rng.random() < 0.35, "numero_documento": person.document_number,
        "situacion_migratoria": "chilena" if person.nationality == "CL" else rng.choice(
            ["regular", "irregular", "turista"]),
        "forma_ingreso": "no_aplica" if person.nationality == "CL" else rng.choice(
            ["regular", "paso_no_habilitado", "turista"]),
        "telefono_seguro": person.phone if rng.random() < 0.7 else None,
        "acciones": rng.sample(["captacion", "traslado", "acogida", "recepcion"], rng.randint(1, 3)),
        "medios": [] if person.minor else rng.sample(["engano", "abuso_poder", "vulnerabilidad", "coaccion"], 2),
        "fines": ["explotacion_sexual"] if sexual else ["trabajos_forzados"],
        "indicadores": rng.sample(["promesa_enganosa", "salario_impago", "deuda", "documentos_retenidos",
                                   "hacinamiento", "aislamiento"], 3),
        "tipo_trata": person.trafficking_type, "ambito": "interna" if person.nationality == "CL" else "internacional",
        "riesgos_inmediatos": risks, "denuncia_realizada": complaint,
        "denuncia_ante": "fiscalia" if complaint == "si" else None,
        "denuncia_fecha": detected.date() if complaint == "si" else None,
        "relato": " ".join(rng.sample(TEXTS, 2)), "consentimiento": consent,
        "consentimiento_de": "persona" if consent == "si" else None,
        "consentimiento_motivo": "Persona menor de edad; se informa a Mejor Niñez." if person.minor else None,
    }
    if complaint == "si":
        values["denuncia_por"] = "victima_asistida"
    if abroad:  # a Chilean detected by a consulate abroad: no region, the countries instead
        values.update({"lugar_deteccion": "extranjero", "region": None, "comuna": None, "pais_deteccion": "AR",
                       "ciudad_extranjero": "Mendoza", "pais_explotacion": "AR", "contexto": "consulado",
                       "situacion_migratoria": "chilena", "forma_ingreso": "no_aplica", "ambito": "internacional"})
    if indicators_only:  # a health worker who only saw indicators: the legal elements are the focal point's
        values.update({"acciones": ["sin_informacion"], "medios": [], "fines": [], "tipo_trata": "sin_informacion",
                       "ambito": "sin_informacion", "contexto": "centro_salud"})
    return values

"""Peru's demo script (docs/countries.md): which accounts, which people, which steps, which form values.

`referral/demo/` loads this file by path and calls `directory`, `users` and `Cases` (no `extras`, no `SCALE`:
`flask demo scale` refuses Peru until someone writes its stage shares). Every case is filed, triaged and
decided by the demo users through the same service calls the web pages use, with a simulated clock.

People are invented (seeded, no Faker locale for Peru: the names are drawn from short lists of common given
names and surnames). Their mix follows seed 004 where it gives a figure (police complaints, 2017): women 82%,
minors 40%, sexual exploitation 55% and labour 36% (the rest counted as labour here), internal trafficking
96% (so 96% Peruvian), Lima 413 of 725 complaints, then Ayacucho 45 and Tacna 34. Where the seed is silent,
the assumption is written next to the number.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from referral.auth.models import User
from referral.cases.editing import save_form
from referral.cases.intake import file_intake
from referral.kernel.models import Case
from referral.cases.notes import NoteInput, record_note
from referral.cases.transitions import fire_transition
from referral.context import Context
from referral.demo.country import DemoUser
from referral.demo.network import DemoNetwork
from referral.demo.people import Person
from referral.network.directory import assign
from referral.network.models import Node
from referral.referrals.consent import record_consent
from referral.referrals.service import answer_referral, send_referral

DOMAIN = "demo.pe"

# -- the network: functions, places, accounts ------------------------------------------------------------

# (e-mail local part, node code, role, description). Every departamento also gets a MIMP focal-point
# coordinator (coordinador.<dep>), a CEM case worker (gestor.<dep>) and a UPE case worker (upe.<dep>).
NAMED_USERS = (
    ("coordinacion.nacional", "MIMP", "coordinador", "Coordinación nacional del Protocolo, MIMP"),
    ("policia", "PNP-DIRCTPTIM", "deteccion", "DIRCTPTIM, Policía Nacional del Perú"),
    ("policia.aya", "PNP-DEPINTRAP-PE-AYA", "deteccion", "DEPINTRAP, Ayacucho"),
    ("fiscalia", "FISTRAP", "gestor", "Fiscalía Especializada en Delitos de Trata de Personas"),
    ("sunafil.lma", "SUNAFIL-PE-LMA", "deteccion", "Inspección laboral SUNAFIL, Lima Metropolitana"),
    ("demuna.lma", "DEMUNA-PE-LMA", "deteccion", "DEMUNA, Lima Metropolitana"),
    ("ong", "CHS-ALTERNATIVO", "deteccion", "Equipo de CHS Alternativo"),
    ("car.emergencia", "CAR-SANTA-ROSA-1", "gestor", "CAR de emergencia Santa Rosa N.º 1 (Callao)"),
    ("car.trata", "CAR-TRATA", "gestor", "CAR especializado en trata (MIMP - INABIF)"),
    ("salud.lma", "MINSA-PE-LMA", "gestor", "Establecimientos de salud, Lima Metropolitana"),
    ("migraciones", "MIGRACIONES", "migraciones", "Superintendencia Nacional de Migraciones"),
    ("auditor", "MIMP", "auditor", "Auditoría del Protocolo, MIMP"),
    ("administrador", "MIMP", "administrador", "Administración del sistema"),
)
MANAGERS = ("car.emergencia", "car.trata")  # and every gestor.<dep>: they keep their node's places current
# Places (total, free) of the shelters [producto: the seed gives no capacities].
CAPACITY = {"CAR-TRATA": (20, 4), "CAR-SANTA-ROSA-1": (12, 3), "CAR-SANTA-ROSA-2": (12, 5), "HRT": (10, 2)}


def suffix(code: str) -> str:
    return code.removeprefix("PE-").lower()


def directory(session: Session, network: DemoNetwork) -> None:
    """The network functions (MIMP nationally; a MIMP focal point and a UPE per departamento) and places."""
    nodes = {node.code: node for node in session.scalars(select(Node))}
    now = dt.datetime.now(dt.UTC)
    for code, (total, free) in CAPACITY.items():
        nodes[code].capacity_total, nodes[code].capacity_free, nodes[code].capacity_updated_at = total, free, now
    for region in network.regions:
        assign(session, "punto_focal", nodes[f"MIMP-PF-{region.code}"], region.code)
        assign(session, "proteccion_especial", nodes[f"UPE-{region.code}"], region.code)
    assign(session, "coordinacion_nacional", nodes["MIMP"])
    assign(session, "servicio_migraciones", nodes["MIGRACIONES"])
    session.flush()


def users(network: DemoNetwork) -> Iterator[DemoUser]:
    for name, node_code, role, description in NAMED_USERS:
        yield DemoUser(name, node_code, role, description, name in MANAGERS)
    for region in network.regions:
        short = region.short_name or region.name
        yield DemoUser(f"coordinador.{suffix(region.code)}", f"MIMP-PF-{region.code}", "coordinador",
                       f"Punto focal MIMP, {short}")
        yield DemoUser(f"gestor.{suffix(region.code)}", f"CEM-{region.code}", "gestor", f"CEM, {short}", True)
        yield DemoUser(f"upe.{suffix(region.code)}", f"UPE-{region.code}", "gestor", f"UPE, {short}")


# -- people ---------------------------------------------------------------------------------------------------

GIVEN_F = ("María", "Rosa", "Luz", "Carmen", "Yeni", "Milagros", "Flor", "Sonia", "Nely", "Ruth", "Karina", "Sheyla")
GIVEN_M = ("José", "Luis", "Juan", "Carlos", "Wilber", "Edwin", "Jhon", "Percy", "Elmer", "Raúl")
SURNAMES = ("Quispe", "Mamani", "Huamán", "Flores", "Rojas", "Chávez", "Condori", "Ramos", "Vargas", "Torres",
            "Apaza", "Ccama", "Huanca", "Ticona", "Sánchez", "Cruz")
# [fuente] seed 004: Lima 413 of 725 police complaints, Ayacucho 45, Tacna 34; Madre de Dios, Puno and Loreto rising
# at the prosecution. Assumption: the rest of Lima's share split between Lima Metropolitana, Lima Provincias and
# Callao; the other departamentos share what is left equally.
MAIN_REGIONS = {"PE-LMA": 0.45, "PE-LIM": 0.07, "PE-CAL": 0.05, "PE-AYA": 0.06, "PE-TAC": 0.05, "PE-MDD": 0.05,
                "PE-PUN": 0.04, "PE-LOR": 0.04, "PE-CUS": 0.04}
# Assumption: the 4% transnational victims come from the neighbouring countries in these shares.
FOREIGN = {"VE": 0.5, "CO": 0.2, "BO": 0.15, "EC": 0.15}


class PersonFactory:
    def __init__(self, seed: int, regions: list[str]):
        self.rng = random.Random(seed)
        self.regions = regions

    def draw(self, today: dt.date, *, foreign: bool = False, minor: bool | None = None) -> Person:
        rng = self.rng
        sex = "F" if rng.random() < 0.82 else "M"
        minor = rng.random() < 0.40 if minor is None else minor
        age = rng.randint(12, 17) if minor else rng.randint(18, 45)
        foreign = foreign or rng.random() < 0.04
        nationality = rng.choices(list(FOREIGN), weights=list(FOREIGN.values()))[0] if foreign else "PE"
        birth = today - dt.timedelta(days=age * 365 + rng.randint(0, 364)) if rng.random() < 0.6 else None
        others = [r for r in self.regions if r not in MAIN_REGIONS]
        rest = (1.0 - sum(MAIN_REGIONS.values())) / len(others)
        region = rng.choices(self.regions, weights=[MAIN_REGIONS.get(r, rest) for r in self.regions])[0]
        return Person(
            given_names=rng.choice(GIVEN_F if sex == "F" else GIVEN_M),
            surnames=f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)}", sex=sex, birth_date=birth,
            estimated_age=None if birth else age, minor=minor, nationality=nationality,
            trafficking_type="sexual" if rng.random() < 0.55 else "laboral", region=region,
            document_number=f"{rng.randint(10_000_000, 79_999_999)}" if nationality == "PE"
            else f"{rng.choice('ABCDEFGH')}{rng.randint(1_000_000, 9_999_999)}",
            phone=f"+51 9{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        )


# -- cases ----------------------------------------------------------------------------------------------------

# Where each demo case stops; cycled so that every state and track is shown.
STAGES = ("detectado", "en_evaluacion", "informacion_solicitada", "no_activado", "activado", "car_emergencia",
          "plan_en_elaboracion", "plan_en_ejecucion", "calidad_presentada", "seguimiento", "calidad_otorgada",
          "cerrado")
STAGE_STEPS = {"detectado": 0, "en_evaluacion": 1, "informacion_solicitada": 2, "no_activado": 2, "activado": 3,
               "car_emergencia": 5, "plan_en_elaboracion": 5, "plan_en_ejecucion": 9, "calidad_presentada": 12,
               "seguimiento": 11, "calidad_otorgada": 14, "cerrado": 13}
FOREIGN_STAGES = {"calidad_presentada", "calidad_otorgada"}
CHILD_STAGES = {"car_emergencia"}
# Cases of one police operation share one prosecutor's file (the link shows them together); invented numbers.
SHARED_CASO_FISCAL = "1506014501-2026-118-0"
PERSECUCION_STAGES = {"plan_en_ejecucion": 0, "seguimiento": 1, "cerrado": 1}
TEXTS = (
    "Se realizó la entrevista en un espacio reservado, con intérprete cuando fue necesario.",
    "La persona manifiesta interés en volver a estudiar y en un trabajo formal.",
    "Se coordina atención en salud mental y acompañamiento psicológico.",
    "Mantiene contacto con su familia en su comunidad de origen.",
)


class Cases:
    """Drives demo cases through the workflow; holds the simulated clock."""

    def __init__(self, ctx: Context, network: DemoNetwork, seed: int):
        self.ctx = ctx
        self.network = network
        self.rng = random.Random(seed)
        self.people = PersonFactory(seed, [r.code for r in network.regions])
        self.real_now = dt.datetime.now(dt.UTC)
        self.moment = self.real_now
        self._times: Iterator[dt.datetime] = iter(())
        ctx.clock = lambda: self.moment

    # -- plumbing -------------------------------------------------------------------------------

    def _today(self) -> dt.date:
        return self.ctx.local_now().date()

    def _fire(self, user: User, case: Case, key: str, values: dict[str, Any] | None = None) -> None:
        fire_transition(self.ctx, user, case.reference, key, values, case.version)

    def _save(self, user: User, case: Case, form: str, values: dict[str, Any]) -> None:
        save_form(self.ctx, user, case.reference, form, values, case.version)

    def _node_id(self, code: str) -> str:
        return str(self.network.node(code).id)

    def _tick(self) -> None:
        self.moment = next(self._times, self.moment + dt.timedelta(hours=1))

    def _refer(self, sender: User, case: Case, kind: str, service: str, node_code: str,
               answerer: str | None = None) -> None:
        referral = send_referral(self.ctx, sender, case.reference, kind=kind, service=service,
                                 to_node_id=self.network.node(node_code).id, expected_version=case.version)
        receiver = self.network.user(answerer) if answerer else next(
            (u for u in self.network.users.values() if u.node_id == referral.to_node_id
             and u.role in ("gestor", "coordinador", "deteccion")), None)
        if receiver is not None:
            self._tick()
            answer_referral(self.ctx, receiver, case.reference, referral.id, "aceptar", expected_version=case.version)

    # -- one case ---------------------------------------------------------------------------------

    def create(self, index: int) -> Case:
        stage = STAGES[index % len(STAGES)]
        steps = STAGE_STEPS[stage]
        # An emergency CAR stay is days old (at most 10 days, the clock shows it running); other cases wait hours
        # at triage or run for months.
        oldest = 8 if stage == "car_emergencia" else min(400, 3 + 40 * steps) if steps else 2.5
        start = self.real_now - dt.timedelta(days=self.rng.uniform(min(oldest - 0.5, 3 + 2 * steps) if steps
                                                                   else 0.1, oldest))
        self.moment = start
        span = self.real_now - dt.timedelta(hours=2) - start
        self._times = iter([start + span * gap for gap in sorted(self.rng.uniform(0.05, 1) for _ in range(steps))])
        minor = True if stage in CHILD_STAGES else False if stage in FOREIGN_STAGES else None
        person = self.people.draw(self._today(), foreign=stage in FOREIGN_STAGES, minor=minor)
        case = self._intake(person, declined=stage == "no_activado" and not person.minor and self.rng.random() < 0.4)
        self._advance(case, person, stage, index)
        return case

    def _intake(self, person: Person, declined: bool) -> Case:
        options = {"PE-LMA": ("ong", "policia", "sunafil.lma", "demuna.lma", "gestor.lma"),
                   "PE-AYA": ("policia.aya", "gestor.aya")}.get(person.region, (f"gestor.{suffix(person.region)}",
                                                                                "policia"))
        user = self.network.user(self.rng.choice(options))
        return file_intake(self.ctx, user, demo_ficha(self.rng, person, self.ctx.local_now(), declined),
                           secrets.token_urlsafe(16))

    def _advance(self, case: Case, person: Person, stage: str, index: int) -> None:
        region = person.region
        coordinator = self.network.user(f"coordinador.{suffix(region)}")
        child = bool(case.flags.get("nna"))
        worker = self.network.user(f"{'upe' if child else 'gestor'}.{suffix(region)}")
        if stage == "detectado":
            return
        self._tick()
        self._fire(coordinator, case, "tomar_caso")
        if stage == "en_evaluacion":
            return
        self._tick()
        if stage == "informacion_solicitada":
            self._fire(coordinator, case, "solicitar_informacion",
                       {"preguntas": "Indicar si la persona cuenta con un lugar seguro donde pasar la noche."})
            return
        if stage == "no_activado":
            labour = person.trafficking_type == "laboral"
            self._fire(coordinator, case, "no_activar", {
                "motivo": "infraccion_laboral" if labour else "no_es_trata",
                "derivado_a": self._node_id(f"SUNAFIL-{region}") if labour else None,
                "fundamento": "Los antecedentes no configuran los elementos del art. 129-A del Código Penal."})
            return
        record_consent(self.ctx, coordinator, case.reference, scope="red",
                       given_by="organismo_proteccion" if child else "persona", given_on=self._today(),
                       evidence="resolucion" if child else "firma", expected_version=case.version)
        if child:  # the UPE first (the child rule of the activation)
            self._refer(coordinator, case, "proteccion_nna", "proteccion_nna", f"UPE-{region}",
                        answerer=f"upe.{suffix(region)}")
        self._tick()
        self._fire(coordinator, case, "activar", {
            "nodo_lider": self._node_id(f"{'UPE' if child else 'CEM'}-{region}"),
            "fundamento": "Se configuran indicadores de trata de personas.", "tipo_trata": person.trafficking_type,
            "ambito": "interna" if person.nationality == "PE" else "transnacional"})
        if stage == "activado":
            return
        if stage == "car_emergencia":
            self._tick()
            self._refer(worker, case, "emergencia", "acogida_emergencia", "CAR-SANTA-ROSA-1", answerer="car.emergencia")
            self._fire(self.network.user("car.emergencia"), case, "ingresar_car_emergencia", {
                "car": self._node_id("CAR-SANTA-ROSA-1"), "dispuesto_por": "upe",
                "fecha_ingreso": self.ctx.local_now().replace(second=0, microsecond=0)})
            return
        self._tick()
        self._fire(worker, case, "iniciar_plan")
        self._save(worker, case, "plan_reintegracion", self._plan(person, worker))
        if stage == "plan_en_elaboracion":
            return
        self._tick()
        self._fire(worker, case, "enviar_plan")
        self._tick()
        self._fire(coordinator, case, "aprobar_plan")
        self._tick()
        self._refer(worker, case, "derivacion", "salud_mental", f"MINSA-{region}")
        if stage in PERSECUCION_STAGES:  # recorded while the case is open (the track is offered then)
            self._persecucion(case, person, index, formalised=bool(PERSECUCION_STAGES[stage]))
        if stage in FOREIGN_STAGES:
            self._calidad_migratoria(case, worker, granted=stage == "calidad_otorgada")
        if stage in ("plan_en_ejecucion", "calidad_presentada"):
            return
        self._tick()
        self._fire(worker, case, "iniciar_seguimiento")
        record_note(self.ctx, worker, case.reference, NoteInput(
            type="llamada", date=self._today(), participants="Psicóloga del nodo a cargo; la persona",
            narrative="Llamada de seguimiento: asiste a sus controles y retomó sus estudios.",
            next_steps="Nueva llamada en dos semanas.", shared_with=("nodo_lider", "punto_focal")),
            secrets.token_urlsafe(16))
        if stage != "cerrado":
            return
        self._tick()
        self._fire(coordinator, case, "cerrar", {"motivo": self.rng.choice(["objetivos_cumplidos", "traslado",
                                                                            "perdida_contacto"]),
                                                 "fecha_cierre": self._today()})

    def _plan(self, person: Person, worker: User) -> dict[str, Any]:
        due = self._today() + dt.timedelta(days=30)
        actions = [
            {"dimension": "salud", "servicio": "salud_mental", "nodo_responsable": self._node_id(f"MINSA-{person.region}"),
             "plazo": "corto", "fecha_compromiso": due, "estado": "en_curso"},
            {"dimension": "legal", "servicio": "asesoria_juridica",
             "nodo_responsable": self._node_id(f"MINJUSDH-DP-{person.region}"), "plazo": "corto",
             "fecha_compromiso": due, "estado": "pendiente"},
            {"dimension": "educativa", "servicio": "educacion", "nodo_responsable": str(worker.node_id),
             "plazo": "largo", "fecha_compromiso": due + dt.timedelta(days=120), "estado": "pendiente"},
        ]
        if person.nationality != "PE":
            actions.append({"dimension": "documentacion", "servicio": "regularizacion_migratoria",
                            "nodo_responsable": self._node_id("MIGRACIONES"), "plazo": "largo",
                            "fecha_compromiso": due + dt.timedelta(days=60), "estado": "pendiente"})
        return {"situacion_actual": " ".join(self.rng.sample(TEXTS, 2)),
                "proyecto_de_vida": "Terminar sus estudios y trabajar cerca de su familia.",
                "nivel_riesgo": self.rng.choice(["bajo", "medio", "alto"]),
                "objetivos_corto_plazo": "Protección, salud y un lugar seguro.",
                "objetivos_largo_plazo": "Reintegración familiar, educativa y laboral.", "acciones": actions,
                "acuerdo": self.rng.choice(["si", "si", "parcial"]),
                "opinion": "Está de acuerdo con empezar por la salud y los estudios.",
                "acuerdo_fecha": self._today(), "interprete": False}

    def _calidad_migratoria(self, case: Case, worker: User, granted: bool) -> None:
        self._tick()
        self._fire(worker, case, "iniciar_calidad_migratoria")
        self._save(worker, case, "solicitud_calidad_migratoria", {
            "calidad_solicitada": "especial", "situacion_actual": "irregular", "documentos": ["pasaporte"],
            "dependientes": 0, "fecha_preparacion": self._today()})
        self._tick()
        self._fire(worker, case, "presentar_calidad_migratoria")
        if not granted:
            return
        self._tick()
        start = self._today()
        self._fire(self.network.user("migraciones"), case, "otorgar_calidad_migratoria", {
            "fecha_resolucion": start, "numero_resolucion": f"RS-{self.rng.randint(1000, 9999)}-2026",
            "vigencia_inicio": start, "vigencia_fin": start + dt.timedelta(days=365), "carne_extranjeria": True})

    def _persecucion(self, case: Case, person: Person, index: int, formalised: bool) -> None:
        """The lead node records the police and prosecution numbers (seed 004: RETA and SISTRA, to reconcile)."""
        worker = self.network.user(f"{'upe' if case.flags.get('nna') else 'gestor'}.{suffix(person.region)}")
        self._tick()
        self._fire(worker, case, "registrar_persecucion", {
            "numero_reta": f"RETA-2026-{index:05d}", "dependencia_policial": "DIRCTPTIM",
            "fecha_denuncia": self._today(), "fiscalia": "FISTRAP de Lima", "delitos": ["trata"],
            "numero_caso_fiscal": SHARED_CASO_FISCAL if formalised else f"1506014501-2026-{300 + index}-0",
            "medidas_proteccion": ["reserva_identidad"]})
        if formalised:
            self._tick()
            self._fire(worker, case, "formalizar_investigacion", {"fecha": self._today(), "imputados": 3})


def demo_ficha(rng: random.Random, person: Person, local_now: dt.datetime, declined: bool = False) -> dict[str, Any]:
    """A Ficha for `person`, detected a few hours before `local_now` (local wall-clock time)."""
    detected = local_now.replace(second=0, microsecond=0) - dt.timedelta(hours=rng.randint(1, 30))
    complaint = rng.choice(["si", "si", "no", "sin_informacion"])
    if declined:
        consent, given_by = "no", None
    else:
        consent, given_by = "si", "organismo_proteccion" if person.minor else "persona"
    sexual = person.trafficking_type == "sexual"
    return {
        "fecha_deteccion": detected, "departamento": person.region,
        "contexto": rng.choice(["operativo_policial", "inspeccion_laboral", "linea_1818", "comisaria", "centro_salud"]),
        "funcionario_contacto": "+51 1 400 0000", "solicitante": rng.choice(["victima", "tercero", "institucion"]),
        "nombres": person.given_names, "apellidos": person.surnames, "sexo": person.sex,
        "edad_tipo": "fecha_nacimiento" if person.birth_date else "estimada", "fecha_nacimiento": person.birth_date,
        "edad_estimada": person.estimated_age, "nna": person.minor, "nacionalidad": person.nationality,
        "lengua_materna": "castellano" if person.nationality != "PE" or rng.random() < 0.7 else "quechua",
        "documentos_identidad": ["dni"] if person.nationality == "PE" else ["pasaporte"],
        "numero_documento": person.document_number,
        "situacion_migratoria": "peruana" if person.nationality == "PE" else "irregular",
        "telefono_seguro": person.phone if rng.random() < 0.6 else None,
        "indicadores": rng.sample(["oferta_trabajo_falsa", "salario_impago", "deuda", "documentos_retenidos",
                                   "restriccion_libertad", "traslado_otra_region"], 3),
        "conductas": ["captacion", "transporte"] if rng.random() < 0.5 else ["sin_informacion"],
        "medios": [] if person.minor else ["engano"],
        "fines": ["explotacion_sexual"] if sexual else ["explotacion_laboral"],
        "tipo_trata": person.trafficking_type,
        "ambito": "interna" if person.nationality == "PE" else "transnacional",
        "forma_captacion": ["oferta_laboral_falsa"] if rng.random() < 0.78 else ["seduccion"],
        "relacion_tratante": "tercero" if rng.random() < 0.88 else "conocido",
        "denuncia_realizada": complaint, "denuncia_ante": "comisaria" if complaint == "si" else None,
        "denuncia_fecha": detected.date() if complaint == "si" else None,
        "relato": " ".join(rng.sample(TEXTS, 2)), "consentimiento": consent, "consentimiento_de": given_by,
    }

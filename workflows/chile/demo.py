"""Chile's demo script (docs/countries.md): which accounts, which people, which steps, which form values.

`referral/demo/` loads this file by path and calls `directory`, `users`, `extras`, `Cases` and `SCALE`. Cases
are not written into tables directly: each one is filed, triaged, written up and decided by the demo users
through the same service calls the web pages use, with a simulated clock, so the demo shows real timelines,
real encryption and only states the protocol can reach.

The directory (`nodes.csv`) is a copy of the shared institutions file (kept byte-identical); `corrections.csv`,
the demo's own file, updates by code what the shared file has wrong or outdated (brief section 8: exact
names, OS-9 investigates and gives no police protection, the Mesa's Secretaría Técnica sits in SERMIG, the
Secretaría Ejecutiva in the Subsecretaría del Interior), and `directory()` removes what does not exist
(RETIRED). People are invented (Faker, seeded), drawn to match the published figures in `calibration.json`;
where the figures are silent the assumption is written next to the number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import random
import re
import secrets
import uuid
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from referral.auth.models import User
from referral.cases.assignment import assign as assign_case
from referral.cases.editing import save_form
from referral.cases.intake import file_intake
from referral.cases.meetings import (AgreementInput, MeetingInput, MinutesInput, complete_agreement, convene,
                                     record_minutes)
from referral.kernel.models import Case
from referral.cases.notes import NoteInput, record_note
from referral.cases.transitions import fire_transition
from referral.context import Context
from referral.db import utcnow
from referral.demo.country import DemoUser, ScaleScript
from referral.demo.network import DemoNetwork
from referral.demo.people import Person
from referral.demo.scale import allocate
from referral.mesa.service import AgreementInput as MesaAgreement
from referral.mesa.service import MeetingInput as MesaMeeting
from referral.mesa.service import mesa_of, record_meeting
from referral.network.directory import assign, short_region_name
from referral.network.models import Node
from referral.plan.loading import load_plan, read_plan_file
from referral.plan.models import DONE, IN_PROGRESS, Action, Plan
from referral.plan.service import ProgressInput, record_progress
from referral.referrals.consent import record_consent
from referral.referrals.service import answer_referral, send_referral

HERE = Path(__file__).resolve().parent
DOMAIN = "demo.cl"


# -- the network: functions, places, accounts ------------------------------------------------------------

# (email local part, node code, role, description); regional coordinators and case workers are
# added for every region by region code (coordinador.rm, gestor.rm, ...).
NAMED_USERS = (
    ("coordinacion.nacional", "PAV", "coordinador", "Coordinación nacional PAV"),
    ("ong", "LIBERA", "deteccion", "Equipo de detección Fundación Libera"),
    ("ong.incami", "INCAMI", "deteccion", "Equipo de detección INCAMI"),
    ("salud.rm", "MINSAL-CL-RM", "deteccion", "Referente de salud, Metropolitana"),
    ("salud.ta", "MINSAL-CL-TA", "deteccion", "Referente de salud, Tarapacá"),
    ("policia.rm", "PDI-BITRAP-CL-RM", "deteccion", "BITRAP PDI, Metropolitana"),
    ("policia.ta", "PDI-BITRAP-CL-TA", "deteccion", "BITRAP PDI, Tarapacá"),
    ("trabajo.rm", "DT-CL-RM", "deteccion", "Inspección del Trabajo, Metropolitana"),
    ("gestor.sernameg", "SERNAMEG", "gestor", "Casa de acogida SernamEG"),
    ("oim", "OIM", "gestor", "Retorno voluntario asistido OIM"),
    ("migraciones", "SERMIG", "migraciones", "Servicio Nacional de Migraciones (SERMIG)"),
    ("consulado", "MINREL", "gestor", "Consulados de Chile (MINREL, DIGECONSU)"),
    ("auditor", "SERMIG", "auditor", "Secretaría Técnica de la Mesa, SERMIG (auditoría)"),
    ("secretaria.mesa", "SERMIG", "secretaria_tecnica", "Secretaría Técnica de la Mesa Intersectorial, SERMIG"),
    ("plan.pav", "PAV", "punto_focal_plan", "Punto focal del Plan de Acción, Programa Apoyo a Víctimas"),
    ("administrador", "PAV", "administrador", "Administración del sistema"),
    # issue 18, the Mesa's meetings: two more institutions' focal points of the Plan (the Secretaría Técnica is above)
    ("mesa.focal.sernameg", "SERNAMEG", "punto_focal_plan", "Punto focal del Plan de Acción, SernamEG"),
    ("mesa.focal.pdi", "PDI-BITRAP-CL-RM", "punto_focal_plan", "Punto focal del Plan de Acción, PDI"),
)
# Nodes of the shared file that do not exist: the Mesa's Secretaría Técnica is part of SERMIG (seed 002;
# brief section 8: "There is no separate technical-secretary node"), which is told of every residence
# request because it receives it.
RETIRED = ("MITP-ST",)
# Demo accounts that keep their node's services, places and contacts current.
MANAGERS = ("gestor.sernameg",)  # and every regional gestor.<region>
# Places (total, free) of the demo's shelters; every MEJOR-NINEZ-<region> office has some too.
CAPACITY = {"SERNAMEG": (10, 3), "MADRE-JOSEFA": (12, 5)}


def region_suffix(code: str) -> str:
    return code.removeprefix("CL-").lower()


def coordinator_of(network: DemoNetwork, region: str) -> User:
    return network.user(f"coordinador.{region_suffix(region)}")


def case_worker_of(network: DemoNetwork, region: str) -> User:
    return network.user(f"gestor.{region_suffix(region)}")


def directory(session: Session, network: DemoNetwork) -> None:
    """Retire the shared file's nodes that do not exist; the shelters' places; the network functions."""
    for node in session.scalars(select(Node).where(Node.code.in_(RETIRED))):
        session.delete(node)
    session.flush()
    nodes = {node.code: node for node in session.scalars(select(Node))}
    now = utcnow()
    capacity = {**CAPACITY, **{f"MEJOR-NINEZ-{r.code}": (8, 1 + r.position % 4) for r in network.regions}}
    for code, (total, free) in capacity.items():
        nodes[code].capacity_total, nodes[code].capacity_free, nodes[code].capacity_updated_at = total, free, now
    for region in network.regions:
        assign(session, "punto_focal", nodes[f"CAVD-{region.code}"], region.code)
        assign(session, "proteccion_especializada", nodes[f"MEJOR-NINEZ-{region.code}"], region.code)
    assign(session, "coordinacion_nacional", nodes["PAV"])
    assign(session, "servicio_migraciones", nodes["SERMIG"])
    assign(session, "servicio_consular", nodes["MINREL"])


def users(network: DemoNetwork) -> Iterator[DemoUser]:
    """The named accounts, then a coordinator and a case worker of each region's CAVD."""
    managers = set(MANAGERS)
    for name, node_code, role, description in NAMED_USERS:
        yield DemoUser(name, node_code, role, description, name in managers)
    for region in network.regions:
        short = short_region_name(region)
        suffix = region_suffix(region.code)
        yield DemoUser(f"coordinador.{suffix}", f"CAVD-{region.code}", "coordinador", f"Coordinación CAVD {short}")
        yield DemoUser(f"gestor.{suffix}", f"CAVD-{region.code}", "gestor", f"Gestión de casos CAVD {short}", True)


# -- people ---------------------------------------------------------------------------------------------------

# Faker locale for names by nationality (Faker has no locale for some countries: nearest language).
NAME_LOCALES = {
    "CL": "es_CL", "AR": "es_AR", "UY": "es_AR", "CO": "es_CO", "BR": "pt_BR", "HT": "fr_FR", "CN": "zh_CN",
    "TH": "th_TH", "PH": "en_PH", "IN": "en_IN", "KR": "ko_KR", "ID": "id_ID", "PL": "pl_PL", "VN": "vi_VN",
}
DEFAULT_LOCALE = "es_MX"
# Assumption (the sources give the 30-45 mode only): adult age brackets and their shares.
ADULT_BRACKETS = ((18, 29, 0.35), (30, 45, 0.45), (46, 60, 0.17), (61, 70, 0.03))
# Assumption: the regions other than RM, O'Higgins and Maule share the rest equally.
MAIN_REGIONS = {"CL-RM": 0.35, "CL-LI": 0.13, "CL-ML": 0.129}


class PersonFactory:
    """Draws people; one factory per demo load, seeded."""

    def __init__(self, seed: int, regions: list[str]):
        self.rng = random.Random(seed)
        self.seed = seed
        self.regions = regions
        self.calibration = json.loads((HERE / "calibration.json").read_text(encoding="utf-8"))
        self._fakers: dict[str, Faker] = {}

    def _faker(self, nationality: str) -> Faker:
        locale = NAME_LOCALES.get(nationality, DEFAULT_LOCALE)
        if locale not in self._fakers:
            fake = Faker(locale)
            fake.seed_instance(self.seed)
            self._fakers[locale] = fake
        return self._fakers[locale]

    @cached_property
    def _nationalities(self) -> tuple[list[str], list[float]]:
        entries = self.calibration["protocol_entries_2013_2023"]
        top = entries["top_nationalities_share"]
        others = entries["other_nationalities_seen"] + ["TH"]  # 2020: 16 Thai victims in one case
        rest = (1.0 - sum(top.values())) / len(others)
        return list(top) + others, list(top.values()) + [rest] * len(others)

    def _sex_and_type(self) -> tuple[str, str]:
        entries = self.calibration["protocol_entries_2013_2023"]
        formalised = self.calibration["formalised_cases_2011_2023"]
        unknown_share = formalised["victims_by_sex"]["unknown"] / formalised["victims"]
        total = entries["total"]
        p_female = entries["by_sex"]["F"] / total
        p_sexual = entries["by_type"]["sexual"] / total
        # Bayes with the share of women among sexual-exploitation victims keeps both marginals.
        p_sexual_given_f = formalised["sexual"]["share_female"] * p_sexual / p_female
        p_sexual_given_m = (1 - formalised["sexual"]["share_female"]) * p_sexual / (1 - p_female)
        draw = self.rng.random()
        if draw < unknown_share:
            sex = "sin_informacion"
            return sex, "sexual" if self.rng.random() < p_sexual else "laboral"
        sex = "F" if self.rng.random() < p_female else "M"
        p = p_sexual_given_f if sex == "F" else p_sexual_given_m
        return sex, "sexual" if self.rng.random() < p else "laboral"

    def _age(self) -> tuple[int | None, bool]:
        formalised = self.calibration["formalised_cases_2011_2023"]
        minors = formalised["minors"]
        if self.rng.random() < minors["victims"] / formalised["victims"]:
            ages = {k: v for k, v in minors["ages"].items()}
            key = self.rng.choices(list(ages), weights=list(ages.values()))[0]
            return (None, True) if key == "unknown" else (int(key), True)
        low, high, _ = self.rng.choices(ADULT_BRACKETS, weights=[b[2] for b in ADULT_BRACKETS])[0]
        return self.rng.randint(low, high), False

    def _region(self) -> str:
        others = [r for r in self.regions if r not in MAIN_REGIONS]
        rest = (1.0 - sum(MAIN_REGIONS.values())) / len(others)
        weights = [MAIN_REGIONS.get(r, rest) for r in self.regions]
        return self.rng.choices(self.regions, weights=weights)[0]

    def draw(self, today: dt.date, *, foreign: bool = False) -> Person:
        sex, kind = self._sex_and_type()
        codes, weights = self._nationalities
        nationality = self.rng.choices(codes, weights=weights)[0]
        while foreign and nationality == "CL":
            nationality = self.rng.choices(codes, weights=weights)[0]
        age, minor = self._age()
        fake = self._faker(nationality)
        given = fake.first_name_female() if sex == "F" else fake.first_name_male()
        if self.rng.random() < 0.4:
            given += " " + (fake.first_name_female() if sex == "F" else fake.first_name_male())
        surnames = f"{fake.last_name()} {fake.last_name()}"
        birth = None
        if age is not None and self.rng.random() < 0.65:
            birth = today - dt.timedelta(days=age * 365 + self.rng.randint(0, 364))
        return Person(
            given_names=given, surnames=surnames, sex=sex, birth_date=birth,
            estimated_age=age if birth is None else None, minor=minor, nationality=nationality,
            trafficking_type=kind, region=self._region(),
            document_number=self._rut() if nationality == "CL" else self._passport(),
            phone=f"+56 9 {self.rng.randint(2000, 9999)} {self.rng.randint(1000, 9999)}",
        )

    def _rut(self) -> str:
        body = self.rng.randint(8_000_000, 27_999_999)
        total, factor = 0, 2
        for digit in reversed(str(body)):
            total += int(digit) * factor
            factor = 2 if factor == 7 else factor + 1
        check = 11 - total % 11
        verifier = {11: "0", 10: "K"}.get(check, str(check))
        return f"{body:,}".replace(",", ".") + f"-{verifier}"

    def _passport(self) -> str:
        letters = "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
        return f"{letters}{self.rng.randint(1_000_000, 9_999_999)}"


# -- cases ----------------------------------------------------------------------------------------------------

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


class Cases:
    """Drives demo cases through the workflow (the interface's `Cases`); holds the simulated clock."""

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
        coordinator = coordinator_of(self.network, region)
        worker = case_worker_of(self.network, region)
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
        assign_case(self.ctx, worker, case.reference, worker.id, None, case.version)

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
        worker = case_worker_of(self.network, person.region)
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


# -- beside the cases: the Plan de Acción and the Mesa's sessions ----------------------------------------------

PLAN_FILE = HERE / "plan_accion_2023_2026.yaml"
EVIDENCE = b"%PDF-1.4\n% Acta de la Mesa Intersectorial (demo)\n" + b"0" * 2048 + b"\n%%EOF\n"
# (eje, action code, who reports, status, values as typed, reference)
DEMO_PROGRESS = (
    (2, "1.3", "plan.pav", DONE, ("si",), "Protocolo actualizado, oficio de la Subsecretaría de Prevención del Delito."),
    (2, "2.1", "plan.pav", IN_PROGRESS, ("6", "140"), "Capacitaciones a CAVD y casas de acogida."),
    (2, "2.3", "plan.pav", IN_PROGRESS, ("2", "45"), ""),
    (1, "1.5", "secretaria.mesa", DONE, ("si",), "Podcast publicado en el sitio web de la MITP."),
    (3, "1.3", "secretaria.mesa", DONE, ("si",), "Seminario realizado; acta de asistencia."),
    (4, "3.1", "secretaria.mesa", IN_PROGRESS, ("3",), "Informes de avance publicados en el sitio web de la MITP."),
)

MINUTES = ("Se revisó el avance del eje de Prevención del Plan de Acción 2023-2026 y los casos formalizados del semestre "
           "(cifras agregadas). Se acordó reforzar la capacitación de inspectores del trabajo en indicadores de trata.")



def load_demo_plan(ctx: Context, network: DemoNetwork) -> Plan:
    """Load the plan and record the demo's progress reports (the first one with an evidence document)."""
    plan, _changed = load_plan(ctx, read_plan_file(PLAN_FILE))
    actions = {(a.eje_number, a.code): a for a in ctx.session.scalars(select(Action).where(Action.plan_id == plan.id))}
    for index, (eje, code, who, status, values, reference) in enumerate(DEMO_PROGRESS):
        evidence = {"filename": "acta-mesa.pdf", "read": io.BytesIO(EVIDENCE).read} if index == 0 else {}
        record_progress(ctx, network.user(who), plan.id, actions[(eje, code)].id,
                        ProgressInput(status, values, reference, **evidence), uuid.uuid4().hex)
    return plan


def load_mesa_sessions(ctx: Context) -> int:
    """Record the demo sessions; the caller commits. Returns how many were recorded."""
    secretaria = ctx.session.scalar(select(User).where(User.email == f"secretaria.mesa@{DOMAIN}"))
    nodes = {n.code: n.id for n in ctx.session.scalars(select(Node).where(Node.code.in_(
        ["SERMIG", "SERNAMEG", "PAV", "DT-CL-RM", "PDI-BITRAP-CL-RM", "CAVD-CL-RM", "MINREL", "OIM"])))}
    if secretaria is None or len(nodes) < 4:
        return 0
    today = ctx.now().astimezone(ctx.timezone).date()

    def day(days: int) -> dt.date:
        return today + dt.timedelta(days=days)

    sessions = [
        ("nacional", MesaMeeting(day(-63), tuple(nodes.values()), MINUTES, (
            MesaAgreement("Calendario de capacitaciones en detección para inspectores del trabajo.",
                           nodes.get("DT-CL-RM", nodes["SERMIG"]), day(-20)),
            MesaAgreement("Informe consolidado de causas formalizadas del semestre.", nodes["PAV"], day(10)),
        ))),
        ("nacional", MesaMeeting(day(-6), (nodes["SERMIG"], nodes["SERNAMEG"], nodes["PAV"]),
                                  "Sesión ordinaria: seguimiento de acuerdos y del informe semestral del Plan.", (
            MesaAgreement("Propuesta de cupos de alojamiento para el próximo semestre.", nodes["SERNAMEG"], day(21)),
        ))),
        ("CL-RM", MesaMeeting(day(-2), tuple(n for c, n in nodes.items() if c in ("CAVD-CL-RM", "PDI-BITRAP-CL-RM",
                                                                                     "SERMIG", "PAV")), "", (
            MesaAgreement("Mesa de trabajo con fiscalía regional sobre denuncias institucionales.",
                           nodes.get("PDI-BITRAP-CL-RM", nodes["PAV"]), day(14)),
        ))),
    ]
    for key, values in sessions:
        record_meeting(ctx, secretaria, mesa_of(ctx, key), values, uuid.uuid4().hex)
    return len(sessions)


def extras(ctx: Context, network: DemoNetwork) -> None:
    """The Plan de Acción with some progress, and the Mesa Intersectorial's sessions (issue 18)."""
    load_demo_plan(ctx, network)
    load_mesa_sessions(ctx)


# -- at national scale (`flask demo scale`) ---------------------------------------------------------------------

# Assumption (no published figure): where a national system's cases stand after years of use; most are
# closed or in follow-up, few wait at triage. Sums to 1.
STAGE_SHARES = {
    "detectado": 0.03, "en_evaluacion": 0.03, "informacion_solicitada": 0.02, "no_activado": 0.15,
    "activado": 0.05, "informe_borrador": 0.04, "informe_enviado": 0.03, "plan_en_elaboracion": 0.04,
    "plan_en_ejecucion": 0.12, "residencia_presentada": 0.04, "seguimiento": 0.15, "residencia_otorgada": 0.05,
    "cerrado": 0.22, "retorno_voluntario": 0.03,
}
# How far back (days) a clone's history may be shifted from its prototype's: cases waiting at triage are
# recent; closed ones may be years old.
MAX_SHIFT_DAYS = {
    "detectado": 0, "en_evaluacion": 1, "informacion_solicitada": 2, "no_activado": 700, "activado": 5,
    "informe_borrador": 10, "informe_enviado": 10, "plan_en_elaboracion": 15, "plan_en_ejecucion": 30,
    "residencia_presentada": 30, "seguimiento": 200, "residencia_otorgada": 200, "cerrado": 1000,
    "retorno_voluntario": 300,
}
INTERPRETED = ("HT", "CN", "TH", "BR")
SHARED_CAUSA_SIZE = 25  # clones of a case in a shared causa are linked in groups of this size
PERSONAL = frozenset({"nombres", "apellidos", "sexo", "fecha_nacimiento", "edad_estimada", "edad_tipo", "nacionalidad",
                      "numero_documento", "telefono_seguro", "pais_documento", "pais_destino", "idiomas", "idioma_otro",
                      "requiere_interprete"})
DETECTING = re.compile(r"^(ONG-|MINSAL-|PDI-BITRAP-|DT-)")  # offices that detect and may stand for a clone's


def prototype_key(stage: str, person: Person) -> tuple[str, bool, str, bool]:
    """One path through the Protocol: end stage × child × type of exploitation × Chilean or foreign."""
    return stage, person.minor, person.trafficking_type, person.nationality == "CL"


class _OnePerson:
    """A PersonFactory stand-in that hands `Cases` the person chosen for the prototype."""

    def __init__(self, person: Person):
        self.person = person

    def draw(self, today: dt.date, *, foreign: bool = False) -> Person:
        return self.person


def build_prototype(generator: Cases, stage: str, person: Person) -> Case:
    """The prototype case of `person` ending at `stage`: a full Ficha (not the abroad or indicators-only kind)."""
    position = STAGES.index(stage)
    index = next(i for i in range(position + len(STAGES), 10_000, len(STAGES)) if i % 5 and i != ABROAD_INDEX)
    generator.people = _OnePerson(person)  # type: ignore[assignment]
    return generator.create(index)


def draw(cases: int, seed: int, regions: list[str], today: dt.date) -> list[tuple[str, Person]]:
    """Every case's end stage and person, shuffled (stage counts exactly as `allocate` says)."""
    factory = PersonFactory(seed, regions)
    slots = [stage for stage, count in allocate(cases, STAGE_SHARES).items() for _ in range(count)]
    random.Random(seed).shuffle(slots)
    return [(stage, _of_age(factory.draw(today, foreign=stage in FOREIGN_STAGES), today)) for stage in slots]


def _of_age(person: Person, today: dt.date) -> Person:
    """A date of birth on the side of 18 the person's draw says on every possible date of detection: a case
    is detected up to ~14 months before today (the loader) and shifted up to MAX_SHIFT_DAYS further back, so
    an adult drawn at 18 or 19 would be a child on her Ficha, which a prototype's path does not follow."""
    if person.birth_date is None:
        return person
    adult_since = dt.date(today.year - 18, today.month, min(today.day, 28)) - dt.timedelta(
        days=430 + max(MAX_SHIFT_DAYS.values()))
    if not person.minor and person.birth_date > adult_since:
        return dataclasses.replace(person, birth_date=adult_since)
    return person


def personal_value(key: str, person: Person, old: Any) -> Any:
    """A clone's value of one of the Ficha's PERSONAL fields, from the clone's person."""
    if old is None and key in ("fecha_nacimiento", "edad_estimada", "telefono_seguro", "idioma_otro"):
        # keep the prototype's shape where a value was absent, except where the person has one
        if key == "fecha_nacimiento" and person.birth_date:
            return person.birth_date.isoformat()
        if key == "edad_estimada" and person.estimated_age is not None:
            return person.estimated_age
        return None
    interpreted = person.nationality in INTERPRETED
    return {
        "nombres": person.given_names, "apellidos": person.surnames, "sexo": person.sex,
        "fecha_nacimiento": person.birth_date.isoformat() if person.birth_date else None,
        "edad_estimada": person.estimated_age,
        "edad_tipo": "fecha_nacimiento" if person.birth_date else ("estimada" if person.estimated_age
                                                                 else "desconocida"),
        "nacionalidad": person.nationality, "numero_documento": person.document_number, "telefono_seguro": person.phone,
        "pais_documento": person.nationality, "pais_destino": person.nationality,
        "idiomas": ["otro"] if interpreted else ["es"], "idioma_otro": "Idioma de origen" if interpreted else None,
        "requiere_interprete": interpreted,
    }[key]


def renumber(stage: str, linked: bool, serial: int) -> dict[str, str]:
    """An invented RUC for a clone of a case with a causa: clones of a case in a shared causa share one in
    groups; others get their own."""
    if not linked:
        return {}
    shared = stage != "plan_en_ejecucion"  # the loader's causas: shared but in a plan in progress
    number = serial // SHARED_CAUSA_SIZE if shared else serial
    body = f"{25 if shared else 26}{number:08d}"
    return {"ruc": f"{body}-{_ruc_check(body)}"}


def _ruc_check(body: str) -> str:
    total, factor = 0, 2
    for digit in reversed(body):
        total += int(digit) * factor
        factor = 2 if factor == 7 else factor + 1
    return {11: "0", 10: "K"}.get(11 - total % 11, str(11 - total % 11))


SCALE = ScaleScript(
    stage_shares=STAGE_SHARES, max_shift_days=MAX_SHIFT_DAYS, draw=draw, prototype_key=prototype_key,
    build_prototype=build_prototype, personal=PERSONAL, personal_value=personal_value, renumber=renumber,
    local_template="LIBERA", detecting=lambda code: bool(DETECTING.match(code)),
    staff_roles=("deteccion", "gestor"), unstaffed_roles=("administrador", "auditor"),
)

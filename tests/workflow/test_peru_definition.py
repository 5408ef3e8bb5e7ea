"""Peru's Protocolo Intersectorial as a second definition: it loads, the generic engine runs it, and its folder's
regions and institutions agree with it.

No Flask and no database: facts are built by hand as the service layer would gather them, as in test_engine.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from referral.network.directory import EACH, LEVELS, ORG_TYPES, service_code
from referral.workflow import Actor, CaseFacts, Engine, FormFacts, Text, TransitionRefused, load_definition
from referral.workflow.calendar import WorkingCalendar
from referral.workflow.clocks import DUE, Occurrence, reactions, schedule
from referral.workflow.definition import Duration, Transition
from referral.workflow.predicates import ReferralFacts

ROOT = Path(__file__).resolve().parents[2]
PERU = ROOT / "workflows" / "peru"
DEFINITION = load_definition(PERU)
ENGINE = Engine(DEFINITION)
LIMA = ZoneInfo("America/Lima")
NOW = dt.datetime(2026, 11, 18, 12, 0)

FOCAL_POINT = Actor("coordinador", frozenset({"punto_focal"}))
LEAD = Actor("gestor", frozenset({"nodo_lider"}))
DETECTOR = Actor("deteccion", frozenset({"nodo_detector"}))
SHELTER = Actor("gestor", frozenset({"derivacion_alojamiento"}))
POLICE = Actor("deteccion", frozenset({"derivacion_policial"}))
MIGRATION = Actor("migraciones", frozenset({"servicio_migraciones"}))

CHILD_FICHA = {"nna": True, "consentimiento": "si", "consentimiento_de": "organismo_proteccion",
               "nacionalidad": "PE", "situacion_migratoria": "peruana"}
ADULT_FICHA = {"nna": False, "consentimiento": "si", "consentimiento_de": "persona", "nacionalidad": "VE",
               "situacion_migratoria": "irregular"}
COMPLETE_PLAN = {
    "situacion_actual": "Vive con su madre; sin DNI.", "nivel_riesgo": "medio",
    "objetivos_corto_plazo": "Acogida y salud.", "objetivos_largo_plazo": "Volver a estudiar.",
    "acciones": [{"dimension": "educativa", "servicio": "educacion", "nodo_responsable": "7", "plazo": "largo",
                  "fecha_compromiso": dt.date(2027, 3, 1)}],
    "acuerdo": "si", "opinion": "Quiere terminar el colegio.", "acuerdo_fecha": dt.date(2026, 11, 17),
}


# -- a case as the service layer would keep it ---------------------------------------------------------


@dataclass
class Case:
    """The facts of one case, moved by firing transitions through the engine (what the service layer does)."""

    state: str = "detectado"
    tracks: dict[str, str] = field(default_factory=dict)
    forms: dict[str, FormFacts] = field(default_factory=dict)
    referrals: list[ReferralFacts] = field(default_factory=list)
    clocks: set[str] = field(default_factory=set)

    @classmethod
    def filed(cls, ficha: Mapping[str, Any]) -> Case:
        case = cls(forms={"ficha": FormFacts("submitted", True, dict(ficha))})
        case.clocks |= set(reactions(DEFINITION, Occurrence("", None, "detectado")).starts)
        return case

    def facts(self) -> CaseFacts:
        bare = CaseFacts(self.state, dict(self.tracks), {}, dict(self.forms), tuple(self.referrals))
        return replace(bare, flags=ENGINE.flags(bare))

    def fire(self, key: str, actor: Actor, values: Mapping[str, Any] | None = None) -> Transition:
        transition = ENGINE.check(key, self.facts(), actor, values)
        before = self.state if not transition.machine else self.tracks.get(transition.machine)
        after = before if transition.stays else transition.target
        if transition.machine:
            self.tracks[transition.machine] = after
        else:
            self.state = after
        if transition.form:
            self.forms[transition.form] = FormFacts("submitted", True, dict(values or {}))
        for effect in transition.effects:
            if effect.form:
                status = {"submit_form": "submitted", "approve_form": "approved", "return_form": "returned"}
                self.forms[effect.form] = replace(self.forms[effect.form], status=status[effect.kind])
        moved = reactions(DEFINITION, Occurrence.of_transition(transition, before, after, inputs=values))
        self.clocks = (self.clocks - set(moved.stops)) | set(moved.starts)
        return transition

    def refused(self, key: str, actor: Actor, values: Mapping[str, Any] | None = None) -> TransitionRefused:
        with pytest.raises(TransitionRefused) as caught:
            ENGINE.check(key, self.facts(), actor, values)
        return caught.value


def refer(case: Case, kind: str, service: str, state: str) -> None:
    case.referrals.append(ReferralFacts(kind, service, state))


# -- the definition ---------------------------------------------------------------------------------


def test_the_peruvian_definition_loads_and_validates_from_its_own_folder() -> None:
    assert DEFINITION.key == "pe-protocolo-trata"
    assert DEFINITION.version == 1
    assert DEFINITION.calendar.country == "PE"
    assert DEFINITION.intake.form == "ficha" and DEFINITION.intake.region_field == "departamento"
    assert set(DEFINITION.tracks) == {"car_emergencia", "persecucion", "calidad_migratoria"}
    assert set(DEFINITION.main.states) == {
        "detectado", "en_evaluacion", "informacion_solicitada", "no_activado", "activado", "plan_en_elaboracion",
        "plan_en_ejecucion", "seguimiento", "cerrado"}


def test_the_calendar_is_limas_and_the_child_flag_is_marked() -> None:
    assert DEFINITION.calendar.time_zone == "America/Lima" and DEFINITION.calendar.country == "PE"
    assert [key for key, flag in DEFINITION.flags.items() if flag.child] == ["nna"]


def test_every_form_the_workflow_names_exists_and_every_form_file_is_used() -> None:
    named = {DEFINITION.intake.form, *DEFINITION.form_uses}
    for machine in DEFINITION.machines():
        for t in machine.transitions.values():
            named |= {t.form} - {None}
            named |= {e.form for e in t.effects if e.form}
            named |= {name.split(".")[0] for g in t.guards for kind, name in g.check.references()
                      if kind in ("form", "field")}
    named |= {c.deadline_from.split(".")[0] for c in DEFINITION.clocks.values()
              if c.deadline_from and c.deadline_from.split(".")[0] in DEFINITION.forms}
    named |= {link.form for link in DEFINITION.links.values()}
    assert named == set(DEFINITION.forms)
    on_disk = {path.name.split(".")[0] for path in (PERU / "forms").glob("*.yaml")}
    assert on_disk == set(DEFINITION.forms)
    assert set(DEFINITION.form_uses) == set(DEFINITION.forms)  # every form says who reads it


def _texts() -> Iterator[Text]:
    d = DEFINITION
    yield d.label
    yield from (r.label for r in d.roles.values())
    yield from (r.label for r in d.relations.values())
    yield from (a.label for a in d.assignments.values())
    for machine in d.machines():
        yield machine.label
        yield from (s.label for s in machine.states.values())
        for t in machine.transitions.values():
            yield t.label
            yield from (g.message for g in t.guards)
            yield from (x for x in (t.confirm, t.help) if x is not None)
    yield from (c.label for c in d.clocks.values())
    yield from (s.label for s in d.network.services.values())
    for versions in d.forms.values():
        for form in versions.values():
            yield form.label
            for section in form.sections:
                yield section.label
                for f in form.fields():
                    yield f.label
                    yield from (c.label for c in f.choices)
                    yield from (c.label for sub in f.fields for c in (sub, *sub.choices))


def test_every_label_is_spanish_first_and_english_second() -> None:
    assert [text.es for text in _texts() if not (text.es.strip() and text.en and text.en.strip())] == []


@pytest.mark.parametrize("chilean", ["Región", "región", "comuna", "RUT", "Carabineros", "PDI", "Mejor Niñez",
                                     "Sermig", "Ley 21.325", "411 quáter", "CAVD", "Informe Social"])
def test_the_spanish_wording_is_perus_not_chiles(chilean: str) -> None:
    assert [text.es for text in _texts() if re.search(rf"\b{re.escape(chilean)}\b", text.es)] == []


def test_every_guard_form_and_clock_says_where_its_rule_comes_from() -> None:
    assert [(t.key, g.message.es[:40]) for m in DEFINITION.machines() for t in m.transitions.values()
            for g in t.guards if g.basis is None] == []
    assert [key for key, versions in DEFINITION.forms.items() if versions[max(versions)].basis is None] == []
    assert {c.basis for c in DEFINITION.clocks.values()} <= {"law", "source", "product"}


# -- the case walks: Ficha, activation, emergency CAR, plan, follow-up, closure -------------------------


def test_a_child_case_walks_from_the_ficha_through_the_emergency_car_and_the_plan_to_closure() -> None:
    case = Case.filed(CHILD_FICHA)
    assert "triaje" in case.clocks
    case.fire("tomar_caso", FOCAL_POINT)
    refer(case, "proteccion_nna", "proteccion_nna", "pendiente")  # to the UPE or the DEMUNA, first
    case.fire("activar", FOCAL_POINT, {"nodo_lider": "3", "fundamento": "Indicadores de explotación."})
    assert case.state == "activado"
    assert {"plan_reintegracion"} <= case.clocks and "triaje" not in case.clocks

    refer(case, "emergencia", "acogida_emergencia", "aceptada")
    case.fire("ingresar_car_emergencia", SHELTER, {"car": "9", "fecha_ingreso": NOW, "dispuesto_por": "upe"})
    assert case.tracks["car_emergencia"] == "en_car" and "estancia_car_emergencia" in case.clocks

    case.fire("iniciar_plan", LEAD)
    case.forms["plan_reintegracion"] = FormFacts("draft", True, COMPLETE_PLAN)
    case.fire("enviar_plan", LEAD)
    case.fire("aprobar_plan", FOCAL_POINT)
    assert case.state == "plan_en_ejecucion" and case.forms["plan_reintegracion"].status == "approved"

    # the plan names where she goes next: follow-up waits for the exit from the emergency CAR
    assert case.refused("iniciar_seguimiento", LEAD).reason.es.startswith("La niña, niño o adolescente sigue")
    case.fire("egresar_car_emergencia", SHELTER, {"fecha_egreso": NOW, "destino": "familia"})
    assert "estancia_car_emergencia" not in case.clocks

    case.fire("iniciar_seguimiento", LEAD)
    assert "seguimiento" in case.clocks
    case.fire("cerrar", LEAD, {"motivo": "objetivos_cumplidos", "fecha_cierre": NOW.date()})
    assert case.state == "cerrado" and not case.clocks  # closing stops every clock of the case


def test_an_adult_case_walks_without_a_child_protection_referral_or_an_emergency_car() -> None:
    case = Case.filed(ADULT_FICHA)
    case.fire("activar", FOCAL_POINT, {"nodo_lider": "3", "fundamento": "Oferta de trabajo falsa."})
    assert "ingresar_car_emergencia" not in {o.transition.key for o in ENGINE.options(case.facts(), LEAD)}
    assert case.refused("ingresar_car_emergencia", LEAD).code == "state"  # the track is for children
    case.fire("iniciar_plan", LEAD)
    case.forms["plan_reintegracion"] = FormFacts("draft", True, COMPLETE_PLAN)
    for key, actor in [("enviar_plan", LEAD), ("aprobar_plan", FOCAL_POINT), ("iniciar_seguimiento", LEAD)]:
        case.fire(key, actor)
    case.fire("cerrar", FOCAL_POINT, {"motivo": "traslado", "fecha_cierre": NOW.date()})
    assert case.state == "cerrado"


def test_an_incomplete_plan_cannot_be_sent_and_an_unsent_one_cannot_be_approved() -> None:
    case = Case.filed(ADULT_FICHA)
    case.fire("activar", FOCAL_POINT, {"nodo_lider": "3", "fundamento": "x"})
    case.fire("iniciar_plan", LEAD)
    case.forms["plan_reintegracion"] = FormFacts("draft", False, {})
    assert case.refused("enviar_plan", LEAD).code == "guard"
    assert case.refused("aprobar_plan", FOCAL_POINT).code == "guard"
    assert case.refused("aprobar_plan", LEAD).code == "forbidden"  # the lead node writes; MIMP approves


def test_the_plan_form_needs_the_assessment_an_action_and_the_persons_opinion() -> None:
    plan = DEFINITION.form("plan_reintegracion")
    assert plan.is_complete(COMPLETE_PLAN, NOW)
    missing = plan.problems({**COMPLETE_PLAN, "acciones": [], "opinion": "", "situacion_actual": ""}, NOW, final=True)
    assert {"acciones", "opinion", "situacion_actual"} <= set(missing)


# -- the emergency CAR: at most 10 days -------------------------------------------------------------


def test_the_emergency_car_clock_is_ten_calendar_days_from_entry_to_exit_and_comes_from_the_seed() -> None:
    clock = DEFINITION.clocks["estancia_car_emergencia"]
    assert clock.duration == Duration(10, "calendar_days")
    assert clock.basis == "source"
    assert clock.starts_on == {"track_state": "car_emergencia.en_car"}
    assert clock.stops_on == {"track_state": ["car_emergencia.egresado"]}


def test_the_emergency_car_stay_falls_due_at_the_end_of_the_tenth_day_in_lima() -> None:
    calendar = WorkingCalendar(LIMA, DEFINITION.calendar.country)
    entry = dt.datetime(2026, 11, 2, 15, 0, tzinfo=LIMA).astimezone(dt.UTC)  # Monday afternoon
    steps = schedule(DEFINITION.clocks["estancia_car_emergencia"], entry, calendar)
    due = next(step for step in steps if step.kind == DUE)
    assert due.at == dt.datetime(2026, 11, 13, 0, 0, tzinfo=LIMA)  # the end of Thursday 12, the tenth day
    reminders = [step.at.astimezone(LIMA).date() for step in steps if step.kind == "reminder"]
    assert reminders == [dt.date(2026, 11, 10), dt.date(2026, 11, 12)]


def test_the_emergency_car_takes_children_only() -> None:
    service = DEFINITION.network.services["acogida_emergencia"]
    assert service.when is not None
    assert service.when.evaluate(Case.filed(CHILD_FICHA).facts(), None) is True
    assert service.when.evaluate(Case.filed(ADULT_FICHA).facts(), None) is False


def test_a_child_enters_the_emergency_car_only_once_a_car_accepted_the_emergency_referral() -> None:
    case = Case.filed(CHILD_FICHA)
    refer(case, "emergencia", "acogida_emergencia", "pendiente")
    assert case.refused("ingresar_car_emergencia", SHELTER).code == "guard"
    case.referrals[-1] = ReferralFacts("emergencia", "acogida_emergencia", "aceptada")
    case.fire("ingresar_car_emergencia", SHELTER, {"car": "9", "fecha_ingreso": NOW, "dispuesto_por": "upe"})


# -- a child case goes to the UPE or the DEMUNA first ----------------------------------------------------


@pytest.mark.parametrize(("referral", "allowed"), [
    pytest.param(None, False, id="no referral"),
    pytest.param("pendiente", True, id="pending"),
    pytest.param("aceptada", True, id="accepted"),
    pytest.param("cumplida", True, id="done"),
    pytest.param("rechazada", False, id="refused"),
    pytest.param("revocada", False, id="revoked"),
])
def test_a_child_case_is_activated_only_once_referred_to_child_protection(referral: str | None,
                                                                          allowed: bool) -> None:
    case = Case.filed(CHILD_FICHA)
    if referral:
        refer(case, "proteccion_nna", "proteccion_nna", referral)
    refer(case, "emergencia", "salud_fisica", "aceptada")  # another referral does not count
    if allowed:
        case.fire("activar", FOCAL_POINT, {"nodo_lider": "3", "fundamento": "x"})
    else:
        assert "UPE" in case.refused("activar", FOCAL_POINT).reason.es


def test_a_childs_consent_cannot_come_from_the_child_alone() -> None:
    case = Case.filed({**CHILD_FICHA, "consentimiento_de": "persona"})
    refer(case, "proteccion_nna", "proteccion_nna", "aceptada")
    assert "representante legal" in case.refused("activar", FOCAL_POINT).reason.es


def test_an_adult_who_did_not_consent_is_not_activated() -> None:
    case = Case.filed({**ADULT_FICHA, "consentimiento": "no"})
    assert case.refused("activar", FOCAL_POINT).code == "guard"
    case.fire("no_activar", FOCAL_POINT, {"motivo": "persona_declina", "fundamento": "x"})
    assert case.state == "no_activado"


# -- persecución: RETA and SISTRA numbers, so the registries can be reconciled -------------------------


def test_the_police_and_prosecutor_numbers_are_recorded_and_link_the_cases_that_share_them() -> None:
    links = {key: (link.form, link.field) for key, link in DEFINITION.links.items()}
    assert links == {"caso_fiscal": ("persecucion", "numero_caso_fiscal"),
                     "denuncia_policial": ("persecucion", "numero_reta")}
    form = DEFINITION.form("persecucion")
    assert not form.is_complete({}, NOW)  # one of the two numbers at least
    assert form.is_complete({"numero_reta": "RETA 0123-2026"}, NOW)  # no published format: free text
    assert form.is_complete({"numero_caso_fiscal": "2206014501-2019-2343-0"}, NOW)
    assert set(form.problems({"numero_caso_fiscal": "2019-2343"}, NOW, final=True)) == {"numero_caso_fiscal"}


def test_the_police_record_the_prosecution_from_detection_on_and_after_the_case_closes() -> None:
    case = Case.filed(ADULT_FICHA)
    case.fire("registrar_persecucion", POLICE, {"numero_reta": "12345"})
    case.fire("formalizar_investigacion", POLICE, {"fecha": NOW.date()})
    case.state = "cerrado"
    case.fire("acusar", POLICE, {"fecha": NOW.date()})
    assert case.tracks["persecucion"] == "etapa_intermedia"
    assert case.refused("registrar_persecucion", SHELTER).code == "forbidden"  # a shelter does not record it


@pytest.mark.parametrize(("stage", "ending", "allowed"), [
    ("diligencias_preliminares", "archivo", True),
    ("investigacion_preparatoria", "archivo", False),
    ("investigacion_preparatoria", "terminacion_anticipada", True),
    ("etapa_intermedia", "terminacion_anticipada", False),
    ("etapa_intermedia", "sobreseimiento", True),
    ("diligencias_preliminares", "sobreseimiento", False),
    ("juicio_oral", "sentencia_condenatoria", True),
    ("etapa_intermedia", "sentencia_absolutoria", False),
])
def test_how_the_proceedings_may_end_depends_on_their_stage(stage: str, ending: str, allowed: bool) -> None:
    case = Case.filed(ADULT_FICHA)
    case.tracks["persecucion"] = stage
    values = {"tipo": ending, "fecha": NOW.date()}
    if allowed:
        case.fire("concluir_persecucion", POLICE, values)
    else:
        assert case.refused("concluir_persecucion", POLICE, values).code == "guard"


def test_no_step_of_the_case_depends_on_the_prosecution() -> None:
    """Assistance never depends on the victim cooperating with the prosecution."""
    read = {name.split(".")[0] for t in DEFINITION.main.transitions.values() for g in t.guards
            for kind, name in g.check.references() if kind in ("track", "track_state", "form", "field")}
    assert not read & {"persecucion", "persecucion_hito", "persecucion_termino"}


# -- Migraciones: the special migratory status of DS 007-2017-IN arts. 226-227 -----------------------------


def test_a_foreign_victim_asks_migraciones_for_the_special_status_and_migraciones_decides() -> None:
    case = Case.filed(ADULT_FICHA)
    assert "iniciar_calidad_migratoria" not in {o.transition.key for o in ENGINE.options(case.facts(), LEAD)}
    case.fire("activar", FOCAL_POINT, {"nodo_lider": "3", "fundamento": "x"})
    case.fire("iniciar_calidad_migratoria", LEAD)
    case.forms["solicitud_calidad_migratoria"] = FormFacts("draft", True, {})
    presented = case.fire("presentar_calidad_migratoria", LEAD)
    assert {e.relation for e in presented.effects if e.kind == "add_participant"} == {"servicio_migraciones"}
    assert "estado_calidad_migratoria" in case.clocks
    assert case.refused("otorgar_calidad_migratoria", LEAD).code == "forbidden"
    case.fire("otorgar_calidad_migratoria", MIGRATION, {"vigencia_fin": dt.date(2027, 11, 18)})
    assert "estado_calidad_migratoria" not in case.clocks and "vigencia_calidad_migratoria" in case.clocks


def test_the_special_status_is_not_offered_to_a_peruvian() -> None:
    case = Case.filed({**ADULT_FICHA, "nacionalidad": "PE", "situacion_migratoria": "peruana"})
    case.fire("activar", FOCAL_POINT, {"nodo_lider": "3", "fundamento": "x"})
    assert case.refused("iniciar_calidad_migratoria", LEAD).code == "state"
    case.forms["ficha"] = FormFacts("submitted", True, {**ADULT_FICHA, "situacion_migratoria": "peruana"})
    assert "peruana" in case.refused("iniciar_calidad_migratoria", LEAD).reason.es


# -- Peru's holidays ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "works"), [
    (dt.date(2026, 7, 27), True),    # Monday
    (dt.date(2026, 7, 28), False),   # Fiestas Patrias: independence
    (dt.date(2026, 7, 29), False),   # Fiestas Patrias: the military parade
    (dt.date(2026, 8, 6), False),    # Batalla de Junín
    (dt.date(2026, 12, 8), False),   # Inmaculada Concepción
    (dt.date(2026, 12, 9), False),   # Batalla de Ayacucho
    (dt.date(2026, 9, 18), True),    # Chile's Fiestas Patrias are not Peru's
])
def test_working_days_skip_perus_public_holidays(day: dt.date, works: bool) -> None:
    assert WorkingCalendar(LIMA, DEFINITION.calendar.country).is_working_day(day) is works


def test_a_working_day_deadline_steps_over_fiestas_patrias() -> None:
    calendar = WorkingCalendar(LIMA, DEFINITION.calendar.country)
    monday = dt.datetime(2026, 7, 27, 10, 0, tzinfo=LIMA).astimezone(dt.UTC)
    assert calendar.add(monday, Duration(1, "working_days")) == dt.datetime(2026, 7, 31, 0, 0, tzinfo=LIMA)


# -- the folder's regions and institutions ---------------------------------------------------------------


def _rows(name: str) -> list[dict[str, str]]:
    with (PERU / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


REGIONS = _rows("regions.csv")
CODES = [row["code"] for row in REGIONS]


def test_the_regions_are_the_iso_codes_of_the_departments_callao_and_lima_metropolitana() -> None:
    assert list(REGIONS[0]) == ["code", "name", "short_name", "neighbours", "long_name"]
    assert REGIONS[CODES.index("PE-PUN")]["long_name"] == "Departamento de Puno"  # es-PE: not «Región de»
    assert len(CODES) == len(set(CODES)) == 26  # 24 departments + Callao + Lima Metropolitana
    assert all(re.fullmatch(r"PE-[A-Z]{3}", code) for code in CODES)
    assert {"PE-CAL", "PE-LIM", "PE-LMA"} <= set(CODES)
    assert (CODES[0], CODES[-1]) == ("PE-TUM", "PE-TAC")  # north to south


def test_the_neighbours_exist_and_are_symmetric() -> None:
    neighbours = {row["code"]: set(row["neighbours"].split(";")) for row in REGIONS}
    assert all(neighbours.values())
    assert {(a, b) for a, near in neighbours.items() for b in near if b not in neighbours} == set()
    assert {(a, b) for a, near in neighbours.items() for b in near if a not in neighbours.get(b, set())} == set()
    assert all(code not in near for code, near in neighbours.items())
    assert neighbours["PE-CAL"] == {"PE-LMA"}


NODES = _rows("nodes.csv")


def test_the_institutions_use_known_types_levels_regions_and_services() -> None:
    assert list(NODES[0]) == ["short_name", "name", "org_type", "level", "region", "services", "notes"]
    assert [row["short_name"] for row in NODES if row["org_type"] not in ORG_TYPES] == []
    assert [row["short_name"] for row in NODES if row["level"] not in LEVELS] == []
    assert [row["short_name"] for row in NODES
            if row["region"] != EACH and not set(row["region"].split(";")) <= set(CODES)] == []
    unknown = [(row["short_name"], label) for row in NODES for label in row["services"].split(";")
               if DEFINITION.network.service_code(service_code(label)) is None]
    assert unknown == []


def test_the_institutions_named_by_the_issue_are_there() -> None:
    names = {row["short_name"] for row in NODES}
    assert {"MIMP", "CEM", "UPE", "CAR-TRATA", "DEMUNA", "PNP-DIRCTPTIM", "FISTRAP", "SUNAFIL", "DEFENSORIA",
            "MIGRACIONES"} <= names
    services = {row["short_name"]: {DEFINITION.network.service_code(service_code(s))
                                    for s in row["services"].split(";")} for row in NODES}
    emergency = {name for name, offered in services.items() if "acogida_emergencia" in offered}
    assert emergency == {"CAR-SANTA-ROSA-1", "CAR-SANTA-ROSA-2"}
    assert {"DEMUNA", "UPE"} <= {name for name, offered in services.items() if "proteccion_nna" in offered}

"""The workflow definition loader and validator: Chile's Protocolo loads; broken definitions are refused.

Every broken definition is a copy of workflows/chile/ written into tmp_path and changed in one
place (through yaml.safe_load/safe_dump, or as text when the YAML spelling itself is the point).
The refusal must be a DefinitionError whose message names the offending element, and the web
application must refuse to start on it (StartupError).
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from referral import StartupError, create_app
from referral.extensions import database
from referral.workflow import DefinitionError, WorkflowDefinition, load_definition
from referral.workflow.definition import CAPABILITIES, CLOCK_UNITS

from ..definitions import (
    CHILE, Mutation, assert_names, copy_of_chile, deleter, refusal_of, rewritten, setter,
)

MASTER_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, tests only

# -- helpers ----------------------------------------------------------------------------------------


def edited(tmp_path: Path, relative: str, old: str, new: str, count: int = 1) -> Path:
    """A copy of the Chilean definition with `old` replaced by `new` in one file, as text."""
    folder = copy_of_chile(tmp_path, single=relative == "workflow.yaml")
    path = folder / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{relative} no longer contains {old!r}; update the test"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return folder


def transition(raw: dict[str, Any], key: str) -> dict[str, Any]:
    if key in raw["transitions"]:
        return raw["transitions"][key]
    return raw["tracks"]["residencia"]["transitions"][key]


def guard_check(raw: dict[str, Any], key: str, index: int = 0) -> dict[str, Any]:
    return transition(raw, key)["guards"][index]["check"]


def art71_parts(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return guard_check(raw, "cerrar")["not"]["all"]


def add_guard(key: str, check: dict[str, Any]) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        transition(raw, key).setdefault("guards", []).append({"check": check, "message": {"es": "No."}})
    return mutate


def app_settings(tmp_path: Path, folder: Path) -> dict[str, Any]:
    """The test configuration of tests/conftest.py, pointed at the workflow in `folder`."""
    return {
        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "MASTER_KEY": MASTER_KEY,
        "SECRET_KEY": "test-secret", "PASSWORD_PROFILE": "test", "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "WORKFLOWS_DIR": str(folder.parent), "WORKFLOW": folder.name,
    }


# -- the Chilean definition -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chile() -> WorkflowDefinition:
    return load_definition(CHILE)


def test_the_chilean_definition_loads_and_validates(chile: WorkflowDefinition) -> None:
    assert chile.key == "cl-protocolo-trata"
    assert chile.version == 1
    assert chile.label.es.startswith("Protocolo Intersectorial")
    assert chile.label.en.startswith("Intersectoral Protocol")
    assert chile.main.initial == "detectado"
    assert chile.intake.form == "ficha"
    assert chile.intake.state == "detectado"
    assert set(chile.tracks) == {"residencia", "causa_penal", "retorno"}


def test_the_chilean_definition_declares_the_roles_and_relations_of_the_protocol(chile: WorkflowDefinition) -> None:
    assert set(chile.roles) == {"coordinador", "deteccion", "gestor", "migraciones", "auditor", "administrador",
                                "secretaria_tecnica", "punto_focal_plan"}  # the last two: the Mesa's Plan de Acción
    assert set(chile.relations) == {
        "nodo_detector", "punto_focal", "coordinacion_nacional", "nodo_lider", "servicio_migraciones",
        "servicio_consular",  # Chilean victims abroad: joins on activation (issue 15)
        # held only while a referral, a pending transfer or an emergency access is live
        "derivacion_alojamiento", "derivacion_salud", "derivacion_juridica", "derivacion_policial",
        "derivacion_social", "derivacion_nna", "derivacion_retorno", "nodo_lider_propuesto", "acceso_emergencia",
    }
    assert chile.roles["auditor"].capabilities == frozenset({"audit"})  # anonymised views, never a case
    assert set(chile.roles_with("file_intake")) == {"coordinador", "deteccion", "gestor"}
    assert set(chile.roles_with("case_access")) == {"coordinador", "deteccion", "gestor", "migraciones"}
    # the administrator erases cases and keeps the directory but never reads a case
    assert chile.roles["administrador"].capabilities == frozenset({"erase_cases", "manage_network"})
    # access grants are approved by coordinators, and only at the node holding national coordination
    assert chile.roles_with("approve_access") == ("coordinador",)
    assert chile.roles["coordinador"].held_at == {"approve_access": "coordinacion_nacional"}


def test_the_chilean_case_states_are_those_of_the_protocol(chile: WorkflowDefinition) -> None:
    assert list(chile.main.states) == [
        "detectado", "en_evaluacion", "informacion_solicitada", "no_activado", "activado", "informe_social",
        "plan_en_elaboracion", "plan_en_ejecucion", "seguimiento", "cerrado",
    ]
    assert {key for key, state in chile.main.states.items() if state.closed} == {"no_activado", "cerrado"}
    assert set(chile.tracks["residencia"].states) == {
        "preparando", "presentada", "en_tramite", "otorgada", "rechazada", "prorroga_solicitada", "definitiva",
    }


def test_every_form_the_chilean_workflow_names_has_a_definition(chile: WorkflowDefinition) -> None:
    named = {t.form for m in chile.machines() for t in m.transitions.values() if t.form}
    named |= set(chile.form_uses) | {chile.intake.form}
    assert named <= set(chile.forms)
    # versions count from 1 without gaps; older versions stay so records filled in them still open
    assert all(sorted(versions) == list(range(1, len(versions) + 1)) for versions in chile.forms.values())
    assert {key for key, versions in chile.forms.items() if len(versions) > 1} == {
        "ficha", "decision_activacion", "plan", "causa_hito", "causa_termino"}


def test_every_chilean_label_has_spanish_and_english(chile: WorkflowDefinition) -> None:
    labelled = [chile.label, *(r.label for r in chile.roles.values()), *(r.label for r in chile.relations.values())]
    for machine in chile.machines():
        labelled += [s.label for s in machine.states.values()] + [t.label for t in machine.transitions.values()]
        labelled += [g.message for t in machine.transitions.values() for g in t.guards]
    labelled += [form.label for versions in chile.forms.values() for form in versions.values()]
    assert [text for text in labelled if not (text.es and text.en)] == []


def test_a_copy_rewritten_by_the_test_harness_still_loads(tmp_path: Path) -> None:
    """The control for every refusal below: the round trip through safe_dump changes nothing."""
    definition = load_definition(rewritten(tmp_path, lambda raw: None))
    assert definition.key == "cl-protocolo-trata"
    assert set(definition.main.transitions) == set(load_definition(CHILE).main.transitions)


# -- refusals ---------------------------------------------------------------------------------------


def _duplicate_across_case_and_track(raw: dict[str, Any]) -> None:
    raw["transitions"]["iniciar_residencia"] = copy.deepcopy(raw["transitions"]["tomar_caso"])


def _track_without_start(raw: dict[str, Any]) -> None:
    start = raw["tracks"]["residencia"]["transitions"]["iniciar_residencia"]
    del start["starts_track"]
    start["from"] = ["rechazada"]


INVALID = [
    # unknown states in transitions
    pytest.param(setter("transitions", "tomar_caso", "to", value="evaluando"),
                 ["transition 'tomar_caso'", "state 'evaluando'", "unknown in the case"],
                 id="a case transition leading to an unknown state"),
    pytest.param(setter("transitions", "activar", "from", value=["detectado", "triado"]),
                 ["transition 'activar'", "state 'triado'", "unknown in the case"],
                 id="a case transition leaving an unknown state"),
    pytest.param(setter("tracks", "residencia", "transitions", "presentar_residencia", "to", value="enviada"),
                 ["transition 'presentar_residencia'", "state 'enviada'", "unknown in track 'residencia'"],
                 id="a track transition leading to an unknown state"),
    # unreachable states
    pytest.param(setter("states", "archivado", value={"label": {"es": "Archivado", "en": "Archived"}}),
                 ["state 'archivado' of the case is unreachable"],
                 id="a case state no transition leads to"),
    pytest.param(deleter("transitions", "no_activar"),
                 ["state 'no_activado' of the case is unreachable"],
                 id="a case state whose only way in was removed"),
    pytest.param(setter("tracks", "residencia", "states", "revocada", value={"label": {"es": "Revocada"}}),
                 ["state 'revocada' of track 'residencia' is unreachable"],
                 id="a track state no transition leads to"),
    pytest.param(_track_without_start,
                 ["track 'residencia' has no transition with starts_track"],
                 id="a track nothing starts"),
    # who may fire
    pytest.param(deleter("transitions", "tomar_caso", "by"),
                 ["transitions.tomar_caso", "no role may fire this transition"],
                 id="a transition without by"),
    pytest.param(setter("transitions", "tomar_caso", "by", value=[]),
                 ["transitions.tomar_caso", "no role may fire this transition"],
                 id="a transition with an empty by"),
    pytest.param(setter("transitions", "tomar_caso", "by", value=[{"relation": "punto_focal"}]),
                 ["transitions.tomar_caso.by[0]", "missing 'role'"],
                 id="a by entry without a role"),
    pytest.param(setter("transitions", "tomar_caso", "by", value=[{"role": "fiscal", "relation": "punto_focal"}]),
                 ["transition 'tomar_caso'", "role 'fiscal' is not declared"],
                 id="a transition fired by an undeclared role"),
    pytest.param(setter("transitions", "tomar_caso", "by", value=[{"role": "coordinador", "relation": "fiscalia"}]),
                 ["transition 'tomar_caso'", "relation 'fiscalia' is not declared"],
                 id="a transition fired from an undeclared relation"),
    pytest.param(setter("forms", "informe_social", "edit", "by", value=[{"role": "gestor", "relation": "nodo_apoyo"}]),
                 ["form use 'informe_social'", "relation 'nodo_apoyo' is not declared"],
                 id="a form edited from an undeclared relation"),
    pytest.param(setter("forms", "plan", "readers", value=["nodo_lider", "fiscalia"]),
                 ["form use 'plan'", "readers names unknown relation 'fiscalia'"],
                 id="a form read by an undeclared relation"),
    pytest.param(setter("intake", "participants", 0, "relation", value="nodo_origen"),
                 ["intake", "participant relation 'nodo_origen' is not declared"],
                 id="an intake participant with an undeclared relation"),
    pytest.param(setter("clocks", "triaje", "remind", value=["fiscalia"]),
                 ["clock 'triaje'", "relation 'fiscalia' is not declared"],
                 id="a clock reminding an undeclared relation"),
    pytest.param(setter("inboxes", "triaje", "roles", value=["jefatura"]),
                 ["inbox 'triaje'", "unknown role 'jefatura'"],
                 id="an inbox for an undeclared role"),
    pytest.param(setter("roles", "auditor", "capabilities", value=["read_everything"]),
                 ["roles.auditor", "read_everything"],
                 id="a role with an unknown capability"),
    # guards
    pytest.param(lambda raw: guard_check(raw, "enviar_informe").update(form="informe_sociales"),
                 ["transition 'enviar_informe'", "unknown form 'informe_sociales'"],
                 id="a guard naming an unknown form"),
    pytest.param(lambda raw: guard_check(raw, "activar").update(field="ficha.consentimento"),
                 ["transition 'activar'", "unknown field 'consentimento' of form 'ficha'"],
                 id="a guard naming an unknown field"),
    pytest.param(lambda raw: guard_check(raw, "activar").update(field="fichas.consentimiento"),
                 ["transition 'activar'", "unknown form 'fichas'"],
                 id="a guard naming a field of an unknown form"),
    pytest.param(add_guard("tomar_caso", {"flag": "adulto"}),
                 ["transition 'tomar_caso'", "unknown flag 'adulto'"],
                 id="a guard naming an unknown flag"),
    pytest.param(lambda raw: art71_parts(raw)[1].update({"in": ["preparando", "presentadx"]}),
                 ["transition 'cerrar'", "unknown state 'presentadx' of track 'residencia'"],
                 id="a guard naming an unknown track state"),
    pytest.param(lambda raw: art71_parts(raw)[1].update(track="asilo"),
                 ["transition 'cerrar'", "unknown track 'asilo'"],
                 id="a guard naming an unknown track"),
    pytest.param(add_guard("tomar_caso", {"state": ["archivado"]}),
                 ["transition 'tomar_caso'", "unknown state 'archivado'"],
                 id="a guard naming an unknown case state"),
    pytest.param(lambda raw: guard_check(raw, "activar").update(equals="si"),
                 ["transitions.activar.guards[0].check", "exactly one of"],
                 id="a guard with two operators"),
    pytest.param(add_guard("tomar_caso", {"nodo": "rm"}),
                 ["transitions.tomar_caso.guards[0].check", "unknown condition"],
                 id="a guard of an unknown kind"),
    pytest.param(setter("flags", "nna", "when", "field", value="ficha.menor"),
                 ["flag 'nna'", "unknown field 'menor' of form 'ficha'"],
                 id="a flag naming an unknown field"),
    pytest.param(lambda raw: raw["tracks"]["residencia"]["available_when"]["all"][1].update(field="ficha.pais"),
                 ["track 'residencia' available_when", "unknown field 'pais' of form 'ficha'"],
                 id="a track availability naming an unknown field"),
    # conditions on the typed input
    pytest.param(add_guard("tomar_caso", {"input": "motivo", "equals": "retorno_asistido"}),
                 ["transition 'tomar_caso'", "condition on input 'motivo'", "has no form"],
                 id="an input condition on a transition without a form"),
    pytest.param(lambda raw: art71_parts(raw)[0].update(input="razon"),
                 ["transition 'cerrar'", "unknown field 'razon' of form 'cierre'"],
                 id="an input condition naming a field its form lacks"),
    pytest.param(setter("forms", "ficha", "edit", "when", value={"input": "motivo", "equals": "x"}),
                 ["form use 'ficha'", "condition on input 'motivo'"],
                 id="an input condition on when a form is editable"),
    # effects
    pytest.param(setter("transitions", "activar", "effects", 0, "add_participant", "node_input", value="fundamento"),
                 ["transition 'activar'", "'fundamento'", "source: node"],
                 id="add_participant reading a field that is not a node choice"),
    pytest.param(setter("transitions", "activar", "effects", 0, "add_participant", "node_input", value="nodo"),
                 ["transition 'activar'", "reads 'nodo', not a field of its form"],
                 id="add_participant reading a field its form lacks"),
    pytest.param(setter("transitions", "tomar_caso", "effects",
                        value=[{"add_participant": {"relation": "nodo_lider", "node_input": "nodo_lider"}}]),
                 ["transition 'tomar_caso'", "reads 'nodo_lider', not a field of its form"],
                 id="add_participant reading a node on a transition without a form"),
    pytest.param(setter("transitions", "activar", "effects", 0, "add_participant", "relation", value="nodo_apoyo"),
                 ["transition 'activar'", "unknown relation 'nodo_apoyo'"],
                 id="add_participant with an undeclared relation"),
    pytest.param(setter("transitions", "activar", "effects", 0, "add_participant",
                        value={"relation": "nodo_lider", "node_input": "nodo_lider", "assignment": "punto_focal"}),
                 ["transitions.activar.effects[0]", "node_input or assignment (one)"],
                 id="add_participant with both a node and an assignment"),
    pytest.param(setter("transitions", "enviar_informe", "effects", value=[{"sign_form": "informe_social"}]),
                 ["transitions.enviar_informe.effects[0]", "unknown effect 'sign_form'"],
                 id="an unknown effect"),
    pytest.param(setter("transitions", "enviar_informe", "effects", value=[{"submit_form": "informe"}]),
                 ["transition 'enviar_informe'", "unknown form 'informe'"],
                 id="an effect on an unknown form"),
    pytest.param(setter("transitions", "tomar_caso", "form", value="acta"),
                 ["transition 'tomar_caso'", "form 'acta' has no definition"],
                 id="a transition form without a definition"),
    # intake
    pytest.param(setter("intake", "region_field", value="comuna"),
                 ["intake", "region_field 'comuna'", "source: region"],
                 id="an intake region field that is not source region"),
    pytest.param(setter("intake", "region_field", value="provincia"),
                 ["intake", "region_field 'provincia'", "source: region"],
                 id="an intake region field the form lacks"),
    pytest.param(setter("intake", "state", value="en_evaluacion"),
                 ["intake", "state 'en_evaluacion' must be the initial state 'detectado'"],
                 id="an intake into a state that is not initial"),
    # clocks
    pytest.param(setter("clocks", "triaje", "duration", "unit", value="weeks"),
                 ["clocks.triaje.duration", "unit"],
                 id="a clock with an unknown unit"),
    pytest.param(setter("clocks", "triaje", "escalate", 0, "after", "unit", value="days"),
                 ["clocks.triaje.escalate[0].after", "unit"],
                 id="a clock escalation with an unknown unit"),
    pytest.param(setter("clocks", "triaje", "duration", "value", value=0),
                 ["clocks.triaje.duration", "positive"],
                 id="a clock of zero duration"),
    pytest.param(setter("clocks", "triaje", "starts_on", value={"enter_stage": "detectado"}),
                 ["clocks.triaje.starts_on", "enter_stage"],
                 id="a clock starting on an unknown kind of event"),
    pytest.param(setter("clocks", "triaje", "starts_on", value={"enter_state": "triaje"}),
                 ["clock 'triaje'", "unknown state 'triaje'"],
                 id="a clock starting on an unknown state"),
    pytest.param(setter("clocks", "triaje", "stops_on", value={"transition": ["activar", "desactivar"]}),
                 ["clock 'triaje'", "unknown transition 'desactivar'"],
                 id="a clock stopping on an unknown transition"),
    pytest.param(setter("clocks", "plan", "stops_on", value={"form_submitted": "plan_de_accion"}),
                 ["clock 'plan'", "unknown form 'plan_de_accion'"],
                 id="a clock stopping on an unknown form"),
    pytest.param(setter("clocks", "reporte_migraciones", "starts_on", value={"track_state": "residencia.ingresada"}),
                 ["clock 'reporte_migraciones'", "unknown track state 'residencia.ingresada'"],
                 id="a clock starting on an unknown track state"),
    pytest.param(setter("clocks", "triaje", "basis", value="costumbre"),
                 ["clock 'triaje'", "basis"],
                 id="a clock with an unknown basis"),
    # initial states, duplicates, inboxes, labels
    pytest.param(setter("states", "en_evaluacion", "initial", value=True),
                 ["two initial states (detectado, en_evaluacion)"],
                 id="two initial states"),
    pytest.param(deleter("states", "detectado", "initial"),
                 ["the case has no initial state"],
                 id="no initial state"),
    pytest.param(_duplicate_across_case_and_track,
                 ["transition 'iniciar_residencia' is declared twice"],
                 id="a transition key used by the case and by a track"),
    pytest.param(setter("inboxes", "residencias", "tracks", "residencia", value=["presentada", "archivada"]),
                 ["inbox 'residencias'", "residencia", "archivada"],
                 id="an inbox naming an unknown track state"),
    pytest.param(setter("transitions", "tomar_caso", "label", value={"en": "Take for assessment"}),
                 ["transitions.tomar_caso.label", "Spanish"],
                 id="a label without Spanish"),
    pytest.param(setter("transitions", "tomar_caso", "label", value={"es": "Tomar", "fr": "Prendre"}),
                 ["transitions.tomar_caso.label", "unknown languages ['fr']"],
                 id="a label in an undeclared language"),
    pytest.param(deleter("intake"),
                 ["workflow.yaml", "missing 'intake'"],
                 id="a definition without intake"),
    # issue 15: the engine's additions are checked like the rest
    pytest.param(deleter("intake", "region_fallback"),
                 ["intake: region_field 'region' may be left blank", "region_fallback"],
                 id="an optional region with nowhere to route the case"),
    pytest.param(setter("intake", "region_fallback", value=""),
                 ["intake.region_fallback", "expected a region code"],
                 id="an empty region fallback"),
    pytest.param(setter("transitions", "activar", "effects", 1, "add_participant", "when",
                        value={"field": "ficha.lugar_detectado", "equals": "extranjero"}),
                 ["transition 'activar'", "unknown field 'lugar_detectado'"],
                 id="a participant added on a condition over an unknown field"),
    pytest.param(setter("transitions", "activar", "effects", 1, "add_participant", "when",
                        value={"input": "pais", "equals": "AR"}),
                 ["transition 'activar'", "unknown field 'pais' of form 'decision_activacion'"],
                 id="a participant added on an input its form does not have"),
    pytest.param(setter("statistics", "dimensions", "tipo_trata", "prefer", value=["decision_activacion.tipo"]),
                 ["statistics.dimensions.tipo_trata.prefer", "has no field 'tipo'"],
                 id="a preferred statistics field that does not exist"),
    pytest.param(setter("statistics", "dimensions", "tipo_trata", "prefer", value=["decision_activacion.ambito"]),
                 ["statistics.dimensions.tipo_trata.prefer", "choices are among those of 'ficha.tipo_trata'"],
                 id="a preferred statistics field with other categories"),
    pytest.param(setter("statistics", "dimensions", "tipo_trata", "prefer", value="decision_activacion.tipo_trata"),
                 ["statistics.dimensions.tipo_trata.prefer", "list of form.field paths"],
                 id="a preferred statistics field not in a list"),
]


@pytest.mark.parametrize(("mutate", "fragments"), INVALID)
def test_validation_refuses_a_broken_definition_and_names_the_element(
    tmp_path: Path, mutate: Mutation, fragments: list[str]
) -> None:
    message = refusal_of(rewritten(tmp_path, mutate))
    assert_names(message, *fragments)


def test_validation_lists_every_problem_at_once(tmp_path: Path) -> None:
    def two_problems(raw: dict[str, Any]) -> None:
        raw["transitions"]["tomar_caso"]["to"] = "evaluando"
        raw["intake"]["region_field"] = "comuna"

    message = refusal_of(rewritten(tmp_path, two_problems))
    assert_names(message, "workflow.yaml", "not valid", "state 'evaluando'", "region_field 'comuna'")


# -- refusals that need the YAML text itself ---------------------------------------------------------


@pytest.mark.parametrize("spelling", ["no", "No", "off", "yes"])
def test_a_form_choice_value_that_yaml_reads_as_a_boolean_is_refused(tmp_path: Path, spelling: str) -> None:
    folder = edited(tmp_path, "forms/ficha.v1.yaml", '- {value: "no", label: {es: "No", en: "No"}}',
                    f'- {{value: {spelling}, label: {{es: "No", en: "No"}}}}')
    message = refusal_of(folder)
    assert_names(message, "ficha.v1.yaml", "(discapacidad).choices", "read as a boolean", "quote it")


def test_invalid_yaml_in_the_workflow_is_refused(tmp_path: Path) -> None:
    folder = copy_of_chile(tmp_path, single=True)
    (folder / "workflow.yaml").write_text("id: roto\nstates: [detectado\n", encoding="utf-8")
    assert_names(refusal_of(folder), "workflow.yaml", "not valid YAML")


def test_invalid_yaml_in_a_form_is_refused(tmp_path: Path) -> None:
    folder = edited(tmp_path, "forms/cierre.v1.yaml", "sections:", "sections: [{key: x\n")
    assert_names(refusal_of(folder), "cierre.v1.yaml", "not valid YAML")


def test_a_workflow_whose_top_level_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    folder = copy_of_chile(tmp_path, single=True)
    (folder / "workflow.yaml").write_text("- detectado\n- activado\n", encoding="utf-8")
    assert_names(refusal_of(folder), "workflow.yaml", "top level must be a mapping")


def test_a_folder_without_a_workflow_is_refused(tmp_path: Path) -> None:
    assert_names(refusal_of(tmp_path), "workflow.yaml", "no workflow definition here")


def test_a_form_version_defined_twice_is_refused(tmp_path: Path) -> None:
    folder = copy_of_chile(tmp_path)
    shutil.copy(folder / "forms" / "cierre.v1.yaml", folder / "forms" / "cierre.copia.yaml")
    assert_names(refusal_of(folder), "form 'cierre' version 1 is defined twice")


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        pytest.param("      - key: comuna\n", "      - key: region\n", ["ficha.v1.yaml", "field 'region' appears twice"],
                     id="a field key used twice"),
        pytest.param("        max_length: 80\n      - key: contexto\n",
                     "        max_lenght: 80\n      - key: contexto\n",
                     ["ficha.v1.yaml", "sections[0].fields[2]", "max_lenght"], id="a misspelt field key"),
        pytest.param("estimated_age: edad_estimada", "estimated_age: edad_aprox",
                     ["ficha.v1.yaml", "minor_flag", "unknown field 'edad_aprox'"], id="a rule naming an unknown field"),
        pytest.param("        type: datetime\n", "        type: timestamp\n",
                     ["ficha.v1.yaml", "(fecha_deteccion)", "type"], id="an unknown field type"),
        pytest.param("rules: {not_future: true, not_before: \"2000-01-01\"}",
                     "rules: {not_future: true, not_after: \"2000-01-01\"}",
                     ["ficha.v1.yaml", "(fecha_deteccion)", "not_after"], id="an unknown field rule"),
    ],
)
def test_a_broken_form_definition_is_refused_and_names_the_field(
    tmp_path: Path, old: str, new: str, fragments: list[str]
) -> None:
    assert_names(refusal_of(edited(tmp_path, "forms/ficha.v1.yaml", old, new)), *fragments)


# -- the application refuses to start ---------------------------------------------------------------


BROKEN_FOR_STARTUP = [
    pytest.param(lambda tmp: rewritten(tmp, setter("transitions", "tomar_caso", "to", value="evaluando")),
                 ["tomar_caso", "evaluando"], id="an unknown state"),
    pytest.param(lambda tmp: rewritten(tmp, setter("intake", "region_field", value="comuna")),
                 ["region_field 'comuna'"], id="an intake region field that is not a region"),
    pytest.param(lambda tmp: edited(tmp, "workflow.yaml", "states:\n", "states: [\n"),
                 ["workflow.yaml", "not valid YAML"], id="invalid YAML"),
    pytest.param(lambda tmp: tmp / "workflows" / "peru", ["no workflow definition here"], id="a missing folder"),
]


@pytest.mark.parametrize(("make", "fragments"), BROKEN_FOR_STARTUP)
def test_the_application_refuses_to_start_with_a_broken_definition(
    tmp_path: Path, make: Callable[[Path], Path], fragments: list[str]
) -> None:
    folder = make(tmp_path)
    with pytest.raises(StartupError) as caught:
        create_app(app_settings(tmp_path, folder))
    assert_names(str(caught.value), "workflow definition", *fragments)


def test_the_application_starts_with_a_valid_copy_of_the_definition(tmp_path: Path) -> None:
    """The control for the refusals above: the same settings start with an unbroken copy."""
    app = create_app(app_settings(tmp_path, copy_of_chile(tmp_path, "copia")))
    try:
        assert app.extensions["referral.protocol"].definition.key == "cl-protocolo-trata"
    finally:
        database.engine(app).dispose()


# -- bugs: malformed definitions that crash instead of being refused ---------------------------------
#
# Each of these should be a DefinitionError naming the element (so that create_app turns it into a
# StartupError); today they escape as TypeError / AttributeError / ValueError.

MALFORMED = [
    pytest.param(setter("transitions", "tomar_caso", value=None), ["tomar_caso"],
                 id="a transition with an empty body"),
    pytest.param(setter("transitions", "activar", "guards", value=["ficha.consentimiento == si"]),
                 ["activar", "guards[0]"], id="a guard written as a string"),
    pytest.param(setter("clocks", "triaje", "starts_on", value="enter_state"), ["clock", "triaje"],
                 id="a clock event written as a string"),
    pytest.param(setter("clocks", "triaje", "escalate", value=["coordinacion_nacional"]),
                 ["triaje", "escalate[0]"], id="a clock escalation written as a string"),
    pytest.param(setter("roles", "auditor", value=None), ["roles.auditor"],
                 id="a role with an empty body"),
]


@pytest.mark.parametrize(("mutate", "fragments"), MALFORMED)
def test_a_malformed_definition_is_refused_with_a_definition_error_not_a_crash(
    tmp_path: Path, mutate: Mutation, fragments: list[str]
) -> None:
    folder = rewritten(tmp_path, mutate)
    try:
        load_definition(folder)
    except DefinitionError as error:
        assert_names(str(error), *fragments)
    except Exception as error:  # noqa: BLE001 - the point of the test is which exception escapes
        pytest.fail(f"{type(error).__name__} escaped instead of a DefinitionError: {error}")
    else:
        pytest.fail("the malformed definition was accepted")


# -- bugs: mistakes the loader accepts silently --------------------------------------------------------


def test_a_misspelt_transition_key_is_refused(tmp_path: Path) -> None:
    """`gaurds:` instead of `guards:` silently drops the art. 71 protection today."""
    def misspell(raw: dict[str, Any]) -> None:
        raw["transitions"]["cerrar"]["gaurds"] = raw["transitions"]["cerrar"].pop("guards")

    assert_names(refusal_of(rewritten(tmp_path, misspell)), "cerrar", "gaurds")


def test_a_transition_declared_twice_in_one_mapping_is_refused(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys: a second `cerrar:` silently replaces the first."""
    second = (
        "  cerrar:\n"
        "    label: {es: Cerrar, en: Close}\n"
        "    from: [activado]\n"
        "    to: cerrado\n"
        "    by: coordinacion\n"
        "\n"
        "# -- who edits and reads which instrument"
    )
    folder = edited(tmp_path, "workflow/case.yaml", "# -- who edits and reads which instrument", second)
    assert_names(refusal_of(folder), "cerrar")


def test_an_english_label_that_yaml_reads_as_a_boolean_is_refused(tmp_path: Path) -> None:
    """`en: Yes` unquoted becomes True, and the English label silently reads "True"."""
    folder = edited(tmp_path, "forms/ficha.v1.yaml", '{value: si, label: {es: Sí, en: "Yes"}}',
                    "{value: si, label: {es: Sí, en: Yes}}")
    assert_names(refusal_of(folder), "ficha.v1.yaml", "boolean")


def test_a_guard_operand_that_yaml_reads_as_a_boolean_is_refused(tmp_path: Path) -> None:
    """`not_in: [no]` compares the consent with False: activation would pass for consent "no"."""
    folder = edited(tmp_path, "workflow.yaml",
                    "check: {field: ficha.consentimiento, in: [si, no_consultado_nna, no_consultado_incapacidad]}",
                    "check: {field: ficha.consentimiento, not_in: [no]}")
    assert_names(refusal_of(folder), "activar", "boolean")


def test_a_conditional_requirement_naming_an_unknown_field_is_refused(tmp_path: Path) -> None:
    """A misspelt required_if is never true, so the field silently stops being required."""
    folder = edited(tmp_path, "forms/ficha.v1.yaml", "required_if: {field: contexto, equals: otro}",
                    "required_if: {field: contexto_tipo, equals: otro}")
    assert_names(refusal_of(folder), "ficha.v1.yaml", "contexto_tipo")


def test_the_loader_knows_only_documented_units_and_capabilities() -> None:
    assert CLOCK_UNITS == {"hours", "calendar_days", "working_days"}
    assert CAPABILITIES == {"file_intake", "case_access", "erase_cases", "manage_network", "audit", "approve_access",
                            "assign_cases", "plan_manage", "plan_report"}


@pytest.mark.parametrize(("held_at", "fragments"), [
    ({"approve_access": "coordinacion_regional"}, ("coordinador", "approve_access", "coordinacion_regional")),
    ({"audit": "coordinacion_nacional"}, ("roles.coordinador.held_at", "audit")),
    ([{"approve_access": "coordinacion_nacional"}], ("roles.coordinador.held_at", "expected a mapping")),
])
def test_a_capability_held_at_a_network_function_must_name_one_the_role_has_and_one_that_exists(
        tmp_path: Path, held_at: Any, fragments: tuple[str, ...]) -> None:
    folder = rewritten(tmp_path, setter("roles", "coordinador", "held_at", value=held_at))
    assert_names(refusal_of(folder), *fragments)


# -- where each rule comes from (issue 15 §7) --------------------------------------------------------


def test_every_chilean_guard_and_form_says_whether_it_is_law_the_protocols_or_a_product_default() -> None:
    definition = load_definition(CHILE)
    unmarked = [(t.key, g.message.es[:40]) for m in definition.machines() for t in m.transitions.values()
                for g in t.guards if g.basis is None]
    assert unmarked == []
    assert [key for key, versions in definition.forms.items() if versions[max(versions)].basis is None] == []
    assert definition.clocks["triaje"].basis == "product" and definition.clocks["denuncia_obligatoria"].basis == "law"
    # brief section 8: the Tribunal de Familia / OLN notice and a guardian's consent are ours, not the seeds'
    activar = definition.main.transitions["activar"]
    assert [g.basis for g in activar.guards] == ["source", "product", "source", "product"]


@pytest.mark.parametrize(("relative", "old", "new", "fragments"), [
    pytest.param("workflow.yaml", "        basis: law\n        message:", "        basis: tradition\n        message:",
                 ["transitions.cerrar.guards[0].basis", "law, source, product"], id="a guard's basis"),
    pytest.param("forms/cierre.v1.yaml", "basis: product", "basis: custom",
                 ["cierre.v1.yaml", "basis", "law, source, product"], id="a form's basis"),
])
def test_an_unknown_basis_is_refused(tmp_path: Path, relative: str, old: str, new: str,
                                     fragments: list[str]) -> None:
    assert_names(refusal_of(edited(tmp_path, relative, old, new)), *fragments)

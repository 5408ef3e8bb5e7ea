"""The shape of a workflow definition (referral/workflow/schema.py): workflows/schema.json is the one the
models generate, every country's definition validates against it, a workflow may be split by concern
into workflow/*.yaml, `by:` names permit groups, and YAML is read by libyaml's C loader where present
with the same refusal of duplicate keys as the pure-Python one."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from referral.workflow import DefinitionError, load_definition
from referral.workflow.definition import C_LOADER, LOADER, PURE_LOADER, Permit, _read_yaml, read_workflow

from ..definitions import (
    CHILE, ROOT, Mutation, assert_names, copy_of_chile, refusal_of, rewritten, setter, workflow_text,
)

WORKFLOWS = ROOT / "workflows"
SCHEMA = WORKFLOWS / "schema.json"


def countries() -> list[Path]:
    """Every folder of workflows/ that holds a definition (one workflow.yaml, or workflow/*.yaml)."""
    return [folder for folder in sorted(WORKFLOWS.iterdir())
            if (folder / "workflow.yaml").is_file() or (folder / "workflow").is_dir()]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors_of(validator: jsonschema.protocols.Validator, raw: Any) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(raw)]


# -- workflows/schema.json ---------------------------------------------------------------------------


def test_the_committed_schema_is_the_one_the_models_generate() -> None:
    generated = subprocess.run([sys.executable, "-m", "referral.workflow", "schema"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout
    assert json.loads(generated)["title"] == "Workflow definition"
    assert SCHEMA.read_text(encoding="utf-8") == generated, (
        "workflows/schema.json is stale: python -m referral.workflow schema > workflows/schema.json")


def test_chile_is_among_the_countries_checked() -> None:
    assert CHILE in countries()


@pytest.mark.parametrize("folder", countries(), ids=lambda folder: folder.name)
def test_every_countrys_definition_validates_against_the_schema(
        validator: jsonschema.protocols.Validator, folder: Path) -> None:
    raw, _origins, _source = read_workflow(folder)
    assert errors_of(validator, raw) == []


def _unknown_condition(raw: dict[str, Any]) -> None:
    raw["transitions"]["activar"]["guards"][0]["check"] = {"nodo": "rm"}


SHAPES = [
    pytest.param(setter("transitions", "activar", "colour", value="red"),
                 ["transitions.activar: unknown keys ['colour']"], id="an unknown key"),
    pytest.param(_unknown_condition,
                 ["transitions.activar.guards[0].check: unknown condition 'nodo'"], id="an unknown condition"),
    pytest.param(setter("transitions", "enviar_informe", "effects", value=[{"sign_form": "informe_social"}]),
                 ["transitions.enviar_informe.effects[0]: unknown effect 'sign_form'"], id="an unknown effect"),
    pytest.param(setter("clocks", "triaje", "starts_on", value={"enter_stage": "detectado"}),
                 ["clocks.triaje.starts_on: unknown event 'enter_stage'"], id="an unknown clock event"),
    pytest.param(setter("clocks", "triaje", "duration", "unit", value="weeks"),
                 ["clocks.triaje.duration.unit: a duration is {value: N, unit: hours|calendar_days|working_days}, got unit "
                  "'weeks'"],
                 id="an unknown unit"),
    pytest.param(setter("calendar", value={"country": "CL"}),
                 ["calendar: missing 'time_zone'"], id="a calendar without a time zone"),
    pytest.param(setter("flags", "nna", "child", value="si"),
                 ["flags.nna.child: true or false, got 'si'"], id="a child flag that is not a boolean"),
    pytest.param(setter("permit_groups", "lider", value=[]),
                 ["permit_groups.lider", "at least 1 item"], id="an empty permit group"),
]


@pytest.mark.parametrize(("mutate", "fragments"), SHAPES)
def test_the_loader_and_the_schema_refuse_a_misshapen_definition(
        tmp_path: Path, validator: jsonschema.protocols.Validator, mutate: Mutation, fragments: list[str]) -> None:
    raw = copy.deepcopy(read_workflow(CHILE)[0])
    mutate(raw)
    assert errors_of(validator, raw) != []  # what an editor shows as the workflow is typed
    assert_names(refusal_of(rewritten(tmp_path, mutate)), "workflow.yaml", *fragments)


def test_a_misshapen_definition_lists_every_shape_problem_at_once(tmp_path: Path) -> None:
    def two(raw: dict[str, Any]) -> None:
        raw["transitions"]["activar"]["colour"] = "red"
        raw["clocks"]["triaje"]["duration"]["value"] = 0

    assert_names(refusal_of(rewritten(tmp_path, two)), "unknown keys ['colour']",
                 "clocks.triaje.duration.value: a duration must be positive")


# -- one file, or a folder of files by concern --------------------------------------------------------


def test_chile_is_split_by_concern() -> None:
    files = {path.name for path in (CHILE / "workflow").glob("*.yaml")}
    assert files == {"case.yaml", "tracks.yaml", "network.yaml", "clocks.yaml", "statistics.yaml"}
    assert not (CHILE / "workflow.yaml").exists()
    _raw, origins, source = read_workflow(CHILE)
    assert Path(origins["tracks"]).name == "tracks.yaml" and Path(origins["transitions"]).name == "case.yaml"
    assert source == str(CHILE / "workflow")


def test_one_workflow_yaml_defines_the_same_workflow_as_the_split_files(tmp_path: Path) -> None:
    split = load_definition(CHILE)
    single = load_definition(copy_of_chile(tmp_path, single=True))
    assert single.source.endswith("workflow.yaml")
    assert dataclasses.replace(single, source="") == dataclasses.replace(split, source="")


def test_a_key_defined_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    folder = copy_of_chile(tmp_path)
    (folder / "workflow" / "time.yaml").write_text("calendar: {country: CL, time_zone: UTC}\n", encoding="utf-8")
    assert_names(refusal_of(folder), "'calendar' is defined in both", "clocks.yaml", "time.yaml")


def test_a_folder_with_both_forms_of_workflow_is_refused(tmp_path: Path) -> None:
    folder = copy_of_chile(tmp_path)
    (folder / "workflow.yaml").write_text(workflow_text(folder), encoding="utf-8")
    assert_names(refusal_of(folder), "give workflow.yaml or workflow/, not both")


def test_a_problem_in_a_split_file_names_that_file(tmp_path: Path) -> None:
    folder = copy_of_chile(tmp_path)
    path = folder / "workflow" / "tracks.yaml"
    text = path.read_text(encoding="utf-8")
    assert "        starts_track: true\n" in text
    path.write_text(text.replace("        starts_track: true\n", "        starts_track: maybe\n", 1), encoding="utf-8")
    assert_names(refusal_of(folder), "tracks.yaml: tracks.residencia.transitions.iniciar_residencia.starts_track",
                 "true or false")


# -- permit groups ------------------------------------------------------------------------------------


def test_chile_names_its_permit_groups_and_uses_no_yaml_anchor_for_them() -> None:
    text = workflow_text(CHILE)
    assert "by: &" not in text and "by: *" not in text
    chile = load_definition(CHILE)
    assert chile.transition("tomar_caso").permits == (
        Permit("coordinador", "punto_focal"), Permit("coordinador", "coordinacion_nacional"))
    # a group named in network.yaml, declared in case.yaml
    assert chile.network.referrals is not None
    assert set(chile.network.referrals.transitions["aceptar"].by) == {
        Permit(role, "receptor") for role in ("gestor", "coordinador", "deteccion")}


def test_a_by_list_may_mix_groups_and_pairs(tmp_path: Path) -> None:
    folder = rewritten(tmp_path, setter("transitions", "tomar_caso", "by",
                                        value=["lider", {"role": "coordinador", "relation": "punto_focal"}]))
    assert load_definition(folder).transition("tomar_caso").permits == (
        Permit("gestor", "nodo_lider"), Permit("coordinador", "punto_focal"))


@pytest.mark.parametrize(("path", "fragments"), [
    pytest.param(("transitions", "tomar_caso", "by"), ["transitions.tomar_caso.by", "unknown permit group 'jefatura'"],
                 id="a transition"),
    pytest.param(("forms", "plan", "edit", "by"), ["forms.plan.edit.by", "unknown permit group 'jefatura'"],
                 id="a form's editors"),
    pytest.param(("referrals", "transitions", "aceptar", "by"),
                 ["referrals.transitions.aceptar.by", "unknown permit group 'jefatura'"], id="a referral's answer"),
])
def test_an_unknown_permit_group_is_refused(tmp_path: Path, path: tuple[str, ...], fragments: list[str]) -> None:
    assert_names(refusal_of(rewritten(tmp_path, setter(*path, value="jefatura"))), *fragments)


# -- calendar and the child flag ------------------------------------------------------------------------


def test_chile_declares_its_time_zone_and_its_child_flag() -> None:
    chile = load_definition(CHILE)
    assert (chile.calendar.time_zone, chile.calendar.country, chile.calendar.subdivision) == (
        "America/Santiago", "CL", None)
    assert {key for key, flag in chile.flags.items() if flag.child} == {"nna"}


def test_a_calendar_subdivision_the_holidays_library_knows_is_kept(tmp_path: Path) -> None:
    folder = rewritten(tmp_path, setter("calendar", "subdivision", value="RM"))
    assert load_definition(folder).calendar.subdivision == "RM"


@pytest.mark.parametrize(("calendar", "fragment"), [
    pytest.param({"country": "CL", "time_zone": "America/Valparaiso"}, "unknown IANA time zone 'America/Valparaiso'",
                 id="an unknown time zone"),
    pytest.param({"country": "CL", "time_zone": "America/Santiago", "subdivision": "XX"},
                 "the holidays calendar does not know CL-XX", id="an unknown subdivision"),
    pytest.param({"time_zone": "America/Santiago", "subdivision": "RM"}, "a subdivision code needs a country",
                 id="a subdivision without a country"),
])
def test_a_broken_calendar_is_refused(tmp_path: Path, calendar: dict[str, str], fragment: str) -> None:
    assert_names(refusal_of(rewritten(tmp_path, setter("calendar", value=calendar))), "calendar", fragment)


# -- YAML: libyaml's C loader where present, the same refusal of duplicate keys -------------------------


def test_libyaml_reads_the_definitions_where_present() -> None:
    assert yaml.__with_libyaml__, "PyYAML was built without libyaml here; the C loader would not be tested"
    assert C_LOADER is not None and LOADER is C_LOADER
    assert issubclass(C_LOADER, yaml.CSafeLoader) and issubclass(PURE_LOADER, yaml.SafeLoader)
    assert not issubclass(PURE_LOADER, yaml.CSafeLoader)


@pytest.mark.parametrize("which", ["libyaml", "pure"])
def test_a_key_written_twice_is_refused_by_either_loader(tmp_path: Path, which: str) -> None:
    loader = C_LOADER if which == "libyaml" else PURE_LOADER
    path = tmp_path / "twice.yaml"
    path.write_text("a: 1\nb:\n  c: 1\n  d: [1, {e: 1, e: 2}]\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        _read_yaml(path, loader)
    assert_names(str(caught.value), "twice.yaml", "line 4: 'e' is written twice in one mapping")


def test_both_loaders_read_the_chilean_files_alike() -> None:
    assert C_LOADER is not None
    paths = sorted((CHILE / "workflow").glob("*.yaml")) + sorted((CHILE / "forms").glob("*.yaml"))
    for path in paths:
        assert _read_yaml(path, C_LOADER) == _read_yaml(path, PURE_LOADER), path.name


def _split_files() -> list[Path]:
    return [path for folder in countries() for path in sorted((folder / "workflow").glob("*.yaml"))]


@pytest.mark.parametrize("path", _split_files(), ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_each_file_of_a_split_workflow_validates_alone_as_an_editor_checks_it(
        validator: jsonschema.protocols.Validator, path: Path) -> None:
    assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../../schema.json\n")
    assert errors_of(validator, _read_yaml(path)) == []

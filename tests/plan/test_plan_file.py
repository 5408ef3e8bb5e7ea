"""The 2023-2026 plan as data: the YAML file is the seed's text (seed 002), and loading it is idempotent."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from referral.plan.loading import PlanFileError, load_plan, read_plan_file
from referral.plan.models import Action, Eje, Institution, Linea, Plan

ROOT = Path(__file__).resolve().parents[2]
PLAN_FILE = ROOT / "workflows" / "chile" / "plan_accion_2023_2026.yaml"
# A copy of ../shared/seeds/002_6e5030d507308a36.txt (the public Plan de Acción 2023-2026), kept with the tests so
# that the transcription is checked on every clone, CI's included
SEED = Path(__file__).with_name("seed_002_plan_accion_2023_2026.txt")
ACTIONS_PER_EJE = {1: 17, 2: 9, 3: 9, 4: 8}


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    return read_plan_file(PLAN_FILE)


@pytest.fixture(scope="module")
def seed() -> str:
    # the seed's table cells hold bullets as HTML (<ul><li>…); compare words, not markup
    return flat(re.sub(r"<[^>]+>|[•·]", " ", SEED.read_text(encoding="utf-8")))


def actions(plan: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(eje["number"], action) for eje in plan["ejes"] for linea in eje["lineas"] for action in linea["acciones"]]


def test_the_plan_has_the_four_ejes_of_the_seed_with_their_coordinators(plan: dict[str, Any], seed: str) -> None:
    assert [eje["number"] for eje in plan["ejes"]] == [1, 2, 3, 4]
    assert [eje["title"] for eje in plan["ejes"]] == ["Prevención y Sensibilización", "Protección y Asistencia a Víctimas",
                                                     "Persecución y Control",
                                                     "Coordinación Intersectorial y Cooperación Internacional"]
    for eje in plan["ejes"]:
        coordinator = plan["institutions"][eje["coordinator"]]["name"]
        assert f"Institución coordinadora:** {coordinator}." in seed, coordinator
        assert flat(eje["objective"]) in seed


def test_every_action_indicator_and_meta_is_the_seeds_text(plan: dict[str, Any], seed: str) -> None:
    found = actions(plan)
    assert {n: sum(1 for e, _ in found if e == n) for n in ACTIONS_PER_EJE} == ACTIONS_PER_EJE
    for eje, action in found:
        assert flat(f"{action['code']} {action['action']}") in seed, (eje, action["code"])
        for indicator in action["indicators"]:
            assert flat(indicator["text"]) in seed, (eje, action["code"], indicator["text"])
            assert indicator["kind"] in ("si_no", "numero")
            if "(si" in indicator["text"]:
                assert indicator["kind"] == "si_no"
            elif indicator["text"].startswith("Número"):  # «Número de Guía … (si/no)» is yes/no
                assert indicator["kind"] == "numero"
        for line in action["meta"].splitlines():
            assert flat(line) in seed, (eje, action["code"], line)
    for eje in plan["ejes"]:
        for linea in eje["lineas"]:
            assert flat(f"{linea['number']}. {linea['title']}") in seed, (eje["number"], linea["number"])


@pytest.mark.parametrize(("eje", "code", "indicator", "meta", "due_on"), [
    (1, "1.6", "Guía de Detección y Derivación actualizada (si/no).", "Una guía actualizada al 31 de diciembre de 2025.",
     dt.date(2025, 12, 31)),
    (1, "1.1", "Guía informativa elaborada (si/no).", "Una guía informativa elaborada al 30 de julio del año 2025.",
     dt.date(2025, 7, 30)),
    (2, "1.3", "Protocolo revisado y ajustado (si/no).",
     "Un Protocolo intersectorial actualizado al 31 de diciembre de 2024.", dt.date(2024, 12, 31)),
    (3, "1.3", "Seminario de lavados de activos implementado (si/no).",
     "Un seminario de lavado de activos implementado al 30 de noviembre de 2024.", dt.date(2024, 11, 30)),
    (3, "2.5", "Guía de Buenas Prácticas en Investigación Criminal del Delito de Trata de Personas actualizada (si/no).",
     "Guía de Buenas Prácticas actualizada al 30 de marzo de 2025.", dt.date(2025, 3, 30)),
    (4, "2.5", "Número de reuniones de coordinación realizadas con las instituciones a cargo del Estudio de "
     "Caracterización de la Trata de Personas en Chile 2017-2022.",
     "Al menos cuatro reuniones de coordinación realizadas con las instituciones a cargo del Estudio al 30 de "
     "septiembre 2025.", dt.date(2025, 9, 30)),
    (4, "3.1", "Número de informes de avance del Plan.", "Al menos dos informes de avance difundidos durante cada semestre.",
     dt.date(2026, 12, 31)),
])
def test_a_handful_of_actions_read_exactly_as_in_the_seed(plan: dict[str, Any], seed: str, eje: int, code: str,
                                                          indicator: str, meta: str, due_on: dt.date) -> None:
    (action,) = [a for e, a in actions(plan) if e == eje and a["code"] == code]
    assert [i["text"] for i in action["indicators"]][0] == indicator and indicator in seed
    assert action["meta"] == meta and meta in seed
    assert action["due_on"] == due_on


def test_every_dated_meta_is_due_on_the_date_it_names(plan: dict[str, Any]) -> None:
    months = {m: n for n, m in enumerate(["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                          "septiembre", "octubre", "noviembre", "diciembre"], start=1)}
    for eje, action in actions(plan):
        named = re.findall(r"(\d{1,2}) de (\w+)(?: del?)?(?: año)? (\d{4})", action["meta"])
        if named:
            day, month, year = named[-1]
            assert action["due_on"] == dt.date(int(year), months[month], int(day)), (eje, action["code"])
        assert plan["starts_on"] <= action["due_on"] <= plan["ends_on"]


def counts(ctx: Any) -> tuple[int, ...]:
    return tuple(ctx.session.scalar(select(func.count()).select_from(model))
                 for model in (Plan, Institution, Eje, Linea, Action))


def test_loading_twice_changes_nothing_and_a_changed_file_updates_by_key(ctx: Any, plan: dict[str, Any]) -> None:
    loaded, changed = load_plan(ctx, plan)
    ctx.session.commit()
    assert changed > 0 and counts(ctx) == (1, 4, 4, 12, 43)
    ids = dict(ctx.session.execute(select(Action.code, Action.id).where(Action.eje_number == 2)).all())
    again, changed = load_plan(ctx, plan)
    ctx.session.commit()
    assert (again.id, changed, counts(ctx)) == (loaded.id, 0, (1, 4, 4, 12, 43))
    edited = copy.deepcopy(plan)
    edited["ejes"][1]["lineas"][0]["acciones"][2]["meta"] = "Un Protocolo actualizado al 30 de junio de 2025."
    edited["ejes"][1]["lineas"][0]["acciones"][2]["due_on"] = dt.date(2025, 6, 30)
    _plan, changed = load_plan(ctx, edited)
    ctx.session.commit()
    assert changed == 2 and counts(ctx) == (1, 4, 4, 12, 43)
    row = ctx.session.get(Action, ids["1.3"])
    assert (row.meta, row.due_on) == ("Un Protocolo actualizado al 30 de junio de 2025.", dt.date(2025, 6, 30))


def test_a_file_naming_an_unknown_institution_is_refused(ctx: Any, plan: dict[str, Any]) -> None:
    broken = copy.deepcopy(plan)
    broken["ejes"][0]["lineas"][0]["acciones"][0]["responsible"] = "nadie"
    with pytest.raises(PlanFileError, match="unknown responsible"):
        load_plan(ctx, broken)

"""The Plan de Protección y Apoyo, version 2 (issue 15 item 6): the person's agreement and opinion are
recorded before the plan is sent and approved; an action's state follows the referral made from it;
legal and pecuniary reparation are services a plan action can ask for and refer."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from referral.kernel.models import FormRecord
from referral.workflow import TransitionRefused

from .clocks import INFORME, plan, to_follow_up
from .referrals import answer, consent, refer
from .steps import LEAD, activate, case_id, file_case, fire, node_id, save
from .units import unit_of_work

AGREEMENT = ("acuerdo", "opinion", "acuerdo_fecha", "explicado_por")


def to_plan(app: Any) -> str:
    reference = file_case(app)
    activate(app, reference)
    fire(app, "gestor.sernameg", reference, "iniciar_informe")
    save(app, "gestor.sernameg", reference, "informe_social", INFORME)
    fire(app, "gestor.sernameg", reference, "enviar_informe")
    fire(app, "coordinador.rm", reference, "aprobar_informe")
    return reference


def test_a_plan_is_sent_and_approved_only_with_the_persons_agreement_and_opinion(app: Any, make_browser: Any) -> None:
    reference = to_plan(app)
    without = {k: v for k, v in plan(node_id(app, LEAD)).items() if k not in AGREEMENT}
    save(app, "gestor.sernameg", reference, "plan", without)  # a draft may lack it
    with pytest.raises(TransitionRefused) as caught:
        fire(app, "gestor.sernameg", reference, "enviar_plan")
    assert "el acuerdo de la persona con su opinión" in caught.value.reason.es
    with pytest.raises(TransitionRefused):
        fire(app, "coordinador.rm", reference, "aprobar_plan")  # nothing submitted to approve

    save(app, "gestor.sernameg", reference, "plan", {**without, "acuerdo": "parcial",
                                                      "opinion": "Prefiere esperar para decidir la querella.",
                                                      "acuerdo_fecha": dt.date(2026, 11, 18),
                                                      "explicado_por": "Trabajadora social", "interprete": True})
    fire(app, "gestor.sernameg", reference, "enviar_plan")
    fire(app, "coordinador.rm", reference, "aprobar_plan")
    focal = make_browser()
    focal.login("coordinador.rm")
    page = focal.get(f"/casos/{reference}/formularios/plan").text
    assert "versión del formulario 2" in page and "¿La persona está de acuerdo con el Plan?" in page
    assert "En parte" in page and "Prefiere esperar para decidir la querella." in page
    with unit_of_work(app) as ctx:
        versions = set(ctx.session.scalars(select(FormRecord.form_version).where(
            FormRecord.case_id == case_id(app, reference), FormRecord.form_key == "plan")))
    assert versions == {2}


def _states(page: str) -> list[tuple[str, str]]:
    block = page[page.index("Estado de las acciones"):]
    block = block[:block.index("</dl>")]
    return [(html.unescape(a), re.sub(r"<[^>]+>", "", html.unescape(b)).strip())
            for a, b in re.findall(r"<dt>([^<]+)</dt>\s*<dd>(.*?)</dd>", block, re.S)]


def test_an_actions_state_follows_its_referral_and_the_typed_one_is_only_for_actions_not_referred(
        app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)  # one action: shelter at SERNAMEG, typed «pendiente»
    consent(app, reference)
    focal = make_browser()
    focal.login("coordinador.rm")
    url = f"/casos/{reference}/formularios/plan"
    assert _states(focal.get(url).text) == [("Alojamiento o casa de acogida · SERNAMEG", "Pendiente")]

    referral = refer(app, reference, "SERNAMEG", due_on=dt.date(2026, 12, 1))
    page = focal.get(url).text
    assert _states(page) == [("Alojamiento o casa de acogida · SERNAMEG", "Pendiente de respuesta según la derivación")]
    assert "/derivar/derivacion" not in page  # referred and under way: no second link
    answer(app, reference, referral, "aceptar", "gestor.sernameg")
    assert _states(focal.get(url).text)[0][1] == "Aceptada según la derivación"
    answer(app, reference, referral, "cumplir", "gestor.sernameg")
    assert _states(focal.get(url).text)[0][1] == "Cumplida según la derivación"
    # an older revision shows what was typed then, with no states derived from today's referrals
    assert "Estado de las acciones" not in focal.get(f"{url}?revision=1").text


def test_who_may_not_read_the_plan_sees_no_action_states(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)
    health = make_browser()
    health.login("salud.rm")  # the detecting node: not a reader of the plan
    assert health.get(f"/casos/{reference}/formularios/plan").status_code == 403


def test_legal_and_pecuniary_reparation_are_plan_actions_referred_to_the_legal_aid_office(
        app: Any, make_browser: Any) -> None:
    reference = to_plan(app)
    caj = node_id(app, "CAJ-CL-RM")
    values = plan(node_id(app, LEAD))
    values["acciones"] = [*values["acciones"],
                          {"necesidad": "reparacion", "servicio": "reparacion_pecuniaria", "nodo_responsable": str(caj),
                           "plazo": "largo", "fecha_compromiso": dt.date(2027, 3, 1), "estado": None},
                          {"necesidad": "reparacion", "servicio": "reparacion_juridica", "nodo_responsable": str(caj),
                           "plazo": "largo", "fecha_compromiso": dt.date(2027, 3, 1), "estado": None}]
    save(app, "gestor.sernameg", reference, "plan", values)
    fire(app, "gestor.sernameg", reference, "enviar_plan")
    fire(app, "coordinador.rm", reference, "aprobar_plan")
    consent(app, reference)
    focal = make_browser()
    focal.login("coordinador.rm")
    page = focal.get(f"/casos/{reference}/formularios/plan").text
    assert "Derivar: Reparación pecuniaria: indemnización · 01-03-2027" in html.unescape(page)
    states = dict(_states(page))
    assert any(label.startswith("Reparación jurídica") for label in states)
    assert "Sin derivar y sin estado registrado" in states.values()
    finder = focal.get(f"/casos/{reference}/derivar/derivacion?servicio=reparacion_pecuniaria").text
    assert f'value="{caj}"' in finder  # the directory's legal aid office offers it
    refer(app, reference, "CAJ-CL-RM", service="reparacion_pecuniaria")
    assert "Pendiente de respuesta" in focal.get(f"/casos/{reference}/formularios/plan").text

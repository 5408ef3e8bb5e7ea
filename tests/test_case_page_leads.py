"""The case page leads (issue 16, item 6): «Acciones disponibles» shows each user's own next step first,
as the one primary button, worked out from the workflow and the case's facts; a receiving node answers
its referral there; destructive steps (`confirm` in the workflow) are secondary and do nothing until
confirmed; deadlines read «23:59», never «24:00»; a child case lists every missing prerequisite at once.

Real database, real vault, the pages as a browser gets them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral.kernel.models import Case
from referral.clocks.models import CaseClock
from referral.kernel.referral_models import Referral
from referral.workflow import DefinitionError, TransitionRefused, load_definition

from .browser import Browser, hidden_inputs
from .clocks.test_views import run_due_clocks
from .conftest import Clock
from .definitions import CHILE, refusal_of, rewritten
from .factories import informe_post, residencia_post
from .referrals import consent, refer
from .referrals.test_nna import child_case
from .steps import activate, fire, file_case, user
from .units import unit_of_work

LEAD = "gestor.sernameg"  # steps.activate names SERNAMEG lead node
FOCAL = "coordinador.rm"


def signed_in(make_browser: Any, name: str) -> Browser:
    browser = make_browser()
    assert browser.login(name).status_code == 302, f"{name} could not sign in"
    return browser


def panel(page: str) -> str:
    """The «Acciones disponibles» section of a case page."""
    match = re.search(r'<section class="panel next-steps"[\s\S]*?</section>', page)
    assert match, "the case page has no «Acciones disponibles» panel"
    return match.group(0)


def buttons(page: str) -> list[tuple[str, str]]:
    """(css classes, label) of every step button of the panel, in order."""
    found = re.findall(r'<(?:a|button)[^>]*class="(?:button )?([^"]*)"[^>]*>([^<]+)</(?:a|button)>', panel(page))
    return [(css, html.unescape(label).strip()) for css, label in found]


def primary(page: str) -> str | None:
    """The label of the panel's primary button, or None; there is never more than one."""
    found = [label for css, label in buttons(page) if css.split() == ["primary"]]
    assert len(found) <= 1, found
    # nor does another panel of the page (the responsable's «Tomar el caso», say) compete with it
    assert len(re.findall(r'class="(?:button )?primary"', page)) == len(found), "a second primary button"
    return found[0] if found else None


def case_page(browser: Browser, reference: str) -> str:
    response = browser.get(f"/casos/{reference}")
    assert response.status_code == 200, response.status_code
    return response.text


def ok(response: Any) -> None:
    assert response.status_code == 303, (response.status_code, re.findall(r'class="(?:error|flash error)"[^>]*>([^<]+)',
                                                                           response.text))


def state_of(app: Flask, reference: str) -> tuple[str, int]:
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        return case.state, case.version


# -- whose next step: each role and relation of the demo path -------------------------------------


def test_the_focal_point_is_led_through_triage_and_approval_and_the_lead_node_through_its_instruments(
        app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    focal, lead = signed_in(make_browser, FOCAL), signed_in(make_browser, LEAD)
    detecting = signed_in(make_browser, "salud.rm")

    page = case_page(focal, reference)
    assert primary(page) == "Tomar para evaluación"
    assert ("secondary destructive", "No activar (despeje)") in buttons(page)  # final: secondary, confirmed
    assert "Su rol no tiene acciones pendientes" in panel(case_page(detecting, reference))  # nothing of hers yet
    ok(focal.act(reference, "tomar_caso"))
    assert primary(case_page(focal, reference)) == "Activar el Protocolo"  # the triage decision
    national = signed_in(make_browser, "coordinacion.nacional")
    assert primary(case_page(national, reference)) == "Activar el Protocolo"

    activate_rest(app, reference)
    page = case_page(lead, reference)
    assert primary(page) == "Comenzar el Informe Social"
    assert ("secondary destructive", "Cerrar el caso") in buttons(page)
    assert primary(case_page(focal, reference)) is None  # the focal point waits for the lead node
    ok(lead.act(reference, "iniciar_informe"))

    page = case_page(lead, reference)
    assert primary(page) == "Redactar: Informe Social"  # the form a step of hers waits for
    assert f'href="/casos/{reference}/formularios/informe_social/editar">Redactar: Informe Social' in page
    assert "necesario para «Enviar el Informe Social para aprobación»" in panel(page)
    ok(lead.submit(f"/casos/{reference}/formularios/informe_social/editar", informe_post()))
    assert primary(case_page(lead, reference)) == "Enviar el Informe Social para aprobación"
    ok(lead.act(reference, "enviar_informe"))
    assert primary(case_page(focal, reference)) == "Aprobar el Informe Social"
    assert primary(case_page(lead, reference)) is None


def activate_rest(app: Flask, reference: str) -> None:
    """activar, as the focal point on the page would (tomar_caso already done)."""
    from .steps import node_id

    fire(app, FOCAL, reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")),
                                            "fundamento": "Indicadores claros de captación."})


def test_a_receiving_node_answers_its_referral_from_the_panel_not_told_it_has_nothing_to_do(
        app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    rid = refer(app, reference, "INCAMI", by=LEAD, service="alojamiento")
    shelter = signed_in(make_browser, "ong.incami")

    page = case_page(shelter, reference)
    assert "Su rol no tiene acciones pendientes" not in page
    assert primary(page) == "Aceptar: Derivación (Alojamiento o casa de acogida)"
    assert ("secondary destructive", "Rechazar: Derivación (Alojamiento o casa de acogida)") in buttons(page)
    assert f'href="/casos/{reference}/derivaciones/{rid}/aceptar"' in panel(page)
    ok(shelter.submit(f"/casos/{reference}/derivaciones/{rid}/aceptar", {"note": ""}))
    page = case_page(shelter, reference)  # accepted: carrying it out is hers, not first in line
    assert ("secondary", "Registrar como cumplida: Derivación (Alojamiento o casa de acogida)") in buttons(page)
    assert ("secondary destructive", "Registrar como no cumplida: Derivación (Alojamiento o casa de acogida)") in \
        buttons(page)


def test_the_migration_service_is_led_to_take_the_residence_request_in(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    lead = signed_in(make_browser, LEAD)
    ok(lead.act(reference, "iniciar_residencia"))
    assert primary(case_page(lead, reference)) == "Comenzar el Informe Social"  # the main line comes first
    ok(lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar", residencia_post()))
    ok(lead.act(reference, "presentar_residencia"))

    page = case_page(signed_in(make_browser, "migraciones"), reference)
    assert primary(page) == "Registrar ingreso a trámite"
    assert ("secondary destructive", "Registrar residencia rechazada") in buttons(page)


def test_the_auditor_sees_no_step_of_a_case(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    auditor = signed_in(make_browser, "auditor")
    response = auditor.get(f"/casos/{reference}")
    assert response.status_code == 403 and "next-steps" not in response.text


# -- destructive steps ask for confirmation ---------------------------------------------------------


def test_closing_does_nothing_without_the_confirmation_and_says_why(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    focal = signed_in(make_browser, FOCAL)
    url = f"/casos/{reference}/acciones/cerrar"
    page = case_page(focal, reference)
    assert f'<form method="post" action="{url}"' not in page  # no one-click close from the case page
    assert f'href="{url}"' in panel(page)

    confirm_page = focal.get(url).text
    assert "¿Confirma esta acción?" in confirm_page
    assert "El caso se cierra y sus plazos se detienen; solo la coordinación puede reabrirlo." in confirm_page
    before = state_of(app, reference)
    typed = {"motivo": "objetivos_cumplidos", "fecha_cierre": "2026-11-18"}
    refused = focal.submit(url, {**typed, "confirmo": None})
    assert refused.status_code == 400
    assert "esta acción pide confirmación" in refused.text and 'aria-invalid="true"' in refused.text
    assert 'value="2026-11-18"' in refused.text  # what was typed is kept
    forged = focal.post(url, {**typed, "case_version": str(before[1]), "confirmo": "no"})
    assert forged.status_code == 400
    assert state_of(app, reference) == before  # nothing written

    ok(focal.submit(url, typed))  # ticked, as the person does
    assert state_of(app, reference)[0] == "cerrado"


def test_refusing_a_referral_does_nothing_without_the_confirmation(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    rid = refer(app, reference, "INCAMI", by=LEAD, service="alojamiento")
    shelter = signed_in(make_browser, "ong.incami")
    url = f"/casos/{reference}/derivaciones/{rid}/rechazar"
    assert "Su nodo rechaza la derivación y deja de tener acceso al caso por ella." in shelter.get(url).text
    refused = shelter.submit(url, {"reason": "sin_cupo", "note": "Sin camas hoy.", "confirmo": None})
    assert refused.status_code == 400 and "esta acción pide confirmación" in refused.text
    assert "Sin camas hoy." in refused.text
    with unit_of_work(app) as ctx:
        assert ctx.session.get(Referral, rid).state == "pendiente"
    ok(shelter.submit(url, {"reason": "sin_cupo", "note": ""}))
    with unit_of_work(app) as ctx:
        assert ctx.session.get(Referral, rid).state == "rechazada"


def test_a_transition_without_a_form_that_is_not_destructive_still_fires_in_one_click(app: Flask,
                                                                                      make_browser: Any) -> None:
    reference = file_case(app)
    focal = signed_in(make_browser, FOCAL)
    page = case_page(focal, reference)
    assert f'<form method="post" action="/casos/{reference}/acciones/tomar_caso"' in page
    assert hidden_inputs(page)["case_version"]
    ok(focal.act(reference, "tomar_caso"))


def test_destructive_steps_are_data_checked_when_the_definition_loads(tmp_path: Path) -> None:
    d = load_definition(CHILE)
    assert {t.key for m in d.machines() for t in m.transitions.values() if t.destructive} == {
        "no_activar", "cerrar", "rechazar_residencia", "desistir_retorno"}
    assert d.network.referrals is not None
    assert {t.key for t in d.network.referrals.transitions.values() if t.destructive} == {
        "rechazar", "no_cumplir", "revocar", "retirar_traspaso"}

    def drop_confirm(raw: dict[str, Any]) -> None:
        del raw["transitions"]["cerrar"]["confirm"]

    assert "transitions.cerrar: a step with style 'danger' is destructive: add 'confirm'" in refusal_of(
        rewritten(tmp_path / "a", drop_confirm))

    def spanish_only(raw: dict[str, Any]) -> None:
        raw["referrals"]["transitions"]["rechazar"]["confirm"] = "Se rechaza."

    assert "referrals.transitions.rechazar.confirm: the consequence, in Spanish and English" in refusal_of(
        rewritten(tmp_path / "b", spanish_only))

    def on_a_form(raw: dict[str, Any]) -> None:
        raw["transitions"]["tomar_caso"]["confirm"] = ["no"]

    with pytest.raises(DefinitionError):
        load_definition(rewritten(tmp_path / "c", on_a_form))


# -- a child case: every missing prerequisite at once --------------------------------------------


def test_a_child_case_lists_every_missing_prerequisite_of_activation_at_once(app: Flask, make_browser: Any) -> None:
    reference = child_case(app)
    page = case_page(signed_in(make_browser, FOCAL), reference)
    blocked = re.search(r'<details class="blocked" open>[\s\S]*?</details>', page)
    assert blocked, "the blocked steps are not shown open"
    item = re.search(r"<li><strong>Activar el Protocolo</strong>([\s\S]*?)</ul></li>", blocked.group(0))
    assert item, blocked.group(0)
    reasons = re.findall(r'<li class="why">([^<]+)</li>', item.group(1))
    assert len(reasons) == 2, reasons
    assert "derive el caso a Mejor Niñez" in reasons[0]
    assert "registre la comunicación al Tribunal de Familia" in reasons[1]
    # what clears the way is offered as her steps, the first one primary
    steps = buttons(page)
    assert primary(page) == "Registrar comunicación NNA (Tribunal de Familia u OLN)"
    assert ("secondary", "Derivar: Derivación de protección NNA") in steps
    assert panel(page).count("necesario para «Activar el Protocolo»") == 2


def test_the_engine_reports_every_failing_guard_not_only_the_first(app: Flask) -> None:
    from referral.kernel.access import open_case
    from referral.kernel.records import facts_for

    reference = child_case(app)
    with unit_of_work(app) as ctx:
        case, actor = open_case(ctx, user(ctx, FOCAL), reference)
        facts = facts_for(ctx, case)
        options = {o.transition.key: o for o in ctx.engine.options(facts, actor)}
        assert len(options["activar"].failing) == 2
        assert options["activar"].refusal is not None
        assert options["activar"].refusal.reason == options["activar"].failing[0].message
        with pytest.raises(TransitionRefused) as caught:
            ctx.engine.check("activar", facts, actor)
        assert [reason.es[:40] for reason in caught.value.reasons] == [
            guard.message.es[:40] for guard in options["activar"].failing]


# -- «23:59», never «24:00» ------------------------------------------------------------------------


def test_no_page_of_the_path_shows_24_00_for_a_deadline_at_the_end_of_a_day(app: Flask, make_browser: Any,
                                                                             clock: Clock) -> None:
    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    refer(app, reference, "INCAMI", by=LEAD, service="alojamiento")
    with unit_of_work(app) as ctx:
        local = [c.due_at.astimezone(ctx.timezone) for c in ctx.session.scalars(select(CaseClock))]
    assert any((d.hour, d.minute) == (0, 0) for d in local), local  # some deadline ends with its day
    people = {name: signed_in(make_browser, name) for name in (FOCAL, LEAD, "ong.incami", "coordinacion.nacional")}

    def pages() -> dict[str, str]:
        shown = {}
        for name, browser in people.items():
            for url in (f"/casos/{reference}", "/derivaciones", "/notificaciones", "/bandeja/casos_liderados",
                        "/bandeja/triaje", "/mis-casos", "/"):
                response = browser.get(url)
                if response.status_code == 200:
                    shown[f"{name} {url}"] = response.text
        return shown

    first = pages()
    assert any("23:59" in text for text in first.values())
    clock.advance(days=20)
    run_due_clocks(app, clock)  # reminders and overdue notices, with their deadlines in words
    later = pages()
    assert any("23:59" in text for key, text in later.items() if "/notificaciones" in key)
    for key, text in {**first, **later}.items():
        assert "24:00" not in text, key


def test_a_refused_step_says_every_guard_that_refuses_what_was_typed(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    lead, focal = signed_in(make_browser, LEAD), signed_in(make_browser, FOCAL)
    ok(lead.act(reference, "iniciar_residencia"))
    ok(lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar", residencia_post()))  # grave danger
    ok(lead.act(reference, "presentar_residencia"))
    before = state_of(app, reference)
    refused = focal.submit(f"/casos/{reference}/acciones/cerrar",
                           {"motivo": "retorno_asistido", "retorno_voluntario": "y", "fecha_cierre": "2026-11-18"})
    assert refused.status_code == 409
    assert "Retorno bloqueado (Ley 21.325" in refused.text  # the law
    assert "para cerrar por retorno asistido, registre" in refused.text  # and the person's own request, both at once
    assert state_of(app, reference) == before

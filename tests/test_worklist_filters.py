"""Worklist filters for focal points: region, state, flags (child case, immediate risk), overdue;
counts per state; the case with the soonest or most overdue deadline first."""

from __future__ import annotations

import re
from typing import Any

import pytest

from referral.cases.inbox import Filters

from .backends import both_backends
from .browser import Browser
from .clocks import activate, file_case


def signed_in(make_browser: Any, name: str) -> Browser:
    browser = make_browser()
    assert browser.login(name).status_code == 302, name
    return browser


def listed(html: str) -> list[str]:
    """The case references in the worklist table, in order."""
    return re.findall(r'<a href="/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})" class="ref">', html)


def state_counts(html: str) -> dict[str, int]:
    return {label.strip(): int(count) for label, count in
            re.findall(r'<li(?: class="selected")?><a href="\?[^"]*">([^<]+)<span class="count">(\d+)</span>', html)}


@both_backends
def test_filters_by_region_flag_overdue_and_state_with_counts_per_state(app: Any, make_browser: Any,
                                                                         clock: Any) -> None:
    overdue = file_case(app)  # filed 30 hours ago: its 24-hour triage deadline has passed
    clock.advance(hours=30)
    recent = file_case(app, riesgos_inmediatos=["sin_alojamiento_seguro"])  # urgent (priority), but in time
    north = file_case(app, by="policia.ta", region="CL-TA")
    activated = file_case(app)
    activate(app, activated)
    national = signed_in(make_browser, "coordinacion.nacional")

    page = national.get("/casos").text
    assert set(listed(page)) == {overdue, recent, north, activated}
    # the overdue deadline comes before the urgent flag and before the newest: it needs action first
    assert listed(page)[:2] == [overdue, recent]
    assert state_counts(page) == {"Detectado": 3, "Activado (ingresado al Protocolo)": 1}

    assert listed(national.get("/casos?region=CL-TA").text) == [north]
    assert listed(national.get("/casos?senal=urgente").text) == [recent]
    assert listed(national.get("/casos?vencidos=1").text) == [overdue]
    only_active = national.get("/casos?estado=activado").text
    assert listed(only_active) == [activated]
    # the counts ignore the state filter itself, so every state stays one click away
    assert state_counts(only_active) == {"Detectado": 3, "Activado (ingresado al Protocolo)": 1}
    assert state_counts(national.get("/casos?region=CL-RM").text) == {
        "Detectado": 2, "Activado (ingresado al Protocolo)": 1}

    triage = national.get("/bandeja/triaje?vencidos=1&region=CL-RM").text
    assert listed(triage) == [overdue]


@both_backends
def test_a_focal_point_sees_only_its_regions_cases_whatever_the_filters(app: Any, make_browser: Any) -> None:
    north = file_case(app, by="policia.ta", region="CL-TA")
    here = file_case(app)
    focal = signed_in(make_browser, "coordinador.rm")
    assert listed(focal.get("/bandeja/triaje").text) == [here]
    assert listed(focal.get("/bandeja/triaje?region=CL-TA").text) == []
    assert north not in focal.get("/casos?region=CL-TA").text


@pytest.mark.parametrize("query", ["region=CL-XX", "estado=archivado", "senal=vip", "vencidos=si",
                                   "region=%3Cscript%3E"])
def test_a_filter_value_the_protocol_does_not_know_is_refused(make_browser: Any, query: str) -> None:
    focal = signed_in(make_browser, "coordinador.rm")
    assert focal.get(f"/casos?{query}").status_code == 400
    assert focal.get(f"/bandeja/triaje?{query}").status_code == 400


def test_links_keep_the_filters() -> None:
    filters = Filters("CL-RM", "activado", ("urgente", "nna"), True)
    assert filters.query() == "region=CL-RM&estado=activado&senal=urgente&senal=nna&vencidos=1"
    assert filters.query(estado=None) == "region=CL-RM&senal=urgente&senal=nna&vencidos=1"
    assert Filters().query() == ""


def test_worklists_without_filters_still_answer_to_anonymous_users_with_the_login(app: Any) -> None:
    client = app.test_client()
    response = client.get("/casos?region=CL-RM")
    assert response.status_code == 302 and "/ingresar" in response.headers["Location"]


def test_the_pager_keeps_the_filters(app: Any, make_browser: Any) -> None:
    for _ in range(26):  # one more than a page
        file_case(app)
    national = signed_in(make_browser, "coordinacion.nacional")
    first = national.get("/casos?region=CL-RM&senal=urgente").text
    assert len(listed(first)) == 0  # none of these is urgent: the filter holds
    first = national.get("/casos?region=CL-RM").text
    assert len(listed(first)) == 25
    assert 'href="?pagina=2&amp;region=CL-RM"' in first
    second = national.get("/casos?pagina=2&region=CL-RM").text
    assert len(listed(second)) == 1
    assert 'href="?pagina=1&amp;region=CL-RM"' in second


@both_backends
def test_what_needs_my_own_step_comes_first_and_is_marked(app: Any, make_browser: Any, clock: Any) -> None:
    """A case waiting for the detecting node's answer goes after the cases the focal point must act
    on, even when its deadline is the most overdue; those the focal point acts on are marked."""
    from .steps import fire

    waiting = file_case(app)
    clock.advance(hours=30)  # its triage deadline has passed
    fire(app, "coordinador.rm", waiting, "solicitar_informacion", {"preguntas": "¿Dónde está ahora?"})
    fresh = file_case(app)
    focal = signed_in(make_browser, "coordinador.rm")
    page = focal.get("/bandeja/triaje").text
    assert listed(page) == [fresh, waiting]
    rows = dict(zip(listed(page), re.split(r'class="ref">', page)[1:], strict=True))
    assert "Requiere su acción" in rows[fresh].split("</td>")[0]
    assert "Requiere su acción" not in rows[waiting].split("</td>")[0]
    # the detecting node, whose answer the first case waits for, sees it marked in its own worklist
    health = signed_in(make_browser, "salud.rm")
    mine = health.get("/bandeja/informacion_pendiente").text
    assert listed(mine) == [waiting] and "Requiere su acción" in mine

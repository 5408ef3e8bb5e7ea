"""Comparing two revisions of an instrument (issue 15): a returned Informe Social and its correction.

Each save is a new revision, the returned one is kept as returned, and the comparison shows field by
field what changed — only in the sections the reader may read (a shelter there by referral sees the
needs and safety sections, never the characterisation), to readers of the form only. The URL carries
revision numbers, never a value.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.kernel.models import FormRecord

from .browser import Browser
from .clocks import INFORME, plan
from .referrals import consent, refer
from .steps import LEAD, activate, case_id, file_case, fire, node_id, save
from .units import unit_of_work

CORRECTED = {**INFORME, "redes_apoyo": "Una tía en Maipú.", "alojamiento": "Necesita casa de acogida hoy.",
             "riesgo_fundamentos": "La red la busca en Estación Central."}


@pytest.fixture
def corrected(app: Any) -> str:
    """An Informe Social sent, returned with comments, corrected and approved; plan approved; follow-up;
    then the lead refers alojamiento to INCAMI (a shelter: reads the Informe's needs and safety only)."""
    reference = file_case(app)
    activate(app, reference, lead="SERNAMEG")
    fire(app, "gestor.sernameg", reference, "iniciar_informe")
    save(app, "gestor.sernameg", reference, "informe_social", INFORME)
    fire(app, "gestor.sernameg", reference, "enviar_informe")
    fire(app, "coordinador.rm", reference, "devolver_informe", {"comentarios": "Falta el alojamiento."})
    save(app, "gestor.sernameg", reference, "informe_social", CORRECTED)
    fire(app, "gestor.sernameg", reference, "enviar_informe")
    fire(app, "coordinador.rm", reference, "aprobar_informe")
    save(app, "gestor.sernameg", reference, "plan", plan(node_id(app, LEAD)))
    fire(app, "gestor.sernameg", reference, "enviar_plan")
    fire(app, "coordinador.rm", reference, "aprobar_plan")
    fire(app, "gestor.sernameg", reference, "iniciar_seguimiento")
    consent(app, reference)
    refer(app, reference, "INCAMI", by="gestor.sernameg", service="alojamiento")
    return reference


def signed_in(make_browser: Any, name: str) -> Browser:
    person: Browser = make_browser()
    assert person.login(name).status_code in (302, 303)
    return person


def url(reference: str, first: Any = 1, second: Any = 2, form: str = "informe_social") -> str:
    return f"/casos/{reference}/formularios/{form}/comparar?de={first}&a={second}"


def test_each_save_is_a_revision_and_the_returned_one_is_kept(app: Any, corrected: str) -> None:
    with unit_of_work(app) as ctx:
        rows = ctx.session.execute(select(FormRecord.revision, FormRecord.status, FormRecord.current).where(
            FormRecord.case_id == case_id(app, corrected), FormRecord.form_key == "informe_social")
            .order_by(FormRecord.revision)).all()
    assert [tuple(row) for row in rows] == [(1, "returned", False), (2, "approved", True)]


def test_the_case_team_compares_the_returned_informe_with_its_correction(
        app: Any, make_browser: Any, corrected: str) -> None:
    coordinator = signed_in(make_browser, "coordinador.rm")
    case_page = coordinator.get(f"/casos/{corrected}")
    link = f'href="/casos/{corrected}/formularios/informe_social/comparar?de=1&amp;a=2"'
    assert link in case_page.text
    page = coordinator.get(url(corrected))
    assert page.status_code == 200
    text = page.text
    for before, after in (("Una prima en Santiago.", "Una tía en Maipú."),
                          ("La red conoce su domicilio anterior.", "La red la busca en Estación Central.")):
        assert re.search(re.escape(before) + r"[\s\S]*?" + re.escape(after), text), before
    assert "Necesita casa de acogida hoy." in text and "Devuelto con comentarios" in text
    assert "Estudiar peluquería." not in text  # unchanged fields are not listed, only counted
    assert coordinator.get(url(corrected, 2, 1)).text.count("Una tía en Maipú.") == 1  # either order
    with unit_of_work(app) as ctx:
        event = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "read")
                                    .order_by(AuditEvent.seq.desc())).first()
    assert event is not None and event.details == {"page": "form:informe_social", "revision": 2, "compared_with": 1}


def test_a_shelter_compares_only_the_sections_it_may_read(app: Any, make_browser: Any, corrected: str) -> None:
    shelter = signed_in(make_browser, "ong.incami")
    page = shelter.get(url(corrected))
    assert page.status_code == 200
    assert "Necesita casa de acogida hoy." in page.text and "La red la busca en Estación Central." in page.text
    for hidden in ("Una tía en Maipú.", "Una prima en Santiago.", "Caracterización"):
        assert hidden not in page.text, hidden
    assert shelter.get(url(corrected, form="plan")).status_code == 403  # the plan is the case team's


@pytest.mark.parametrize("who", ["salud.rm",  # the detecting node: not a reader of the Informe Social
                                 "coordinador.ta", "gestor.ta",  # another region: no relation (a cross-node probe)
                                 "ong"])  # a detecting NGO with no part in this case
def test_who_may_not_read_the_informe_may_not_compare_it(app: Any, make_browser: Any, corrected: str,
                                                          who: str) -> None:
    person = signed_in(make_browser, who)
    for target in (url(corrected), url(corrected, 1, 9)):  # an existing pair and a missing revision alike
        answer = person.get(target)
        assert answer.status_code == 403, (who, target)
        assert "Una tía" not in answer.text and "Una prima" not in answer.text


@pytest.mark.parametrize("who", ["auditor", "administrador"])
def test_auditors_and_administrators_never_compare(app: Any, make_browser: Any, corrected: str, who: str) -> None:
    answer = signed_in(make_browser, who).get(url(corrected))
    assert answer.status_code == 403 and "Una tía" not in answer.text


@pytest.mark.parametrize("first,second,status", [(1, 9, 404), (0, 2, 400), ("x", 2, 400), (1, "", 400),
                                                 (1, 10**12, 400), (1, 1, 200)])
def test_bad_revision_numbers_are_a_clear_error(app: Any, make_browser: Any, corrected: str, first: Any,
                                                 second: Any, status: int) -> None:
    coordinator = signed_in(make_browser, "coordinador.rm")
    assert coordinator.get(url(corrected, first, second)).status_code == status
    assert coordinator.get(f"/casos/{corrected}/formularios/no_existe/comparar?de=1&a=2").status_code == 404
    same = coordinator.get(url(corrected, 2, 2))
    assert "no difieren" in same.text

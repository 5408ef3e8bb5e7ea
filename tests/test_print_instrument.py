"""Printing an instrument (issue 16): each form has a print view, a clean document without navigation,
that shows exactly what the form view shows its reader (the same reading: relation, sections, revision)
and carries the case reference, the form's legal name, the revision and its date, when and by which node
it was printed, and a confidentiality notice. Printing is a read, audited like one.

Setup (as tests/test_compare_revisions.py): an Informe Social sent, returned, corrected (revision 2) and
approved; the lead then refers alojamiento to INCAMI, a shelter that reads the Informe's needs and safety
sections and the Ficha's person and risks only.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from referral.audit.models import AuditEvent

from .browser import Browser
from .clocks import INFORME, plan
from .factories import VICTIM_DOCUMENT, VICTIM_GIVEN
from .referrals import consent, refer
from .steps import LEAD, activate, file_case, fire, node_id, save
from .units import unit_of_work

CORRECTED = {**INFORME, "redes_apoyo": "Una tía en Maipú.", "alojamiento": "Necesita casa de acogida hoy.",
             "riesgo_fundamentos": "La red la busca en Estación Central."}
RELATO = "Refiere deuda con quien la trajo y retención de su pasaporte."  # the factory's, in «Co-víctimas y relato»
CONFIDENTIAL = "Documento confidencial"


@pytest.fixture
def corrected(app: Any) -> str:
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


def url(reference: str, form: str = "informe_social", revision: Any = None) -> str:
    return f"/casos/{reference}/formularios/{form}/imprimir" + (f"?revision={revision}" if revision is not None else "")


def headings(html: str) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", html)


def test_the_lead_prints_the_informe_as_a_clean_document(make_browser: Any, corrected: str) -> None:
    lead = signed_in(make_browser, "gestor.sernameg")
    page = lead.get(url(corrected))
    assert page.status_code == 200
    text = page.text
    assert "Una tía en Maipú." in text and "Estudiar peluquería." in text
    assert f'<dd class="ref">{corrected}</dd>' in text
    assert "<h1>Informe Social</h1>" in text  # one language, one name: no second legal name
    assert re.search(r"<dt>Revisión</dt><dd>2 · Aprobado · \d\d-\d\d-\d{4} \d\d:\d\d</dd>", text)
    assert re.search(r"<dt>Impreso</dt><dd>\d\d-\d\d-\d{4} \d\d:\d\d · Servicio Nacional de la Mujer y la Equidad de "
                     r"Género</dd>", text)
    assert CONFIDENTIAL in text and f"Caso {corrected} · Informe Social, revisión 2 · impreso el" in text
    # a document, not a page of the application: no navigation, no search box, no account links, no forms
    for absent in ("Navegación principal", 'class="header-search"', "Cerrar sesión", "Mis sesiones", "<form"):
        assert absent not in text, absent
    assert 'href="/static/style.css"' in text and "data-print" in text


def test_printing_a_given_revision(make_browser: Any, corrected: str) -> None:
    coordinator = signed_in(make_browser, "coordinador.rm")
    first = coordinator.get(url(corrected, revision=1)).text
    assert "Una prima en Santiago." in first and "Una tía en Maipú." not in first
    assert re.search(r"<dt>Revisión</dt><dd>1 · Devuelto con comentarios · ", first)
    second = coordinator.get(url(corrected, revision=2)).text
    assert "Una tía en Maipú." in second and "Una prima en Santiago." not in second
    assert coordinator.get(url(corrected)).text.count("Una tía en Maipú.") == 1  # the current one is the second
    # the form view offers to print the very revision it shows
    view = coordinator.get(f"/casos/{corrected}/formularios/informe_social?revision=1").text
    assert f'href="/casos/{corrected}/formularios/informe_social/imprimir?revision=1"' in view


def test_a_shelter_prints_only_the_sections_it_may_read(make_browser: Any, corrected: str) -> None:
    shelter = signed_in(make_browser, "ong.incami")
    informe = shelter.get(url(corrected))
    assert informe.status_code == 200
    assert "Necesita casa de acogida hoy." in informe.text and "La red la busca en Estación Central." in informe.text
    for hidden in ("Una tía en Maipú.", "Estudiar peluquería.", "Caracterización", "Proyecto de vida"):
        assert hidden not in informe.text, hidden
    view = shelter.get(f"/casos/{corrected}/formularios/informe_social")
    assert headings(informe.text) == headings(view.text) == ["Necesidades por área", "Seguridad"]

    ficha = shelter.get(url(corrected, form="ficha"))
    assert ficha.status_code == 200 and VICTIM_GIVEN in ficha.text
    assert headings(ficha.text) == ["Persona", "Riesgos inmediatos"]
    for hidden in (RELATO, "Denuncia", "Elementos del delito", "Indicadores observados"):
        assert hidden not in ficha.text, hidden
    assert shelter.get(url(corrected, form="plan")).status_code == 403  # the plan is the case team's


@pytest.mark.parametrize("who", ["salud.rm",  # the detecting node: not a reader of the Informe Social
                                 "coordinador.ta", "gestor.ta",  # another region: no relation to the case
                                 "ong",  # a detecting NGO with no part in this case
                                 "migraciones"])  # a node of the network with no relation to this case
def test_who_may_not_read_the_informe_may_not_print_it(make_browser: Any, corrected: str, who: str) -> None:
    person = signed_in(make_browser, who)
    for target in (url(corrected), url(corrected, revision=1), url(corrected, revision=9)):
        answer = person.get(target)
        assert answer.status_code == 403, (who, target)
        assert "Una tía" not in answer.text and "Una prima" not in answer.text and CONFIDENTIAL not in answer.text


@pytest.mark.parametrize("who", ["auditor", "administrador"])
def test_auditors_and_administrators_never_print(make_browser: Any, corrected: str, who: str) -> None:
    answer = signed_in(make_browser, who).get(url(corrected, form="ficha"))
    assert answer.status_code == 403 and VICTIM_DOCUMENT not in answer.text


def test_an_anonymous_visitor_is_sent_to_sign_in(app: Any, corrected: str) -> None:
    answer = app.test_client().get(url(corrected))
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/ingresar?next=")


@pytest.mark.parametrize("revision,status", [("9", 404), ("0", 400), ("x", 400), ("-1", 400), ("", 400),
                                             ("1" * 12, 400), ("02", 400)])
def test_bad_revision_numbers_are_a_clear_error(make_browser: Any, corrected: str, revision: str, status: int) -> None:
    coordinator = signed_in(make_browser, "coordinador.rm")
    answer = coordinator.get(url(corrected, revision=revision))
    assert answer.status_code == status and "Una tía" not in answer.text
    assert coordinator.get(url(corrected, form="no_existe")).status_code == 404


def test_a_form_not_yet_written_has_nothing_to_print(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "tomar_caso")  # the focal point reads the Informe; none is written
    answer = signed_in(make_browser, "coordinador.rm").get(url(reference))
    assert answer.status_code == 404 and "no tiene contenido que imprimir" in answer.text


def test_in_english_the_legal_name_is_kept_in_spanish(make_browser: Any, corrected: str) -> None:
    coordinator = signed_in(make_browser, "coordinador.rm")
    coordinator.post("/idioma", {"lang": "en"})
    page = coordinator.get(url(corrected, form="ficha")).text
    assert '<html lang="en">' in page
    assert '<span lang="es" class="legal-name">(Ficha de Detección Temprana)</span>' in page
    assert '<footer class="print-footer">' in page


def test_printing_is_audited_as_a_read_of_that_revision(app: Any, make_browser: Any, corrected: str) -> None:
    signed_in(make_browser, "gestor.sernameg").get(url(corrected, revision=1))
    with unit_of_work(app) as ctx:
        event = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "read")
                                    .order_by(AuditEvent.seq.desc())).first()
    assert event is not None and event.details == {"page": "print:informe_social", "revision": 1}


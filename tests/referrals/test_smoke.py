from tests.referrals import answer, consent, has_wrap, refer, relations, state_of
from tests.steps import activate, file_case


def test_a_referral_gives_access_and_its_end_takes_it_away(app):
    reference = file_case(app)
    activate(app, reference, lead="CAVD-CL-RM")
    consent(app, reference)
    rid = refer(app, reference, "SERNAMEG")
    assert state_of(app, rid) == "pendiente"
    assert relations(app, reference, "SERNAMEG") == {"derivacion_alojamiento"}
    assert has_wrap(app, reference, "SERNAMEG")
    answer(app, reference, rid, "aceptar", "gestor.sernameg")
    answer(app, reference, rid, "cumplir", "gestor.sernameg")
    assert state_of(app, rid) == "cumplida"
    assert relations(app, reference, "SERNAMEG") == set()
    assert not has_wrap(app, reference, "SERNAMEG")


def test_pages_render(app, make_browser):
    browser = make_browser()
    from tests.steps import node_id
    reference = file_case(app)
    activate(app, reference, lead="CAVD-CL-RM")
    consent(app, reference)
    rid = refer(app, reference, "SERNAMEG", note="Llega esta noche")
    browser.login("coordinador.rm")
    page = browser.get(f"/casos/{reference}")
    assert page.status_code == 200, page.text
    assert "SERNAMEG" in page.text
    page = browser.get(f"/casos/{reference}/derivar/derivacion?servicio=salud_mental")
    assert page.status_code == 200, page.text
    page = browser.submit(f"/casos/{reference}/derivar/derivacion",
                          {"servicio": "salud_mental", "to_node": str(node_id(app, "MINSAL-CL-RM"))})
    assert page.status_code == 303, page.text
    page = browser.get(f"/casos/{reference}/derivaciones/{rid}")
    assert page.status_code == 200, page.text
    assert "Llega esta noche" in page.text
    browser = make_browser()
    browser.login("gestor.sernameg")
    page = browser.get("/derivaciones")
    assert page.status_code == 200 and reference in page.text, page.text
    page = browser.get(f"/casos/{reference}/derivaciones/{rid}/rechazar")
    assert page.status_code == 200, page.text
    page = browser.submit(f"/casos/{reference}/derivaciones/{rid}/rechazar", {"reason": "sin_cupo"})
    assert page.status_code == 303, page.text
    assert browser.get(f"/casos/{reference}").status_code == 403
    browser = make_browser()
    browser.login("coordinador.ta")
    page = browser.get("/acceso-emergencia")
    assert page.status_code == 200
    page = browser.submit("/acceso-emergencia", {"reference": reference, "reason": "riesgo_vital", "note": "x", "hours": "4"})
    assert page.status_code == 303, page.text
    assert browser.get(f"/casos/{reference}").status_code == 200
    browser = make_browser()
    browser.login("auditor")
    page = browser.get("/auditoria/excepciones")
    assert page.status_code == 200 and "riesgo" in page.text.lower(), page.text

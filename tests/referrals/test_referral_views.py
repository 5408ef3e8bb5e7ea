"""The referral pages as a person uses them: find a node and refer in one step, answer, consents,
emergency access, my node's referrals, the auditors' exceptions, and what each node reads.

Cases are set up with the service steps (tests/steps.py, tests/referrals/__init__.py); every check
then goes through the pages, one fresh browser per user (logging in again on one browser keeps the
old session)."""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from referral.network.models import Node
from referral.kernel.referral_models import Consent, Referral

from ..browser import hidden_inputs
from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES
from ..steps import activate, case_id, file_case, node_id
from ..units import unit_of_work
from . import answer, consent, refer, relations, state_of

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "referrals"
CHILD = {"nna": True, "fecha_nacimiento": dt.date(2010, 5, 14)}
TARAPACA = {"region": "CL-TA", "comuna": "Iquique"}


# -- helpers ------------------------------------------------------------------------------------


def signed_in(make_browser: Any, name: str) -> Any:
    browser = make_browser()
    assert browser.login(name).status_code == 302, f"{name} could not sign in"
    return browser


def count(app: Flask, model: Any) -> int:
    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(model)))


def set_places(app: Flask, code: str, free: int, total: int) -> None:
    with unit_of_work(app) as ctx:
        node = ctx.session.scalar(select(Node).where(Node.code == code))
        node.capacity_free, node.capacity_total = free, total
        ctx.session.commit()


def node_rows(page: str) -> list[dict[str, Any]]:
    """The finder's table: one dict per node row (name, distance, places), in page order."""
    rows = []
    for row in re.findall(r"<tr[^>]*>\s*<td><input type=\"radio\" name=\"to_node\"[\s\S]*?</tr>", page):
        cells = re.findall(r"<td>([\s\S]*?)</td>", row)
        name = re.search(r"<strong>(.*?)</strong>", cells[1])
        assert name, row
        rows.append({"name": html.unescape(name.group(1)), "distance": html.unescape(cells[2]).strip(),
                     "places": html.unescape(re.sub(r"<[^>]+>", " ", cells[3])).split(), "row": row,
                     "radio": cells[0]})
    return rows


def textarea(page: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>([\s\S]*?)</textarea>', page)
    assert match, f"no textarea {name}"
    return html.unescape(match.group(1)).strip()


def errors(page: str) -> list[str]:
    return [html.unescape(e) for e in re.findall(r'<p class="error"[^>]*>(.*?)</p>', page)]


def received_rows(page: str) -> str:
    """The first part of /derivaciones: what my node received (the sent ones follow the first <h2>)."""
    return page.split("<h2>", 1)[0]


def referral_for(app: Flask, reference: str) -> list[Referral]:
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(Referral).where(Referral.case_id == case_id(app, reference))))
        ctx.session.expunge_all()
        return rows


def active_case(app: Flask, lead: str = "CAVD-CL-RM", **ficha: Any) -> str:
    reference = file_case(app, **ficha)
    activate(app, reference, lead=lead)
    return reference


# -- the finder ---------------------------------------------------------------------------------


def test_the_finder_lists_only_nodes_offering_the_service_nearest_first(app: Flask, make_browser: Any) -> None:
    reference = file_case(app, by="salud.ta", **TARAPACA)
    browser = signed_in(make_browser, "coordinador.ta")  # the Tarapacá focal point

    page = browser.get(f"/casos/{reference}/derivar/emergencia?servicio=salud_fisica")
    assert page.status_code == 200, page.text
    rows = node_rows(page.text)
    names = [r["name"] for r in rows]
    assert names[:3] == ["MINSAL Tarapacá", "MINSAL Antofagasta", "MINSAL Arica y Parinacota"], names
    assert [r["distance"] for r in rows[:4]] == ["Misma región", "Región vecina", "Región vecina", "Otra región"]
    assert len(names) == 16 and all(n.startswith("MINSAL ") for n in names), names  # health services only
    assert not any(n.startswith(("CAVD", "SERNAMEG", "CARABINEROS", "PAV")) for n in names)

    page = browser.get(f"/casos/{reference}/derivar/emergencia?servicio=alojamiento")
    rows = node_rows(page.text)
    names = [r["name"] for r in rows]
    assert names[:6] == ["MEJOR-NINEZ Tarapacá", "MEJOR-NINEZ Antofagasta", "MEJOR-NINEZ Arica y Parinacota",
                         "SERNAMEG", "INCAMI", "OIM"], names
    assert [r["distance"] for r in rows[:7]] == ["Misma región", "Región vecina", "Región vecina", "Nacional",
                                                  "Nacional", "Nacional", "Otra región"]
    assert not any(n.startswith(("MINSAL", "CAVD", "LIBERA")) for n in names)
    by_name = {r["name"]: r for r in rows}
    assert by_name["MEJOR-NINEZ Tarapacá"]["places"] == ["2", "/", "8"]
    assert by_name["SERNAMEG"]["places"] == ["3", "/", "10"]
    assert by_name["OIM"]["places"] == ["No", "lleva", "cupos"]
    assert "Sin cupo" not in page.text

    set_places(app, "MEJOR-NINEZ-CL-AN", free=0, total=8)  # a full shelter: still listed, last of its group
    rows = node_rows(browser.get(f"/casos/{reference}/derivar/emergencia?servicio=alojamiento").text)
    names = [r["name"] for r in rows]
    assert names[:4] == ["MEJOR-NINEZ Tarapacá", "MEJOR-NINEZ Arica y Parinacota", "MEJOR-NINEZ Antofagasta",
                         "SERNAMEG"], names
    full = next(r for r in rows if r["name"] == "MEJOR-NINEZ Antofagasta")
    assert full["places"] == ["0", "/", "8", "Sin", "cupo"], full
    assert 'class="muted"' in full["row"]
    assert sum("Sin cupo" in r["row"] for r in rows) == 1


def test_referring_in_one_step_from_the_finder(app: Flask, make_browser: Any) -> None:
    reference = file_case(app, by="salud.ta", **TARAPACA)
    consent(app, reference, by="coordinador.ta")
    shelter = str(node_id(app, "MEJOR-NINEZ-CL-TA"))
    browser = signed_in(make_browser, "coordinador.ta")
    url = f"/casos/{reference}/derivar/emergencia"

    sent = browser.submit(url, {"servicio": "alojamiento", "to_node": shelter, "note": "Llega hoy a las 20 h."},
                          page_url=f"{url}?servicio=alojamiento")
    assert sent.status_code == 303, sent.text
    assert sent.headers["Location"] == f"/casos/{reference}"

    rows = referral_for(app, reference)
    assert len(rows) == 1
    assert (rows[0].kind, rows[0].service, rows[0].to_node_id, rows[0].state) == (
        "emergencia", "alojamiento", int(shelter), "pendiente")
    assert rows[0].consent_id is not None and rows[0].override_reason is None

    case_page = browser.get(f"/casos/{reference}")
    assert case_page.status_code == 200
    assert "Derivación enviada a MEJOR-NINEZ Tarapacá" in case_page.text  # the flash
    assert f'href="/casos/{reference}/derivaciones/{rows[0].id}"' in case_page.text
    assert "Derivación de emergencia: Alojamiento o casa de acogida" in case_page.text
    assert "<strong>MEJOR-NINEZ Tarapacá</strong>" in case_page.text
    assert "Pendiente de respuesta" in case_page.text


def test_a_referral_with_errors_answers_400_and_keeps_what_was_typed(app: Flask, make_browser: Any) -> None:
    reference = active_case(app)  # no consent recorded
    browser = signed_in(make_browser, "coordinador.rm")
    url = f"/casos/{reference}/derivar/derivacion?servicio=alojamiento"
    note = "Llega esta noche en bus desde Rancagua; habla poco español."

    no_node = browser.submit(url, {"servicio": "alojamiento", "note": note, "override_reason": ""})
    assert no_node.status_code == 400, no_node.text
    assert textarea(no_node.text, "note") == note
    assert "Elija un nodo activo de la lista." in errors(no_node.text)
    assert "No se envió la derivación: revise los campos marcados. Lo escrito se conserva." in no_node.text

    shelter = str(node_id(app, "MADRE-JOSEFA"))
    no_consent = browser.submit(url, {"servicio": "alojamiento", "note": note, "to_node": shelter,
                                      "override_reason": ""})
    assert no_consent.status_code == 400, no_consent.text
    assert textarea(no_consent.text, "note") == note
    assert re.search(rf'id="nodo-{shelter}" value="{shelter}" checked', no_consent.text)  # the choice is kept
    assert any(e.startswith("No hay un consentimiento vigente") for e in errors(no_consent.text)), errors(
        no_consent.text)
    assert count(app, Referral) == 0

    # The page that answered 400 can be sent again as it is, with the reason to refer without consent.
    again = browser.client.post(url, data={**hidden_inputs(no_consent.text), "to_node": shelter, "note": note,
                                           "override_reason": "persona_no_puede_consentir"})
    assert again.status_code == 303, again.text
    (row,) = referral_for(app, reference)
    assert row.override_reason == "persona_no_puede_consentir" and row.to_node_id == int(shelter)


def test_a_double_submitted_referral_creates_one(app: Flask, make_browser: Any) -> None:
    reference = active_case(app)
    consent(app, reference)
    browser = signed_in(make_browser, "coordinador.rm")
    url = f"/casos/{reference}/derivar/derivacion?servicio=alojamiento"
    page = browser.get(url)
    data = {**hidden_inputs(page.text), "to_node": str(node_id(app, "SERNAMEG")), "note": "Una vez."}
    first = browser.client.post(url, data=data)
    second = browser.client.post(url, data=data)  # the same page, the same case_version
    assert first.status_code == 303, first.text
    assert second.status_code == 409, second.text
    assert "El caso cambió" in second.text
    assert count(app, Referral) == 1


# -- answering ----------------------------------------------------------------------------------


def test_the_receiving_node_refuses_with_a_reason_and_loses_the_case(app: Flask, make_browser: Any) -> None:
    reference = active_case(app)
    consent(app, reference)
    rid = refer(app, reference, "SERNAMEG")
    shelter = signed_in(make_browser, "gestor.sernameg")
    assert shelter.get(f"/casos/{reference}").status_code == 200
    url = f"/casos/{reference}/derivaciones/{rid}/rechazar"
    assert f'href="{url}"' in shelter.get("/derivaciones").text  # the answer is offered from the list

    page = shelter.get(url)
    assert page.status_code == 200
    assert '<option value="sin_cupo">Sin cupo o capacidad disponible</option>' in page.text
    no_reason = shelter.submit(url, {"reason": "", "note": "Sin camas."})
    assert no_reason.status_code == 400 and "Elija un motivo de la lista." in errors(no_reason.text)
    assert textarea(no_reason.text, "note") == "Sin camas."
    unexplained = shelter.submit(url, {"reason": "otro", "note": ""})
    assert unexplained.status_code == 400 and "Explique el motivo (obligatorio)." in errors(unexplained.text)
    assert state_of(app, rid) == "pendiente"

    refused = shelter.submit(url, {"reason": "otro", "note": "Cupos comprometidos hasta enero."})
    assert refused.status_code == 303, refused.text
    assert refused.headers["Location"] == "/derivaciones"
    assert state_of(app, rid) == "rechazada"
    assert shelter.get(f"/casos/{reference}").status_code == 403
    assert shelter.get(f"/casos/{reference}/derivaciones/{rid}").status_code == 403
    mine = shelter.get("/derivaciones")
    assert mine.status_code == 200 and reference not in mine.text

    focal = signed_in(make_browser, "coordinador.rm")
    case_page = focal.get(f"/casos/{reference}").text
    assert "Rechazada" in case_page and "Otro motivo" in case_page
    detail = focal.get(f"/casos/{reference}/derivaciones/{rid}").text
    assert "Cupos comprometidos hasta enero." in detail


def test_my_referrals_lists_the_pending_first_with_their_deadline_and_a_badge(app: Flask, make_browser: Any,
                                                                               clock: Any) -> None:
    older = active_case(app)
    consent(app, older)
    accepted = refer(app, older, "SERNAMEG", due_on=dt.date(2026, 12, 1))
    answer(app, older, accepted, "aceptar", "gestor.sernameg")
    clock.advance(minutes=30)
    newer = active_case(app)
    consent(app, newer)
    refer(app, newer, "SERNAMEG")

    shelter = signed_in(make_browser, "gestor.sernameg")
    page = shelter.get("/derivaciones")
    assert page.status_code == 200
    received = received_rows(page.text)
    assert newer in received and older in received
    assert received.index(newer) < received.index(older), "the pending referral is not listed first"
    rows = re.findall(r"<tr class=\"clock[^\"]*\">([\s\S]*?)</tr>", received)
    assert len(rows) == 2
    pending, taken = rows
    assert newer in pending and "Pendiente de respuesta" in pending
    # two working days to answer: up to the end of Friday 20 November (its last minute, not 00:00 of the 21st)
    assert re.search(r"<td[^>]*>20-11-2026 23:59 · Vence en 2 días</td>", pending), pending
    assert older in taken and "Aceptada" in taken
    assert "Aceptar" in pending and "Rechazar" in pending
    assert re.search(r'href="/derivaciones"[^>]*>Derivaciones <span class="count">1</span></a>', page.text)

    focal = signed_in(make_browser, "coordinador.rm")
    sent = focal.get("/derivaciones").text
    assert newer in sent.split("<h2>", 1)[1] and older in sent.split("<h2>", 1)[1]  # the sending side lists both
    assert not re.search(r'href="/derivaciones"[^>]*>Derivaciones <span class="count">', sent)


def test_my_referrals_keeps_the_oldest_pending_first_across_a_month_end(app: Flask, make_browser: Any,
                                                                        clock: Any) -> None:
    """Among referrals waiting for an answer the oldest (whose deadline is also the nearest) comes first,
    also when they were sent in different months."""
    older, newer = active_case(app), active_case(app)
    consent(app, older)
    consent(app, newer)
    clock.advance(days=12)  # Monday 30 November 2026
    refer(app, older, "SERNAMEG")
    clock.advance(days=1)  # Tuesday 1 December 2026
    refer(app, newer, "SERNAMEG")
    received = received_rows(signed_in(make_browser, "gestor.sernameg").get("/derivaciones").text)
    rows = re.findall(r"<tr class=\"clock[^\"]*\">([\s\S]*?)</tr>", received)
    assert [older in rows[0], newer in rows[1]] == [True, True], (
        "the referral sent on 30-11-2026 is listed after the one sent on 01-12-2026")


# -- consent ------------------------------------------------------------------------------------


def test_the_case_page_marks_a_referral_without_consent(app: Flask, make_browser: Any) -> None:
    reference = active_case(app)
    browser = signed_in(make_browser, "coordinador.rm")
    url = f"/casos/{reference}/derivar/derivacion?servicio=alojamiento"
    sent = browser.submit(url, {"to_node": str(node_id(app, "SERNAMEG")), "override_reason": "riesgo_vital"})
    assert sent.status_code == 303, sent.text
    (row,) = referral_for(app, reference)
    assert row.consent_id is None and row.override_reason == "riesgo_vital"
    page = browser.get(f"/casos/{reference}").text
    assert '<tr class="override">' in page
    assert '<span class="badge flag-urgente">Sin consentimiento</span>' in page
    assert "Sin consentimiento: Riesgo para la vida o la integridad de la persona" in page


def test_only_the_coordination_may_refer_without_consent(app: Flask, make_browser: Any) -> None:
    reference = active_case(app, lead="SERNAMEG")
    browser = signed_in(make_browser, "gestor.sernameg")  # the lead node may refer, but not override
    url = f"/casos/{reference}/derivar/derivacion?servicio=salud_fisica"
    response = browser.submit(url, {"servicio": "salud_fisica", "to_node": str(node_id(app, "MINSAL-CL-RM")),
                                    "override_reason": "riesgo_vital"})
    assert response.status_code == 403, response.status_code
    assert count(app, Referral) == 0


def test_the_consent_page_does_not_take_the_childs_own_consent(app: Flask, make_browser: Any) -> None:
    reference = file_case(app, **CHILD)
    browser = signed_in(make_browser, "coordinador.rm")
    url = f"/casos/{reference}/consentimientos/nuevo"
    page = browser.get(url)
    assert page.status_code == 200
    assert '<option value="persona"' not in page.text and "La propia persona" not in page.text
    assert '<option value="representante_legal"' in page.text and '<option value="organismo_proteccion"' in page.text

    crafted = browser.submit(url, {"given_by": "persona", "scope": "red", "given_on": "2026-11-10",
                                   "evidence": "firma", "note": "Acta en carpeta."})
    assert crafted.status_code == 400, crafted.text
    assert ("Caso NNA: el consentimiento lo da su representante legal o el organismo de protección, no el niño, "
            "niña o adolescente solo.") in errors(crafted.text)
    assert textarea(crafted.text, "note") == "Acta en carpeta."
    assert count(app, Consent) == 0

    guardian = browser.submit(url, {"given_by": "representante_legal", "scope": "red", "given_on": "2026-11-10",
                                    "evidence": "firma"})
    assert guardian.status_code == 303, guardian.text
    assert count(app, Consent) == 1


def test_an_adult_case_offers_the_persons_own_consent(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    page = signed_in(make_browser, "coordinador.rm").get(f"/casos/{reference}/consentimientos/nuevo")
    assert '<option value="persona">La propia persona</option>' in page.text


# -- emergency access ---------------------------------------------------------------------------


def test_the_emergency_access_flow(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    browser = signed_in(make_browser, "coordinador.ta")
    assert browser.get(f"/casos/{reference}").status_code == 403
    form = browser.get("/acceso-emergencia")
    assert form.status_code == 200 and 'value="4"' in form.text  # the default duration

    granted = browser.submit("/acceso-emergencia", {"reference": reference.lower(), "reason": "riesgo_vital",
                                                    "note": "La persona llamó; el CAVD RM no contesta.",
                                                    "hours": "3"})
    assert granted.status_code == 303, granted.text
    assert granted.headers["Location"] == f"/casos/{reference}"
    case_page = browser.get(f"/casos/{reference}")
    assert case_page.status_code == 200
    assert "Acceso de emergencia otorgado hasta 18-11-2026 15:00" in case_page.text  # noon + 3 h, Santiago
    assert "Usted ve este caso por un acceso de emergencia" in case_page.text
    end = f"/casos/{reference}/acceso-emergencia/terminar"
    assert f'action="{end}"' in case_page.text and "Terminar mi acceso de emergencia ahora" in case_page.text
    assert relations(app, reference, "CAVD-CL-TA") == {"acceso_emergencia"}

    ended = browser.client.post(end, data={"csrf_token": hidden_inputs(case_page.text)["csrf_token"]})
    assert ended.status_code == 303 and ended.headers["Location"] == "/casos"
    assert browser.get(f"/casos/{reference}").status_code == 403
    assert relations(app, reference, "CAVD-CL-TA") == set()


def test_a_new_emergency_access_after_an_expired_one_is_the_one_shown_and_ended(app: Flask, make_browser: Any,
                                                                               clock: Any) -> None:
    """An access expires at its hour (access checks compare with the clock) even before the sweep marks
    it ended; a new access asked for in between must be the one the banner shows and «Terminar» ends."""
    reference = file_case(app)
    browser = signed_in(make_browser, "coordinador.ta")
    first = {"reference": reference, "reason": "riesgo_vital", "note": "Primera llamada.", "hours": "1"}
    assert browser.submit("/acceso-emergencia", first).status_code == 303  # 12:00 to 13:00
    clock.advance(hours=2)
    assert browser.get(f"/casos/{reference}").status_code == 403  # expired, not yet swept
    second = {"reference": reference, "reason": "riesgo_vital", "note": "Segunda llamada.", "hours": "3"}
    assert browser.submit("/acceso-emergencia", second).status_code == 303  # 14:00 to 17:00
    page = browser.get(f"/casos/{reference}")
    assert page.status_code == 200
    banner = re.search(r"registrado y visible para los auditores, hasta el ([0-9-]+ [0-9:]+)", page.text)
    assert banner and banner.group(1) == "18-11-2026 17:00", banner and banner.group(1)
    ended = browser.client.post(f"/casos/{reference}/acceso-emergencia/terminar",
                                data={"csrf_token": hidden_inputs(page.text)["csrf_token"]})
    assert ended.status_code == 303
    assert browser.get(f"/casos/{reference}").status_code == 403
    audit = signed_in(make_browser, "auditor").get("/auditoria/excepciones").text
    until = {cells[0]: cells[-1] for cells in (re.findall(r"<td>(.*?)</td>", row)
                                               for row in re.findall(r"<tr><td>[\s\S]*?</tr>", audit))}
    # granted at -> until: the first expired at 13:00; the second was ended by «Terminar» at 14:00
    assert until == {"18-11-2026 12:00": "18-11-2026 13:00", "18-11-2026 14:00": "18-11-2026 14:00"}, until


def test_emergency_access_is_refused_with_the_reasons_kept(app: Flask, make_browser: Any) -> None:
    reference = file_case(app)
    browser = signed_in(make_browser, "coordinador.ta")
    missing = browser.submit("/acceso-emergencia", {"reference": reference, "reason": "", "note": "", "hours": "99"})
    assert missing.status_code == 400
    assert {"Elija un motivo de la lista.", "Explique el motivo (obligatorio).", "Entre 1 y 24 horas."} <= set(
        errors(missing.text))
    unknown = browser.submit("/acceso-emergencia", {"reference": "TP-0000-0000", "reason": "riesgo_vital",
                                                    "note": "Urgente.", "hours": "2"})
    assert unknown.status_code == 400 and "No existe un caso con esa referencia." in errors(unknown.text)
    inside = signed_in(make_browser, "coordinador.rm")
    already = inside.submit("/acceso-emergencia", {"reference": reference, "reason": "riesgo_vital",
                                                   "note": "Urgente.", "hours": "2"})
    assert already.status_code == 400
    assert "Su nodo ya tiene acceso a este caso: ábralo directamente." in errors(already.text)


# -- the auditors -------------------------------------------------------------------------------


def test_the_auditors_see_exceptions_without_personal_data(app: Flask, make_browser: Any) -> None:
    typed_access = f"Me llamó {VICTIM_GIVEN} desde el terminal de buses"
    typed_override = f"La señora {VICTIM_SURNAMES} no puede firmar hoy"
    reference = active_case(app)
    glass = file_case(app)
    ta = signed_in(make_browser, "coordinador.ta")
    assert ta.submit("/acceso-emergencia", {"reference": glass, "reason": "traslado_entre_regiones",
                                            "note": typed_access, "hours": "2"}).status_code == 303
    rm = signed_in(make_browser, "coordinador.rm")
    sent = rm.submit(f"/casos/{reference}/derivar/derivacion?servicio=alojamiento",
                     {"to_node": str(node_id(app, "SERNAMEG")), "override_reason": "otro",
                      "override_note": typed_override})
    assert sent.status_code == 303, sent.text
    assert typed_override in rm.get(f"/casos/{reference}/derivaciones/{referral_for(app, reference)[0].id}").text

    auditor = signed_in(make_browser, "auditor")
    page = auditor.get("/auditoria/excepciones")
    assert page.status_code == 200
    rows = [re.findall(r"<td>(.*?)</td>", html.unescape(r)) for r in re.findall(r"<tr><td>[\s\S]*?</tr>", page.text)]
    assert len(rows) == 2, rows
    by_kind = {r[1]: r for r in rows}
    access, override = by_kind["Acceso de emergencia"], by_kind["Derivación sin consentimiento"]
    # each case is named by its pseudonym for the auditor's body, linked to its timeline; never its reference
    assert access[3:] == ["Coordinador/a de punto focal", "CentralGovernmentOrganisation",
                          "La persona llegó a mi región", "18-11-2026 14:00"], access
    assert override[3:] == ["Coordinador/a de punto focal", "CentralGovernmentOrganisation",
                            "Otro motivo (explíquelo)", "—"], override
    names = [re.search(r"<code>([a-z2-7]{26})</code>", row[2]) for row in (access, override)]
    assert all(names) and names[0].group(1) != names[1].group(1), (access, override)
    assert glass not in page.text and reference not in page.text
    for found in names:
        assert auditor.get(f"/auditoria/casos/{found.group(1)}").status_code == 200
    text = html.unescape(page.text)
    for secret in (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE, typed_access, typed_override,
                   "terminal de buses", "no puede firmar"):
        assert secret not in text, f"the auditors' page shows {secret!r}"


# -- child cases --------------------------------------------------------------------------------


NNA_BADGE = '<span class="badge flag-nna">NNA</span>'


def test_a_child_case_is_marked_on_the_refer_page_and_in_my_referrals(app: Flask, make_browser: Any) -> None:
    child = file_case(app, **CHILD)
    adult = active_case(app)
    consent(app, child, given_by="representante_legal")
    consent(app, adult)
    refer(app, child, "SERNAMEG", kind="emergencia")
    refer(app, adult, "SERNAMEG")

    focal = signed_in(make_browser, "coordinador.rm")
    page = focal.get(f"/casos/{child}/derivar/proteccion_nna")
    assert page.status_code == 200, page.text
    assert re.search(rf"<h1>Derivación de protección NNA {re.escape(NNA_BADGE)}</h1>", page.text), page.text
    assert NNA_BADGE not in focal.get(f"/casos/{adult}/derivar/derivacion").text
    sent = focal.submit(f"/casos/{child}/derivar/proteccion_nna",
                        {"to_node": str(node_id(app, "MEJOR-NINEZ-CL-RM")), "override_reason": ""})
    assert sent.status_code == 303, sent.text  # the guardian's consent «red» covers Mejor Niñez

    shelter = signed_in(make_browser, "gestor.sernameg")
    mine = received_rows(shelter.get("/derivaciones").text)
    cells = {ref: row for row in re.findall(r"<tr class=\"clock[^\"]*\">([\s\S]*?)</tr>", mine)
             for ref in (child, adult) if f">{ref}</a>" in row}
    assert set(cells) == {child, adult}
    assert f">{child}</a> {NNA_BADGE}" in cells[child]
    assert NNA_BADGE not in cells[adult]
    assert NNA_BADGE in focal.get("/derivaciones").text.split("<h2>", 1)[1]  # the sent side too


# -- what a receiving node reads ----------------------------------------------------------------


def test_a_shelter_reads_the_person_but_not_the_offence_nor_the_complaint(app: Flask, make_browser: Any) -> None:
    reference = active_case(app)
    consent(app, reference)
    refer(app, reference, "SERNAMEG")
    focal = signed_in(make_browser, "coordinador.rm").get(f"/casos/{reference}/formularios/ficha").text
    assert "<h2>Elementos del delito" in focal and "<h2>Denuncia</h2>" in focal  # they exist for the team

    page = signed_in(make_browser, "gestor.sernameg").get(f"/casos/{reference}/formularios/ficha")
    assert page.status_code == 200
    assert "<h2>Persona</h2>" in page.text and VICTIM_GIVEN in page.text
    assert "<h2>Riesgos inmediatos</h2>" in page.text
    assert "Elementos del delito" not in page.text and "Indicadores observados" not in page.text
    assert "<h2>Denuncia</h2>" not in page.text and "Denuncia" not in page.text
    assert "<h2>Detección</h2>" not in page.text


# -- English ------------------------------------------------------------------------------------


class _Headings(HTMLParser):
    """Text of headings, legends, table headers, field labels (not a node's own name), help lines,
    buttons and options."""

    TAGS = {"h1", "h2", "h3", "legend", "th", "label", "button", "option"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[list[Any]] = []  # [tag, text so far, skip]
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self.TAGS or (tag == "p" and values.get("class") == "help"):
            skip = tag == "label" and str(values.get("for") or "").startswith("nodo-")
            self.open.append([tag, "", skip])

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1][0] == tag:
            _, text, skip = self.open.pop()
            if not skip:
                self.texts.append(text)

    def handle_data(self, data: str) -> None:
        for entry in self.open:
            entry[1] += data


def headings(page: str) -> list[str]:
    """The page's own headings (inside <main>: not the navigation or the language switch)."""
    parser = _Headings()
    parser.feed(page.split('<main id="main">', 1)[1].split("</main>", 1)[0])
    return [" ".join(t.split()) for t in parser.texts if t.strip()]


def spanish_msgids(template: Path) -> set[str]:
    return {m for m in re.findall(r'_\("([^"]+)"\)', template.read_text(encoding="utf-8"))}


def test_the_english_refer_page_has_no_spanish_left(app: Flask, make_browser: Any) -> None:
    reference = active_case(app)
    browser = signed_in(make_browser, "coordinador.rm")
    assert browser.post("/idioma", {"lang": "en"}).status_code == 302
    page = browser.get(f"/casos/{reference}/derivar/derivacion?servicio=alojamiento")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    texts = headings(page.text)
    assert texts[0].startswith("Referral"), texts
    spanish = spanish_msgids(TEMPLATES / "refer.html") | {
        "Misma región", "Región vecina", "Nacional", "Otra región", "— Hay consentimiento registrado —",
        "Derivación", "Derivar", "Nodo", "Cercanía", "Cupos libres", "Consentimiento", "Servicio"}
    for english in ("Same region", "Neighbouring region", "National", "Accommodation or shelter"):
        assert english in page.text, english
    leftovers = sorted({s for s in spanish for t in texts if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", t)})
    leftovers += [cell for cell in ("Misma región", "Región vecina", "No lleva cupos", "Alojamiento o casa de acogida")
                  if cell in page.text]
    assert leftovers == [], f"Spanish left in the English refer page: {leftovers}\n{texts}"


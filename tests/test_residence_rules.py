"""The residence request as the workflow data says (issue 15 §5): refused with the reason for a Chilean or
a permanent resident, its purpose and fee exemption recorded, the law cited by name; and /protocolo
saying which clocks, rules and forms are product defaults, not the Protocol's (§7)."""

from __future__ import annotations

from typing import Any

from .factories import ficha_post, residencia_post
from .test_protocol_path import node_id, ok, reference_of

REFUSAL = "no corresponde: según la Ficha, la persona es chilena o residente definitiva"


def activated_case(app: Any, make_browser: Any, **ficha: Any) -> tuple[str, Any]:
    health, coordinator, lead = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    lead.login("gestor.rm")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post(**ficha)))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "CAVD-CL-RM")),
                                              "fundamento": "Indicadores claros."}))
    return reference, lead


def test_a_residence_request_for_a_permanent_resident_is_refused_with_the_reason(app: Any, make_browser: Any) -> None:
    reference, lead = activated_case(app, make_browser, nacionalidad="PE", situacion_migratoria="chilena")
    assert REFUSAL in lead.get(f"/casos/{reference}").text  # shown as not possible, with why
    refused = lead.post(f"/casos/{reference}/acciones/iniciar_residencia",
                        {"case_version": lead.case_version(reference)})
    assert refused.status_code == 409 and REFUSAL in refused.text
    assert lead.get(f"/casos/{reference}/formularios/solicitud_residencia/editar").status_code in (403, 404, 409)


def test_a_residence_request_records_its_purpose_and_the_fee_exemption(app: Any, make_browser: Any) -> None:
    reference, lead = activated_case(app, make_browser, nacionalidad="VE", situacion_migratoria="irregular")
    case_page = lead.get(f"/casos/{reference}").text
    assert REFUSAL not in case_page
    ok(lead.act(reference, "iniciar_residencia"))
    case_page = lead.get(f"/casos/{reference}").text
    assert "Residencia temporal para víctimas de trata (Ley 21.325)" in case_page  # the law named, no article
    editor = lead.get(f"/casos/{reference}/formularios/solicitud_residencia/editar").text
    assert "Finalidad de la residencia" in editor and "Exenta del pago de derechos" in editor
    assert "art. 71" not in editor
    missing = lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar",
                          {k: v for k, v in residencia_post().items() if k != "finalidad"})
    ok(missing)  # a draft may lack it (as a request saved before the field existed does); submitting may not
    assert lead.get(f"/casos/{reference}/formularios/solicitud_residencia").status_code == 200
    refused = lead.post(f"/casos/{reference}/acciones/presentar_residencia",
                        {"case_version": lead.case_version(reference)})
    assert refused.status_code == 409 and "incompleta" in refused.text
    ok(lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar",
                   residencia_post(finalidad="acciones_legales")))
    ok(lead.act(reference, "presentar_residencia"))
    shown = lead.get(f"/casos/{reference}/formularios/solicitud_residencia").text
    assert "Decidir sobre el ejercicio de acciones legales" in shown and "Exenta del pago de derechos" in shown


def test_protocolo_says_which_clocks_rules_and_forms_are_product_defaults(make_browser: Any) -> None:
    auditor = make_browser()
    auditor.login("auditor")
    page = auditor.get("/protocolo").text
    product = '<span class="badge basis">default del producto, no del Protocolo (configurable)</span>'
    law = '<span class="badge basis">ley</span>'
    row = page[page.index("<td>Triaje de la Ficha</td>"):]
    assert row[:row.index("</tr>")].count(product) == 1  # the 24 h triage is ours, not the Protocol's
    row = page[page.index("<td>Denuncia obligatoria (CPP arts. 175-176)</td>"):]
    assert law in row[:row.index("</tr>")]
    guard = page[page.index("Caso NNA: antes de activar, registre la comunicación"):]
    assert guard[:guard.index("</p>")].endswith(product)  # the Tribunal de Familia notice: ours (brief section 8)
    assert page.count(law) >= 4
    assert auditor.post("/idioma", {"lang": "en"}).status_code == 302
    english = auditor.get("/protocolo").text
    assert "product default, not the Protocol&#39;s (configurable)" in english
    assert "Intersectoral Board" not in english

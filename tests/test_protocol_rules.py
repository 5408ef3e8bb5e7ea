"""Rules of the Protocol seen through the application: child consent, amending a Ficha, form versions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from referral import create_app
from referral.kernel.models import FormRecord

from .browser import Browser
from .conftest import _settings
from .factories import ficha_post
from .test_protocol_path import node_id, ok, reference_of, state_of
from .units import unit_of_work

CHILD = {"edad_tipo": "estimada", "fecha_nacimiento": "", "edad_estimada": "15", "medios": []}


def test_a_child_case_cannot_be_activated_on_the_childs_own_consent_until_the_ficha_is_corrected(
        app: Any, make_browser: Any) -> None:
    health, coordinator = make_browser(), make_browser()
    health.login("salud.rm")
    coordinator.login("coordinador.rm")
    reference = reference_of(health.submit("/fichas/nueva", ficha_post(**CHILD, consentimiento_de="persona")))
    assert "NNA" in coordinator.get(f"/casos/{reference}").text  # marked as a child case

    activation = {"nodo_lider": str(node_id(app, "CAVD-CL-RM")), "fundamento": "NNA en explotación sexual."}
    page = coordinator.get(f"/casos/{reference}").text
    assert "representante legal" in page  # the action is shown as not possible yet, with the reason
    refused = coordinator.post(f"/casos/{reference}/acciones/activar",
                               {**activation, "case_version": coordinator.case_version(reference)})
    assert refused.status_code == 409 and "representante legal" in refused.text
    assert state_of(coordinator, reference) == "Detectado"

    # The focal point asks; the detecting node amends its Ficha (a second revision) and answers.
    ok(coordinator.act(reference, "solicitar_informacion", {"preguntas": "¿Quién consintió?"}))
    amended = ficha_post(**CHILD, consentimiento_de="organismo_proteccion")
    ok(health.submit(f"/casos/{reference}/formularios/ficha/editar", amended))
    ok(health.act(reference, "responder_informacion", {"respuesta": "Consintió la Oficina Local de la Niñez."}))
    # A child case also needs a referral to Mejor Niñez and the communication to the family court.
    assert "Mejor Niñez" in coordinator.get(f"/casos/{reference}").text  # shown as not possible yet, with why
    ok(coordinator.submit(f"/casos/{reference}/consentimientos/nuevo", {
        "given_by": "organismo_proteccion", "scope": "red", "given_on": "2026-11-18", "evidence": "resolucion"}))
    ok(coordinator.submit(f"/casos/{reference}/derivar/proteccion_nna",
                          {"to_node": str(node_id(app, "MEJOR-NINEZ-CL-RM"))}))
    ok(coordinator.act(reference, "registrar_comunicacion_nna", {
        "destinatario": "tribunal_familia", "fecha": "2026-11-18T10:00", "medio": "oficio"}))
    ok(coordinator.act(reference, "activar", activation))
    assert state_of(coordinator, reference) == "Activado (ingresado al Protocolo)"
    first = coordinator.get(f"/casos/{reference}/formularios/ficha?revision=1").text
    second = coordinator.get(f"/casos/{reference}/formularios/ficha?revision=2").text
    assert "La propia persona" in first and "El organismo de protección" in second


FICHA_NOW = max(int(p.name.split(".v")[1].split(".")[0]) for p in (
    Path(__file__).resolve().parents[1] / "workflows" / "chile" / "forms").glob("ficha.v*.yaml"))


def _workflows_with_ficha_v2(tmp_path: Path) -> Path:
    """A copy of the Chilean workflow where the Ficha has a next version with one more field."""
    root = tmp_path / "workflows"
    shutil.copytree(Path(__file__).resolve().parents[1] / "workflows" / "chile", root / "chile")
    current = root / "chile" / "forms" / f"ficha.v{FICHA_NOW}.yaml"
    form = yaml.safe_load(current.read_text(encoding="utf-8"))
    form["version"] = FICHA_NOW + 1
    form["label"] = {"es": "Ficha de Detección Temprana (2027)", "en": "Ficha de Detección Temprana (2027)"}
    form["sections"][0]["fields"].append(
        {"key": "via_contacto", "type": "text", "label": {"es": "Vía de contacto", "en": "Contact channel"}})
    (root / "chile" / "forms" / f"ficha.v{FICHA_NOW + 1}.yaml").write_text(yaml.safe_dump(form, allow_unicode=True), encoding="utf-8")
    return root


def test_a_submitted_form_keeps_the_definition_version_it_was_filled_in(
        app: Any, database_url: str, tmp_path: Path, clock: Any) -> None:
    before = Browser(app, "demo-protocolo-2026")
    before.login("salud.rm")
    old_case = reference_of(before.submit("/fichas/nueva", ficha_post()))

    # The protocol gains a next Ficha version; the same database is served by the new definition.
    settings = _settings(tmp_path / "upgraded", database_url, clock)
    upgraded = create_app({**settings, "WORKFLOWS_DIR": str(_workflows_with_ficha_v2(tmp_path))})
    after = Browser(upgraded, "demo-protocolo-2026")
    after.login("salud.rm")
    assert "Vía de contacto" in after.get("/fichas/nueva").text
    new_case = reference_of(after.submit("/fichas/nueva", ficha_post(via_contacto="WhatsApp de una amiga")))

    old_view = after.get(f"/casos/{old_case}/formularios/ficha").text
    new_view = after.get(f"/casos/{new_case}/formularios/ficha").text
    assert f"versión del formulario {FICHA_NOW}" in old_view and "Vía de contacto" not in old_view
    assert f"versión del formulario {FICHA_NOW + 1}" in new_view and "WhatsApp de una amiga" in new_view
    with unit_of_work(upgraded) as ctx:
        versions = sorted(ctx.session.scalars(select(FormRecord.form_version).where(FormRecord.form_key == "ficha")))
    assert versions == [FICHA_NOW, FICHA_NOW + 1]

"""The administrators' directory pages: list, create, edit, deactivate, members, import and export."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from sqlalchemy import func, select

from referral.auth import tokens
from referral.auth.models import User
from referral.context import Context
from referral.demo.network import DEMO_PASSWORD
from referral.network.csvio import COLUMNS
from referral.network.models import Node, NodeRegion

from ..backends import both_backends
from ..browser import Browser
from .pages import errors_in, flashes, form_fields, post_form

NEW = {"code": "REFUGIO-NORTE", "short_name": "Refugio Norte", "name": "Fundación Refugio del Norte",
       "org_type": "NGO", "level": "local", "regions": ["CL-TA"], "services": ["alojamiento", "salud_mental"],
       "capacity_total": "6", "capacity_free": "2", "contact_email": "contacto@refugio.cl",
       "contact_phone": "+56 57 234 5678", "active": "y"}


def admin(app: Any) -> Any:
    browser = Browser(app, DEMO_PASSWORD)
    assert browser.login("administrador").status_code == 302
    return browser.client


def fresh(ctx: Context, code: str) -> Node | None:
    ctx.session.expire_all()
    return ctx.session.scalar(select(Node).where(Node.code == code))


def node_id(ctx: Context, code: str) -> int:
    found = fresh(ctx, code)
    assert found is not None
    return found.id


def user(ctx: Context, email: str) -> User | None:
    ctx.session.expire_all()
    return ctx.session.scalar(select(User).where(User.email == email))


def test_the_list_shows_each_node_with_services_places_and_contact_and_filters(app: Any) -> None:
    client = admin(app)
    page = client.get("/administracion/nodos")
    assert page.status_code == 200
    row = re.search(r'<tr>\s*<td><a href="/administracion/nodos/\d+">SERNAMEG</a>[\s\S]*?</tr>', page.text)
    assert row, "SERNAMEG is not listed"
    assert "Alojamiento o casa de acogida" in row.group(0) and "3 / 10" in row.group(0)
    assert "contacto.sernameg@demo.cl" in row.group(0) and "Activo" in row.group(0)

    tarapaca = client.get("/administracion/nodos?region=CL-TA&tipo=CentralGovernmentOrganisation&activo=si").text
    assert "CAVD Tarapacá" in tarapaca and "PAV" in tarapaca  # a national node serves every region
    assert "CAVD Metropolitana" not in tarapaca and "INCAMI" not in tarapaca  # another region; an NGO
    assert "Ningún nodo cumple" in client.get("/administracion/nodos?activo=no").text
    for bad in ("region=CL-XX", "tipo=Charity", "activo=quizas"):
        assert client.get(f"/administracion/nodos?{bad}").status_code == 400, bad


@both_backends
def test_an_administrator_creates_a_node_and_a_second_submission_does_not_create_it_twice(
        app: Any, ctx: Context, directory: None) -> None:
    client = admin(app)
    page = client.get("/administracion/nodos/nuevo")
    fields = {**form_fields(page.text), **NEW}

    created = client.post("/administracion/nodos/nuevo", data=fields)

    assert created.status_code == 303
    node = fresh(ctx, "REFUGIO-NORTE")
    assert node is not None and created.headers["Location"] == f"/administracion/nodos/{node.id}"
    assert (node.short_name, node.org_type, node.level, node.home_region) == ("Refugio Norte", "NGO", "local", "CL-TA")
    assert node.services == ["alojamiento", "salud_mental"] and (node.capacity_total, node.capacity_free) == (6, 2)
    assert node.capacity_updated_at == app.config["CLOCK"]() and node.active
    assert node.contact_email == "contacto@refugio.cl" and node.contact_phone == "+56 57 234 5678"
    assert "Nodo REFUGIO-NORTE creado." in flashes(client.get(created.headers["Location"]).text)

    again = client.post("/administracion/nodos/nuevo", data=fields)  # the same form, sent again

    assert again.status_code == 400
    assert "Ya existe un nodo con el código REFUGIO-NORTE." in errors_in(again.text)
    assert ctx.session.scalar(select(func.count()).select_from(Node).where(Node.code == "REFUGIO-NORTE")) == 1


def test_a_refused_node_keeps_what_was_typed(app: Any, ctx: Context) -> None:
    client = admin(app)
    typed = {**NEW, "capacity_free": "9", "contact_email": "refugio.cl", "name": "Nombre que se conserva",
             "regions": ["CL-TA", "CL-AN"]}
    refused = post_form(client, "/administracion/nodos/nuevo", typed)
    assert refused.status_code == 400
    assert set(errors_in(refused.text)) == {"Los cupos libres (9) no pueden superar el total (6).",
                                            "Correo no válido: refugio.cl."}
    shown = form_fields(refused.text)
    assert shown["name"] == "Nombre que se conserva" and shown["capacity_free"] == "9"
    assert shown["regions"] == ["CL-TA", "CL-AN"] and shown["services"] == ["alojamiento", "salud_mental"]
    not_a_number = post_form(client, "/administracion/nodos/nuevo", {**NEW, "capacity_total": "seis"})
    assert not_a_number.status_code == 400 and form_fields(not_a_number.text)["capacity_total"] == "seis"
    assert "Escriba un número entero de 0 o más." in errors_in(not_a_number.text)
    assert fresh(ctx, "REFUGIO-NORTE") is None


def test_an_administrator_edits_a_node_but_not_its_code(app: Any, ctx: Context) -> None:
    client = admin(app)
    url = f"/administracion/nodos/{node_id(ctx, 'MADRE-JOSEFA')}"
    saved = post_form(client, url, {"code": "OTRO", "name": "Fundación Madre Josefa (casa de acogida)",
                                    "regions": ["CL-RM", "CL-VS"], "services": ["alojamiento"],
                                    "capacity_free": "0", "contact_phone": "(2) 2555 0101"})
    assert saved.status_code == 303 and saved.headers["Location"] == "/administracion/nodos"
    node = fresh(ctx, "MADRE-JOSEFA")
    assert node is not None and fresh(ctx, "OTRO") is None
    assert node.name == "Fundación Madre Josefa (casa de acogida)" and node.services == ["alojamiento"]
    assert {r.region_code for r in node.regions_served} == {"CL-RM", "CL-VS"} and node.home_region == "CL-RM"
    assert (node.capacity_free, node.capacity_total, node.contact_phone) == (0, 12, "(2) 2555 0101")
    unchanged = post_form(client, url)
    assert unchanged.status_code == 303
    assert "MADRE-JOSEFA no tenía cambios." in flashes(client.get("/administracion/nodos").text)
    assert client.get("/administracion/nodos/999999").status_code == 404


def test_a_node_is_deactivated_never_deleted_and_not_while_it_holds_a_network_function(
        app: Any, ctx: Context) -> None:
    client = admin(app)
    deactivated = post_form(client, f"/administracion/nodos/{node_id(ctx, 'HONRA')}", {"active": False})
    assert deactivated.status_code == 303
    honra = fresh(ctx, "HONRA")
    assert honra is not None and honra.active is False
    assert "HONRA" in client.get("/administracion/nodos?activo=no").text

    focal = f"/administracion/nodos/{node_id(ctx, 'CAVD-CL-TA')}"
    refused = post_form(client, focal, {"active": False})
    assert refused.status_code == 400
    assert any("Punto focal regional" in e and "antes de desactivarlo" in e for e in errors_in(refused.text))
    moved = post_form(client, focal, {"regions": ["CL-AN"]})
    assert moved.status_code == 400
    assert any("no puede dejar de atender CL-TA" in e for e in errors_in(moved.text))
    cavd = fresh(ctx, "CAVD-CL-TA")
    assert cavd is not None and cavd.active and {r.region_code for r in cavd.regions_served} == {"CL-TA"}


def test_members_are_added_without_a_password_and_with_an_enrolment_link_shown_once(app: Any, ctx: Context) -> None:
    client = admin(app)
    url = f"/administracion/nodos/{node_id(ctx, 'HONRA')}/miembros"
    added = post_form(client, url, {"email": "Auditoria.Honra@Demo.cl", "display_name": "Auditoría Honra",
                                    "role": "auditor", "manages_node": "y", "active": "y"})
    # a role that reads no case: the account is ready at once, and its person sets her own password
    assert added.status_code == 201 and added.headers["Cache-Control"] == "no-store"
    link = re.search(r'<code class="link">(\S+)</code>', added.text).group(1)  # type: ignore[union-attr]
    token = link.rsplit("/", 1)[1]
    cookie = client.get_cookie("session")
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}
    assert token not in repr(session)
    page = client.get(url)
    assert "auditoria.honra@demo.cl" in page.text and "Auditoría Honra" in page.text
    assert token not in page.text  # shown once
    member = user(ctx, "auditoria.honra@demo.cl")
    assert member is not None and member.role == "auditor" and member.manages_node and member.active
    assert member.node_id == node_id(ctx, "HONRA") and member.password_hash == "!"
    assert tokens.peek(ctx.session, token, tokens.ENROL, app.config["CLOCK"]()) == member
    assert Browser(app, "!").login("auditoria.honra").status_code != 302  # no password opens it

    twice = post_form(client, url, {"email": "auditoria.honra@demo.cl", "display_name": "Otra vez", "role": "auditor"})
    assert twice.status_code == 400
    assert "Ya existe una cuenta con el correo auditoria.honra@demo.cl." in errors_in(twice.text)
    refused = post_form(client, url, {"email": "no-es-correo", "display_name": "", "role": "jefa"})
    assert refused.status_code == 400
    assert set(errors_in(refused.text)) == {"Correo no válido: no-es-correo.", "Obligatorio.", "Rol desconocido: jefa."}
    assert form_fields(refused.text)["email"] == "no-es-correo"
    assert ctx.session.scalar(select(func.count()).select_from(User).where(User.node_id == node_id(ctx, "HONRA"))) == 1


def test_an_administrator_lowers_a_role_removes_a_manager_and_deactivates_an_account_at_once(
        app: Any, ctx: Context) -> None:
    client = admin(app)
    member = user(ctx, "gestor.ta@demo.cl")
    assert member is not None and member.manages_node
    node = node_id(ctx, "CAVD-CL-TA")
    url = f"/administracion/nodos/{node}/miembros/{member.id}"
    saved = post_form(client, url, {"role": "auditor", "manages_node": False})
    assert saved.status_code == 303 and saved.headers["Location"] == f"/administracion/nodos/{node}/miembros"
    changed = user(ctx, "gestor.ta@demo.cl")
    assert changed is not None and (changed.role, changed.manages_node, changed.active) == ("auditor", False, True)

    signed_in = Browser(app, DEMO_PASSWORD)
    assert signed_in.login("gestor.ta").status_code == 302
    assert post_form(client, url, {"active": False}).status_code == 303
    gone = user(ctx, "gestor.ta@demo.cl")
    assert gone is not None and gone.active is False  # deactivated, never deleted
    assert signed_in.get("/casos").status_code == 302  # the open session ends at once
    assert Browser(app, DEMO_PASSWORD).login("gestor.ta").status_code != 302

    other = user(ctx, "gestor.rm@demo.cl")
    assert other is not None
    assert client.get(f"/administracion/nodos/{node}/miembros/{other.id}").status_code == 404  # another node's


def test_an_administrator_cannot_lock_themselves_out(app: Any, ctx: Context) -> None:
    client = admin(app)
    me = user(ctx, "administrador@demo.cl")
    assert me is not None
    url = f"/administracion/nodos/{me.node_id}/miembros/{me.id}"
    for change in ({"active": False}, {"role": "auditor"}):
        refused = post_form(client, url, change)
        assert refused.status_code == 400, change
        assert ("No puede cambiar el rol, el nodo, el correo ni la activación de su propia cuenta: lo hace otra "
                "persona.") in errors_in(refused.text)
    still = user(ctx, "administrador@demo.cl")
    assert still is not None and still.active and still.role == "administrador"


def _upload(client: Any, text: str) -> Any:
    page = client.get("/administracion/nodos/importar")
    fields = form_fields(page.text)
    return client.post("/administracion/nodos/importar", data={
        **fields, "file": (io.BytesIO(text.encode("utf-8")), "nodos.csv")}, content_type="multipart/form-data")


def test_export_downloads_the_directory_and_import_reports_bad_rows(app: Any, ctx: Context) -> None:
    client = admin(app)
    download = client.get("/administracion/nodos/exportar")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="nodos-\d{8}-\d{4}\.csv"', download.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == ctx.session.scalar(select(func.count()).select_from(Node))

    same = _upload(client, download.text)
    assert same.status_code == 200
    assert f"Nodos creados: 0; actualizados: 0; sin cambios: {len(rows)}." in same.text

    sernameg = next(r for r in rows if r["code"] == "SERNAMEG")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow({**sernameg, "capacity_free": "1"})
    writer.writerow({**sernameg, "code": "NUEVO", "level": "regional", "regions": ""})
    mixed = _upload(client, out.getvalue())
    assert mixed.status_code == 422
    assert "Nodos creados: 0; actualizados: 1; sin cambios: 0." in mixed.text
    assert re.search(r"<td>3</td><td>regions: Indique al menos una región atendida.</td>", mixed.text)
    sernameg_now = fresh(ctx, "SERNAMEG")
    assert sernameg_now is not None and sernameg_now.capacity_free == 1  # the good row is saved

    empty = client.post("/administracion/nodos/importar", data=form_fields(client.get("/administracion/nodos/importar").text))
    assert empty.status_code == 400 and "Elija un archivo CSV." in errors_in(empty.text)


def test_the_administrator_sees_the_directory_in_the_navigation(app: Any) -> None:
    page = admin(app).get("/administracion/nodos")
    assert '<a href="/administracion/nodos" aria-current="page">Directorio de nodos</a>' in page.text
    assert 'href="/mi-nodo"' not in page.text
    assert not re.search(r'aria-current="page">Casos eliminados', page.text)


def test_served_regions_are_stored_as_rows(ctx: Context) -> None:
    """A national node serves every region without rows; a regional office has its region's row."""
    pav, cavd = fresh(ctx, "PAV"), fresh(ctx, "CAVD-CL-TA")
    assert pav is not None and cavd is not None
    assert ctx.session.scalar(select(func.count()).select_from(NodeRegion).where(NodeRegion.node_id == pav.id)) == 0
    assert [r.region_code for r in cavd.regions_served] == ["CL-TA"]

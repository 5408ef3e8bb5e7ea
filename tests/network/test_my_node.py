"""A node's manager keeps their own node's services, places and contacts current, and nothing else."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from referral.auth.models import User
from referral.context import Context
from referral.demo.network import DEMO_PASSWORD
from referral.network import grants
from referral.network.editing import NodeValues, NotAllowed, add_member, create_node, update_member, update_own_node
from referral.network.models import Node

from ..browser import Browser
from .pages import errors_in, flashes, form_fields, post_form


def signed_in(app: Any, name: str) -> Any:
    browser = Browser(app, DEMO_PASSWORD)
    assert browser.login(name).status_code == 302
    return browser.client


def snapshot(ctx: Context, code: str) -> dict[str, Any]:
    ctx.session.expire_all()
    node = ctx.session.scalar(select(Node).where(Node.code == code))
    assert node is not None
    return {"code": node.code, "short_name": node.short_name, "name": node.name, "org_type": node.org_type,
            "level": node.level, "home_region": node.home_region, "active": node.active,
            "regions": sorted(r.region_code for r in node.regions_served), "services": list(node.services),
            "capacity": (node.capacity_free, node.capacity_total), "updated": node.capacity_updated_at,
            "email": node.contact_email, "phone": node.contact_phone}


def test_the_manager_edits_services_places_and_contacts_of_their_own_node(app: Any, ctx: Context, clock: Any) -> None:
    client = signed_in(app, "gestor.sernameg")
    before = snapshot(ctx, "SERNAMEG")
    page = client.get("/mi-nodo")
    assert page.status_code == 200
    assert "Servicio Nacional de la Mujer y la Equidad de Género" in page.text
    assert set(form_fields(page.text)) == {"csrf_token", "services", "capacity_total", "capacity_free",
                                           "contact_email", "contact_phone"}  # nothing else is offered
    clock.advance(hours=2)

    saved = post_form(client, "/mi-nodo", {
        "services": ["alojamiento", "salud_mental", "interpretacion"], "capacity_free": "1",
        "contact_email": "casas.acogida@sernameg.demo.cl", "contact_phone": "+56 2 2549 6100",
        # a crafted request: fields the page does not offer are ignored
        "name": "Otro nombre", "short_name": "OTRO", "org_type": "NGO", "level": "local", "regions": ["CL-TA"],
        "active": "", "code": "OTRO"})

    assert saved.status_code == 303 and saved.headers["Location"] == "/mi-nodo"
    assert "Datos del nodo guardados." in flashes(client.get("/mi-nodo").text)
    after = snapshot(ctx, "SERNAMEG")
    assert after["services"] == ["alojamiento", "salud_mental", "interpretacion"]
    assert after["capacity"] == (1, 10) and after["updated"] == clock.now
    assert (after["email"], after["phone"]) == ("casas.acogida@sernameg.demo.cl", "+56 2 2549 6100")
    for key in ("code", "short_name", "name", "org_type", "level", "home_region", "active", "regions"):
        assert after[key] == before[key], key


def test_a_refused_edit_keeps_what_was_typed_and_saves_nothing(app: Any, ctx: Context) -> None:
    client = signed_in(app, "gestor.sernameg")
    before = snapshot(ctx, "SERNAMEG")
    refused = post_form(client, "/mi-nodo", {"capacity_free": "11", "contact_email": "nadie"})
    assert refused.status_code == 400
    assert set(errors_in(refused.text)) == {"Los cupos libres (11) no pueden superar el total (10).",
                                            "Correo no válido: nadie."}
    assert form_fields(refused.text)["capacity_free"] == "11" and form_fields(refused.text)["contact_email"] == "nadie"
    no_shelter = post_form(client, "/mi-nodo", {"services": ["salud_mental"]})
    assert no_shelter.status_code == 400
    assert any(e.startswith("Solo cuenta cupos un nodo que ofrece Alojamiento") for e in errors_in(no_shelter.text))
    nothing = post_form(client, "/mi-nodo", {"services": [], "capacity_total": "", "capacity_free": ""})
    assert nothing.status_code == 400
    assert errors_in(nothing.text) == ["Un nodo activo ofrece al menos un servicio del catálogo."]
    assert snapshot(ctx, "SERNAMEG") == before


def test_a_regional_manager_edits_their_office_only(app: Any, ctx: Context) -> None:
    client = signed_in(app, "gestor.rm")
    others = {code: snapshot(ctx, code) for code in ("CAVD-CL-TA", "SERNAMEG", "PAV")}
    assert "CAVD Metropolitana" in client.get("/mi-nodo").text
    assert post_form(client, "/mi-nodo", {"contact_phone": "+56 2 2222 3333"}).status_code == 303
    assert snapshot(ctx, "CAVD-CL-RM")["phone"] == "+56 2 2222 3333"
    assert {code: snapshot(ctx, code) for code in others} == others


def test_the_manager_sees_my_node_in_the_navigation_and_others_do_not(app: Any) -> None:
    manager = signed_in(app, "gestor.sernameg").get("/notificaciones").text
    assert '<a href="/mi-nodo">Mi nodo</a>' in manager and 'href="/administracion/nodos"' not in manager
    for name in ("coordinador.rm", "salud.rm", "auditor", "administrador"):
        page = signed_in(app, name).get("/notificaciones").text
        assert 'href="/mi-nodo"' not in page, name
        assert ('href="/administracion/nodos"' in page) == (name == "administrador"), name


def test_the_services_refuse_whoever_the_pages_would_refuse(ctx: Context) -> None:
    """Defence in depth: the access rules refuse first, and the services check the user again."""

    def account(name: str) -> User:
        found = ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))
        assert found is not None
        return found

    values = NodeValues("REFUGIO", "Refugio", "Refugio", "NGO", "local", ("CL-TA",), ("alojamiento",))
    for name in ("gestor.sernameg", "coordinacion.nacional", "auditor"):
        with pytest.raises(NotAllowed):
            create_node(ctx, account(name), values)
        with pytest.raises(NotAllowed):
            add_member(ctx, account(name), account(name).node_id, email="x@demo.cl", display_name="X",
                       role="administrador", manages_node=True, active=True)
        with pytest.raises(NotAllowed):
            update_member(ctx, account(name), account("salud.rm").node_id, account("salud.rm").id,
                          role="coordinador", manages_node=False, active=True)
        with pytest.raises(grants.NotApprover if name != "coordinacion.nacional" else grants.GrantNotFound):
            grants.decide(ctx, account(name), uuid.uuid4(), approve=True, reason="funciones_verificadas")
    with pytest.raises(grants.NotApprover):  # the administrator proposes; she never decides
        grants.decide(ctx, account("administrador"), uuid.uuid4(), approve=True, reason="funciones_verificadas")
    with pytest.raises(NotAllowed):
        update_own_node(ctx, account("coordinador.rm"), services=["alojamiento"], capacity_total=None,
                        capacity_free=None, contact_email=None, contact_phone=None)
    assert create_node(ctx, account("administrador"), values).code == "REFUGIO"

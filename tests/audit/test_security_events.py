"""Every security event of administration is an audit event, with codes and ids only (issue 14).

The flows are taken as people take them (the browser); the assertions read the audit log: the action,
the actor's role and node, ids and codes — and never an e-mail, a name or a URL.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from referral import create_app
from referral.audit.models import AuditEvent
from referral.audit.service import pseudonym, verify_log
from referral.kernel.models import Case
from referral.context import Context
from referral.extensions import database

from ..conftest import Clock, _settings
from ..factories import ficha_post
from ..network.accounts import APPROVER, account, create, decide, edit, grants_about, node_of, signed_in
from ..network.pages import post_form
from ..units import unit_of_work

PERSONAL = re.compile(r"@|demo\.cl|correo|Coordinaci[oó]n paralela|Auditor[ií]a|Refugio|https?://|/administracion")


def events(ctx: Context, action: str) -> list[AuditEvent]:
    ctx.session.expire_all()
    return list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def only(ctx: Context, action: str) -> AuditEvent:
    found = events(ctx, action)
    assert len(found) == 1, (action, [e.details for e in found])
    return found[0]


def payload(event: AuditEvent) -> str:
    return json.dumps([event.action, event.actor_role, event.actor_node_id, event.case_pseudonym, event.subject,
                       event.details], ensure_ascii=False)


def assert_no_personal_data(ctx: Context) -> None:
    ctx.session.expire_all()
    for event in ctx.session.scalars(select(AuditEvent)):
        assert not PERSONAL.search(payload(event)), payload(event)


def test_account_grants_and_changes_are_audited_with_ids_and_codes_only(app: Any, ctx: Context, clock: Any) -> None:
    admin = signed_in(app, "administrador")
    me = account(ctx, "administrador@demo.cl")
    assert create(admin, ctx, "PAV", email="yo.misma@correo.cl", display_name="Coordinación paralela",
                  role="coordinador").status_code == 201
    new = account(ctx, "yo.misma@correo.cl")
    created = only(ctx, "account.created")
    assert (created.actor_role, created.actor_node_id, created.subject) == ("administrador", me.node_id, str(new.id))
    assert created.details == {"user": new.id, "to_role": "coordinador", "to_node": node_of(ctx, "PAV"),
                               "pending": True, "manages_node": False}
    [grant] = grants_about(ctx, new.id)
    requested = only(ctx, "account.grant_requested")
    assert requested.subject == str(grant.id)
    assert requested.details == {"user": new.id, "changes": ["active", "create", "node_id", "role"],
                                 "to_role": "coordinador", "to_node": node_of(ctx, "PAV")}
    nat = account(ctx, f"{APPROVER}@demo.cl")
    assert decide(signed_in(app, APPROVER), grant).status_code == 200
    approved = only(ctx, "account.grant_approved")
    assert (approved.actor_role, approved.actor_node_id, approved.subject) == ("coordinador", nat.node_id, str(grant.id))
    assert approved.details == {"user": new.id, "reason": "funciones_verificadas"}

    assert edit(admin, ctx, "ong@demo.cl", role="coordinador").status_code == 303
    assert edit(admin, ctx, "policia.rm@demo.cl", email="otra@correo.cl").status_code == 303
    ong, pol = (grants_about(ctx, account(ctx, f"{n}@demo.cl").id)[0] for n in ("ong", "policia.rm"))
    assert decide(signed_in(app, APPROVER), ong, "rechazar", "sin_verificar").status_code == 303
    assert only(ctx, "account.grant_rejected").details == {"user": ong.user_id, "reason": "sin_verificar"}
    clock.advance(days=8)
    assert signed_in(app, APPROVER).get("/administracion/solicitudes-acceso").status_code == 200  # sweeps
    expired = only(ctx, "account.grant_expired")
    assert (expired.actor_role, expired.subject, expired.details) == (None, str(pol.id), {"user": pol.user_id})

    admin = signed_in(app, "administrador")
    auditor = account(ctx, "auditor@demo.cl")
    assert edit(admin, ctx, "gestor.ta@demo.cl", role="auditor", manages_node=False).status_code == 303
    gestor = account(ctx, "gestor.ta@demo.cl")
    assert only(ctx, "account.role_changed").details == {"user": gestor.id, "from_role": "gestor", "to_role": "auditor"}
    assert only(ctx, "account.manager_changed").details == {"user": gestor.id, "manages_node": False}
    assert edit(admin, ctx, "auditor@demo.cl", active=False).status_code == 303
    assert edit(admin, ctx, "auditor@demo.cl", active="y").status_code == 303  # reads no case: at once
    assert only(ctx, "account.deactivated").details == {"user": auditor.id}
    assert only(ctx, "account.reactivated").details == {"user": auditor.id}
    assert_no_personal_data(ctx)
    assert verify_log(ctx.session)[1] is None


NEW_NODE = {"code": "REFUGIO-NORTE", "short_name": "Refugio Norte", "name": "Fundación Refugio del Norte",
            "org_type": "NGO", "level": "local", "regions": ["CL-TA"], "services": ["alojamiento"],
            "capacity_total": "6", "capacity_free": "2", "contact_email": "contacto@refugio.cl",
            "contact_phone": "+56 57 234 5678", "active": "y"}


def test_node_edits_imports_and_own_node_edits_are_audited(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    assert post_form(admin, "/administracion/nodos/nuevo", NEW_NODE).status_code == 303
    refugio = node_of(ctx, "REFUGIO-NORTE")
    assert only(ctx, "node.created").details == {"node": refugio, "active": True}
    assert post_form(admin, f"/administracion/nodos/{refugio}", {"capacity_free": "1"}).status_code == 303
    assert only(ctx, "node.updated").details == {"node": refugio, "fields": ["capacity_free"]}
    page = admin.get("/administracion/nodos/importar")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    exported = admin.get("/administracion/nodos/exportar").get_data()
    assert admin.post("/administracion/nodos/importar", data={"csrf_token": token, "file": (io.BytesIO(exported),
                                                                                           "nodos.csv")},
                      content_type="multipart/form-data").status_code == 200
    imported = only(ctx, "node.imported")
    assert imported.actor_role == "administrador" and imported.details["created"] == 0
    assert set(imported.details) == {"created", "updated", "unchanged", "bad_lines", "source"}

    manager = signed_in(app, "gestor.rm")
    assert post_form(manager, "/mi-nodo", {"contact_phone": "+56 2 2345 6789"}).status_code == 303
    own = only(ctx, "own_node.updated")
    assert (own.actor_role, own.actor_node_id) == ("gestor", node_of(ctx, "CAVD-CL-RM"))
    assert own.details["node"] == node_of(ctx, "CAVD-CL-RM") and "contact_phone" in own.details["fields"]
    assert_no_personal_data(ctx)


def test_a_refused_page_is_an_access_denied_event_with_endpoint_role_and_node_only(app: Any, ctx: Context) -> None:
    focal = signed_in(app, "coordinador.rm")
    assert focal.get("/administracion/nodos?region=CL-RM").status_code == 403
    denied = only(ctx, "access.denied")
    node = account(ctx, "coordinador.rm@demo.cl").node_id
    assert (denied.actor_role, denied.actor_node_id, denied.case_pseudonym) == ("coordinador", node, None)
    assert denied.details == {"endpoint": "network.nodes", "method": "GET"}
    assert_no_personal_data(ctx)


def test_a_refused_case_page_names_the_case_by_its_pseudonym(app: Any, ctx: Context) -> None:
    health = signed_in(app, "salud.rm")
    page = health.get("/fichas/nueva")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    filed = health.post("/fichas/nueva", data={**ficha_post(), "csrf_token": token})
    reference = re.search(r"/casos/(TP-[0-9A-Z-]+)$", filed.headers["Location"]).group(1)  # type: ignore[union-attr]
    outsider = signed_in(app, "ong")
    assert outsider.get(f"/casos/{reference}").status_code == 403
    denied = only(ctx, "access.denied")
    case = ctx.session.scalar(select(Case).where(Case.reference == reference))
    assert case is not None and denied.case_pseudonym == pseudonym(ctx, case.id)
    assert reference not in payload(denied) and denied.details == {"endpoint": "cases.show", "method": "GET"}


@pytest.fixture
def limited_app(sqlite_template: Path, tmp_path: Path) -> Iterator[Any]:
    shutil.copy(sqlite_template, tmp_path / "limited.db")
    settings = {**_settings(tmp_path / "instance", f"sqlite:///{tmp_path / 'limited.db'}", Clock()),
                "RATELIMIT_ENABLED": True}
    app = create_app(settings)
    yield app
    database.engine(app).dispose()


def test_refusals_cannot_flood_the_log_one_event_per_person_endpoint_and_minute(limited_app: Any) -> None:
    focal = signed_in(limited_app, "coordinador.rm")
    for _ in range(20):
        assert focal.get("/administracion/nodos").status_code == 403
    assert focal.get("/administracion/nodos/nuevo").status_code == 403  # another endpoint: its own event
    with unit_of_work(limited_app) as ctx:
        found = [e.details["endpoint"] for e in events(ctx, "access.denied")]
    assert found == ["network.nodes", "network.new_node"]


def test_a_refusal_whose_audit_write_fails_is_still_the_403_page(app: Any) -> None:
    focal = signed_in(app, "coordinador.rm")
    with database.engine(app).begin() as connection:  # the audit log cannot be written to (a real failure)
        connection.execute(text("ALTER TABLE audit_events RENAME TO audit_events_elsewhere"))
    refused = focal.get("/administracion/nodos")
    assert refused.status_code == 403 and "Su rol no permite ver esta página." in refused.text
    assert focal.get("/protocolo").status_code == 200  # the next request is served as usual

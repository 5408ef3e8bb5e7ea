"""Separation of duties, attacked: no single person gives herself or anyone else the power to read cases.

The attacker is the administrator (issue 14: she created a PAV coordinator, was shown its password, and
read every case). Each test is one of her attempts, or one of an approver's, and its failure.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from referral.auth import tokens
from referral.auth.models import AccountToken, User
from referral.context import Context
from referral.demo.network import DEMO_PASSWORD
from referral.network import grants
from referral.network.editing import InvalidValues, update_member

from ..backends import both_backends
from ..browser import Browser, hidden_inputs
from .accounts import (
    APPROVALS, APPROVER, LINK, account, create, decide, edit, grants_about, node_of, signed_in,
)
from .pages import errors_in, flashes

SECRET_WORDS = ("contraseña temporal", "temporary password", "/cuenta/activar/")


def no_secret_in(response: Any) -> None:
    text = response.get_data(as_text=True).lower()
    assert not any(word in text for word in SECRET_WORDS), response.request.path


def cannot_sign_in(app: Any, email: str) -> None:
    for password in (DEMO_PASSWORD, "!", "x"):
        client = Browser(app, password).client
        form = hidden_inputs(client.get("/ingresar").text)
        answer = client.post("/ingresar", data={**form, "email": email, "password": password})
        assert answer.status_code != 302 and client.get("/casos").status_code == 302, password


@both_backends
def test_a_coordinator_the_administrator_creates_has_no_access_until_a_second_person_approves(
        app: Any, ctx: Context, directory: None) -> None:
    admin = signed_in(app, "administrador")
    created = create(admin, ctx, "PAV", email="yo.misma@correo.cl", display_name="Coordinación paralela",
                     role="coordinador")

    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    no_secret_in(created)  # neither a password nor an enrolment link: nothing to log in with
    new = account(ctx, "yo.misma@correo.cl")
    assert (new.role, new.node_id, new.active, new.password_hash) == ("coordinador", node_of(ctx, "PAV"), False, "!")
    assert ctx.session.scalar(select(func.count()).select_from(AccountToken)
                              .where(AccountToken.user_id == new.id)) == 0
    cannot_sign_in(app, "yo.misma@correo.cl")
    [grant] = grants_about(ctx, new.id)
    assert grant.state == grants.PENDING and grant.changes == {"create": True, "role": "coordinador",
                                                                "node_id": node_of(ctx, "PAV"), "active": True}
    followed = admin.get("/administracion/nodos/solicitudes")
    assert "Coordinación paralela" in followed.text and "Pendiente" in followed.text
    no_secret_in(followed)

    approver = signed_in(app, APPROVER)
    listed = approver.get(APPROVALS)
    assert "Coordinación paralela" in listed.text and "yo.misma@correo.cl" in listed.text
    approved = decide(approver, grant)

    assert approved.status_code == 200 and approved.headers["Cache-Control"] == "no-store"
    link = LINK.search(approved.text)
    assert link is not None  # the link goes to the approver, once, to pass on to the person
    token = link.group(1).rsplit("/", 1)[1]
    assert tokens.peek(ctx.session, token, tokens.ENROL, app.config["CLOCK"]()) == account(ctx, "yo.misma@correo.cl")
    assert account(ctx, "yo.misma@correo.cl").active and account(ctx, "yo.misma@correo.cl").password_hash == "!"
    cannot_sign_in(app, "yo.misma@correo.cl")  # approved, but only its person's enrolment gives it a password
    for page in (approver.get(APPROVALS), admin.get("/administracion/nodos/solicitudes"),
                 admin.get(f"/administracion/nodos/{node_of(ctx, 'PAV')}/miembros")):
        assert token not in page.text  # shown once
    assert grants_about(ctx, new.id)[0].state == grants.APPROVED


def test_raising_a_detection_member_to_coordinator_waits_and_a_rejection_leaves_it_as_it_was(
        app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    raised = edit(admin, ctx, "salud.rm@demo.cl", role="coordinador")

    assert raised.status_code == 303
    assert any("quedó como solicitud" in f for f in flashes(admin.get(raised.headers["Location"]).text))
    member = account(ctx, "salud.rm@demo.cl")
    assert member.role == "deteccion"
    [grant] = grants_about(ctx, member.id)
    assert grant.changes == {"role": "coordinador"}

    assert decide(signed_in(app, APPROVER), grant, "rechazar", "no_corresponde").status_code == 303
    assert account(ctx, "salud.rm@demo.cl").role == "deteccion"
    assert grants_about(ctx, member.id)[0].state == grants.REJECTED
    assert grants_about(ctx, member.id)[0].reason == "no_corresponde"


def test_moving_an_account_to_the_national_node_waits_for_approval(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    pdi, pav = node_of(ctx, "PDI-BITRAP-CL-RM"), node_of(ctx, "PAV")
    assert edit(admin, ctx, "policia.rm@demo.cl", node_id=str(pav)).status_code == 303
    member = account(ctx, "policia.rm@demo.cl")
    assert member.node_id == pdi  # not moved
    [grant] = grants_about(ctx, member.id)
    assert grant.changes == {"node_id": pav}

    assert decide(signed_in(app, APPROVER), grant).status_code == 303
    assert account(ctx, "policia.rm@demo.cl").node_id == pav


def test_changing_a_coordinators_email_to_her_own_opens_no_account(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    before = account(ctx, "coordinador.rm@demo.cl")
    assert edit(admin, ctx, "coordinador.rm@demo.cl", email="la.administradora@correo.cl").status_code == 303

    # A password reset asked for her address finds no account: the e-mail has not changed.
    ctx.session.expire_all()
    assert ctx.session.scalar(select(User).where(User.email == "la.administradora@correo.cl")) is None
    assert account(ctx, "coordinador.rm@demo.cl").id == before.id
    [grant] = grants_about(ctx, before.id)
    assert grant.changes == {"email": True} and grant.new_email == "la.administradora@correo.cl"
    listed = signed_in(app, APPROVER).get(APPROVALS)
    assert "la.administradora@correo.cl" in listed.text  # the approver sees where the account would go

    reset_token = tokens.issue(ctx.session, before, tokens.RESET, app.config["CLOCK"]())
    ctx.session.commit()
    assert decide(signed_in(app, APPROVER), grant).status_code == 303
    moved = account(ctx, "la.administradora@correo.cl")
    assert moved.id == before.id
    # once approved, links sent to the old address stop working
    assert tokens.peek(ctx.session, reset_token, tokens.RESET, app.config["CLOCK"]()) is None


def test_the_proposer_never_approves_her_own_request(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    assert edit(admin, ctx, "ong@demo.cl", role="coordinador").status_code == 303
    [grant] = grants_about(ctx, account(ctx, "ong@demo.cl").id)
    token = admin.get("/administracion/nodos/solicitudes").text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = admin.post(f"{APPROVALS}/{grant.id}", data={"csrf_token": token, "decision": "aprobar",
                                                          "reason": "funciones_verificadas"})
    assert refused.status_code == 403  # administrators hold no approve_access
    # Nor would an approver who proposed it herself (the service, whoever the proposer is):
    nat = account(ctx, f"{APPROVER}@demo.cl")
    own = grants.propose(ctx, nat, account(ctx, "gestor.ta@demo.cl"), {"role": "coordinador"})
    ctx.session.commit()
    with pytest.raises(grants.OwnRequest):
        grants.decide(ctx, nat, own.id, approve=True, reason="funciones_verificadas")
    ctx.session.rollback()
    assert account(ctx, "ong@demo.cl").role == "deteccion" and account(ctx, "gestor.ta@demo.cl").role == "gestor"
    assert {g.state for g in grants_about(ctx, own.user_id)} == {grants.PENDING}


def test_an_administrator_cannot_change_her_own_role_node_email_or_activation(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    me = account(ctx, "administrador@demo.cl")
    for change in ({"role": "coordinador"}, {"node_id": str(node_of(ctx, "CAVD-CL-RM"))},
                   {"email": "otra@correo.cl"}, {"active": False}):
        refused = edit(admin, ctx, "administrador@demo.cl", **change)
        assert refused.status_code == 400, change
        assert any("de su propia cuenta" in e for e in errors_in(refused.text)), change
    with pytest.raises(InvalidValues):
        update_member(ctx, me, me.node_id, me.id, role="coordinador", manages_node=False, active=True)
    ctx.session.rollback()
    after = account(ctx, "administrador@demo.cl")
    assert (after.role, after.node_id, after.email, after.active) == ("administrador", me.node_id,
                                                                      "administrador@demo.cl", True)
    assert grants_about(ctx, me.id) == []


def test_an_approver_cannot_approve_a_request_about_herself(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    assert edit(admin, ctx, f"{APPROVER}@demo.cl", email="otra.direccion@correo.cl").status_code == 303
    nat = account(ctx, f"{APPROVER}@demo.cl")
    [grant] = grants_about(ctx, nat.id)
    approver = signed_in(app, APPROVER)
    assert "la decide otra persona" in approver.get(APPROVALS).text  # no buttons for it

    refused = decide(approver, grant)

    assert refused.status_code == 403
    assert account(ctx, f"{APPROVER}@demo.cl").email == f"{APPROVER}@demo.cl"
    assert grants_about(ctx, nat.id)[0].state == grants.PENDING


@both_backends
def test_a_double_clicked_approval_acts_once(app: Any, ctx: Context, directory: None) -> None:
    admin = signed_in(app, "administrador")
    assert create(admin, ctx, "CAVD-CL-TA", email="nueva.gestora@demo.cl", display_name="Nueva gestora",
                  role="gestor").status_code == 201
    [grant] = grants_about(ctx, account(ctx, "nueva.gestora@demo.cl").id)
    clients = [signed_in(app, APPROVER), signed_in(app, APPROVER)]
    pressed = threading.Barrier(2, timeout=20)
    answers: dict[int, Any] = {}

    def press(index: int) -> None:
        pressed.wait()
        answers[index] = decide(clients[index], grant)

    threads = [threading.Thread(target=press, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(a.status_code for a in answers.values()) == [200, 409]
    assert sum(LINK.search(a.text) is not None for a in answers.values()) == 1  # one link, one token
    member = account(ctx, "nueva.gestora@demo.cl")
    assert ctx.session.scalar(select(func.count()).select_from(AccountToken)
                              .where(AccountToken.user_id == member.id)) == 1
    assert member.active and grants_about(ctx, member.id)[0].state == grants.APPROVED


def test_an_expired_request_is_never_applied(app: Any, ctx: Context, clock: Any) -> None:
    admin = signed_in(app, "administrador")
    assert edit(admin, ctx, "gestor.rm@demo.cl", role="coordinador").status_code == 303
    [grant] = grants_about(ctx, account(ctx, "gestor.rm@demo.cl").id)
    clock.advance(days=7, seconds=1)

    late = decide(signed_in(app, APPROVER), grant)

    assert late.status_code == 409
    assert account(ctx, "gestor.rm@demo.cl").role == "gestor"
    assert grants_about(ctx, grant.user_id)[0].state == grants.EXPIRED
    assert "Caducada" in admin.get("/administracion/nodos/solicitudes").text


def test_reactivating_a_case_reading_account_is_a_request_and_deactivating_acts_at_once(
        app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    assert edit(admin, ctx, "migraciones@demo.cl", active=False).status_code == 303
    assert account(ctx, "migraciones@demo.cl").active is False  # at once
    assert edit(admin, ctx, "migraciones@demo.cl", active="y").status_code == 303
    member = account(ctx, "migraciones@demo.cl")
    assert member.active is False
    [grant] = grants_about(ctx, member.id)
    assert grant.changes == {"active": True}

    # while it waits, nothing else changes the account but a deactivation
    waiting = edit(admin, ctx, "migraciones@demo.cl", role="gestor")
    assert waiting.status_code == 400 and any("solicitud de acceso pendiente" in e for e in errors_in(waiting.text))

    assert decide(signed_in(app, APPROVER), grant).status_code == 303
    assert account(ctx, "migraciones@demo.cl").active is True


def test_a_coordinator_of_another_node_holds_no_approval_power(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    assert edit(admin, ctx, "ong@demo.cl", role="coordinador").status_code == 303
    [grant] = grants_about(ctx, account(ctx, "ong@demo.cl").id)
    focal = signed_in(app, "coordinador.rm")  # a coordinator, but CAVD-CL-RM holds no national coordination
    assert focal.get(APPROVALS).status_code == 403
    assert focal.post(f"{APPROVALS}/{grant.id}", data={"decision": "aprobar"}).status_code in (400, 403)
    assert account(ctx, "ong@demo.cl").role == "deteccion"


def test_the_node_managers_are_told_of_requests_and_decisions(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    # policia.rm would move into CAVD-CL-RM, whose data gestor.rm keeps
    assert edit(admin, ctx, "policia.rm@demo.cl", node_id=str(node_of(ctx, "CAVD-CL-RM"))).status_code == 303
    manager = signed_in(app, "gestor.rm")
    told = manager.get("/mi-nodo").text
    assert "Se solicitó un cambio de acceso de" in told
    [grant] = grants_about(ctx, account(ctx, "policia.rm@demo.cl").id)
    assert decide(signed_in(app, APPROVER), grant, "rechazar", "sin_verificar").status_code == 303
    assert "Se rechazó el cambio de acceso de" in manager.get("/mi-nodo").text


def test_the_approver_sees_the_pending_count_in_the_navigation(app: Any, ctx: Context) -> None:
    admin = signed_in(app, "administrador")
    assert edit(admin, ctx, "ong@demo.cl", role="gestor").status_code == 303
    page = signed_in(app, APPROVER).get("/protocolo").text
    assert f'href="{APPROVALS}"' in page
    assert f'href="{APPROVALS}"' not in signed_in(app, "coordinador.rm").get("/protocolo").text


@both_backends
def test_two_proposals_about_one_account_sent_at_once_leave_one_pending_request(
        app: Any, ctx: Context, directory: None) -> None:
    admin, ong = account(ctx, "administrador@demo.cl"), account(ctx, "ong@demo.cl")
    grants.propose(ctx, admin, ong, {"role": "coordinador"})
    ctx.session.commit()
    # the second proposal passed its check before the first was committed (update_member refuses it otherwise)
    with pytest.raises(IntegrityError):
        grants.propose(ctx, admin, ong, {"role": "gestor"})
    ctx.session.rollback()
    assert [g.changes for g in grants_about(ctx, ong.id)] == [{"role": "coordinador"}]

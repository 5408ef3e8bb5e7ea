"""The person responsible for a case within a node (issue 16 item 4): who may name her, who may be named,
«Tomar el caso», reassignment with a reason code, «Mis casos», the audit event, the case page's block, a
double click, and reminders that reach her before the rest of her node. Real database, real vault.

A Metropolitana case filed by salud.rm has MINSAL-CL-RM (nodo_detector; salud.rm), CAVD-CL-RM (punto_focal;
coordinador.rm, and gestor.rm who manages the node) and PAV (coordinacion_nacional) from the start.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral.audit.models import AuditEvent
from referral.auth.models import User
from referral.cases.assignment import AUDIT_EVENT, assign, current_assignment
from referral.kernel.errors import AccessDenied, InvalidInput, StaleCase
from referral.cases.inbox import my_cases_page, responsible_cases_page
from referral.kernel.models import CaseAssignment
from referral.demo.network import DEMO_PASSWORD

from .backends import both_backends
from .browser import Browser, hidden_inputs
from .clocks import notified, tick
from .factories import VICTIM_GIVEN, VICTIM_SURNAMES
from .steps import case_id, case_version, file_case, node_id, user
from .units import unit_of_work

UTC = dt.UTC


def give(app: Flask, by: str, reference: str, to: str | int, reason: str | None = None,
         version: int | None = None) -> None:
    """`by` makes `to` (a demo name or a user id) responsible at her node, as the view calls the service."""
    expected = case_version(app, reference) if version is None else version
    with unit_of_work(app) as ctx:
        assignee = to if isinstance(to, int) else user(ctx, to).id
        assign(ctx, user(ctx, by), reference, assignee, reason, expected)
        ctx.session.commit()


def responsible(app: Flask, reference: str, node: str) -> str | None:
    with unit_of_work(app) as ctx:
        row = current_assignment(ctx, case_id(app, reference), node_id(app, node))
        return None if row is None else ctx.session.get(User, row.user_id).email.removesuffix("@demo.cl")


def triage_notes(app: Flask, reference: str) -> list[tuple[str, str, str, int, int, int]]:
    return [note for note in notified(app, reference) if note[1] == "triaje"]


def rows(app: Flask) -> int:
    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(CaseAssignment)))


def add_user(app: Flask, name: str, node: str, role: str, *, active: bool = True) -> int:
    """A staff account more (SQLite tests only: PostgreSQL keeps its users from one test to the next)."""
    with unit_of_work(app) as ctx:
        person = User(email=f"{name}@demo.cl", display_name=name, password_hash="x", role=role,
                      node_id=node_id(app, node), active=active, manages_node=False)
        ctx.session.add(person)
        ctx.session.commit()
        return person.id


# -- who may name whom ----------------------------------------------------------------------------------------

def test_the_node_manager_assigns_and_reassigns_with_a_reason_and_the_audit_keeps_codes_only(app: Any) -> None:
    reference = file_case(app)
    before = case_version(app, reference)
    give(app, "gestor.rm", reference, "coordinador.rm")
    assert responsible(app, reference, "CAVD-CL-RM") == "coordinador.rm"
    assert case_version(app, reference) == before + 1  # a page opened before is stale
    assert responsible(app, reference, "MINSAL-CL-RM") is None  # per node: the detecting node has none

    with pytest.raises(InvalidInput) as missing:
        give(app, "gestor.rm", reference, "gestor.rm")
    assert set(missing.value.errors) == {"motivo"}
    with pytest.raises(InvalidInput) as unknown:
        give(app, "gestor.rm", reference, "gestor.rm", reason="no_existe")
    assert set(unknown.value.errors) == {"motivo"}
    with pytest.raises(InvalidInput) as same:
        give(app, "gestor.rm", reference, "coordinador.rm", reason="ausencia")
    assert set(same.value.errors) == {"responsable"}
    assert rows(app) == 1

    give(app, "coordinador.rm", reference, "gestor.rm", reason="ausencia")  # a coordinator assigns too
    assert responsible(app, reference, "CAVD-CL-RM") == "gestor.rm"
    with unit_of_work(app) as ctx:
        history = list(ctx.session.scalars(select(CaseAssignment).order_by(CaseAssignment.id)))
        assert [(h.reason, h.ended_at is None) for h in history] == [(None, False), ("ausencia", True)]
        events = list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == AUDIT_EVENT)
                                          .order_by(AuditEvent.seq)))
        gestor, coordinador = user(ctx, "gestor.rm").id, user(ctx, "coordinador.rm").id
    assert [(e.actor_role, e.subject, e.details) for e in events] == [
        ("gestor", str(coordinador), {}), ("coordinador", str(gestor), {"previous": coordinador, "reason": "ausencia"})]
    for event in events:
        text = repr((event.subject, event.details, event.case_pseudonym))
        assert reference not in text and VICTIM_GIVEN not in text and "@" not in text


def test_only_an_active_member_of_the_same_node_who_may_open_cases_can_be_made_responsible(app: Any) -> None:
    reference = file_case(app)
    inactive = add_user(app, "inactiva.cavd", "CAVD-CL-RM", "gestor", active=False)
    auditor = add_user(app, "auditora.cavd", "CAVD-CL-RM", "auditor")
    admin = add_user(app, "admin.cavd", "CAVD-CL-RM", "administrador")
    with unit_of_work(app) as ctx:
        elsewhere = [user(ctx, name).id for name in ("salud.rm", "coordinador.ta", "coordinacion.nacional")]
    for target in (inactive, auditor, admin, *elsewhere, 999_999):
        with pytest.raises(InvalidInput) as refused:
            give(app, "gestor.rm", reference, target)
        assert set(refused.value.errors) == {"responsable"}, target
    assert rows(app) == 0


def test_a_user_acts_only_within_her_own_nodes_participation(app: Any) -> None:
    reference = file_case(app)
    # another region's manager: her node takes no part in the case
    with pytest.raises(AccessDenied):
        give(app, "gestor.ta", reference, "gestor.ta")
    with pytest.raises(AccessDenied):
        give(app, "gestor.ta", reference, "gestor.rm")
    # the detecting node's staff (no manager) may not name the focal point's people, nor someone at her node
    with pytest.raises(AccessDenied):
        give(app, "salud.rm", reference, "gestor.rm")
    colleague = add_user(app, "salud2.rm", "MINSAL-CL-RM", "deteccion")
    with pytest.raises(AccessDenied):
        give(app, "salud.rm", reference, colleague)
    # neither the auditor nor the administrator opens cases at all
    for name in ("auditor", "administrador"):
        with pytest.raises(AccessDenied):
            give(app, name, reference, name)
    assert rows(app) == 0


def test_taking_an_unassigned_case_for_oneself_and_no_one_else_takes_it_after(app: Any) -> None:
    reference = file_case(app)
    colleague = add_user(app, "salud2.rm", "MINSAL-CL-RM", "deteccion")
    give(app, "salud.rm", reference, "salud.rm")  # «Tomar el caso»
    assert responsible(app, reference, "MINSAL-CL-RM") == "salud.rm"
    with pytest.raises(AccessDenied):  # taken: only a manager or coordinator of the node reassigns it
        give(app, "salud2.rm", reference, colleague)
    assert responsible(app, reference, "MINSAL-CL-RM") == "salud.rm"


def test_a_stale_page_assigns_nothing(app: Any) -> None:
    reference = file_case(app)
    old = case_version(app, reference)
    give(app, "gestor.rm", reference, "coordinador.rm", version=old)
    with pytest.raises(StaleCase):
        give(app, "gestor.rm", reference, "gestor.rm", reason="ausencia", version=old)
    assert responsible(app, reference, "CAVD-CL-RM") == "coordinador.rm" and rows(app) == 1


# -- «Mis casos» ----------------------------------------------------------------------------------------------

def test_mis_casos_lists_the_cases_she_is_responsible_for_and_the_node_list_stays(app: Any) -> None:
    mine, other = file_case(app), file_case(app)
    give(app, "gestor.rm", mine, "gestor.rm")
    give(app, "gestor.rm", other, "coordinador.rm")
    with unit_of_work(app) as ctx:
        gestor, coordinador = user(ctx, "gestor.rm"), user(ctx, "coordinador.rm")
        assert [r.reference for r in responsible_cases_page(ctx, gestor, "es").rows] == [mine]
        assert [r.reference for r in responsible_cases_page(ctx, coordinador, "es").rows] == [other]
        assert responsible_cases_page(ctx, user(ctx, "salud.rm"), "es").rows == ()
        assert {r.reference for r in my_cases_page(ctx, gestor, "es").rows} == {mine, other}


# -- the pages ------------------------------------------------------------------------------------------------

def test_the_case_page_shows_the_responsable_and_assigns_once_on_a_double_click(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        coordinador = user(ctx, "coordinador.rm").id
    manager = Browser(app, DEMO_PASSWORD)
    manager.login("gestor.rm")
    page = manager.get(f"/casos/{reference}")
    assert "Responsable:" in page.text and "sin asignar" in page.text and "Tomar el caso" in page.text
    assert f'<option value="{coordinador}"' in page.text
    version = manager.case_version(reference)
    data = {"csrf_token": hidden_inputs(page.text)["csrf_token"], "case_version": version,
            "responsable": str(coordinador)}
    first = manager.client.post(f"/casos/{reference}/responsable", data=data)
    assert first.status_code == 303 and first.location.endswith(f"/casos/{reference}")
    again = manager.client.post(f"/casos/{reference}/responsable", data=data)  # the second click
    assert again.status_code == 409
    assert rows(app) == 1
    shown = manager.get(f"/casos/{reference}").text
    assert re.search(r"Responsable:\s*<strong>Coordinación CAVD", shown) and "Motivo del cambio" in shown

    taken = Browser(app, DEMO_PASSWORD)
    taken.login("coordinador.rm")
    assert "(usted)" in taken.get(f"/casos/{reference}").text
    listed = taken.get("/mis-casos")
    assert listed.status_code == 200 and reference in listed.text and VICTIM_SURNAMES.split()[0] in listed.text
    # the page's text filter posts to «Mis casos» itself, like every worklist (never in the URL)
    assert re.search(r'<form method="post" action="/mis-casos"', listed.text)
    assert reference in taken.post("/mis-casos", {"texto": VICTIM_SURNAMES.split()[0].lower()}).text
    assert reference not in taken.post("/mis-casos", {"texto": "nadie-con-este-nombre"}).text


def test_a_forged_post_naming_another_nodes_user_or_a_stranger_case_changes_nothing(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        outsider = user(ctx, "salud.rm").id
    manager = Browser(app, DEMO_PASSWORD)
    manager.login("gestor.rm")
    version = manager.case_version(reference)
    answer = manager.post(f"/casos/{reference}/responsable", {"case_version": version, "responsable": str(outsider)})
    assert answer.status_code == 400 and "Elija a una persona activa de su nodo" in answer.text
    assert manager.post(f"/casos/{reference}/responsable",
                        {"case_version": version, "responsable": "abc"}).status_code == 400
    stranger = Browser(app, DEMO_PASSWORD)
    stranger.login("gestor.ta")
    with unit_of_work(app) as ctx:
        own = user(ctx, "gestor.ta").id
    assert stranger.post(f"/casos/{reference}/responsable",
                         {"case_version": version, "responsable": str(own)}).status_code == 403
    assert rows(app) == 0


# -- reminders reach the responsible person first ---------------------------------------------------------------

@both_backends
def test_a_reminder_goes_to_the_responsible_person_alone_and_the_deadline_to_her_and_her_node(app: Any) -> None:
    reference = file_case(app)  # triage: reminder at 9:00 the next day, due at 15:00, escalation a day later
    give(app, "gestor.rm", reference, "gestor.rm")
    tick(app, dt.datetime(2026, 11, 19, 9, 0, tzinfo=UTC))
    assert triage_notes(app, reference) == [("gestor.rm", "triaje", "reminder", 1, 0, 0)]
    tick(app, dt.datetime(2026, 11, 19, 15, 0, tzinfo=UTC))
    assert triage_notes(app, reference) == sorted([
        ("gestor.rm", "triaje", "reminder", 1, 0, 0),
        ("coordinador.rm", "triaje", "due", 1, 1, 0), ("gestor.rm", "triaje", "due", 1, 1, 0)])


def test_a_responsible_person_who_may_no_longer_open_cases_leaves_the_node_told_as_a_whole(app: Any) -> None:
    reference = file_case(app)
    give(app, "gestor.rm", reference, "gestor.rm")
    with unit_of_work(app) as ctx:
        user(ctx, "gestor.rm").active = False
        ctx.session.commit()
    tick(app, dt.datetime(2026, 11, 19, 9, 0, tzinfo=UTC))
    assert triage_notes(app, reference) == [("coordinador.rm", "triaje", "reminder", 1, 0, 0)]


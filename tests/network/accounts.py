"""Steps of the account-administration tests, as the people would take them in a browser."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from referral.auth.models import User
from referral.context import Context
from referral.demo.network import DEMO_PASSWORD
from referral.network.models import AccessGrant, Node

from ..browser import Browser, hidden_inputs
from .pages import post_form

APPROVER = "coordinacion.nacional"  # a coordinator of PAV, which holds national coordination in the demo
APPROVALS = "/administracion/solicitudes-acceso"
LINK = re.compile(r'<code class="link">(\S+)</code>')


def signed_in(app: Any, name: str) -> Any:
    browser = Browser(app, DEMO_PASSWORD)
    assert browser.login(name).status_code == 302, name
    return browser.client


def account(ctx: Context, email: str) -> User:
    ctx.session.expire_all()
    found = ctx.session.scalar(select(User).where(User.email == email))
    assert found is not None, email
    return found


def node_of(ctx: Context, code: str) -> int:
    found = ctx.session.scalar(select(Node.id).where(Node.code == code))
    assert found is not None, code
    return found


def grants_about(ctx: Context, user_id: int) -> list[AccessGrant]:
    ctx.session.expire_all()
    return list(ctx.session.scalars(select(AccessGrant).where(AccessGrant.user_id == user_id)
                                    .order_by(AccessGrant.proposed_at)))


def create(client: Any, ctx: Context, node: str, **fields: str) -> Any:
    url = f"/administracion/nodos/{node_of(ctx, node)}/miembros"
    return post_form(client, url, {"active": "y", **fields})


def edit(client: Any, ctx: Context, who: str, **changes: Any) -> Any:
    member = account(ctx, who)
    return post_form(client, f"/administracion/nodos/{member.node_id}/miembros/{member.id}", changes)


def decide(client: Any, grant: AccessGrant, decision: str = "aprobar", reason: str = "funciones_verificadas") -> Any:
    """Press a button of the approver's page (with that page's CSRF token)."""
    token = hidden_inputs(client.get(APPROVALS).text)["csrf_token"]
    return client.post(f"{APPROVALS}/{grant.id}", data={"csrf_token": token, "decision": decision, "reason": reason})

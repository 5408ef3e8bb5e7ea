"""`flask users create`: the first accounts of a deployment come from the server's command line, without
a password; the person sets hers through the printed one-time link. Audited like any account creation."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.auth.models import User
from referral.demo.network import DEMO_PASSWORD

from ..browser import Browser
from ..units import unit_of_work
from .test_credentials import NEW, choose

LINK = re.compile(r"(http\S+/cuenta/activar/\S+)")


def create(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["users", "create", *args])


def test_the_first_administrator_is_made_from_the_command_line_and_sets_her_own_password(app: Any) -> None:
    result = create(app, "primera.admin@example.cl", "--name", "Primera Administradora", "--node", "pav",
                    "--role", "administrador")
    assert result.exit_code == 0, result.output
    link = LINK.search(result.output)
    assert link is not None and link.group(1).startswith(app.config["BASE_URL"])
    with unit_of_work(app) as ctx:
        user = ctx.session.scalar(select(User).where(User.email == "primera.admin@example.cl"))
        assert user is not None and user.active and user.role == "administrador" and user.password_hash == "!"
        [event] = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.created")).all()
        assert event.subject == str(user.id) and event.details["via"] == "cli"
        assert "example.cl" not in str(event.details) and "Primera" not in str(event.details)
    browser = Browser(app, DEMO_PASSWORD)
    local = link.group(1).removeprefix(app.config["BASE_URL"])
    assert choose(browser, local).status_code == 302
    signed = browser.client.post("/ingresar", data={**_login_form(browser), "email": "primera.admin@example.cl",
                                                    "password": NEW})
    assert signed.status_code == 302  # on to the second step or home: the password she chose works


def _login_form(browser: Browser) -> dict[str, str]:
    from ..browser import hidden_inputs

    return hidden_inputs(browser.get("/ingresar").text)


def test_bad_values_are_named_and_nothing_is_created(app: Any) -> None:
    cases = [
        (["coordinador.rm@demo.cl", "--name", "X", "--node", "PAV", "--role", "coordinador"], "email"),
        (["nueva@example.cl", "--name", "X", "--node", "NOEXISTE", "--role", "coordinador"], "node"),
        (["nueva@example.cl", "--name", "X", "--node", "PAV", "--role", "jefa"], "role"),
        (["nueva@example.cl", "--name", "Ana\u202eX", "--node", "PAV", "--role", "coordinador"], "display_name"),
        (["no-es-correo", "--name", "X", "--node", "PAV", "--role", "coordinador"], "email"),
    ]
    for args, field in cases:
        result = create(app, *args)
        assert result.exit_code == 1 and f"{field}:" in result.output, (args, result.output)
        assert "Traceback" not in result.output
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(User).where(User.email == "nueva@example.cl")) is None
        assert ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.created")).all() == []

"""`flask users create`: the first accounts of a deployment, from the server's command line.

In the pages, an administrator proposes accounts and a coordinator of national coordination approves
those that read cases (docs/security.md, "Separation of duties"): so the first administrator and the
first approvers must come from here. The account has no password; the command prints its one-time
enrolment link (72 hours), for the operator to pass on to its person, who sets her own password.
"""

from __future__ import annotations

import click
from flask import current_app, url_for
from flask.cli import AppGroup

from ..network.editing import InvalidValues, bootstrap_account
from ..units import unit_of_work

users_cli = AppGroup("users", help="Accounts made from the command line (the first ones of a deployment).")


@users_cli.command("create")
@click.argument("email")
@click.option("--name", "display_name", required=True, help="The person's name as colleagues see it.")
@click.option("--node", "node_code", required=True, help="The code of her node in the directory (a code of the node directory).")
@click.option("--role", required=True, help="A role of the workflow (e.g. administrador, coordinador).")
@click.option("--manager", is_flag=True, help="She keeps her node's services, places and contacts.")
def create_user(email: str, display_name: str, node_code: str, role: str, manager: bool) -> None:
    """Create an account without a password and print its one-time enrolment link."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with unit_of_work(app) as ctx:
        try:
            made = bootstrap_account(ctx, email=email, display_name=display_name, node_code=node_code, role=role,
                                     manages_node=manager)
        except InvalidValues as error:
            for field, messages in error.errors.items():
                for message in messages:
                    click.echo(f"{field}: {message.es} ({message.en})", err=True)
            raise click.exceptions.Exit(1) from None
        ctx.session.commit()
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        link = url_for("auth.enrol", token=made.enrolment_token, _external=True)
    click.echo(f"Cuenta creada (account created): {made.user.id}")
    click.echo(f"Enlace de activación, válido 72 horas, para su titular (enrolment link, 72 hours): {link}")

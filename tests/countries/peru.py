"""Peru's application for tests: `create_app` with WORKFLOW=peru on a fresh database, its directory and demo
accounts loaded by the demo machinery (workflows/peru/demo.py, no cases), and a browser for its accounts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from referral import create_app
from referral.demo.loader import load_demo
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.migrate import upgrade
from referral.network.models import Node

from ..browser import Browser, complete_sign_in, form_inputs, hidden_inputs
from ..browser import authenticator_code
from ..conftest import PG_ADMIN_URL, Clock, _settings

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "demo.pe"  # workflows/peru/demo.py


def peru_app(backend: str, folder: Path, clock: Clock) -> Iterator[Any]:
    """An application running Peru on a database of its own (SQLite file, or a new PostgreSQL database)."""
    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'peru.db'}"
    else:
        name = f"referral_peru_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = create_app({**_settings(folder / "instance", url, clock),
                      "WORKFLOWS_DIR": str(ROOT / "workflows"), "WORKFLOW": "peru"})
    try:
        upgrade(database.engine(app))
        load_demo(app, cases=0, seed=1, progress=lambda _line: None)
        yield app
    finally:
        database.engine(app).dispose()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


class PeruBrowser(Browser):
    """tests/browser.py's Browser for the accounts of Peru's demo (`<name>@demo.pe`)."""

    def __init__(self, app: Any):
        super().__init__(app, DEMO_PASSWORD)

    def login(self, name: str, password: str | None = None, *, second_step: bool = True) -> Any:
        page = self.client.get("/ingresar")
        email = f"{name}@{DOMAIN}"
        answer = self.client.post("/ingresar", data={**hidden_inputs(page.text), "email": email,
                                                     "password": password or self.password})
        return complete_sign_in(self.app, self.client, email, answer) if second_step else answer

    def confirm(self, name: str, password: str | None = None) -> Any:
        page = self.client.get("/cuenta/confirmar")
        return self.client.post("/cuenta/confirmar", data={
            **form_inputs(page.text, "/cuenta/confirmar"), "password": password or self.password,
            "code": authenticator_code(self.app, f"{name}@{DOMAIN}") or ""})


def node_id(app: Any, code: str) -> int:
    with app.app_context():
        found = database.session().scalar(select(Node.id).where(Node.code == code))
    assert found is not None, code
    return int(found)

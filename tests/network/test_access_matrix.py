"""Who reaches each page of the node directory: every route × every demo role.

Administrators (the `manage_network` capability of their role) keep the directory and propose access
changes, which a coordinator of national coordination (`approve_access`, held there) decides; a node's manager
(`manages_node`, whatever their role: gestor.rm and gestor.sernameg in the demo) reaches «Mi nodo»
only. As in tests/test_authorization.py the world is one module-scoped database the matrix never
changes: every POST carries a valid CSRF token and a form no page accepts (`capacity_total=x`, no
file, no role), so a permitted POST answers 400 and a refused one 401/403.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral import create_app
from referral.auth.models import User
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.network.csvio import export_text
from referral.network.grants import PENDING, propose
from referral.network.models import AccessGrant, Node

from ..browser import Browser, hidden_inputs
from ..matrix import Cell, cell_id, parse
from ..conftest import Clock, _settings
from ..units import unit_of_work

ANON = "anonymous"
# The columns of the matrix: the demo users of tests/test_authorization.py.
#   det salud.rm (deteccion)  foc coordinador.rm  fgst gestor.rm (manages CAVD-CL-RM)  nat coordinacion.nacional
#   lead gestor.sernameg (manages SERNAMEG)  mig migraciones  crTA coordinador.ta  gsTA gestor.ta (manages CAVD-CL-TA)
#   ong  pol policia.rm  aud auditor  adm administrador (manage_network)
USERS = ("anonymous", "salud.rm", "coordinador.rm", "gestor.rm", "coordinacion.nacional", "gestor.sernameg",
         "migraciones", "coordinador.ta", "gestor.ta", "ong", "policia.rm", "auditor", "administrador")

# {node}: SERNAMEG; {member}: gestor.sernameg (a member of it); {stranger}: coordinador.rm (of another node);
# {grant}: a pending request to raise ong to coordinador (the matrix's POSTs decide nothing: no decision sent).
MATRIX = """
# method path                                        anon det  foc  fgst nat  lead mig  crTA gsTA ong  pol  aud  adm
  GET  /administracion/nodos                         302  403  403  403  403  403  403  403  403  403  403  403  200
  GET  /administracion/nodos?region=CL-TA&activo=si  302  403  403  403  403  403  403  403  403  403  403  403  200
  GET  /administracion/nodos?region=CL-XX            302  403  403  403  403  403  403  403  403  403  403  403  400
  POST /administracion/nodos                         405  405  405  405  405  405  405  405  405  405  405  405  405
  GET  /administracion/nodos/nuevo                   302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/nuevo                   401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /administracion/nodos/{node}                  302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/{node}                  401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /administracion/nodos/999999                  302  403  403  403  403  403  403  403  403  403  403  403  404
  POST /administracion/nodos/999999                  401  403  403  403  403  403  403  403  403  403  403  403  404
  GET  /administracion/nodos/{node}/miembros         302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/{node}/miembros         401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /administracion/nodos/999999/miembros         302  403  403  403  403  403  403  403  403  403  403  403  404
  GET  /administracion/nodos/{node}/miembros/{member}   302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/{node}/miembros/{member}   401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /administracion/nodos/{node}/miembros/{stranger} 302  403  403  403  403  403  403  403  403  403  403  403  404
  POST /administracion/nodos/{node}/miembros/{stranger} 401  403  403  403  403  403  403  403  403  403  403  403  404
  GET  /administracion/nodos/exportar                302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/exportar                405  405  405  405  405  405  405  405  405  405  405  405  405
  GET  /administracion/nodos/importar                302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/importar                401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /mi-nodo                                      302  403  403  200  403  200  403  403  200  403  403  403  403
  POST /mi-nodo                                      401  403  403  400  403  400  403  403  400  403  403  403  403
# access requests: the administrators follow them; a coordinator of national coordination decides them
  GET  /administracion/nodos/solicitudes             302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/solicitudes             405  405  405  405  405  405  405  405  405  405  405  405  405
  GET  /administracion/solicitudes-acceso            302  403  403  403  200  403  403  403  403  403  403  403  403
  POST /administracion/solicitudes-acceso            405  405  405  405  405  405  405  405  405  405  405  405  405
  GET  /administracion/solicitudes-acceso/{grant}    405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /administracion/solicitudes-acceso/{grant}    401  403  403  403  400  403  403  403  403  403  403  403  403
"""
BAD_FORM = {"capacity_total": "x"}




CELLS = parse(MATRIX, USERS)


class Client:
    def __init__(self, app: Flask, name: str):
        browser = Browser(app, DEMO_PASSWORD)
        self.http = browser.client
        if name != ANON:
            assert browser.login(name).status_code == 302, name
        self.token = hidden_inputs(self.http.get("/ingresar" if name == ANON else "/notificaciones").text)["csrf_token"]

    def request(self, method: str, path: str) -> Any:
        if method == "GET":
            return self.http.get(path)
        return self.http.post(path, data={"csrf_token": self.token, **BAD_FORM})


@dataclass
class World:
    app: Flask
    places: dict[str, str]
    before: str  # the directory's export before any request
    users: int
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, name: str) -> Client:
        if name not in self.clients:
            self.clients[name] = Client(self.app, name)
        return self.clients[name]


def build_places(app: Flask) -> dict[str, str]:
    """The values of the matrix's {placeholders}; proposes the pending {grant}. Also tests/test_fuzz_forms.py's."""
    with unit_of_work(app) as ctx:
        ids = {"node": ctx.session.scalar(select(Node.id).where(Node.code == "SERNAMEG")),
               "member": ctx.session.scalar(select(User.id).where(User.email == "gestor.sernameg@demo.cl")),
               "stranger": ctx.session.scalar(select(User.id).where(User.email == "coordinador.rm@demo.cl"))}
        admin = ctx.session.scalar(select(User).where(User.email == "administrador@demo.cl"))
        ong = ctx.session.scalar(select(User).where(User.email == "ong@demo.cl"))
        ids["grant"] = propose(ctx, admin, ong, {"role": "coordinador"}).id
        ctx.session.commit()
    return {k: str(v) for k, v in ids.items()}


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("directory_access")
    shutil.copy(sqlite_template, folder / "world.db")
    app = create_app(_settings(folder / "instance", f"sqlite:///{folder / 'world.db'}", Clock()))
    places = build_places(app)
    with unit_of_work(app) as ctx:
        before = export_text(ctx.session)
        users = ctx.session.scalar(select(func.count()).select_from(User))
    yield World(app, places, before, users)
    database.engine(app).dispose()


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_directory_route_matrix(world: World, cell: Cell) -> None:
    response = world.client(cell.user).request(cell.method, cell.path.format(**world.places))
    assert response.status_code == cell.status, f"{cell_id(cell)}: {response.status_code}"
    if cell.status == 302:
        assert response.headers["Location"].startswith("/ingresar?next="), response.headers["Location"]
    if cell.status == 403:
        assert "contacto." not in response.text and "Cupos" not in response.text


def test_the_matrix_changed_nothing(world: World) -> None:
    for cell in CELLS:  # whatever order the tests ran in, every request has been made once now
        world.client(cell.user).request(cell.method, cell.path.format(**world.places))
    with unit_of_work(world.app) as ctx:
        assert export_text(ctx.session) == world.before
        assert ctx.session.scalar(select(func.count()).select_from(User)) == world.users
        assert ctx.session.scalar(select(AccessGrant.state)) == PENDING  # decided by nobody
        assert ctx.session.scalar(select(User.role).where(User.email == "ong@demo.cl")) == "deteccion"


def test_every_route_of_the_directory_is_in_the_matrix(world: World) -> None:
    routes = {(method, rule.rule) for rule in world.app.url_map.iter_rules() if rule.endpoint.startswith("network.")
              for method in rule.methods or () if method in ("GET", "POST")}
    placeholders = {"<int:node_id>": "{node}", "<int:user_id>": "{member}", "<uuid:grant_id>": "{grant}"}
    covered = {(c.method, c.path.split("?")[0]) for c in CELLS}
    for method, rule in routes:
        path = rule
        for placeholder, name in placeholders.items():
            path = path.replace(placeholder, name)
        assert (method, path) in covered, (method, rule)

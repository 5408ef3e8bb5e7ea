"""Authorisation of the auditors' pages: every route of the `stats` blueprint × the demo's roles.

Like tests/referrals/test_referral_authorization.py, the matrix runs against one shared "world" (a
module-scoped database) that it does not change. Only the `audit` capability (role auditor) opens the
statistics, the dashboard and the anonymised timelines; the auditor in turn opens no personal page.

The world (Metropolitana, filed by salud.rm): {main} activated with SERNAMEG as lead node, a consent and
a referral {live} to PDI-BITRAP-CL-RM; {open} only detected. {name} is {main}'s name for the auditor's
node (SERMIG, which holds the Mesa's technical secretariat); {other_scope} is its name for another node (PAV), {forged} a well-formed name of no case.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral import create_app
from referral.audit.models import AuditEvent
from referral.audit.service import pseudonym
from referral.extensions import database
from referral.stats.models import CaseStat, CaseStatStep
from referral.stats.pseudonyms import scoped

from ..conftest import Clock, _settings
from .. import matrix
from ..matrix import ANON, Cell, cell_id, parse
from ..referrals import consent, refer
from ..steps import activate, case_id, file_case, node_id
from ..units import unit_of_work

#   anon  anonymous       no session
#   foc   coordinador.rm  coordinador   CAVD-CL-RM
#   det   salud.rm        deteccion     MINSAL-CL-RM
#   gst   gestor.rm       gestor        CAVD-CL-RM
#   mig   migraciones     migraciones   SERMIG
#   adm   administrador   administrador PAV
#   aud   auditor         auditor       SERMIG        capability audit
USERS = (ANON, "coordinador.rm", "salud.rm", "gestor.rm", "migraciones", "administrador", "auditor")
FORGED = "a" * 26  # base32 of 16 bytes: well formed, but its plain text fails the zero check


def build_world(app: Flask) -> dict[str, str]:
    main = file_case(app)
    activate(app, main)
    consent(app, main)
    live = refer(app, main, "PDI-BITRAP-CL-RM", service="proteccion_policial")
    other = file_case(app)
    auditors, pav = node_id(app, "SERMIG"), node_id(app, "PAV")
    with unit_of_work(app) as ctx:
        log_name = pseudonym(ctx, case_id(app, main))
        name, other_scope = scoped(ctx, auditors, log_name), scoped(ctx, pav, log_name)
    return {"main": main, "open": other, "live": str(live), "name": name, "other_scope": other_scope,
            "forged": FORGED}


class World(matrix.World):
    def snapshot(self) -> tuple[Any, ...]:
        """The projection (what a page could wrongly write to); audit events other than exports, reads and
        refusals (every 403 is an `access.denied` event: tests/audit/test_security_events.py)."""
        with unit_of_work(self.app) as ctx:
            stats = tuple(ctx.session.execute(select(CaseStat.case_id, CaseStat.state, CaseStat.attributes)
                                              .order_by(CaseStat.case_id)).all())
            steps = tuple(ctx.session.execute(select(CaseStatStep.case_id, CaseStatStep.milestone)
                                              .order_by(CaseStatStep.case_id, CaseStatStep.milestone)).all())
            events = tuple(ctx.session.scalars(select(AuditEvent.action).where(
                AuditEvent.action.not_in(("export.audit", "read", "access.denied"))).order_by(AuditEvent.seq)))
        return stats, steps, events


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("stats_authorization")
    shutil.copy(sqlite_template, folder / "world.db")
    app = create_app(_settings(folder / "instance", f"sqlite:///{folder / 'world.db'}", Clock()))
    app.config["TIMELINE_K"] = 2  # two cases in the world: both listed (the default k is tested elsewhere)
    yield World(app, build_world(app))
    database.engine(app).dispose()


# 200 the page or file; 302 anonymous GET -> /ingresar?next=…; 403 no `audit` capability;
# 400 a period off the grid (a day); 404 no case of that name in the auditor's scope; 405 wrong method.
MATRIX = """
# method path                                              anon foc  det  gst  mig  adm  aud
  GET  /auditoria/estadisticas                             302  403  403  403  403  403  200
  GET  /auditoria/estadisticas?formato=csv                 302  403  403  403  403  403  200
  GET  /auditoria/estadisticas?formato=xlsx                302  403  403  403  403  403  200
  GET  /auditoria/estadisticas?region=CL-RM&tipo=sexual    302  403  403  403  403  403  200
  POST /auditoria/estadisticas                             405  405  405  405  405  405  405
  GET  /auditoria/tablero                                  302  403  403  403  403  403  200
  GET  /auditoria/estadisticas?periodo=2026-T4             302  403  403  403  403  403  200
  GET  /auditoria/estadisticas?periodo=2026-06-01          302  403  403  403  403  403  400
  GET  /auditoria/tablero?periodo=2026                     302  403  403  403  403  403  200
  GET  /auditoria/tablero?periodo=                         302  403  403  403  403  403  200
  GET  /auditoria/casos?periodo=2026                       302  403  403  403  403  403  200
  GET  /auditoria/casos?region=CL-RM                       302  403  403  403  403  403  200
  POST /auditoria/tablero                                  405  405  405  405  405  405  405
  GET  /auditoria/informe-anual                            302  403  403  403  403  403  200
  GET  /auditoria/informe-anual?anio=2026                  302  403  403  403  403  403  200
  GET  /auditoria/informe-anual?anio=2026&vista=imprimir   302  403  403  403  403  403  200
  GET  /auditoria/informe-anual?anio=2026&formato=csv      302  403  403  403  403  403  200
  GET  /auditoria/informe-anual?anio=2026&formato=xlsx     302  403  403  403  403  403  200
  GET  /auditoria/informe-anual?anio=2026-06-01            302  403  403  403  403  403  400
  GET  /auditoria/informe-anual?anio=1999                  302  403  403  403  403  403  400
  POST /auditoria/informe-anual                            405  405  405  405  405  405  405
  GET  /auditoria/casos                                    302  403  403  403  403  403  200
  GET  /auditoria/casos?pagina=2                           302  403  403  403  403  403  200
  GET  /auditoria/casos?formato=csv                        302  403  403  403  403  403  200
  GET  /auditoria/casos?formato=xlsx                       302  403  403  403  403  403  200
  POST /auditoria/casos                                    405  405  405  405  405  405  405
  GET  /auditoria/casos/{name}                             302  403  403  403  403  403  200
  GET  /auditoria/casos/{other_scope}                      302  403  403  403  403  403  404
  GET  /auditoria/casos/{forged}                           302  403  403  403  403  403  404
  GET  /auditoria/casos/no-existe                          302  403  403  403  403  403  404
  GET  /auditoria/casos/{main}                             302  403  403  403  403  403  404
  POST /auditoria/casos/{name}                             405  405  405  405  405  405  405
# -- personal pages: the auditor opens none (paths as in tests/test_authorization.py)
  GET  /casos/{main}                                       302  200  200  200  403  403  403
  GET  /casos/{open}                                       302  200  200  200  403  403  403
  GET  /casos/{main}/formularios/ficha                     302  200  200  200  403  403  403
  GET  /casos/{main}/formularios/decision_activacion       302  200  200  200  403  403  403
  GET  /casos                                              302  200  200  200  200  403  403
  GET  /bandeja/triaje                                     302  200  404  404  404  403  403
  GET  /bandeja/informacion_pendiente                      302  200  200  200  404  403  403
  GET  /derivaciones                                       302  200  200  200  200  403  403
  GET  /casos/{main}/derivaciones/{live}                   302  200  200  200  403  403  403
  GET  /fichas/nueva                                       302  200  200  200  403  403  403
"""

CELLS = parse(MATRIX, USERS)
ALLOWED = (200,)
DENIED = (403, 404)


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_route_matrix(world: World, cell: Cell) -> None:
    path = world.url(cell.path)
    response = world.client(cell.user).request(cell.method, path)
    assert response.status_code == cell.status, f"{cell_id(cell)}: {response.status_code}"
    if response.status_code == 302:
        assert cell.user == ANON
        assert response.headers["Location"].startswith("/ingresar?next="), response.headers["Location"]
    if cell.status == 200 and path.startswith("/auditoria/"):
        if "formato=csv" in path:
            assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
        elif "formato=xlsx" in path:
            assert response.mimetype.endswith("spreadsheetml.sheet")
            assert response.data[:2] == b"PK"  # a zip, as every XLSX
        else:
            assert response.mimetype == "text/html"
    if response.status_code in (403, 404) and path.startswith("/auditoria/") and world.values["main"] not in path:
        assert world.values["main"] not in response.text  # (a path is echoed in the language form's `next`)


def test_the_timeline_link_is_the_case_the_auditor_sees_listed(world: World) -> None:
    listed = world.client("auditor").request("GET", "/auditoria/casos").text
    assert f"/auditoria/casos/{world.values['name']}" in listed
    assert world.values["other_scope"] not in listed


def test_the_matrix_changes_nothing(world: World) -> None:
    before = world.snapshot()
    for cell in CELLS:
        world.client(cell.user).request(cell.method, world.url(cell.path))
    assert world.snapshot() == before


def test_the_matrix_covers_every_route_and_method_of_the_blueprint(world: World) -> None:
    adapter = world.app.url_map.bind("localhost")
    declared = {(method, rule.endpoint) for rule in world.app.url_map.iter_rules()
                if rule.endpoint.startswith("stats.") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert len(declared) >= 4, declared  # the blueprint is registered: not vacuously true
    matched: dict[tuple[str, str], set[int]] = {}
    posted: set[str] = set()
    for cell in CELLS:
        if cell.status == 405:
            posted.add(adapter.match(world.url(cell.path).split("?")[0], method="GET")[0])
            continue
        endpoint = adapter.match(world.url(cell.path).split("?")[0], method=cell.method)[0]
        matched.setdefault((cell.method, endpoint), set()).add(cell.status)
    assert declared - set(matched) == set(), "routes of the stats blueprint the matrix does not cover"
    for key in declared:
        assert matched[key] & set(ALLOWED), f"{key}: no user is ever allowed in the matrix"
        assert matched[key] & set(DENIED), f"{key}: no user is ever refused in the matrix"
    # every stats endpoint is also tried with a method it does not take
    assert {endpoint for _, endpoint in declared} <= posted
    # and only the auditor is let in anywhere under /auditoria/estadisticas, /tablero, /casos
    for cell in CELLS:
        if cell.path.startswith("/auditoria/") and cell.status == 200:
            assert cell.user == "auditor", cell_id(cell)

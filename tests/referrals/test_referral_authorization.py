"""Authorisation of the referral network's pages: every route of the `referrals` blueprint × every demo user.

Like tests/test_authorization.py, the matrix runs against one shared "world" (a module-scoped database)
that it never changes: every POST carries a valid CSRF token and nothing else, so a permitted POST answers
400 (nothing to save, or no case version) and a refused one 403/409 — authorisation must be decided before
the form is read. A test at the end checks that the matrix covers every route and method of the blueprint.

The world (all Metropolitana; filed by salud.rm, so MINSAL-CL-RM is the detecting node):

  {main}   activated with SERNAMEG as lead node; a consent «red» ({consent}); two referrals sent by the
           focal point (CAVD-CL-RM): {live}, police protection to PDI-BITRAP-CL-RM, pending; and {ended},
           mental health to LIBERA, which LIBERA refused (so LIBERA no longer takes part in the case)
  {glass}  only detected; coordinador.ta (CAVD-CL-TA, another region) holds an emergency access to it
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral import create_app
from referral.extensions import database
from referral.referrals.emergency import grant
from referral.kernel.referral_models import Consent, Referral

from .. import matrix
from ..matrix import ANON, Cell, Client, cell_id, parse
from ..conftest import Clock, _settings
from ..steps import activate, case_version, file_case, user
from ..units import unit_of_work
from . import answer, consent, refer, state_of

# -- who ------------------------------------------------------------------------------------------
#
#   anon   anonymous              no session
#   det    salud.rm               deteccion     MINSAL-CL-RM      nodo_detector of both cases
#   foc    coordinador.rm         coordinador   CAVD-CL-RM        punto_focal; the sender of {live} and {ended}
#   fgst   gestor.rm              gestor        CAVD-CL-RM        punto_focal (same node as the focal point)
#   nat    coordinacion.nacional  coordinador   PAV               coordinacion_nacional
#   lead   gestor.sernameg        gestor        SERNAMEG          nodo_lider of {main}; outside {glass}
#   live   policia.rm             deteccion     PDI-BITRAP-CL-RM  receiving node of the live referral {live}
#   ended  ong                    deteccion     LIBERA            receiving node of the ended referral {ended}
#   mig    migraciones            migraciones   SERMIG            outside (case_access, but no relation)
#   crTA   coordinador.ta         coordinador   CAVD-CL-TA        outside {main}; emergency access to {glass}
#   aud    auditor                auditor       SERMIG            no case_access; capability audit
#   adm    administrador          administrador PAV               no case_access

USERS = ("anonymous", "salud.rm", "coordinador.rm", "gestor.rm", "coordinacion.nacional", "gestor.sernameg",
         "policia.rm", "ong", "migraciones", "coordinador.ta", "auditor", "administrador")
LEAD_NODE = "SERNAMEG"
NO_CASE = "TP-0000-0000"
NO_ID = "00000000-0000-4000-8000-000000000000"
GLASS_NOTE = "La persona llamó desde Iquique; el CAVD RM no contesta de noche."


# -- the world ------------------------------------------------------------------------------------


def build_world(app: Flask) -> dict[str, str]:
    main = file_case(app)
    activate(app, main, lead=LEAD_NODE)
    consent_id = consent(app, main)
    live = refer(app, main, "PDI-BITRAP-CL-RM", service="proteccion_policial")
    ended = refer(app, main, "LIBERA", service="salud_mental")
    answer(app, main, ended, "rechazar", "ong", reason="fuera_de_competencia")
    assert state_of(app, live) == "pendiente" and state_of(app, ended) == "rechazada"
    glass = file_case(app)
    with unit_of_work(app) as ctx:
        grant(ctx, user(ctx, "coordinador.ta"), glass, reason="traslado_entre_regiones", note=GLASS_NOTE, hours=4)
        ctx.session.commit()
    return {"main": main, "glass": glass, "live": str(live), "ended": str(ended), "consent": str(consent_id),
            "no_case": NO_CASE, "no_id": NO_ID}


class World(matrix.World):
    def snapshot(self) -> tuple[Any, ...]:
        """What a matrix request must never change."""
        with unit_of_work(self.app) as ctx:
            referrals = tuple(ctx.session.execute(
                select(Referral.id, Referral.state, Referral.version).order_by(Referral.id)).all())
            consents = tuple(ctx.session.execute(
                select(Consent.id, Consent.revoked_at).order_by(Consent.id)).all())
        return (case_version(self.app, self.values["main"]), case_version(self.app, self.values["glass"]),
                referrals, consents)


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("referral_authorization")
    shutil.copy(sqlite_template, folder / "world.db")
    app = create_app(_settings(folder / "instance", f"sqlite:///{folder / 'world.db'}", Clock()))
    yield World(app, build_world(app), {})
    database.engine(app).dispose()


# -- the route × user matrix ----------------------------------------------------------------------
#
# 200 the page; 302 anonymous GET -> /ingresar?next=…; 303 a redirect to the referral (an answer its
# state or the user's node does not allow now); 400 a permitted POST of an empty form; 401 an anonymous
# POST; 403 refused (role, or no relation to the case, or not a party to the referral); 404 no such case,
# kind, referral or answer for someone who may open the case; 405 wrong method; 409 not possible now.

MATRIX = """
# method path                                                        anon det  foc  fgst nat  lead live endd mig  crTA aud  adm
# -- refer: find a node and send (coordinators of the focal point / national coordination, the lead node's case worker)
  GET  /casos/{main}/derivar/derivacion                              302  403  200  403  200  200  403  403  403  403  403  403
  GET  /casos/{main}/derivar/derivacion?servicio=alojamiento         302  403  200  403  200  200  403  403  403  403  403  403
  POST /casos/{main}/derivar/derivacion                              401  403  400  403  400  400  403  403  403  403  403  403
  GET  /casos/{main}/derivar/emergencia                              302  403  200  403  200  200  403  403  403  403  403  403
  POST /casos/{main}/derivar/emergencia                              401  403  400  403  400  400  403  403  403  403  403  403
  GET  /casos/{main}/derivar/traspaso                                302  403  200  403  200  200  403  403  403  403  403  403
  POST /casos/{main}/derivar/traspaso                                401  403  400  403  400  400  403  403  403  403  403  403
# -- a child-protection referral does not apply to an adult case; an unknown kind is 404 for those inside
  GET  /casos/{main}/derivar/proteccion_nna                          302  403  409  403  409  409  403  403  403  403  403  403
  GET  /casos/{main}/derivar/no_existe                               302  404  404  404  404  404  404  403  403  403  403  403
  GET  /casos/{no_case}/derivar/derivacion                           302  404  404  404  404  404  404  404  404  404  403  403
# -- before activation (state detectado) only the emergency kinds; the lead node is not in {glass}; an
# -- emergency access reads the case but does not make its holder a sender
  GET  /casos/{glass}/derivar/emergencia                             302  403  200  403  200  403  403  403  403  403  403  403
  GET  /casos/{glass}/derivar/derivacion                             302  403  409  403  409  403  403  403  403  403  403  403
# -- one referral: the case team sees every referral; a node there by referral sees its own only
  GET  /casos/{main}/derivaciones/{live}                             302  200  200  200  200  200  200  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{ended}                            302  200  200  200  200  200  403  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{no_id}                            302  404  404  404  404  404  404  403  403  403  403  403
  GET  /casos/{glass}/derivaciones/{live}                            302  404  404  404  404  403  403  403  403  404  403  403
  POST /casos/{main}/derivaciones/{live}                             405  405  405  405  405  405  405  405  405  405  405  405
# -- answering: the receiving node accepts or refuses; the sender and the coordination revoke
  GET  /casos/{main}/derivaciones/{live}/aceptar                     302  303  303  303  303  303  200  403  403  403  403  403
  POST /casos/{main}/derivaciones/{live}/aceptar                     401  409  409  409  409  409  400  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{live}/rechazar                    302  303  303  303  303  303  200  403  403  403  403  403
  POST /casos/{main}/derivaciones/{live}/rechazar                    401  409  409  409  409  409  400  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{live}/revocar                     302  303  200  200  200  303  303  403  403  403  403  403
  POST /casos/{main}/derivaciones/{live}/revocar                     401  409  400  400  400  409  409  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{live}/cumplir                     302  303  303  303  303  303  303  403  403  403  403  403
  POST /casos/{main}/derivaciones/{live}/no_cumplir                  401  409  409  409  409  409  409  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{live}/no_existe                   302  404  404  404  404  404  404  403  403  403  403  403
  POST /casos/{main}/derivaciones/{live}/no_existe                   401  404  404  404  404  404  404  403  403  403  403  403
# -- an ended referral admits no answer; its receiving node has left the case
  GET  /casos/{main}/derivaciones/{ended}/aceptar                    302  303  303  303  303  303  403  403  403  403  403  403
  POST /casos/{main}/derivaciones/{ended}/revocar                    401  409  409  409  409  409  403  403  403  403  403  403
  GET  /casos/{main}/derivaciones/{no_id}/aceptar                    302  404  404  404  404  404  404  403  403  403  403  403
# -- consent: recorded (and revoked) by the coordination and the lead node only
  GET  /casos/{main}/consentimientos/nuevo                           302  403  200  403  200  200  403  403  403  403  403  403
  POST /casos/{main}/consentimientos/nuevo                           401  403  400  403  400  400  403  403  403  403  403  403
  GET  /casos/{glass}/consentimientos/nuevo                          302  403  200  403  200  403  403  403  403  403  403  403
  GET  /casos/{no_case}/consentimientos/nuevo                        302  404  404  404  404  404  404  404  404  404  403  403
  POST /casos/{main}/consentimientos/{consent}/revocar               401  403  400  403  400  400  403  403  403  403  403  403
  GET  /casos/{main}/consentimientos/{consent}/revocar               405  405  405  405  405  405  405  405  405  405  405  405
# -- emergency access: any coordinator may ask; ending it needs an access of one's own node to end
  GET  /acceso-emergencia                                            302  403  200  403  200  403  403  403  403  200  403  403
  POST /acceso-emergencia                                            401  403  400  403  400  403  403  403  403  400  403  403
  POST /casos/{main}/acceso-emergencia/terminar                      401  403  403  403  403  403  403  403  403  403  403  403
  POST /casos/{no_case}/acceso-emergencia/terminar                   401  404  404  404  404  404  404  404  404  404  403  403
  GET  /casos/{main}/acceso-emergencia/terminar                      405  405  405  405  405  405  405  405  405  405  405  405
# -- my node's referrals: everyone who may open cases; the auditors' exceptions: auditors only
  GET  /derivaciones                                                 302  200  200  200  200  200  200  200  200  200  403  403
  POST /derivaciones                                                 405  405  405  405  405  405  405  405  405  405  405  405
  GET  /auditoria/excepciones                                        302  403  403  403  403  403  403  403  403  403  200  403
  POST /auditoria/excepciones                                        405  405  405  405  405  405  405  405  405  405  405  405
"""

ALLOWED = (200, 303, 400)  # 400: a permitted POST with nothing in it
DENIED = (403, 404, 409)
# Routes whose permitted side would change the shared world: a function-scoped test below exercises it.
ALLOWED_ELSEWHERE = {("POST", "referrals.end_emergency"): "test_the_holder_of_an_emergency_access_ends_it"}




CELLS = parse(MATRIX, USERS)



@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_route_matrix(world: World, cell: Cell) -> None:
    path = world.url(cell.path)
    response = world.client(cell.user).request(cell.method, path)
    assert response.status_code == cell.status, f"{cell_id(cell)}: {response.status_code}"
    if response.status_code in (302, 303):
        location = response.headers["Location"]
        if cell.user == ANON:
            assert location.startswith("/ingresar?next="), location
        else:  # an answer that is not possible now goes back to the referral
            assert location == path.rsplit("/", 1)[0], location


def test_the_matrix_changes_nothing(world: World) -> None:
    """Every request of the matrix, once more in one go: the world is the same afterwards."""
    before = world.snapshot()
    for cell in CELLS:
        world.client(cell.user).request(cell.method, world.url(cell.path))
    assert world.snapshot() == before


def test_the_matrix_covers_every_route_and_method_of_the_blueprint(world: World) -> None:
    adapter = world.app.url_map.bind("localhost")
    declared = {(method, rule.endpoint) for rule in world.app.url_map.iter_rules()
                if rule.endpoint.startswith("referrals.") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert len(declared) >= 12, declared  # the blueprint is registered: not vacuously true
    matched: dict[tuple[str, str], set[int]] = {}
    for cell in CELLS:
        if cell.status == 405:
            continue
        endpoint = adapter.match(world.url(cell.path).split("?")[0], method=cell.method)[0]
        matched.setdefault((cell.method, endpoint), set()).add(cell.status)
    assert declared - set(matched) == set(), "routes of the referrals blueprint the matrix does not cover"
    assert all(name in globals() for name in ALLOWED_ELSEWHERE.values())
    for key in declared:
        statuses = matched[key]
        assert statuses & set(ALLOWED) or key in ALLOWED_ELSEWHERE, f"{key}: no user is ever allowed in the matrix"
        assert statuses & set(DENIED), f"{key}: no user is ever refused in the matrix"


def test_a_post_without_csrf_token_is_refused_before_anything_else(world: World) -> None:
    posts = sorted({cell.path for cell in CELLS if cell.method == "POST" and cell.status != 405})
    for name in (ANON, "coordinador.rm"):
        http = world.client(name).http
        for path in posts:
            response = http.post(world.url(path), data={})
            assert response.status_code == 400, (name, path, response.status_code)
            assert "Formulario vencido o alterado" in response.text


# -- complete, valid POSTs by refused users change nothing -------------------------------------------


class Attempt(NamedTuple):
    url: str  # with {placeholders}
    data: dict[str, str]
    refused: tuple[str, ...]


def _complete_attempts(transfer_to: str, minsal_id: str) -> list[Attempt]:
    return [
        Attempt("/casos/{main}/derivar/derivacion?servicio=salud_fisica",
                {"servicio": "salud_fisica", "to_node": minsal_id, "note": "Control médico."},
                ("salud.rm", "gestor.rm", "policia.rm", "ong", "migraciones", "coordinador.ta")),
        Attempt("/casos/{main}/consentimientos/nuevo",
                {"given_by": "persona", "scope": "red", "given_on": "2026-11-10", "evidence": "firma"},
                ("salud.rm", "gestor.rm", "policia.rm", "ong", "migraciones", "coordinador.ta")),
        Attempt("/casos/{main}/consentimientos/{consent}/revocar", {},
                ("salud.rm", "gestor.rm", "policia.rm", "ong", "migraciones", "coordinador.ta")),
        Attempt("/casos/{main}/derivaciones/{live}/aceptar", {},
                ("salud.rm", "coordinador.rm", "gestor.sernameg", "ong", "migraciones", "coordinador.ta")),
        Attempt("/casos/{main}/derivaciones/{live}/revocar", {"reason": "ya_no_necesaria"},
                ("salud.rm", "gestor.sernameg", "policia.rm", "ong", "migraciones", "coordinador.ta")),
        Attempt("/casos/{main}/derivar/traspaso", {"to_node": transfer_to},
                ("salud.rm", "gestor.rm", "policia.rm", "migraciones", "coordinador.ta")),
        Attempt("/acceso-emergencia", {"reference": "{main}", "reason": "riesgo_vital", "note": "Urgente.",
                                       "hours": "2"},
                ("salud.rm", "gestor.rm", "gestor.sernameg", "policia.rm", "ong", "migraciones")),
    ]


def test_a_complete_post_by_a_refused_user_changes_nothing(world: World) -> None:
    from ..steps import node_id

    transfer_to, minsal_id = str(node_id(world.app, "CAVD-CL-RM")), str(node_id(world.app, "MINSAL-CL-RM"))
    for attempt in _complete_attempts(transfer_to, minsal_id):
        url = world.url(attempt.url)
        for name in attempt.refused:
            before = world.snapshot()
            data = {k: world.url(v) for k, v in attempt.data.items()}
            data["case_version"] = str(case_version(world.app, world.values["main"]))
            response = world.client(name).request("POST", url, data)
            assert response.status_code in (403, 409), (url, name, response.status_code)
            assert world.snapshot() == before, f"{name}'s refused POST to {url} changed the world"


# -- the permitted side of what the matrix cannot do without changing the world ---------------------


def test_the_holder_of_an_emergency_access_ends_it(app: Flask) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        grant(ctx, user(ctx, "coordinador.ta"), reference, reason="riesgo_vital", note="Sin respuesta.", hours=2)
        ctx.session.commit()
    holder, colleague = Client(app, "coordinador.ta"), Client(app, "coordinador.rm")
    assert colleague.request("POST", f"/casos/{reference}/acceso-emergencia/terminar").status_code == 403
    assert holder.request("GET", f"/casos/{reference}").status_code == 200
    ended = holder.request("POST", f"/casos/{reference}/acceso-emergencia/terminar")
    assert ended.status_code == 303 and ended.headers["Location"] == "/casos"
    assert holder.request("GET", f"/casos/{reference}").status_code == 403
    assert holder.request("POST", f"/casos/{reference}/acceso-emergencia/terminar").status_code == 403


def test_the_permitted_users_answers_go_through(app: Flask) -> None:
    """The matrix's 400s are the permitted side: with a real form the same users succeed."""
    reference = file_case(app)
    activate(app, reference, lead="CAVD-CL-RM")
    consent(app, reference)
    rid = refer(app, reference, "SERNAMEG")
    receiver = Client(app, "gestor.sernameg")
    version = str(case_version(app, reference))
    accepted = receiver.request("POST", f"/casos/{reference}/derivaciones/{rid}/aceptar", {"case_version": version})
    assert accepted.status_code == 303 and accepted.headers["Location"] == f"/casos/{reference}"
    assert state_of(app, rid) == "aceptada"
    sender = Client(app, "gestor.rm")  # the sending node's case worker (CAVD-CL-RM sent it)
    version = str(case_version(app, reference))
    revoked = sender.request("POST", f"/casos/{reference}/derivaciones/{rid}/revocar",
                             {"case_version": version, "reason": "ya_no_necesaria", "confirmo": "si"})
    assert revoked.status_code == 303  # revoking is destructive: its form carries the ticked «Confirmo»
    assert state_of(app, rid) == "revocada"
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Referral)) == 1

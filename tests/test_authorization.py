"""Authorisation: deny by default, who reaches which page, and what a refused user learns.

Two layers decide (see referral/web/access.py and referral/kernel/access.py):
  1. the page: every endpoint declares @public, @signed_in or @needs(capability), or nobody reaches it;
  2. the case: a node reads a case only through a live relation (nodo_detector, punto_focal, ...), and
     workflows/chile/workflow.yaml says which (role, relation) may fire each action, edit each form
     (and when), and which relations read each form.

The route × user matrix below runs against one shared "world" (a module-scoped database with five
Metropolitana cases at different stages) and never changes it: every POST in the matrix carries a
valid CSRF token but an empty form, so a permitted POST answers 400 (nothing to save) and a refused
one 403/409 — authorisation is decided before the form is read. Tests that really act build their
own case with the function-scoped fixtures.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from referral import create_app
from referral.auth.models import User
from referral.cases.editing import save_form
from referral.cases.intake import file_intake
from referral.cases.meetings import AgreementInput, MeetingInput, MinutesInput, convene, record_minutes
from referral.kernel.models import Case
from referral.cases.transitions import fire_transition
from referral.context import Context
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.network.models import Node
from referral.web.access import rule_of, signed_in

from .browser import Browser, hidden_inputs
from .matrix import ANON, Cell, Client, World, cell_id, parse, shown
from .units import unit_of_work
from .conftest import Clock, _settings
from .factories import (
    VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES, ficha_post, ficha_values, informe_post,
)

PLAN_FILE = Path(__file__).resolve().parents[1] / "workflows" / "chile" / "plan_accion_2023_2026.yaml"
RELATO = "Refiere deuda con quien la trajo y retención de su pasaporte en Estación Central."
FUNDAMENTO = "Indicadores claros de captación y engaño."
PREGUNTAS = "¿Tiene dónde dormir hoy?"
REDES = "Una prima en Puente Alto que la puede recibir."
PERSONAL = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE, RELATO, REDES, FUNDAMENTO)
# The case LIBERA files is about someone else, so that LIBERA's own lists never show the victim above.
ONG_VICTIM = {"nombres": "Marisol", "apellidos": "Cárdenas Ruiz", "numero_documento": "PE7712034",
              "telefono_seguro": "+56 9 7000 1122", "relato": "Trabajo agrícola sin pago en Melipilla."}

# -- who ------------------------------------------------------------------------------------------
#
# Column order of every table below. How each user stands towards the world's Metropolitana cases
# (all filed by salud.rm except «libera», filed by ong):
#
#   anon  anonymous             no session
#   det   salud.rm              deteccion   MINSAL-CL-RM      nodo_detector
#   foc   coordinador.rm        coordinador CAVD-CL-RM        punto_focal
#   fgst  gestor.rm             gestor      CAVD-CL-RM        punto_focal (same node as the focal point)
#   nat   coordinacion.nacional coordinador PAV               coordinacion_nacional
#   lead  gestor.sernameg       gestor      SERNAMEG          nodo_lider once activated
#   mig   migraciones           migraciones SERMIG            servicio_migraciones once the request is submitted
#   crTA  coordinador.ta        coordinador CAVD-CL-TA        none (another region)
#   gsTA  gestor.ta             gestor      CAVD-CL-TA        none
#   ong   ong                   deteccion   LIBERA            none (nodo_detector of «libera» only)
#   pol   policia.rm            deteccion   PDI-BITRAP-CL-RM  none
#   aud   auditor               auditor     SERMIG            none; no capability at all
#   adm   administrador         administrador PAV             none; may erase cases, never read one

USERS = ("anonymous", "salud.rm", "coordinador.rm", "gestor.rm", "coordinacion.nacional", "gestor.sernameg",
         "migraciones", "coordinador.ta", "gestor.ta", "ong", "policia.rm", "auditor", "administrador")
LEAD_NODE = "SERNAMEG"

# -- the world: one case per stage ----------------------------------------------------------------

STAGES = ("detectado", "informacion", "activado", "presentada")

RESIDENCIA = {
    "finalidad": "regularizar", "exencion_costos": True,
    "certificacion": "en_tramite", "tipo_documento": "pasaporte", "numero_documento": VICTIM_DOCUMENT,
    "pais_documento": "VE", "situacion_migratoria_actual": "irregular", "peligro_grave": True,
    "fecha_preparacion": dt.date(2026, 11, 18), "permiso_trabajo": True,
}


class Steps:
    """The services, called as the views call them: one unit of work, committed, per step."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def user(self, name: str) -> User:
        return self.ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))

    def node_id(self, code: str) -> int:
        return self.ctx.session.scalar(select(Node.id).where(Node.code == code))

    def version(self, reference: str) -> int:
        self.ctx.session.expire_all()
        return self.ctx.session.scalar(select(Case.version).where(Case.reference == reference))

    def file(self, by: str, **ficha_changes: Any) -> str:
        values = ficha_values(**{"relato": RELATO, **ficha_changes})
        case = file_intake(self.ctx, self.user(by), values, uuid.uuid4().hex)
        reference = case.reference
        self.ctx.session.commit()
        return reference

    def fire(self, by: str, reference: str, action: str, values: dict[str, Any] | None = None) -> None:
        fire_transition(self.ctx, self.user(by), reference, action, values, self.version(reference))
        self.ctx.session.commit()

    def save(self, by: str, reference: str, form_key: str, values: dict[str, Any]) -> None:
        save_form(self.ctx, self.user(by), reference, form_key, values, self.version(reference))
        self.ctx.session.commit()


def case_at(ctx: Context, stage: str, filed_by: str = "salud.rm", **ficha_changes: Any) -> str:
    """A Metropolitana case filed by `filed_by`, walked to `stage`; its reference.

    detectado   the Ficha is filed (detecting node, focal point, national coordination)
    informacion state informacion_solicitada: the focal point took it and asked the detecting node
    activado    activated with SERNAMEG as lead node; residence request prepared (complete, not
                submitted): the migration service is not yet a participant
    presentada  the residence request is submitted (the migration service joins) and the lead
                node started the Informe Social (an incomplete draft)
    """
    do = Steps(ctx)
    reference = do.file(filed_by, **ficha_changes)
    if stage == "detectado":
        return reference
    do.fire("coordinador.rm", reference, "tomar_caso")
    if stage == "informacion":
        do.fire("coordinador.rm", reference, "solicitar_informacion", {"preguntas": PREGUNTAS})
        return reference
    do.fire("coordinador.rm", reference, "activar",
            {"nodo_lider": str(do.node_id(LEAD_NODE)), "fundamento": FUNDAMENTO})
    do.fire("gestor.sernameg", reference, "iniciar_residencia")
    do.save("gestor.sernameg", reference, "solicitud_residencia", RESIDENCIA)
    if stage == "activado":
        return reference
    do.fire("gestor.sernameg", reference, "presentar_residencia")
    do.fire("gestor.sernameg", reference, "iniciar_informe")
    do.save("gestor.sernameg", reference, "informe_social", {"redes_apoyo": REDES})
    assert stage == "presentada", stage
    return reference


services = unit_of_work  # a Context on its own session, outside any request


def build_case(app: Flask, stage: str, filed_by: str = "salud.rm", **ficha_changes: Any) -> str:
    with services(app) as ctx:
        return case_at(ctx, stage, filed_by, **ficha_changes)


def meetings_in(app: Flask, reference: str) -> dict[str, str]:
    """In the «presentada» case the lead node convenes two meetings with the focal point (CAVD-CL-RM) only: one
    waits for its minutes ({mesa}); the other's minutes give the focal point an open agreement ({acuerdo})."""
    with services(app) as ctx:
        do = Steps(ctx)
        lead, focal = do.user("gestor.sernameg"), do.node_id("CAVD-CL-RM")
        meeting = MeetingInput(dt.datetime(2026, 11, 25, 10, 0), "presencial", "", "", (focal,))
        waiting = convene(ctx, lead, reference, meeting, uuid.uuid4().hex)
        held = convene(ctx, lead, reference, meeting, uuid.uuid4().hex)
        (agreement,) = record_minutes(ctx, lead, reference, held.id, MinutesInput(
            (focal,), "Acta.", (AgreementInput("Acuerdo.", focal, dt.date(2026, 12, 15)),)))
        ctx.session.commit()
        return {"mesa": str(waiting.id), "acuerdo": str(agreement.id)}


def version_of(app: Flask, reference: str) -> int:
    with services(app) as ctx:
        return Steps(ctx).version(reference)


def attach(app: Flask, reference: str, kind: str) -> str:
    from referral.cases.attachments import UploadInput, record_attachment

    with services(app) as ctx:
        row = record_attachment(ctx, Steps(ctx).user("gestor.sernameg"), reference,
                                UploadInput(kind, (), "documento.pdf", io.BytesIO(b"%PDF-1.7\n" * 50).read),
                                uuid.uuid4().hex)
        ctx.session.commit()
        return str(row.id)


def build_cases(app: Flask) -> dict[str, str]:
    """The matrix's places: a case at every stage, one filed by an NGO, two documents and two meetings in
    «presentada» (the fuzz of every form builds the same, so each path of the matrix has its values)."""
    cases = {stage: build_case(app, stage) for stage in STAGES}
    cases["libera"] = build_case(app, "detectado", filed_by="ong", **ONG_VICTIM)
    for kind in ("informe_medico", "copia_denuncia"):  # documents the lead attached to «presentada»
        cases[kind] = attach(app, cases["presentada"], kind)
    cases.update(meetings_in(app, cases["presentada"]))
    cases.update(plan_in(app))
    cases.update(mesa_session_in(app))
    return cases


def plan_in(app: Flask) -> dict[str, str]:
    """The Plan de Acción 2023-2026 loaded, and one progress report with evidence by PAV's focal point:
    {plan}, an action of PAV's ({accion_pav}, eje 2), one of the División Jurídica's ({accion_dj}, eje 3) and
    the report ({avance})."""
    from referral.plan.loading import load_plan, read_plan_file
    from referral.plan.models import Action
    from referral.plan.service import ProgressInput, record_progress

    with services(app) as ctx:
        plan, _changed = load_plan(ctx, read_plan_file(PLAN_FILE))
        actions = {(a.eje_number, a.code): a.id for a in ctx.session.scalars(select(Action))}
        report = record_progress(ctx, Steps(ctx).user("plan.pav"), plan.id, actions[(2, "1.1")], ProgressInput(
            "cumplida", ("si",), "", "acta.pdf", io.BytesIO(b"%PDF-1.7\n" * 50).read), uuid.uuid4().hex)
        ctx.session.commit()
        return {"plan": str(plan.id), "accion_pav": str(actions[(2, "2.1")]), "accion_dj": str(actions[(3, "1.3")]),
                "avance": str(report.id)}


def mesa_session_in(app: Flask) -> dict[str, str]:
    """A session of the national Mesa recorded by the Secretaría Técnica without minutes ({sesion}), with one agreement
    of SernamEG's ({acuerdo_mesa}): its focal point of the Plan (mesa.focal.sernameg) marks it done, PDI's may not."""
    from referral.mesa.service import AgreementInput as MesaAgreementInput
    from referral.mesa.service import MeetingInput as MesaMeetingInput
    from referral.mesa.service import mesa_of, record_meeting

    with services(app) as ctx:
        do = Steps(ctx)
        sernameg = do.node_id("SERNAMEG")
        meeting = record_meeting(ctx, do.user("secretaria.mesa"), mesa_of(ctx, "nacional"), MesaMeetingInput(
            dt.date(2026, 11, 17), (sernameg, do.node_id("SERMIG")), "",  # no minutes yet: the form to add them
            (MesaAgreementInput("Acuerdo.", sernameg, dt.date(2026, 12, 15)),)), uuid.uuid4().hex)
        ctx.session.commit()
        from referral.mesa.models import MesaAgreement

        agreement = ctx.session.scalar(select(MesaAgreement.id).where(MesaAgreement.meeting_id == meeting.id))
        return {"sesion": str(meeting.id), "acuerdo_mesa": str(agreement)}


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("authorization")
    shutil.copy(sqlite_template, folder / "world.db")
    app = create_app(_settings(folder / "instance", f"sqlite:///{folder / 'world.db'}", Clock()))
    yield World(app, build_cases(app))
    database.engine(app).dispose()


# -- 1. deny by default ---------------------------------------------------------------------------


def test_every_endpoint_declares_an_access_rule(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} | set(app.view_functions)
    undeclared = sorted(e for e in endpoints - {"static"} if rule_of(app, e) is None)
    assert undeclared == []
    assert len(endpoints) >= 10  # the blueprints are registered: this is not vacuously true


def test_a_route_without_a_rule_is_refused_to_everyone(app: Flask) -> None:
    app.add_url_rule("/sin-regla", "sin_regla", lambda: "contenido secreto")
    app.add_url_rule("/con-regla", "con_regla", signed_in(lambda: "contenido visible"))
    assert rule_of(app, "sin_regla") is None

    anonymous = app.test_client().get("/sin-regla")
    assert anonymous.status_code == 403 and "contenido secreto" not in anonymous.text

    staff = Browser(app, DEMO_PASSWORD)
    staff.login("coordinacion.nacional")
    refused = staff.get("/sin-regla")
    assert refused.status_code == 403 and "contenido secreto" not in refused.text
    assert staff.get("/con-regla").text == "contenido visible"  # the same client passes a declared rule


# -- 2. the route × user matrix -------------------------------------------------------------------
#
# 200 the page; 302 a redirect (anonymous GET: to /ingresar?next=…; otherwise see REDIRECTS);
# 303 back to the case page with the reason (an action in the wrong state, or a failing guard, on GET);
# 400 a permitted POST of an empty form (nothing saved); 401 an anonymous POST; 403 refused;
# 404 no such inbox/form/action/case for someone allowed to look (or no such notification of the user's own);
# 405 wrong method;
# 409 the action or form is not possible in the case's current stage.
# Placeholders {detectado}, … are the world's case references (see case_at).

MATRIX = """
# method path                                                          anon det  foc  fgst nat  lead mig  crTA gsTA ong  pol  aud  adm
# -- pages that are not about one case
  GET  /                                                               302  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /protocolo                                                      302  200  200  200  200  200  200  200  200  200  200  200  200
  GET  /casos                                                          302  200  200  200  200  200  200  200  200  200  200  403  403
  GET  /bandeja/triaje                                                 302  404  200  404  200  404  404  200  404  404  404  403  403
  GET  /bandeja/por_aprobar                                            302  404  200  404  200  404  404  200  404  404  404  403  403
  GET  /bandeja/casos_liderados                                        302  404  404  200  404  200  404  404  200  404  404  403  403
  GET  /bandeja/informacion_pendiente                                  302  200  200  200  200  200  404  200  200  200  200  403  403
  GET  /bandeja/residencias                                            302  404  404  404  404  404  200  404  404  404  404  403  403
  GET  /bandeja/retornos                                               302  404  404  200  404  200  404  404  200  404  404  403  403
  GET  /bandeja/no_existe                                              302  404  404  404  404  404  404  404  404  404  404  403  403
  GET  /fichas/nueva                                                   302  200  200  200  200  200  403  200  200  200  200  403  403
  POST /fichas/nueva                                                   401  400  400  400  400  400  403  400  400  400  400  403  403
# -- drafts of the Ficha (issue 15): whoever may file one lists her own (the world has none); a draft that is not
# -- hers (here: none at all; someone else's: tests/test_drafts.py) is 404 whoever asks
  GET  /borradores                                                     302  200  200  200  200  200  403  200  200  200  200  403  403
  GET  /borradores/00000000-0000-4000-8000-000000000000                302  404  404  404  404  404  403  404  404  404  404  403  403
  POST /borradores/00000000-0000-4000-8000-000000000000                401  404  404  404  404  404  403  404  404  404  404  403  403
  GET  /borradores/00000000-0000-4000-8000-000000000000/descartar      405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /borradores/00000000-0000-4000-8000-000000000000/descartar      401  404  404  404  404  404  403  404  404  404  404  403  403
  GET  /ingresar                                                       200  302  302  302  302  302  302  302  302  302  302  302  302
  POST /ingresar                                                       400  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /salir                                                          405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /salir                                                          401  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /idioma                                                         405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /idioma                                                         302  302  302  302  302  302  302  302  302  302  302  302  302
# -- notifications: every signed-in user has their own page (the world has none); marking one that is not
# -- the user's own (here: none at all) is 404; marking all without the page's moment is 400
  GET  /notificaciones                                                 302  200  200  200  200  200  200  200  200  200  200  200  200
  GET  /notificaciones?pagina=2                                        302  200  200  200  200  200  200  200  200  200  200  200  200
  GET  /notificaciones/leidas                                          405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /notificaciones/leidas                                          401  400  400  400  400  400  400  400  400  400  400  400  400
  GET  /notificaciones/00000000-0000-4000-8000-000000000000/leida      405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /notificaciones/00000000-0000-4000-8000-000000000000/leida      401  404  404  404  404  404  404  404  404  404  404  404  404
# -- one's own sessions (server-side): every signed-in person lists hers and ends the others; ending a session
# -- that is not one's own (here: none at all; another person's: test_nobody_ends_another_persons_session) is 404
  GET  /cuenta/sesiones                                                302  200  200  200  200  200  200  200  200  200  200  200  200
  GET  /cuenta/sesiones/cerrar-otras                                   405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /cuenta/sesiones/cerrar-otras                                   401  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /cuenta/sesiones/00000000-0000-4000-8000-000000000000/cerrar    405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /cuenta/sesiones/00000000-0000-4000-8000-000000000000/cerrar    401  404  404  404  404  404  404  404  404  404  404  404  404
# -- one's own password: anyone may open a link (a link that is not live, or none kept: 404) or ask for a reset;
# -- a signed-in person changes her own (an empty form: 400)
  GET  /cuenta/contrasena                                              302  200  200  200  200  200  200  200  200  200  200  200  200
  POST /cuenta/contrasena                                              401  400  400  400  400  400  400  400  400  400  400  400  400
  GET  /cuenta/activar/no-es-un-enlace                                 302  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /cuenta/activar                                                 404  404  404  404  404  404  404  404  404  404  404  404  404
  POST /cuenta/activar                                                 404  404  404  404  404  404  404  404  404  404  404  404  404
  GET  /cuenta/recuperar/no-es-un-enlace                               302  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /cuenta/nueva-contrasena                                        404  404  404  404  404  404  404  404  404  404  404  404  404
  POST /cuenta/nueva-contrasena                                        404  404  404  404  404  404  404  404  404  404  404  404  404
  GET  /cuenta/recuperar                                               200  200  200  200  200  200  200  200  200  200  200  200  200
  POST /cuenta/recuperar                                               400  400  400  400  400  400  400  400  400  400  400  400  400
# -- the second factor (coordinators, national coordination, migration, auditor and administrator have one; optional
# -- for the rest): one's own page, enrolment, new recovery codes (404 without a factor), removal (refused with a
# -- redirect where the role or node requires one); the confirmation before sensitive steps; the code and enrolment
# -- pages of a sign-in answer only a half-signed-in login: anyone else is sent back to /ingresar
  GET  /cuenta/segundo-factor                                          302  200  200  200  200  200  200  200  200  200  200  200  200
  GET  /cuenta/segundo-factor/activar                                  302  200  200  200  200  200  200  200  200  200  200  200  200
  POST /cuenta/segundo-factor/activar                                  401  400  400  400  400  400  400  400  400  400  400  400  400
  GET  /cuenta/segundo-factor/quitar                                   405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /cuenta/segundo-factor/quitar                                   401  404  303  404  303  404  303  303  404  404  404  303  303
  GET  /cuenta/segundo-factor/codigos                                  405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /cuenta/segundo-factor/codigos                                  401  404  200  404  200  404  200  200  404  404  404  200  200
  GET  /cuenta/confirmar                                               302  200  200  200  200  200  200  200  200  200  200  200  200
  POST /cuenta/confirmar                                               401  400  400  400  400  400  400  400  400  400  400  400  400
  GET  /ingresar/codigo                                                302  302  302  302  302  302  302  302  302  302  302  302  302
  POST /ingresar/codigo                                                302  302  302  302  302  302  302  302  302  302  302  302  302
  GET  /ingresar/segundo-factor                                        302  302  302  302  302  302  302  302  302  302  302  302  302
  POST /ingresar/segundo-factor                                        302  302  302  302  302  302  302  302  302  302  302  302  302
# -- a case that does not exist: 404 only for someone who may open cases at all
  GET  /casos/TP-0000-0000                                             302  404  404  404  404  404  404  404  404  404  404  403  403
# -- detectado: detecting node, focal point (and its case worker), national coordination
  GET  /casos/{detectado}                                              302  200  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/ficha                            302  200  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/informe_social                   302  403  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/no_existe                        302  404  404  404  404  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/ficha/editar                     302  409  403  403  403  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/formularios/ficha/editar                     401  409  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/informe_social/editar            302  403  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/no_existe/editar                 302  404  404  404  404  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/tomar_caso                          302  403  200  403  200  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/acciones/tomar_caso                          401  403  400  403  400  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/solicitar_informacion               302  403  200  403  200  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/activar                             302  403  200  403  200  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/acciones/activar                             401  403  400  403  400  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/no_activar                          302  403  200  403  200  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/responder_informacion               302  303  403  403  403  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/acciones/responder_informacion               401  409  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/iniciar_informe                     302  403  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/iniciar_residencia                  302  403  303  403  303  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/acciones/iniciar_residencia                  401  403  409  403  409  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/acciones/no_existe                           302  404  404  404  404  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/acciones/no_existe                           401  404  404  404  404  403  403  403  403  403  403  403  403
# -- informacion: the detecting node may amend its Ficha and answer
  GET  /casos/{informacion}                                            302  200  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{informacion}/formularios/solicitud_informacion          302  200  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{informacion}/formularios/ficha/editar                   302  200  403  403  403  403  403  403  403  403  403  403  403
  POST /casos/{informacion}/formularios/ficha/editar                   401  400  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{informacion}/acciones/responder_informacion             302  200  403  403  403  403  403  403  403  403  403  403  403
  POST /casos/{informacion}/acciones/responder_informacion             401  400  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{informacion}/acciones/tomar_caso                        302  403  303  403  303  403  403  403  403  403  403  403  403
  POST /casos/{informacion}/acciones/tomar_caso                        401  403  409  403  409  403  403  403  403  403  403  403  403
  GET  /casos/{informacion}/acciones/activar                           302  403  303  403  303  403  403  403  403  403  403  403  403
# -- activado: SERNAMEG leads; the residence request is ready but not submitted (no migration service)
  GET  /casos/{activado}                                               302  200  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/ficha                             302  200  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/decision_activacion               302  200  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/solicitud_residencia              302  403  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/solicitud_residencia/editar       302  403  200  403  200  200  403  403  403  403  403  403  403
  POST /casos/{activado}/formularios/solicitud_residencia/editar       401  403  400  403  400  400  403  403  403  403  403  403  403
# -- comparing two revisions: readers of the form (the world's request has one revision: compared with itself);
# -- a missing revision is 404 to readers only; a revision that is not a number is 400
  GET  /casos/{activado}/formularios/solicitud_residencia/comparar?de=1&a=1  302  403  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/solicitud_residencia/comparar?de=1&a=9  302  403  404  404  404  404  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/ficha/comparar?de=1&a=2                 302  404  404  404  404  404  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/solicitud_residencia/comparar?de=x&a=1  302  400  400  400  400  400  400  400  400  400  400  403  403
  GET  /casos/{activado}/formularios/informe_social/editar             302  403  403  403  403  409  403  403  403  403  403  403  403
  GET  /casos/{activado}/formularios/plan/editar                       302  403  403  403  403  409  403  403  403  403  403  403  403
  GET  /casos/{activado}/acciones/iniciar_informe                      302  403  403  403  403  200  403  403  403  403  403  403  403
  POST /casos/{activado}/acciones/iniciar_informe                      401  403  403  403  403  400  403  403  403  403  403  403  403
  GET  /casos/{activado}/acciones/iniciar_residencia                   302  403  303  403  303  303  403  403  403  403  403  403  403
  GET  /casos/{activado}/acciones/presentar_residencia                 302  403  200  403  200  200  403  403  403  403  403  403  403
  POST /casos/{activado}/acciones/presentar_residencia                 401  403  400  403  400  400  403  403  403  403  403  403  403
  GET  /casos/{activado}/acciones/registrar_tramite                    302  403  403  403  403  403  403  403  403  403  403  403  403
  GET  /casos/{activado}/acciones/cerrar                               302  403  200  403  200  200  403  403  403  403  403  403  403
  GET  /casos/{activado}/acciones/tomar_caso                           302  403  303  403  303  403  403  403  403  403  403  403  403
# -- presentada: the migration service is a participant; the Informe Social is a draft
  GET  /casos/{presentada}                                             302  200  200  200  200  200  200  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/solicitud_residencia            302  403  200  200  200  200  200  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/informe_social                  302  403  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/ficha                           302  200  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/informe_social?revision=1       302  403  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/solicitud_residencia?revision=9 302  403  404  404  404  404  404  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/solicitud_residencia/editar     302  403  409  403  409  409  403  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/informe_social/editar           302  403  403  403  403  200  403  403  403  403  403  403  403
  POST /casos/{presentada}/formularios/informe_social/editar           401  403  403  403  403  400  403  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/registrar_tramite                  302  403  403  403  403  403  200  403  403  403  403  403  403
  POST /casos/{presentada}/acciones/registrar_tramite                  401  403  403  403  403  403  400  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/otorgar_residencia                 302  403  403  403  403  403  200  403  403  403  403  403  403
  POST /casos/{presentada}/acciones/otorgar_residencia                 401  403  403  403  403  403  400  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/otorgar_definitiva                 302  403  403  403  403  403  303  403  403  403  403  403  403
  POST /casos/{presentada}/acciones/otorgar_definitiva                 401  403  403  403  403  403  409  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/enviar_informe                     302  403  403  403  403  303  403  403  403  403  403  403  403
  POST /casos/{presentada}/acciones/enviar_informe                     401  403  403  403  403  409  403  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/aprobar_informe                    302  403  303  403  303  403  403  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/presentar_residencia               302  403  303  403  303  303  403  403  403  403  403  403  403
  GET  /casos/{presentada}/acciones/cerrar                             302  403  200  403  200  200  403  403  403  403  403  403  403
# -- libera: the case ong (LIBERA) filed, so ong is inside and salud.rm is not
  GET  /casos/{libera}                                                 302  403  200  200  200  403  403  403  403  200  403  403  403
  GET  /casos/{libera}/formularios/ficha                               302  403  200  200  200  403  403  403  403  200  403  403  403
  GET  /casos/{libera}/acciones/responder_informacion                  302  403  403  403  403  403  403  403  403  303  403  403  403
  GET  /casos/{libera}/acciones/tomar_caso                             302  403  200  403  200  403  403  403  403  403  403  403  403
# -- case notes (issue 16): every node with a relation that writes notes opens «Nueva atención» (the lead once it
# -- leads, the migration service once the request is presented); an empty POST is 400; no relation is 403
  GET  /casos/{detectado}/atenciones/nueva                             302  200  200  200  200  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/atenciones/nueva                             401  400  400  400  400  403  403  403  403  403  403  403  403
  GET  /casos/{presentada}/atenciones/nueva                            302  200  200  200  200  200  200  403  403  403  403  403  403
  POST /casos/{presentada}/atenciones/nueva                            401  400  400  400  400  400  400  403  403  403  403  403  403
  GET  /casos/{libera}/atenciones/nueva                                302  403  200  200  200  403  403  403  403  200  403  403  403
# -- printing an instrument (issue 16): exactly the readers of the form view; a form not yet written or a missing
# -- revision is 404 to its readers; a revision that is not a number is 400; which sections a relation prints
# -- (a shelter: some sections only): tests/test_print_instrument.py
  GET  /casos/{detectado}/formularios/ficha/imprimir                   302  200  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/informe_social/imprimir          302  403  404  404  404  403  403  403  403  403  403  403  403
  GET  /casos/{detectado}/formularios/no_existe/imprimir               302  404  404  404  404  403  403  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/informe_social/imprimir?revision=1  302  403  200  200  200  200  403  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/solicitud_residencia/imprimir   302  403  200  200  200  200  200  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/solicitud_residencia/imprimir?revision=9  302  403  404  404  404  404  404  403  403  403  403  403  403
  GET  /casos/{presentada}/formularios/ficha/imprimir?revision=x       302  400  400  400  400  400  400  400  400  400  400  403  403
  GET  /casos/{libera}/formularios/ficha/imprimir                      302  403  200  200  200  403  403  403  403  200  403  403  403
# -- case documents (issue 16): every node with a relation that uploads opens the upload page (an empty POST is
# -- 400); a document is read by its uploader's node and the relations its kind names: a medical report by the
# -- lead node (and health referrals) only, a copy of the complaint also by the focal point and national
# -- coordination; a relation that may not read the kind gets 404 (as if it did not exist); no relation is 403
  GET  /casos/{detectado}/documentos/nuevo                             302  200  200  200  200  403  403  403  403  403  403  403  403
  POST /casos/{detectado}/documentos/nuevo                             401  400  400  400  400  403  403  403  403  403  403  403  403
  GET  /casos/{presentada}/documentos/nuevo                            302  200  200  200  200  200  200  403  403  403  403  403  403
  POST /casos/{presentada}/documentos/nuevo                            401  400  400  400  400  400  400  403  403  403  403  403  403
  GET  /casos/{presentada}/documentos/{informe_medico}                 302  404  404  404  404  200  404  403  403  403  403  403  403
  GET  /casos/{presentada}/documentos/{copia_denuncia}                 302  404  200  200  200  200  404  403  403  403  403  403  403
  GET  /casos/{detectado}/documentos/{copia_denuncia}                  302  404  404  404  404  403  403  403  403  403  403  403  403
  GET  /casos/{presentada}/documentos/00000000-0000-4000-8000-000000000000  302  404  404  404  404  404  404  403  403  403  403  403  403
# -- case meetings (issue 16): the lead node, the focal point and national coordination convene (an empty form:
# -- 400); the detecting node, the migration service and nodes without a relation may not. In «presentada» the lead
# -- convened {mesa} and {acuerdo}'s meeting with the focal point only: the lead alone records {mesa}'s minutes (the
# -- invited focal point: 403; a node of the case not invited does not learn it exists: 404); the focal point alone
# -- marks its agreement done (an empty form: 400; the convener: 403); the lead alone calls {mesa} off (an empty form,
# -- without reason or «Confirmo»: back to the case page with the reason, 303)
  GET  /casos/{detectado}/mesas/nueva                                  302  403  200  200  200  403  403  403  403  403  403  403  403
  GET  /casos/{presentada}/mesas/nueva                                 302  403  200  200  200  200  403  403  403  403  403  403  403
  POST /casos/{presentada}/mesas/nueva                                 401  403  400  400  400  400  403  403  403  403  403  403  403
  GET  /casos/{presentada}/mesas/{mesa}/acta                           302  404  403  403  404  200  404  403  403  403  403  403  403
  POST /casos/{presentada}/mesas/{mesa}/acta                           401  404  403  403  404  400  404  403  403  403  403  403  403
  POST /casos/{presentada}/mesas/{mesa}/cancelar                       401  404  403  403  404  303  404  403  403  403  403  403  403
  GET  /casos/{presentada}/acuerdos/{acuerdo}/cumplido                 405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /casos/{presentada}/acuerdos/{acuerdo}/cumplido                 401  404  400  400  404  403  404  403  403  403  403  403  403
# -- the responsible person at one's node (issue 16): «Mis casos» for whoever may open cases; naming or taking a
# -- case's responsable for whoever's node takes part in it (an empty form: 400); another node's case: 403
  GET  /mis-casos                                                      302  200  200  200  200  200  200  200  200  200  200  403  403
  GET  /casos/{detectado}/responsable                                  405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /casos/{detectado}/responsable                                  401  400  400  400  400  403  403  403  403  403  403  403  403
  POST /casos/{activado}/responsable                                   401  400  400  400  400  400  403  403  403  403  403  403  403
  POST /casos/{libera}/responsable                                     401  403  400  400  400  403  403  403  403  400  403  403  403
  POST /casos/TP-0000-0000/responsable                                 401  404  404  404  404  404  404  404  404  404  404  403  403
# -- administration: only the administrator (erasure); a permitted POST of an empty form is 400
  GET  /administracion/casos-eliminados                                302  403  403  403  403  403  403  403  403  403  403  403  200
  GET  /administracion/eliminar-caso                                   302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/eliminar-caso                                   401  403  403  403  403  403  403  403  403  403  403  403  400
# -- the node directory (every page with real nodes: tests/network/test_access_matrix.py): administrators;
# -- «Mi nodo» for node managers (gestor.rm, gestor.sernameg, gestor.ta), whatever their role; no such node is 404
  GET  /administracion/nodos                                           302  403  403  403  403  403  403  403  403  403  403  403  200
  GET  /administracion/nodos/nuevo                                     302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/nuevo                                     401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /administracion/nodos/999999                                    302  403  403  403  403  403  403  403  403  403  403  403  404
  POST /administracion/nodos/999999                                    401  403  403  403  403  403  403  403  403  403  403  403  404
  GET  /administracion/nodos/999999/miembros                           302  403  403  403  403  403  403  403  403  403  403  403  404
  POST /administracion/nodos/999999/miembros                           401  403  403  403  403  403  403  403  403  403  403  403  404
  GET  /administracion/nodos/999999/miembros/999999                    302  403  403  403  403  403  403  403  403  403  403  403  404
  POST /administracion/nodos/999999/miembros/999999                    401  403  403  403  403  403  403  403  403  403  403  403  404
  GET  /administracion/nodos/exportar                                  302  403  403  403  403  403  403  403  403  403  403  403  200
  GET  /administracion/nodos/importar                                  302  403  403  403  403  403  403  403  403  403  403  403  200
  POST /administracion/nodos/importar                                  401  403  403  403  403  403  403  403  403  403  403  403  400
  GET  /mi-nodo                                                        302  403  403  200  403  200  403  403  200  403  403  403  403
  POST /mi-nodo                                                        401  403  403  400  403  400  403  403  400  403  403  403  403
# -- access requests (separation of duties): the administrator sees them; only a coordinator of the node
# -- holding national coordination decides (coordinador.rm and coordinador.ta are coordinators elsewhere)
  GET  /administracion/nodos/solicitudes                               302  403  403  403  403  403  403  403  403  403  403  403  200
  GET  /administracion/solicitudes-acceso                              302  403  403  403  200  403  403  403  403  403  403  403  403
  POST /administracion/solicitudes-acceso/00000000-0000-4000-8000-000000000000  401  403  403  403  400  403  403  403  403  403  403  403  403
# -- finding a case (issue 16): whoever may open cases; an empty search is 400; the worklists' text filter is a
# -- POST to the worklist (an empty text is no filter: 200); which cases a search shows: tests/test_search.py
  GET  /buscar                                                         302  200  200  200  200  200  200  200  200  200  200  403  403
  POST /buscar                                                         401  400  400  400  400  400  400  400  400  400  400  403  403
  POST /casos                                                          401  200  200  200  200  200  200  200  200  200  200  403  403
  POST /mis-casos                                                      401  200  200  200  200  200  200  200  200  200  200  403  403
  POST /bandeja/triaje                                                 401  404  200  404  200  404  404  200  404  404  404  403  403
  POST /bandeja/no_existe                                              401  404  404  404  404  404  404  404  404  404  404  403  403
# -- the Mesa Intersectorial (issue 18): read by the Mesa's roles and the auditor, written by the Secretaría Técnica
# -- (recording a session) and the responsible institution's focal point of the Plan (an agreement done); nobody
# -- here holds those roles but the auditor, who reads (no such Mesa or session: 404) and writes nothing. The
# -- Mesa's own users: MESA_MATRIX below
  GET  /mesa                                                           302  403  403  403  403  403  403  403  403  403  403  200  403
  GET  /mesa/nacional                                                  302  403  403  403  403  403  403  403  403  403  403  200  403
  GET  /mesa/CL-RM                                                     302  403  403  403  403  403  403  403  403  403  403  200  403
  GET  /mesa/CL-NO                                                     302  403  403  403  403  403  403  403  403  403  403  404  403
  GET  /mesa/nacional/sesiones/nueva                                   302  403  403  403  403  403  403  403  403  403  403  403  403
  POST /mesa/nacional/sesiones/nueva                                   401  403  403  403  403  403  403  403  403  403  403  403  403
  GET  /mesa/sesiones/{sesion}                                         302  403  403  403  403  403  403  403  403  403  403  200  403
  GET  /mesa/sesiones/999999                                           302  403  403  403  403  403  403  403  403  403  403  404  403
  GET  /mesa/sesiones/{sesion}/acta                                    405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /mesa/sesiones/{sesion}/acta                                    401  403  403  403  403  403  403  403  403  403  403  403  403
  GET  /mesa/acuerdos/{acuerdo_mesa}                                   302  403  403  403  403  403  403  403  403  403  403  303  403
  GET  /mesa/acuerdos/{acuerdo_mesa}/cumplido                          405  405  405  405  405  405  405  405  405  405  405  405  405
  POST /mesa/acuerdos/{acuerdo_mesa}/cumplido                          401  403  403  403  403  403  403  403  403  403  403  403  403
"""

# The Mesa's own users (issue 18): the Secretaría Técnica (SERMIG) and the focal points of the Plan of SernamEG
# (responsible for {acuerdo_mesa}) and of the PDI (not responsible). A permitted POST of an empty form is 400; marking
# another institution's agreement done is 403; no such Mesa, session or agreement is 404.
MESA_USERS = ("secretaria.mesa", "mesa.focal.sernameg", "mesa.focal.pdi")
MESA_MATRIX = """
# method path                                                          secr fsrn fpdi
  GET  /mesa                                                           200  200  200
  GET  /mesa/nacional                                                  200  200  200
  GET  /mesa/CL-RM                                                     200  200  200
  GET  /mesa/CL-NO                                                     404  404  404
  GET  /mesa/nacional/sesiones/nueva                                   200  403  403
  GET  /mesa/CL-RM/sesiones/nueva                                      200  403  403
  GET  /mesa/CL-NO/sesiones/nueva                                      404  403  403
  POST /mesa/nacional/sesiones/nueva                                   400  403  403
  GET  /mesa/sesiones/{sesion}                                         200  200  200
  GET  /mesa/sesiones/999999                                           404  404  404
  POST /mesa/sesiones/{sesion}/acta                                    400  403  403
  POST /mesa/sesiones/999999/acta                                      404  403  403
  GET  /mesa/acuerdos/{acuerdo_mesa}                                   303  303  303
  GET  /mesa/acuerdos/999999                                           404  404  404
  POST /mesa/acuerdos/{acuerdo_mesa}/cumplido                          400  400  403
  POST /mesa/acuerdos/999999/cumplido                                  404  404  404
  GET  /protocolo                                                      200  200  200
  GET  /casos                                                          403  403  403
  GET  /casos/{detectado}                                              403  403  403
  GET  /notificaciones                                                 200  200  200
"""

# Where a redirect goes when it is not an anonymous GET (always /ingresar?next=…) nor an action
# refused for its stage (always the case page). "/" is checked by test_home_sends_each_role_to_its_worklist.
REDIRECTS = {"/ingresar": "/", "/salir": "/ingresar", "/idioma": "/", "/cuenta/sesiones/cerrar-otras": "/cuenta/sesiones",
             "/cuenta/activar/no-es-un-enlace": "/cuenta/activar",
             "/cuenta/recuperar/no-es-un-enlace": "/cuenta/nueva-contrasena",
             "/cuenta/segundo-factor/quitar": "/cuenta/segundo-factor", "/ingresar/codigo": "/ingresar?next=/",
             "/ingresar/segundo-factor": "/ingresar?next=/"}

LANDING = {
    "salud.rm": "/bandeja/informacion_pendiente", "coordinador.rm": "/bandeja/triaje",
    "gestor.rm": "/bandeja/casos_liderados", "coordinacion.nacional": "/bandeja/triaje",
    "gestor.sernameg": "/bandeja/casos_liderados", "migraciones": "/bandeja/residencias",
    "coordinador.ta": "/bandeja/triaje", "gestor.ta": "/bandeja/casos_liderados",
    "ong": "/bandeja/informacion_pendiente", "policia.rm": "/bandeja/informacion_pendiente",
    "auditor": "/protocolo", "administrador": "/administracion/casos-eliminados",
    "secretaria.mesa": "/plan", "plan.pav": "/plan",
}




# -- the Plan de Acción (issue 18 part 2): two more columns, the Mesa's roles ---------------------------
#
#   sec   secretaria.mesa       secretaria_tecnica  SERMIG   plan_manage, plan_report: edits the plan, reports for any action
#   pfp   plan.pav              punto_focal_plan    PAV      plan_report: reports for PAV's actions (eje 2) only
#
# Auditors, the secretariat and focal points read the monitoring pages and the semester report (no victim data);
# nobody else does. A permitted POST of an empty form is 400 (nothing saved); the focal point opening or posting
# the progress page of another institution's action ({accion_dj}) is 403. What the two roles get on the rest of
# the site: no case page, no Ficha.

PLAN_USERS = (*USERS, "secretaria.mesa", "plan.pav")

PLAN_MATRIX = """
# method path                                                          anon det  foc  fgst nat  lead mig  crTA gsTA ong  pol  aud  adm  sec  pfp
  GET  /plan                                                           302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/{plan}                                                    302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/999999                                                    302  403  403  403  403  403  403  403  403  403  403  404  403  404  404
  GET  /plan/{plan}/ejes/2                                             302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/{plan}/ejes/9                                             302  403  403  403  403  403  403  403  403  403  403  404  403  404  404
  GET  /plan/{plan}/instituciones/spd-pav                              302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/{plan}/instituciones/nadie                                302  403  403  403  403  403  403  403  403  403  403  404  403  404  404
  GET  /plan/{plan}/avances/{avance}/evidencia                         302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/{plan}/avances/00000000-0000-4000-8000-000000000000/evidencia  302  403  403  403  403  403  403  403  403  403  403  404  403  404  404
  GET  /plan/{plan}/informe?semestre=2025-2                            302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/{plan}/informe?semestre=2025-2&formato=xlsx               302  403  403  403  403  403  403  403  403  403  403  200  403  200  200
  GET  /plan/{plan}/informe?semestre=x                                 302  403  403  403  403  403  403  403  403  403  403  400  403  400  400
  POST /plan/{plan}/informe/emitir                                     401  403  403  403  403  403  403  403  403  403  403  403  403  400  403
# -- reporting progress: the secretariat for any action, PAV's focal point for PAV's only
  GET  /plan/{plan}/acciones/{accion_pav}/avance                       302  403  403  403  403  403  403  403  403  403  403  403  403  200  200
  POST /plan/{plan}/acciones/{accion_pav}/avance                       401  403  403  403  403  403  403  403  403  403  403  403  403  400  400
  GET  /plan/{plan}/acciones/{accion_dj}/avance                        302  403  403  403  403  403  403  403  403  403  403  403  403  200  403
  POST /plan/{plan}/acciones/{accion_dj}/avance                        401  403  403  403  403  403  403  403  403  403  403  403  403  400  403
  GET  /plan/{plan}/acciones/999999/avance                             302  403  403  403  403  403  403  403  403  403  403  403  403  404  404
# -- editing: the secretariat alone
  GET  /plan/{plan}/acciones/{accion_pav}/editar                       302  403  403  403  403  403  403  403  403  403  403  403  403  200  403
  POST /plan/{plan}/acciones/{accion_pav}/editar                       401  403  403  403  403  403  403  403  403  403  403  403  403  400  403
  GET  /plan/{plan}/acciones/999999/editar                             302  403  403  403  403  403  403  403  403  403  403  403  403  404  403
  GET  /plan/{plan}/ejes/2/lineas/1/nueva-accion                       302  403  403  403  403  403  403  403  403  403  403  403  403  200  403
  POST /plan/{plan}/ejes/2/lineas/1/nueva-accion                       401  403  403  403  403  403  403  403  403  403  403  403  403  400  403
  GET  /plan/{plan}/ejes/2/lineas/9/nueva-accion                       302  403  403  403  403  403  403  403  403  403  403  403  403  404  403
  GET  /plan/{plan}/instituciones/spd-pav/editar                       302  403  403  403  403  403  403  403  403  403  403  403  403  200  403
  POST /plan/{plan}/instituciones/spd-pav/editar                       401  403  403  403  403  403  403  403  403  403  403  403  403  400  403
  GET  /plan/nuevo                                                     302  403  403  403  403  403  403  403  403  403  403  403  403  200  403
  POST /plan/nuevo                                                     401  403  403  403  403  403  403  403  403  403  403  403  403  400  403
# -- the rest of the site for the Mesa's roles: no case, no Ficha; the protocol and their own notifications
  GET  /casos                                                          302  200  200  200  200  200  200  200  200  200  200  403  403  403  403
  GET  /fichas/nueva                                                   302  200  200  200  200  200  403  200  200  200  200  403  403  403  403
  GET  /casos/{detectado}                                              302  200  200  200  200  403  403  403  403  403  403  403  403  403  403
  GET  /protocolo                                                      302  200  200  200  200  200  200  200  200  200  200  200  200  200  200
  GET  /notificaciones                                                 302  200  200  200  200  200  200  200  200  200  200  200  200  200  200
"""

CELLS = parse(MATRIX, USERS) + parse(PLAN_MATRIX, PLAN_USERS)
MESA_CELLS = parse(MESA_MATRIX, MESA_USERS)




@pytest.mark.parametrize("cell", CELLS + MESA_CELLS, ids=cell_id)
def test_route_matrix(world: World, cell: Cell) -> None:
    path = world.url(cell.path)
    client = world.client(cell.user, fresh=cell.path == "/salir")  # signing out ends the client's session
    response = client.request(cell.method, path)
    assert response.status_code == cell.status, f"{cell_id(cell)}: {response.status_code}"
    if cell.status in (302, 303):
        location = response.headers["Location"]
        if cell.path in REDIRECTS:
            assert location == REDIRECTS[cell.path], location
        elif cell.user == ANON and cell.method == "GET":
            assert location.startswith("/ingresar?next="), location
        elif "/acciones/" in cell.path:
            assert location == path.split("/acciones/")[0], location


def test_the_matrix_covers_every_route_and_method(world: World) -> None:
    adapter = world.app.url_map.bind("localhost")
    covered = {(cell.method, adapter.match(world.url(cell.path).split("?")[0], method=cell.method)[0])
               for cell in CELLS + MESA_CELLS if cell.status != 405}
    # The referral pages have their own matrix (a case with live and ended referrals, an emergency
    # access) and their own coverage check: tests/referrals/test_referral_authorization.py; so have the
    # auditors' pages: tests/stats/test_stats_authorization.py.
    declared = {(method, rule.endpoint) for rule in world.app.url_map.iter_rules()
                if rule.endpoint != "static" and not rule.endpoint.startswith(("referrals.", "stats."))
                for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert declared - covered == set()


POST_PATHS = sorted({cell.path for cell in CELLS if cell.method == "POST"})


@pytest.mark.parametrize("path", POST_PATHS, ids=shown)
def test_a_post_without_csrf_token_is_refused_before_anything_else(world: World, path: str) -> None:
    """CSRF protection runs before the access rule: a tokenless POST is 400 even for anonymous users."""
    for name in (ANON, "coordinador.rm"):
        response = world.client(name, fresh=path == "/salir").request("POST", world.url(path), token=False)
        assert response.status_code == 400, (name, response.status_code)
        assert "Formulario vencido o alterado" in response.text


@pytest.mark.parametrize("name", sorted(LANDING))
def test_home_sends_each_role_to_its_worklist(world: World, name: str) -> None:
    response = world.client(name).request("GET", "/")
    assert response.status_code == 302
    assert response.headers["Location"] == LANDING[name]


def test_an_anonymous_get_comes_back_to_the_page_after_signing_in(app: Flask) -> None:
    browser = Browser(app, DEMO_PASSWORD)
    first = browser.get("/casos?estado=detectado")
    assert first.status_code == 302
    next_url = first.headers["Location"]
    assert next_url.startswith("/ingresar?next=")
    page = browser.get(next_url)
    signed = browser.client.post(next_url, data={**hidden_inputs(page.text), "email": "ong@demo.cl",
                                                "password": DEMO_PASSWORD})
    assert signed.status_code == 302 and signed.headers["Location"] == "/casos?estado=detectado"


def assert_on_site(location: str) -> None:
    """A path on this site: no scheme or host, and nothing a browser reads as one (//x, /\\x)."""
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/"), location
    assert not location.startswith(("//", "/\\")), location


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_signing_in_never_sends_the_user_to_another_site(app: Flask, target: str) -> None:
    browser = Browser(app, DEMO_PASSWORD)
    page = browser.get("/ingresar")
    response = browser.client.post("/ingresar", query_string={"next": target}, data={
        **hidden_inputs(page.text), "email": "ong@demo.cl", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert_on_site(response.headers["Location"])


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_choosing_a_language_never_sends_the_user_to_another_site(app: Flask, target: str) -> None:
    client = app.test_client()
    token = hidden_inputs(client.get("/ingresar").text)["csrf_token"]
    response = client.post("/idioma", data={"csrf_token": token, "lang": "en", "next": target})
    assert response.status_code == 302
    assert_on_site(response.headers["Location"])


# -- refused POSTs with a complete, valid form change nothing; the permitted user's succeeds --------


class Attempt(NamedTuple):
    stage: str
    url: str  # relative to the case: "acciones/…" or "formularios/…/editar"
    data: dict[str, Any]
    refused: tuple[str, ...]  # each gets 403 and the case is untouched
    permitted: str  # then succeeds (303 to the case page)


def _lead_node(app: Flask) -> str:
    with services(app) as ctx:
        return str(Steps(ctx).node_id(LEAD_NODE))


ATTEMPTS = [
    Attempt("detectado", "acciones/tomar_caso", {},
            ("salud.rm", "gestor.rm", "coordinador.ta", "gestor.sernameg", "policia.rm", "migraciones"),
            "coordinador.rm"),
    Attempt("detectado", "acciones/activar", {"nodo_lider": "<lead>", "fundamento": FUNDAMENTO},
            ("salud.rm", "gestor.rm", "coordinador.ta", "ong"), "coordinacion.nacional"),
    Attempt("informacion", "acciones/responder_informacion", {"respuesta": "En un albergue."},
            ("coordinador.rm", "coordinacion.nacional", "gestor.rm", "policia.rm", "ong"), "salud.rm"),
    Attempt("informacion", "formularios/ficha/editar", ficha_post(comuna="Maipú"),
            ("coordinador.rm", "gestor.rm", "policia.rm", "coordinador.ta"), "salud.rm"),
    Attempt("activado", "acciones/iniciar_informe", {},
            ("coordinador.rm", "gestor.rm", "salud.rm", "gestor.ta"), "gestor.sernameg"),
    Attempt("activado", "acciones/presentar_residencia", {},
            ("salud.rm", "gestor.rm", "migraciones", "coordinador.ta"), "coordinador.rm"),
    Attempt("presentada", "formularios/informe_social/editar", informe_post(),
            ("coordinador.rm", "gestor.rm", "salud.rm", "migraciones", "gestor.ta"), "gestor.sernameg"),
    Attempt("presentada", "acciones/registrar_tramite", {},
            ("gestor.sernameg", "coordinador.rm", "coordinacion.nacional", "salud.rm"), "migraciones"),
]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: f"{a.url} at {a.stage}")
def test_a_complete_post_by_a_refused_user_changes_nothing(app: Flask, attempt: Attempt) -> None:
    reference = build_case(app, attempt.stage)
    data = {k: (_lead_node(app) if v == "<lead>" else v) for k, v in attempt.data.items()}
    url = f"/casos/{reference}/{attempt.url}"
    for name in attempt.refused:
        client = Client(app, name)
        version = version_of(app, reference)
        response = client.http.post(url, data={**data, "csrf_token": client.token, "case_version": str(version)})
        assert response.status_code == 403, (name, response.status_code)
        assert version_of(app, reference) == version, f"{name}'s refused POST changed the case"
    client = Client(app, attempt.permitted)
    response = client.http.post(url, data={**data, "csrf_token": client.token,
                                           "case_version": str(version_of(app, reference))})
    assert response.status_code == 303, response.status_code
    assert response.headers["Location"] == f"/casos/{reference}"


# -- 3. a refused user learns nothing personal ----------------------------------------------------

OUTSIDERS = {  # stage -> users outside the case at that stage (they may open cases, but not this one)
    "detectado": ("coordinador.ta", "gestor.ta", "ong", "policia.rm", "gestor.sernameg", "migraciones"),
    "activado": ("coordinador.ta", "gestor.ta", "ong", "policia.rm", "migraciones"),
    "presentada": ("coordinador.ta", "gestor.ta", "ong", "policia.rm"),
}
CASE_PAGES = (("GET", ""), ("GET", "/formularios/ficha"), ("GET", "/formularios/solicitud_residencia"),
              ("GET", "/formularios/informe_social"), ("GET", "/formularios/no_existe"),
              ("GET", "/formularios/ficha/editar"), ("POST", "/formularios/ficha/editar"),
              ("GET", "/acciones/tomar_caso"), ("POST", "/acciones/tomar_caso"),
              ("GET", "/acciones/cerrar"), ("POST", "/acciones/cerrar"), ("GET", "/acciones/no_existe"))


def assert_nothing_personal(text: str, where: str) -> None:
    for secret in PERSONAL:
        assert secret not in text, f"{where} shows {secret!r}"


@pytest.mark.parametrize("stage", sorted(OUTSIDERS))
def test_an_outside_node_is_refused_without_learning_anything_personal(world: World, stage: str) -> None:
    reference = world.values[stage]
    for name in (*OUTSIDERS[stage], "auditor"):
        client = world.client(name)
        for method, suffix in CASE_PAGES:
            response = client.request(method, f"/casos/{reference}{suffix}")
            assert response.status_code == 403, (name, method, suffix, response.status_code)
            assert_nothing_personal(response.text, f"{method} {suffix or 'case page'} for {name}")
            assert "Sin acceso" in response.text or "Su rol no permite" in response.text


STRANGERS = ("coordinador.ta", "gestor.ta", "ong", "policia.rm")  # inside none of the cases about VICTIM_GIVEN


@pytest.mark.parametrize("stage", sorted(OUTSIDERS))
def test_an_outside_node_does_not_find_the_case_in_its_worklists(world: World, stage: str) -> None:
    reference = world.values[stage]
    pages = ["/casos", *(f"/bandeja/{key}" for key in world.app.extensions["referral.protocol"].definition.inboxes)]
    for name in OUTSIDERS[stage]:
        client = world.client(name)
        for path in pages:
            response = client.request("GET", path)
            assert response.status_code in (200, 404), (name, path)
            assert reference not in response.text, f"{path} of {name} lists {reference}"
            if name in STRANGERS:  # the others see the same person in a case they do take part in
                assert_nothing_personal(response.text, f"{path} of {name}")


def test_participants_do_find_the_case_in_their_worklists(world: World) -> None:
    """The counterpart of the test above, so that it cannot pass because worklists are empty."""
    expected = {
        ("coordinador.rm", "/bandeja/triaje", "detectado"), ("coordinacion.nacional", "/bandeja/triaje", "detectado"),
        ("salud.rm", "/bandeja/informacion_pendiente", "informacion"),
        ("gestor.sernameg", "/bandeja/casos_liderados", "activado"),
        ("migraciones", "/bandeja/residencias", "presentada"),
        ("ong", "/casos", "libera"), ("salud.rm", "/casos", "activado"),
    }
    for name, path, stage in expected:
        page = world.client(name).request("GET", path)
        assert world.values[stage] in page.text, (name, path, stage)
    libera_cases = world.client("ong").request("GET", "/casos").text
    assert all(world.values[stage] not in libera_cases for stage in STAGES)


# -- 4. the auditor and the migration officer -----------------------------------------------------


def test_the_auditor_reads_the_protocol_and_nothing_else(world: World) -> None:
    auditor = world.client("auditor")
    home = auditor.request("GET", "/")
    assert home.status_code == 302 and home.headers["Location"] == "/protocolo"
    protocol = auditor.request("GET", "/protocolo")
    assert protocol.status_code == 200
    for hidden in ("/casos", "/bandeja/", "/fichas/nueva"):  # no link to what the auditor may not open
        assert f'href="{hidden}' not in protocol.text
    refused = ["/casos", "/casos?estado=detectado", "/fichas/nueva",
               *(f"/bandeja/{key}" for key in world.app.extensions["referral.protocol"].definition.inboxes)]
    for reference in world.values.values():
        refused += [f"/casos/{reference}", f"/casos/{reference}/formularios/ficha",
                    f"/casos/{reference}/formularios/solicitud_residencia",
                    f"/casos/{reference}/formularios/informe_social", f"/casos/{reference}/acciones/cerrar"]
    for path in refused:
        response = auditor.request("GET", path)
        assert response.status_code == 403, (path, response.status_code)
        assert_nothing_personal(response.text, path)


def test_the_migration_officer_reads_the_residence_request_but_not_the_ficha_nor_the_social_report(
        world: World) -> None:
    reference = world.values["presentada"]
    officer = world.client("migraciones")

    request = officer.request("GET", f"/casos/{reference}/formularios/solicitud_residencia")
    assert request.status_code == 200
    assert VICTIM_DOCUMENT in request.text and "Solicitud de Residencia Temporal" in request.text

    for form_key in ("ficha", "informe_social", "decision_activacion"):
        refused = officer.request("GET", f"/casos/{reference}/formularios/{form_key}")
        assert refused.status_code == 403, form_key
        assert RELATO not in refused.text and REDES not in refused.text and FUNDAMENTO not in refused.text
        assert VICTIM_PHONE not in refused.text

    # The case page links the readable request only, and shows neither the account nor the report.
    page = officer.request("GET", f"/casos/{reference}")
    assert page.status_code == 200
    assert f'href="/casos/{reference}/formularios/solicitud_residencia"' in page.text
    assert f'href="/casos/{reference}/formularios/ficha"' not in page.text
    assert f'href="/casos/{reference}/formularios/informe_social"' not in page.text
    for secret in (RELATO, REDES, FUNDAMENTO, VICTIM_PHONE):
        assert secret not in page.text

    # Before the request is submitted the migration service is not a participant at all.
    before = world.values["activado"]
    assert officer.request("GET", f"/casos/{before}").status_code == 403
    assert officer.request("GET", f"/casos/{before}/formularios/solicitud_residencia").status_code == 403
    assert before not in officer.request("GET", "/bandeja/residencias").text


def test_nobody_ends_another_persons_session(world: World) -> None:
    """A live session of coordinador.rm (the world's own client): every other person, whatever the role,
    gets 404 for it, and it goes on."""
    from referral.auth.models import UserSession

    owner = world.client("coordinador.rm")
    assert owner.request("GET", "/casos").status_code == 200
    with services(world.app) as ctx:
        user_id = Steps(ctx).user("coordinador.rm").id
        ids = ctx.session.scalars(select(UserSession.id).where(UserSession.user_id == user_id,
                                                               UserSession.revoked_at.is_(None))).all()
    assert ids
    for name in USERS[1:]:
        if name == "coordinador.rm":
            continue
        for session_id in ids:
            response = world.client(name).request("POST", f"/cuenta/sesiones/{session_id}/cerrar")
            assert response.status_code == 404, (name, response.status_code)
        assert str(ids[0]) not in world.client(name).request("GET", "/cuenta/sesiones").text
    assert owner.request("GET", "/casos").status_code == 200
    with services(world.app) as ctx:
        assert all(ctx.session.get(UserSession, i).revoked_at is None for i in ids)


def test_a_deactivated_account_loses_access_at_once(app: Flask) -> None:
    reference = build_case(app, "detectado")
    client = Client(app, "coordinador.rm")
    assert client.request("GET", f"/casos/{reference}").status_code == 200
    with services(app) as ctx:
        Steps(ctx).user("coordinador.rm").active = False
        ctx.session.commit()
    again = client.request("GET", f"/casos/{reference}")
    assert again.status_code == 302 and again.headers["Location"].startswith("/ingresar?next=")
    assert client.request("POST", f"/casos/{reference}/acciones/tomar_caso").status_code == 401

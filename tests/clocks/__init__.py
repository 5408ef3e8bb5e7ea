"""Steps shared by the clock tests: the services called as the views and the workers call them, one
committed unit of work per step, on the real database (nothing mocked).

A Metropolitana case filed by salud.rm has three participant nodes from the start: MINSAL-CL-RM
(nodo_detector; salud.rm), CAVD-CL-RM (punto_focal; coordinador.rm and gestor.rm) and PAV
(coordinacion_nacional; coordinacion.nacional, and administrador, who may not open cases).
Activating it with SERNAMEG as lead node adds gestor.sernameg (nodo_lider).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select

from referral.auth.models import User
from referral.kernel.models import Case
from referral.clocks.models import CaseClock, Notification
from referral.clocks.service import run_clocks, sweep

from .. import steps
from ..factories import COMPLAINT_MADE
from ..steps import (  # noqa: F401  (the clock tests take these steps from this package)
    LEAD, activate, case_id, fire, node_id, save, user,
)
from ..units import unit_of_work

UTC = dt.UTC
LEASE = dt.timedelta(minutes=5)

# The lead node's forms as the services take them (typed values).
INFORME = {
    "nivel_educacional": "media_completa", "nivel_ingresos": "sin_ingresos", "tipo_explotacion": "sexual",
    "redes_apoyo": "Una prima en Santiago.", "opinion_persona": "Quiere trabajar.", "riesgo": "alto",
    "riesgo_fundamentos": "La red conoce su domicilio anterior.", "proyecto_vida": "Estudiar peluquería.",
    "evaluacion_profesional": "Requiere alojamiento protegido.", "firmante_cargo": "Trabajadora social",
    "firmado": True,
}
RESIDENCIA = {
    "finalidad": "regularizar", "exencion_costos": True,
    "certificacion": "en_tramite", "tipo_documento": "pasaporte", "numero_documento": "VE4417829",
    "pais_documento": "VE", "situacion_migratoria_actual": "irregular", "peligro_grave": True,
    "fecha_preparacion": dt.date(2026, 11, 18), "permiso_trabajo": True,
}


def plan(node: int) -> dict[str, Any]:
    return {
        "objetivos_corto_plazo": "Alojamiento seguro y atención en salud.",
        "objetivos_largo_plazo": "Regularización y trabajo.",
        "acciones": [{"necesidad": "alojamiento", "servicio": "alojamiento", "nodo_responsable": str(node),
                      "plazo": "corto", "fecha_compromiso": dt.date(2026, 12, 1), "estado": "pendiente"}],
        "acuerdo": "si", "opinion": "Quiere empezar por un lugar seguro donde dormir.",
        "acuerdo_fecha": dt.date(2026, 11, 18), "explicado_por": "Trabajadora social",
    }


def file_case(app: Flask, by: str = "salud.rm", **ficha_changes: Any) -> str:
    """A Ficha whose complaint was already made (so only the clock under test runs), unless changed."""
    return steps.file_case(app, by, **{**COMPLAINT_MADE, **ficha_changes})


def to_follow_up(app: Flask, reference: str) -> None:
    """From activado: Informe Social written, sent and approved; plan sent and approved; follow-up."""
    fire(app, "gestor.sernameg", reference, "iniciar_informe")
    save(app, "gestor.sernameg", reference, "informe_social", INFORME)
    fire(app, "gestor.sernameg", reference, "enviar_informe")
    fire(app, "coordinador.rm", reference, "aprobar_informe")
    save(app, "gestor.sernameg", reference, "plan", plan(node_id(app, LEAD)))
    fire(app, "gestor.sernameg", reference, "enviar_plan")
    fire(app, "coordinador.rm", reference, "aprobar_plan")
    fire(app, "gestor.sernameg", reference, "iniciar_seguimiento")


@dataclass(frozen=True)
class ClockRow:
    """A plain copy of a case_clocks row, read in its own session."""

    id: int
    clock: str
    period: int
    status: str
    started_at: dt.datetime
    due_at: dt.datetime
    next_at: dt.datetime | None
    step: int
    escalation: int
    breached_at: dt.datetime | None
    stopped_at: dt.datetime | None
    stop_reason: str | None
    enqueued_at: dt.datetime | None
    met: bool | None


def clocks_of(app: Flask, reference: str) -> list[ClockRow]:
    """Every clock row of the case, in the order they were created."""
    with unit_of_work(app) as ctx:
        rows = ctx.session.scalars(
            select(CaseClock).join(Case, Case.id == CaseClock.case_id).where(Case.reference == reference)
            .order_by(CaseClock.id))
        return [ClockRow(r.id, r.clock, r.period, r.status, r.started_at, r.due_at, r.next_at, r.step, r.escalation,
                         r.breached_at, r.stopped_at, r.stop_reason, r.enqueued_at, r.met) for r in rows]


def clock_of(app: Flask, reference: str, key: str) -> ClockRow:
    """The newest row of one clock of the case."""
    rows = [row for row in clocks_of(app, reference) if row.clock == key]
    assert rows, f"the case has no clock {key!r}"
    return rows[-1]


def notified(app: Flask, reference: str | None = None) -> list[tuple[str, str, str, int, int, int]]:
    """(user, clock, kind, period, step, level) of every notification (of one case), sorted."""
    with unit_of_work(app) as ctx:
        query = (select(User.email, Notification.clock, Notification.kind, Notification.period, Notification.step,
                        Notification.level)
                 .join(User, User.id == Notification.user_id).join(Case, Case.id == Notification.case_id))
        if reference is not None:
            query = query.where(Case.reference == reference)
        return sorted((email.removesuffix("@demo.cl"), *rest) for email, *rest in ctx.session.execute(query))


def tick(app: Flask, now: dt.datetime, email: bool = False, lease: dt.timedelta = LEASE) -> list[uuid.UUID]:
    """Move the app's clock (the `clock` fixture) to `now`, then one sweep and one run of what it
    handed out, each committed, as beat and a worker would."""
    app.config["CLOCK"].now = now
    with unit_of_work(app) as ctx:
        ids = sweep(ctx, now, lease)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        created = run_clocks(ctx, ids, now, email=email)
        ctx.session.commit()
    return created

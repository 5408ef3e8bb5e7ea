"""The demo's sessions of the Mesa Intersectorial (issue 18): two of the national Mesa and one of the Metropolitana's,
recorded by the Secretaría Técnica through the service, so their agreements run on clocks like any other."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from ..auth.models import User
from ..context import Context
from ..mesa.service import AgreementInput, MeetingInput, mesa_of, record_meeting
from ..network.models import Node

MINUTES = ("Se revisó el avance del eje de Prevención del Plan de Acción 2023-2026 y los casos formalizados del semestre "
           "(cifras agregadas). Se acordó reforzar la capacitación de inspectores del trabajo en indicadores de trata.")


def load_mesa_sessions(ctx: Context) -> int:
    """Record the demo sessions; the caller commits. Returns how many were recorded."""
    secretaria = ctx.session.scalar(select(User).where(User.email == "secretaria.mesa@demo.cl"))
    nodes = {n.code: n.id for n in ctx.session.scalars(select(Node).where(Node.code.in_(
        ["SERMIG", "SERNAMEG", "PAV", "DT-CL-RM", "PDI-BITRAP-CL-RM", "CAVD-CL-RM", "MINREL", "OIM"])))}
    if secretaria is None or len(nodes) < 4:
        return 0
    today = ctx.now().astimezone(ctx.timezone).date()

    def day(days: int) -> dt.date:
        return today + dt.timedelta(days=days)

    sessions = [
        ("nacional", MeetingInput(day(-63), tuple(nodes.values()), MINUTES, (
            AgreementInput("Calendario de capacitaciones en detección para inspectores del trabajo.",
                           nodes.get("DT-CL-RM", nodes["SERMIG"]), day(-20)),
            AgreementInput("Informe consolidado de causas formalizadas del semestre.", nodes["PAV"], day(10)),
        ))),
        ("nacional", MeetingInput(day(-6), (nodes["SERMIG"], nodes["SERNAMEG"], nodes["PAV"]),
                                  "Sesión ordinaria: seguimiento de acuerdos y del informe semestral del Plan.", (
            AgreementInput("Propuesta de cupos de alojamiento para el próximo semestre.", nodes["SERNAMEG"], day(21)),
        ))),
        ("CL-RM", MeetingInput(day(-2), tuple(n for c, n in nodes.items() if c in ("CAVD-CL-RM", "PDI-BITRAP-CL-RM",
                                                                                     "SERMIG", "PAV")), "", (
            AgreementInput("Mesa de trabajo con fiscalía regional sobre denuncias institucionales.",
                           nodes.get("PDI-BITRAP-CL-RM", nodes["PAV"]), day(14)),
        ))),
    ]
    for key, values in sessions:
        record_meeting(ctx, secretaria, mesa_of(ctx, key), values, uuid.uuid4().hex)
    return len(sessions)

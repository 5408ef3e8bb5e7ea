"""The demo's Plan de Acción: the 2023-2026 plan loaded from its YAML file, with some progress reported by the
Secretaría Técnica and by PAV's focal point (through the same service the pages call)."""

from __future__ import annotations

import io
import uuid

from sqlalchemy import select

from ..config import PROJECT_ROOT
from ..context import Context
from ..plan.loading import load_plan, read_plan_file
from ..plan.models import DONE, IN_PROGRESS, Action, Plan
from ..plan.service import ProgressInput, record_progress
from .network import DemoNetwork

PLAN_FILE = PROJECT_ROOT / "workflows" / "chile" / "plan_accion_2023_2026.yaml"
EVIDENCE = b"%PDF-1.4\n% Acta de la Mesa Intersectorial (demo)\n" + b"0" * 2048 + b"\n%%EOF\n"
# (eje, action code, who reports, status, values as typed, reference)
DEMO_PROGRESS = (
    (2, "1.3", "plan.pav", DONE, ("si",), "Protocolo actualizado, oficio de la Subsecretaría de Prevención del Delito."),
    (2, "2.1", "plan.pav", IN_PROGRESS, ("6", "140"), "Capacitaciones a CAVD y casas de acogida."),
    (2, "2.3", "plan.pav", IN_PROGRESS, ("2", "45"), ""),
    (1, "1.5", "secretaria.mesa", DONE, ("si",), "Podcast publicado en el sitio web de la MITP."),
    (3, "1.3", "secretaria.mesa", DONE, ("si",), "Seminario realizado; acta de asistencia."),
    (4, "3.1", "secretaria.mesa", IN_PROGRESS, ("3",), "Informes de avance publicados en el sitio web de la MITP."),
)


def load_demo_plan(ctx: Context, network: DemoNetwork) -> Plan:
    """Load the plan and record the demo's progress reports (the first one with an evidence document)."""
    plan, _changed = load_plan(ctx, read_plan_file(PLAN_FILE))
    actions = {(a.eje_number, a.code): a for a in ctx.session.scalars(select(Action).where(Action.plan_id == plan.id))}
    for index, (eje, code, who, status, values, reference) in enumerate(DEMO_PROGRESS):
        evidence = {"filename": "acta-mesa.pdf", "read": io.BytesIO(EVIDENCE).read} if index == 0 else {}
        record_progress(ctx, network.user(who), plan.id, actions[(eje, code)].id,
                        ProgressInput(status, values, reference, **evidence), uuid.uuid4().hex)
    return plan

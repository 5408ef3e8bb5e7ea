"""Clocks whose subject is not a case: a Mesa's agreement, a meta of the Plan de Acción, its semester report.

Such a clock declares `subject: <kind>` instead of `starts_on`: no step of a case starts or stops it; the
service that owns the subject does (`referral.clocks.subjects.start_subject_clock` / `stop_subject_clock`),
giving the deadline and the nodes told. It may remind or escalate only to its two parties, whose nodes are
given when it starts: the responsible institution and the coordinating one. Pure: no database, no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass

from .text import Text

RESPONSIBLE, COORDINATING = "institucion_responsable", "institucion_que_coordina"
PARTIES = frozenset({RESPONSIBLE, COORDINATING})
DUE_FIELD = "subject.due_on"  # deadline_from of a subject clock: the date (or moment) given when it starts
PARTY_LABELS = {
    RESPONSIBLE: Text("Institución responsable", "Responsible institution"),
    COORDINATING: Text("Institución que coordina", "Coordinating institution"),
}


@dataclass(frozen=True)
class SubjectKind:
    key: str
    label: Text  # what the subject is called in a notification («Acuerdo de la Mesa Intersectorial n.º 7»)
    readers: tuple[str, ...]  # capabilities of the roles told (they can open the subject's page)
    path: str | None = None  # the subject's page, "{id}" for its id; None: notifications carry no link yet

    def about(self, subject_id: str) -> Text:
        """How a notification names the subject: its kind and id (nothing of its text)."""
        shown = f"n.º {subject_id}" if subject_id.isdigit() else subject_id[:8]
        return Text(f"{self.label.es} {shown}", f"{self.label.get('en')} {shown.replace('n.º', 'no.')}")

    def link(self, subject_id: str) -> str | None:
        return self.path.format(id=subject_id) if self.path else None


# The kinds of subject a clock may name. [producto] issue 18: the Mesa's agreements, the Plan's metas and its
# semester progress reports; their staff are the Mesa's roles (plan_manage, plan_report).
KINDS = {
    "acuerdo_mesa": SubjectKind("acuerdo_mesa", Text("Acuerdo de la Mesa", "Agreement of the Inter-sector Table"),
                                ("plan_manage", "plan_report"), "/mesa/acuerdos/{id}"),
    # the Plan's pages are wired by the lead (its metas and reports live on branch plan): no link until then
    "meta_plan": SubjectKind("meta_plan", Text("Meta del Plan de Acción", "Action Plan target"),
                             ("plan_manage", "plan_report")),
    "informe_plan": SubjectKind("informe_plan", Text("Informe semestral del Plan de Acción",
                                                     "Action Plan semester report"), ("plan_manage", "plan_report")),
}

"""What the Mesa's pages show: the sessions of one Mesa, and one session with its agreements and their deadlines.
Plain view models in the user's language; no Flask. The caller has checked that the user may read (`may_read`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from ..auth.models import User
from ..clocks.models import RUNNING
from ..clocks.subjects import subject_clocks
from ..clocks.wording import URGENCY_WORDS, deadline, local, time_left, urgency
from ..context import Context
from ..country import subject_clock
from ..network.models import Node
from ..workflow import Text
from .models import DONE, MesaAgreement, MesaMeeting
from .service import SUBJECT_KIND, MesaNotFound, may_manage, may_mark, mesa_of, mesas

STATUS = {"abierto": Text("Abierto", "Open"), "cumplido": Text("Cumplido", "Done")}


@dataclass(frozen=True)
class MesaRow:
    key: str
    label: str
    sessions: int
    minutes: int  # sessions with minutes


@dataclass(frozen=True)
class SessionRow:
    id: int
    held_on: str
    present: int
    has_minutes: bool
    agreements: int
    open_agreements: int


@dataclass(frozen=True)
class MesaPage:
    key: str
    label: str
    sessions: tuple[SessionRow, ...]
    may_record: bool


@dataclass(frozen=True)
class AgreementView:
    id: int
    text: str
    responsible: str
    due_on: str
    status: str
    status_label: str
    deadline: str  # «Vence en 3 días», «Vencido hace 2 días», «Cumplido el ...»
    urgency: str  # overdue | soon | on_time | "" (done)
    urgency_label: str
    may_mark: bool


@dataclass(frozen=True)
class SessionView:
    id: int
    mesa_key: str
    mesa_label: str
    held_on: str
    present: tuple[str, ...]
    minutes: str | None
    agreements: tuple[AgreementView, ...]


def mesas_overview(ctx: Context, language: str) -> list[MesaRow]:
    """Every Mesa (national, each region) with its sessions and minutes counted (one query)."""
    counts = {(kind, region): (int(n), int(m or 0)) for kind, region, n, m in ctx.session.execute(
        select(MesaMeeting.mesa, MesaMeeting.region_code, func.count(),
               func.count(MesaMeeting.minutes)).group_by(MesaMeeting.mesa, MesaMeeting.region_code))}
    return [MesaRow(m.key, m.label.get(language), *counts.get((m.kind, m.region_code), (0, 0))) for m in mesas(ctx)]


@dataclass(frozen=True)
class OwnAgreementRow:
    id: int
    meeting_id: int
    text: str
    due_on: str


def own_open_agreements(ctx: Context, user: User) -> list[OwnAgreementRow]:
    """The open agreements whose responsible institution is the user's node, soonest due first (one query)."""
    return [OwnAgreementRow(a.id, a.meeting_id, a.text, a.due_on.strftime("%d-%m-%Y"))
            for a in ctx.session.scalars(select(MesaAgreement).where(
                MesaAgreement.responsible_node_id == user.node_id, MesaAgreement.status != DONE)
                .order_by(MesaAgreement.due_on, MesaAgreement.id))]


def mesa_page(ctx: Context, user: User, key: str, language: str) -> MesaPage:
    """The sessions of one Mesa, newest first, with their agreements counted (two queries)."""
    mesa = mesa_of(ctx, key)
    rows = list(ctx.session.scalars(select(MesaMeeting).where(
        MesaMeeting.mesa == mesa.kind, MesaMeeting.region_code.is_(None) if mesa.region_code is None
        else MesaMeeting.region_code == mesa.region_code).order_by(MesaMeeting.held_on.desc(), MesaMeeting.id.desc())))
    counted: dict[int, tuple[int, int]] = {}
    if rows:
        for meeting_id, total, done in ctx.session.execute(
                select(MesaAgreement.meeting_id, func.count(),
                       func.count(MesaAgreement.done_at)).where(MesaAgreement.meeting_id.in_([r.id for r in rows]))
                .group_by(MesaAgreement.meeting_id)):
            counted[meeting_id] = (int(total), int(total) - int(done))
    sessions = tuple(SessionRow(r.id, r.held_on.strftime("%d-%m-%Y"), len(r.present), r.minutes is not None,
                                *counted.get(r.id, (0, 0))) for r in rows)
    return MesaPage(mesa.key, mesa.label.get(language), sessions, may_manage(ctx, user))


def session_view(ctx: Context, user: User, meeting_id: int, language: str) -> SessionView:
    meeting = ctx.session.get(MesaMeeting, meeting_id)
    if meeting is None:
        raise MesaNotFound()
    mesa = mesa_of(ctx, meeting.region_code or "nacional")
    agreements = list(ctx.session.scalars(select(MesaAgreement).where(MesaAgreement.meeting_id == meeting.id)
                                          .order_by(MesaAgreement.position)))
    names = _names(ctx, set(meeting.present) | {a.responsible_node_id for a in agreements})
    clocks = subject_clocks(ctx, subject_clock(ctx.definition, SUBJECT_KIND), SUBJECT_KIND, [str(a.id) for a in agreements])
    now = ctx.now()
    views = []
    for a in agreements:
        clock = clocks.get(str(a.id))
        if a.status == DONE:
            words, level = Text(f"Cumplido el {local(a.done_at or now, ctx.timezone)}",
                                f"Done on {local(a.done_at or now, ctx.timezone)}").get(language), ""
        elif clock is not None and clock.status == RUNNING:
            words, level = time_left(clock.due_at, now).get(language), urgency(clock.started_at, clock.due_at, now)
        else:
            words, level = "", ""
        views.append(AgreementView(
            a.id, a.text, names.get(a.responsible_node_id, ""), deadline(clock.due_at, ctx.timezone) if clock else
            a.due_on.strftime("%d-%m-%Y"), a.status, STATUS[a.status].get(language), words, level,
            URGENCY_WORDS[level].get(language) if level else "", a.status != DONE and may_mark(ctx, user, a)))
    return SessionView(meeting.id, mesa.key, mesa.label.get(language), meeting.held_on.strftime("%d-%m-%Y"),
                       tuple(sorted(names.get(n, "") for n in meeting.present)), meeting.minutes, tuple(views))


def meeting_of_agreement(ctx: Context, agreement_id: int) -> int:
    meeting_id = ctx.session.scalar(select(MesaAgreement.meeting_id).where(MesaAgreement.id == agreement_id))
    if meeting_id is None:
        raise MesaNotFound()
    return int(meeting_id)


def _names(ctx: Context, node_ids: set[int]) -> Mapping[int, str]:
    if not node_ids:
        return {}
    return dict(ctx.session.execute(select(Node.id, Node.short_name).where(Node.id.in_(sorted(node_ids)))).all())

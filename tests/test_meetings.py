"""Coordination meetings (mesa de caso, issue 16 item 5): the lead node convenes the case's nodes, records the
minutes and agreements sealed under the case key; each agreement is a task of its responsible node on the
clocks (`acuerdo_mesa`: deadline from its due date, reminded, escalated to the convener, stopped when done).

Time: the `clock` fixture starts at T0 = 2026-11-18 15:00 UTC (Wednesday noon in Santiago); `tick` moves it,
sweeps and runs what is due. Setup: a Metropolitana case filed by salud.rm (nodo_detector), activated with
SERNAMEG (gestor.sernameg) as lead; the focal point CAVD-CL-RM (coordinador.rm, gestor.rm); a live referral to
INCAMI (ong.incami, derivacion_alojamiento). LIBERA (ong) and the Tarapacá nodes have no relation to the case.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.kernel.errors import AccessDenied, CaseNotFound, InvalidInput
from referral.kernel.meeting_models import CaseAgreement, CaseMeeting
from referral.cases.meetings import (
    AgreementAlreadyDone, AgreementInput, MeetingAlreadyConvened, MeetingClosed, MeetingInput, MinutesAlreadyRecorded,
    MinutesInput, cancel_meeting, complete_agreement, convene, meetings_section, record_minutes,
)
from referral.clocks.models import RUNNING, STOPPED
from referral.workflow import load_definition
from referral.workflow.errors import DefinitionError

from .browser import hidden_inputs
from .clocks import clocks_of, file_case, notified, tick
from .referrals import answer, consent, refer
from .steps import activate, node_id, user
from .units import unit_of_work
from .definitions import workflow_text

UTC = dt.UTC
SANTIAGO = ZoneInfo("America/Santiago")
PLACE = "Oficina de SERNAMEG, Agustinas 1389, sala 4"
PURPOSE = "Coordinar el alojamiento de Marisol Quispe."
NARRATIVE = "Marisol relató que el tratante la busca en Quilicura; se acuerda cambio de albergue."
AGREEMENT = "INCAMI gestiona el cupo en la casa de acogida de Maipú."
DONE_NOTE = "Cupo confirmado en Maipú el lunes."
MEETING_AT = dt.datetime(2026, 11, 25, 10, 0)  # local, a Wednesday
DUE_ON = dt.date(2026, 12, 15)


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=SANTIAGO).astimezone(UTC)


def setup_case(app: Any) -> str:
    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    refer(app, reference, "INCAMI")
    return reference


def meeting_input(app: Any, **changes: Any) -> MeetingInput:
    values = {"starts_at": MEETING_AT, "modality": "presencial", "place": PLACE, "purpose": PURPOSE,
              "invited": (node_id(app, "CAVD-CL-RM"), node_id(app, "INCAMI")), **changes}
    return MeetingInput(**values)


def hold(app: Any, reference: str, who: str = "gestor.sernameg", token: str | None = None, **changes: Any) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        row = convene(ctx, user(ctx, who), reference, meeting_input(app, **changes), token or uuid.uuid4().hex)
        ctx.session.commit()
        return row.id


def minutes(app: Any, **changes: Any) -> MinutesInput:
    values = {"attendees": (node_id(app, "SERNAMEG"), node_id(app, "INCAMI")), "narrative": NARRATIVE,
              "agreements": (AgreementInput(AGREEMENT, node_id(app, "INCAMI"), DUE_ON),
                             AgreementInput("", None, None)), **changes}
    return MinutesInput(**values)


def record(app: Any, reference: str, meeting: uuid.UUID, who: str = "gestor.sernameg", **changes: Any) -> list[uuid.UUID]:
    with unit_of_work(app) as ctx:
        rows = record_minutes(ctx, user(ctx, who), reference, meeting, minutes(app, **changes))
        ctx.session.commit()
        return [r.id for r in rows]


def mark_done(app: Any, reference: str, agreement: uuid.UUID, who: str = "ong.incami", note: str = DONE_NOTE) -> None:
    with unit_of_work(app) as ctx:
        complete_agreement(ctx, user(ctx, who), reference, agreement, note)
        ctx.session.commit()


def seen(app: Any, who: str, reference: str) -> list[tuple[str, tuple[str, ...]]]:
    """(place, agreement texts) of each meeting the user's node reads."""
    with unit_of_work(app) as ctx:
        _, section = meetings_section(ctx, user(ctx, who), reference, "es")
        assert section is not None
        return [(m.place, tuple(a.text for a in m.agreements)) for m in section.meetings]


def of(app: Any, reference: str, clock: str) -> list[tuple[str, str, int]]:
    return sorted((who, kind, level) for who, key, kind, _, _, level in notified(app, reference) if key == clock)


def test_convening_tells_the_invited_nodes_and_only_they_read_it(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    meeting = hold(app, reference)
    (row,) = [c for c in clocks_of(app, reference) if c.clock == "mesa_de_caso"]
    assert (row.status, row.due_at) == (RUNNING, MEETING_AT.replace(tzinfo=SANTIAGO).astimezone(UTC))
    tick(app, clock.now)
    told = {who for who, _, _ in of(app, reference, "mesa_de_caso")}
    assert told == {"coordinador.rm", "gestor.rm", "ong.incami"}  # the invited nodes' staff; not the convener
    for who in ("gestor.sernameg", "coordinador.rm", "ong.incami"):
        assert seen(app, who, reference) == [(PLACE, ())]
    assert seen(app, "salud.rm", reference) == []  # a node of the case not invited reads nothing of it
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        meetings_section(ctx, user(ctx, "gestor.ta"), reference, "es")  # no relation to the case
    for who in ("salud.rm", "ong.incami"):  # neither the detecting node nor a shelter convenes
        with pytest.raises(AccessDenied):
            hold(app, reference, who=who)
    with pytest.raises(AccessDenied):  # only the convener records the minutes
        record(app, reference, meeting, who="coordinador.rm")
    with pytest.raises(CaseNotFound):  # a node not invited does not even learn the meeting exists
        record(app, reference, meeting, who="salud.rm")


def test_an_invited_node_whose_relation_ended_is_told_nothing_more(app: Any, clock: Any) -> None:
    """INCAMI, invited while its referral was pending, refuses the referral: it leaves the case, and the
    meeting's clock no longer tells its staff anything about the case."""
    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    referral = refer(app, reference, "INCAMI")
    hold(app, reference)
    answer(app, reference, referral, "rechazar", "ong.incami", reason="sin_cupo")
    tick(app, clock.now)
    told = {who for who, _, _ in of(app, reference, "mesa_de_caso")}
    assert told == {"coordinador.rm", "gestor.rm"}  # the focal point's staff; INCAMI no longer takes part


def test_an_agreement_is_a_task_on_the_clocks_until_its_node_marks_it_done(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    meeting = hold(app, reference)
    clock.advance(days=7)
    (agreement,) = record(app, reference, meeting)
    rows = {c.clock: c for c in clocks_of(app, reference) if c.clock in ("mesa_de_caso", "acuerdo_mesa")}
    assert rows["mesa_de_caso"].status == STOPPED  # the minutes are the meeting's end
    task = rows["acuerdo_mesa"]
    assert (task.status, task.started_at, task.due_at) == (RUNNING, clock.now, end_of_day(DUE_ON))
    tick(app, clock.now)
    assert of(app, reference, "acuerdo_mesa") == [("ong.incami", "started", 0)]  # only the responsible node
    tick(app, end_of_day(DUE_ON) - dt.timedelta(hours=1))  # two working days before: reminded
    assert ("ong.incami", "reminder", 0) in of(app, reference, "acuerdo_mesa")
    tick(app, end_of_day(DUE_ON))  # late: the responsible node told, the convener escalated to
    assert of(app, reference, "acuerdo_mesa") == [("gestor.sernameg", "escalation", 1), ("ong.incami", "due", 0),
                                                  ("ong.incami", "reminder", 0), ("ong.incami", "started", 0)]
    with pytest.raises(AccessDenied):  # the convener cannot mark another node's agreement done
        mark_done(app, reference, agreement, who="gestor.sernameg")
    mark_done(app, reference, agreement)
    with pytest.raises(AgreementAlreadyDone):  # a second click changes nothing
        mark_done(app, reference, agreement)
    (task,) = [c for c in clocks_of(app, reference) if c.clock == "acuerdo_mesa"]
    assert (task.status, task.stop_reason) == (STOPPED, "stop_event")
    assert seen(app, "coordinador.rm", reference) == [(PLACE, (AGREEMENT,))]
    with unit_of_work(app) as ctx:
        _, section = meetings_section(ctx, user(ctx, "ong.incami"), reference, "es")
        assert section is not None and section.meetings[0].agreements[0].done_note == DONE_NOTE


def test_bad_input_writes_nothing_and_a_second_submit_records_once(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    for bad, key in ((dict(starts_at=None), "starts_at"), (dict(modality="paseo"), "modality"),
                     (dict(invited=()), "invited"), (dict(invited=(node_id(app, "LIBERA"),)), "invited"),
                     (dict(place="x" * 501), "place")):
        with pytest.raises(InvalidInput) as refused:
            hold(app, reference, **bad)
        assert key in refused.value.errors
    token = uuid.uuid4().hex
    meeting = hold(app, reference, token=token)
    with pytest.raises(MeetingAlreadyConvened):
        hold(app, reference, token=token)
    for agreements, key in (((AgreementInput(AGREEMENT, None, DUE_ON),), "agreements-0-responsible"),
                            ((AgreementInput(AGREEMENT, node_id(app, "LIBERA"), DUE_ON),), "agreements-0-responsible"),
                            ((AgreementInput("", None, None), AgreementInput(AGREEMENT, node_id(app, "INCAMI"),
                                                                             dt.date(2026, 11, 1))),
                             "agreements-1-due_on")):
        with pytest.raises(InvalidInput) as refused:
            record(app, reference, meeting, agreements=agreements)
        assert key in refused.value.errors
    with pytest.raises(InvalidInput):
        record(app, reference, meeting, narrative=" ")
    record(app, reference, meeting)
    with pytest.raises(MinutesAlreadyRecorded):
        record(app, reference, meeting)
    with unit_of_work(app) as ctx:
        assert len(ctx.session.scalars(select(CaseMeeting)).all()) == 1
        assert len(ctx.session.scalars(select(CaseAgreement)).all()) == 1


def test_the_forms_keep_what_was_typed_and_a_double_click_acts_once(app: Any, clock: Any, make_browser: Any) -> None:
    reference = setup_case(app)
    lead = make_browser()
    lead.login("gestor.sernameg")
    page = lead.get(f"/casos/{reference}")
    assert f"/casos/{reference}/mesas/nueva" in page.text
    fields = hidden_inputs(lead.get(f"/casos/{reference}/mesas/nueva").text)
    invited = [str(node_id(app, "CAVD-CL-RM")), str(node_id(app, "INCAMI"))]
    typed = {**fields, "date": "2026-11-25", "time": "", "modality": "presencial", "place": PLACE, "invited": invited}
    missing = lead.client.post(f"/casos/{reference}/mesas/nueva", data=typed)
    assert missing.status_code == 400 and "Agustinas 1389" in missing.text and "obligatorio" in missing.text
    complete = {**typed, "time": "10:00"}
    assert lead.client.post(f"/casos/{reference}/mesas/nueva", data=complete).status_code == 303
    assert lead.client.post(f"/casos/{reference}/mesas/nueva", data=complete).status_code == 303
    with unit_of_work(app) as ctx:
        (meeting,) = ctx.session.scalars(select(CaseMeeting.id)).all()
    url = f"/casos/{reference}/mesas/{meeting}/acta"
    fields = hidden_inputs(lead.get(url).text)
    bad = {**fields, "narrative": NARRATIVE, "agreements-0-text": AGREEMENT, "agreements-0-responsible": "",
           "agreements-0-due_on": "2026-12-15"}
    refused = lead.client.post(url, data=bad)
    assert refused.status_code == 400 and "casa de acogida de Maipú" in refused.text and "tratante" in refused.text
    good = {**bad, "agreements-0-responsible": str(node_id(app, "INCAMI"))}
    assert lead.client.post(url, data=good).status_code == 303
    assert lead.client.post(url, data=good).status_code == 303  # the second click: already recorded
    with unit_of_work(app) as ctx:
        (agreement,) = ctx.session.scalars(select(CaseAgreement.id)).all()
    shelter = make_browser()
    shelter.login("ong.incami")
    case_page = shelter.get(f"/casos/{reference}")
    assert AGREEMENT in case_page.text and "Marcar cumplido" in case_page.text
    done_url = f"/casos/{reference}/acuerdos/{agreement}/cumplido"
    token = hidden_inputs(case_page.text)["csrf_token"]
    for _ in range(2):
        assert shelter.client.post(done_url, data={"csrf_token": token, "agreement": str(agreement),
                                                     "note": DONE_NOTE}).status_code == 303
    with unit_of_work(app) as ctx:
        actions = [e.action for e in ctx.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions.count("meeting.acuerdo.cumplir") == 1 and actions.count("meeting.mesa.convocar") == 1


def test_meetings_are_shredded_with_the_case(app: Any, clock: Any) -> None:
    from referral.cases.erasure import erase_case

    reference = setup_case(app)
    record(app, reference, hold(app, reference))
    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), reference, "ingreso_erroneo", reference)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(CaseMeeting)).all() == []
        assert ctx.session.scalars(select(CaseAgreement)).all() == []


def test_the_definition_refuses_unknown_relations_and_parties(tmp_path: Path) -> None:
    source = Path(__file__).parent.parent / "workflows" / "chile"
    text = workflow_text(source)  # one workflow.yaml written from the split files
    (tmp_path / "forms").symlink_to(source / "forms")
    for wrong, message in (
        (text.replace("conveners: [nodo_lider,", "conveners: [nodo_fantasma,"), "nodo_fantasma"),
        (text.replace("starts_on: {agreement_state: [abierto]}", "starts_on: {agreement_state: [firmado]}"),
         "unknown agreement_state 'firmado'"),
        (text.replace("remind: [responsable]", "remind: [invitado]"), "relation 'invitado' is not declared"),
        (text.replace("deadline_from: agreement.due_on", "deadline_from: meeting.starts_at"), "deadline_from"),
    ):
        assert wrong != text, message
        (tmp_path / "workflow.yaml").write_text(wrong)
        with pytest.raises(DefinitionError, match=message):
            load_definition(tmp_path)


def cancel(app: Any, reference: str, meeting: uuid.UUID, who: str = "gestor.sernameg",
           reason: str = "reprogramada") -> None:
    with unit_of_work(app) as ctx:
        cancel_meeting(ctx, user(ctx, who), reference, meeting, reason)
        ctx.session.commit()


def test_the_convener_calls_a_meeting_off_and_its_invitees_are_reminded_no_more(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    meeting = hold(app, reference)
    tick(app, clock.now)
    told_before = len(of(app, reference, "mesa_de_caso"))
    for who in ("coordinador.rm", "ong.incami"):  # an invitee may not call it off
        with pytest.raises(AccessDenied):
            cancel(app, reference, meeting, who=who)
    with pytest.raises(CaseNotFound):  # a node of the case not invited does not learn it exists
        cancel(app, reference, meeting, who="salud.rm")
    with pytest.raises(InvalidInput):  # a reason from the list is needed
        cancel(app, reference, meeting, reason="porque si")
    cancel(app, reference, meeting)
    (row,) = [c for c in clocks_of(app, reference) if c.clock == "mesa_de_caso"]
    assert row.status == STOPPED
    tick(app, MEETING_AT.replace(tzinfo=SANTIAGO).astimezone(UTC) - dt.timedelta(hours=12))  # the day before
    assert len(of(app, reference, "mesa_de_caso")) == told_before  # no reminder for a meeting called off
    with pytest.raises(MeetingClosed):  # a second click changes nothing
        cancel(app, reference, meeting)
    with pytest.raises(MeetingClosed):  # nor may minutes be recorded afterwards
        record(app, reference, meeting)
    (view,) = [m for m in meetings_section_of(app, "coordinador.rm", reference)]
    assert view.cancelled.endswith("Se convocará en otra fecha") and not view.may_cancel
    with unit_of_work(app) as ctx:
        actions = [e.action for e in ctx.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions.count("meeting.mesa.cancelar") == 1


def test_a_meeting_with_minutes_cannot_be_called_off(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    meeting = hold(app, reference)
    record(app, reference, meeting)
    with pytest.raises(MeetingClosed):
        cancel(app, reference, meeting)


def test_calling_a_meeting_off_in_the_browser_asks_for_a_reason_and_confirmation(app: Any, make_browser: Any) -> None:
    reference = setup_case(app)
    meeting = hold(app, reference)
    lead = make_browser()
    lead.login("gestor.sernameg")
    page = lead.get(f"/casos/{reference}").text
    assert "Cancelar la mesa" in page and "Se convocará en otra fecha" in page
    url = f"/casos/{reference}/mesas/{meeting}/cancelar"
    token = hidden_inputs(page)["csrf_token"]
    unconfirmed = lead.client.post(url, data={"csrf_token": token, "motivo": "reprogramada"})
    assert unconfirmed.status_code == 303
    assert "No se canceló la mesa: marque «Confirmo»" in html.unescape(lead.get(f"/casos/{reference}").text)
    no_reason = lead.client.post(url, data={"csrf_token": token, "motivo": "", "confirmo": "si"})
    assert no_reason.status_code == 303
    assert "No se canceló la mesa: elija el motivo." in html.unescape(lead.get(f"/casos/{reference}").text)
    with unit_of_work(app) as ctx:
        assert ctx.session.get(CaseMeeting, meeting).cancelled_at is None  # neither did anything
    for _ in range(2):  # a double click cancels once
        assert lead.client.post(url, data={"csrf_token": token, "motivo": "reprogramada", "confirmo": "si"}
                                ).status_code == 303
    page = lead.get(f"/casos/{reference}").text
    assert "Cancelada el" in page and "Registrar acta y acuerdos" not in page
    with unit_of_work(app) as ctx:
        actions = [e.action for e in ctx.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions.count("meeting.mesa.cancelar") == 1


def meetings_section_of(app: Any, who: str, reference: str) -> tuple[Any, ...]:
    with unit_of_work(app) as ctx:
        _, section = meetings_section(ctx, user(ctx, who), reference, "es")
        assert section is not None
        return section.meetings

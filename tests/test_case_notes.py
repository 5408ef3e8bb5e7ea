"""Case notes (atenciones, issue 16 item 2): sealed under the case key, read per relation, restarting the
follow-up clock when the lead node records a contact; nothing of a note in clear anywhere."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.kernel.errors import AccessDenied, InvalidInput
from referral.kernel.note_models import CaseNote
from referral.cases.notes import NoteAlreadyRecorded, NoteInput, notes_section, record_note
from referral.clocks.models import RUNNING, STOPPED, CaseClock
from referral.clocks.service import calendar_of, start_clock
from referral.workflow import load_definition
from referral.workflow.errors import DefinitionError

from .browser import hidden_inputs
from .referrals import consent, refer
from .steps import activate, case_id, file_case, user
from .test_encryption_at_rest import database_bytes
from .units import unit_of_work
from .definitions import workflow_text

NARRATIVE = "Contó que su empleador le retiene el pasaporte en Quilicura, calle Los Aromos."
NEXT_STEPS = "Acompañarla a la PDI el jueves."
PARTICIPANTS = "Asistente social Rebeca Tapia y la intérprete Olga Ruiz."


def note(type_: str = "entrevista", shared: tuple[str, ...] = ("nodo_lider", "punto_focal", "coordinacion_nacional"),
         narrative: str = NARRATIVE, **changes: Any) -> NoteInput:
    values = {"type": type_, "date": dt.date(2026, 11, 18), "participants": PARTICIPANTS, "narrative": narrative,
              "next_steps": NEXT_STEPS, "shared_with": shared, **changes}
    return NoteInput(**values)


def write(app: Any, who: str, reference: str, values: NoteInput, token: str | None = None) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        row = record_note(ctx, user(ctx, who), reference, values, token or uuid.uuid4().hex)
        ctx.session.commit()
        return row.id


def readable(app: Any, who: str, reference: str) -> list[str]:
    with unit_of_work(app) as ctx:
        _, section = notes_section(ctx, user(ctx, who), reference, "es")
        assert section is not None
        return [n.narrative for n in section.notes]


def test_the_lead_writes_and_each_relation_reads_what_is_shared_with_it(app: Any, clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)  # SERNAMEG leads
    consent(app, reference)
    refer(app, reference, "INCAMI")  # a shelter, while the referral is live (derivacion_alojamiento)
    write(app, "gestor.sernameg", reference, note(narrative="Para el equipo."))
    clock.advance(minutes=1)  # newest first needs times that differ
    write(app, "gestor.sernameg", reference, note(narrative="Solo para el nodo líder.", shared=()))
    clock.advance(minutes=1)
    write(app, "gestor.sernameg", reference, note(narrative="Para el albergue.",
                                                  shared=("derivacion_alojamiento",)))
    clock.advance(minutes=1)
    write(app, "ong.incami", reference, note(type_="acompanamiento", narrative="Nota propia del albergue.",
                                             shared=()))
    # newest first; the author's node reads all of its own
    assert readable(app, "gestor.sernameg", reference) == ["Para el albergue.", "Solo para el nodo líder.",
                                                           "Para el equipo."]
    assert readable(app, "coordinador.rm", reference) == ["Para el equipo."]  # punto_focal
    assert readable(app, "coordinacion.nacional", reference) == ["Para el equipo."]
    assert readable(app, "ong.incami", reference) == ["Nota propia del albergue.", "Para el albergue."]
    assert readable(app, "salud.rm", reference) == []  # the detecting node: nothing shared with it
    # a node with no relation to the case is refused, to read and to write
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        notes_section(ctx, user(ctx, "gestor.ta"), reference, "es")
    with pytest.raises(AccessDenied):
        write(app, "gestor.ta", reference, note())


def test_bad_input_writes_nothing_and_a_second_click_records_once(app: Any, clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    for bad, field in ((note(type_="charla"), "type"), (note(narrative="  "), "narrative"),
                       (note(date=dt.date(2026, 11, 19)), "date"), (note(shared=("auditor_externo",)), "shared_with"),
                       (note(narrative="x" * 8001), "narrative")):
        with pytest.raises(InvalidInput) as refused:
            write(app, "gestor.sernameg", reference, bad)
        assert field in refused.value.errors
    token = uuid.uuid4().hex
    write(app, "gestor.sernameg", reference, note(), token)
    with pytest.raises(NoteAlreadyRecorded):
        write(app, "gestor.sernameg", reference, note(), token)
    with unit_of_work(app) as ctx:
        assert len(ctx.session.scalars(select(CaseNote)).all()) == 1


def _follow_up_clock(app: Any, reference: str) -> None:
    """The follow-up clock as entering «seguimiento» starts it (the state's path is the protocol tests')."""
    with unit_of_work(app) as ctx:
        start_clock(ctx, case_id(app, reference), ctx.definition.clocks["seguimiento"], ctx.now(), calendar_of(ctx))
        ctx.session.commit()


def _clocks(app: Any, reference: str) -> list[tuple[int, str, str | None, dt.datetime]]:
    with unit_of_work(app) as ctx:
        rows = ctx.session.scalars(select(CaseClock).where(CaseClock.case_id == case_id(app, reference),
                                                           CaseClock.clock == "seguimiento").order_by(CaseClock.id))
        return [(r.period, r.status, r.stop_reason, r.due_at) for r in rows]


def test_a_contact_recorded_by_the_lead_restarts_the_follow_up_clock(app: Any, clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    _follow_up_clock(app, reference)
    first_due = _clocks(app, reference)[0][3]
    clock.advance(days=10)
    write(app, "gestor.sernameg", reference, note(type_="coordinacion"))  # not a contact: nothing restarts
    write(app, "coordinador.rm", reference, note(type_="llamada"))  # a contact, but not by the lead node
    assert _clocks(app, reference) == [(1, RUNNING, None, first_due)]
    write(app, "gestor.sernameg", reference, note(type_="llamada"))
    (p1, s1, why, due1), (p2, s2, _, due2) = _clocks(app, reference)
    assert (p1, s1, why, due1) == (1, STOPPED, "stop_event", first_due)  # met, in time
    assert (p2, s2) == (2, RUNNING) and due2 == first_due + dt.timedelta(days=10)  # 30 days from the call
    with unit_of_work(app) as ctx:
        actions = [e.details for e in ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "note.create"))]
    assert actions[-1] == {"restarted": ["seguimiento"]}


def test_nothing_of_a_note_is_stored_or_logged_or_audited_in_clear(app: Any, make_browser: Any,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reference = file_case(app)
    activate(app, reference)
    lead = make_browser()
    lead.login("gestor.sernameg")
    page = lead.get(f"/casos/{reference}/atenciones/nueva")
    answer = lead.client.post(f"/casos/{reference}/atenciones/nueva", data={
        **hidden_inputs(page.text), "type": "visita", "date": "2026-11-18", "participants": PARTICIPANTS,
        "narrative": NARRATIVE, "next_steps": NEXT_STEPS, "shared_with": ["punto_focal"]})
    assert answer.status_code == 303
    assert NARRATIVE in lead.get(f"/casos/{reference}").text
    stored = database_bytes(app)
    for secret in (NARRATIVE, NEXT_STEPS, PARTICIPANTS, "Quilicura", "Rebeca Tapia"):
        assert secret.encode() not in stored, secret
        assert secret not in caplog.text, secret
    with unit_of_work(app) as ctx:
        events = ctx.session.scalars(select(AuditEvent)).all()
        note_id = ctx.session.scalar(select(CaseNote.id))
    audit_text = " ".join(f"{e.action} {e.subject} {e.details}" for e in events)
    assert "Quilicura" not in audit_text and "visita" not in audit_text
    assert f"note.create {note_id}" in audit_text and str(note_id) in audit_text.split("notes")[-1]


def test_the_form_keeps_what_was_typed_and_a_double_click_records_once(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    lead = make_browser()
    lead.login("gestor.sernameg")
    fields = hidden_inputs(lead.get(f"/casos/{reference}/atenciones/nueva").text)
    missing = lead.client.post(f"/casos/{reference}/atenciones/nueva", data={
        **fields, "type": "llamada", "date": "2026-11-18", "narrative": "", "next_steps": NEXT_STEPS})
    assert missing.status_code == 400 and NEXT_STEPS in missing.text and "obligatorio" in missing.text
    complete = {**fields, "type": "llamada", "date": "2026-11-18", "narrative": NARRATIVE}
    assert lead.client.post(f"/casos/{reference}/atenciones/nueva", data=complete).status_code == 303
    again = lead.client.post(f"/casos/{reference}/atenciones/nueva", data=complete)
    assert again.status_code == 303 and again.headers["Location"] == f"/casos/{reference}"
    with unit_of_work(app) as ctx:
        assert len(ctx.session.scalars(select(CaseNote)).all()) == 1
    # the detecting node opens the case but the note was shared only with the default team: not shown to it
    health = make_browser()
    health.login("salud.rm")
    assert NARRATIVE not in health.get(f"/casos/{reference}").text
    assert health.get(f"/casos/{reference}/atenciones/nueva").status_code == 200  # it writes its own


def test_notes_are_shredded_with_the_case(app: Any) -> None:
    from referral.cases.erasure import erase_case

    reference = file_case(app)
    activate(app, reference)
    write(app, "gestor.sernameg", reference, note())
    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), reference, "ingreso_erroneo", reference)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert ctx.session.scalars(select(CaseNote)).all() == []


def test_the_definition_refuses_unknown_note_types_and_relations(tmp_path: Path) -> None:
    source = Path(__file__).parent.parent / "workflows" / "chile"
    text = workflow_text(source)  # one workflow.yaml written from the split files
    (tmp_path / "forms").symlink_to(source / "forms")
    for wrong, message in (
        (text.replace("note_recorded: [entrevista,", "note_recorded: [charla,"), "unknown note type 'charla'"),
        (text.replace("default_share: [nodo_lider,", "default_share: [nodo_fantasma,"), "nodo_fantasma"),
        (text.replace("  always_read_by: [acceso_emergencia]", "  readers: [acceso_emergencia]"), "unknown keys"),
    ):
        assert wrong != text
        (tmp_path / "workflow.yaml").write_text(wrong)
        with pytest.raises(DefinitionError, match=message):
            load_definition(tmp_path)


def test_a_case_key_rotation_reseals_the_notes(app: Any) -> None:
    from referral.keys.rotation import rotate_case
    from referral.vault.cells import sealed_version

    reference = file_case(app)
    activate(app, reference)
    write(app, "gestor.sernameg", reference, note())
    rotate_case(lambda: unit_of_work(app), reference)
    with unit_of_work(app) as ctx:
        assert sealed_version(ctx.session.scalar(select(CaseNote.data))) == 2
    assert readable(app, "gestor.sernameg", reference) == [NARRATIVE]

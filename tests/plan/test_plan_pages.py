"""The plan's pages: who reports for which action, what an attack gets, evidence sealed, every change audited,
the monitoring pages and the semester report (issue 18 part 2)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from referral.audit.models import AuditEvent
from referral.kernel.errors import InvalidInput
from referral.plan import evidence as evidence_module
from referral.plan.loading import load_plan, read_plan_file
from referral.plan.models import Action, Plan, Progress
from referral.plan.reading import plan_deadlines
from referral.plan.service import NotYourAction, ProgressAlreadyRecorded, ProgressInput, record_progress

from ..backends import both_backends
from ..browser import hidden_inputs
from ..steps import user
from ..test_encryption_at_rest import database_bytes
from ..units import unit_of_work
from .test_plan_file import PLAN_FILE

SECRETARIAT, FOCAL_PAV, AUDITOR, CASE_WORKER = "secretaria.mesa", "plan.pav", "auditor", "gestor.rm"
MARKER = b"ACTA-CONFIDENCIAL-PLAN-9Z7K"
REFERENCE_TEXT = "Oficio N 123 de la Subsecretaría"


def pdf(size: int = 200_000, marker: bytes = MARKER) -> bytes:
    body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + marker + b"\n"
    return (body + bytes(range(256)) * (size // 256 + 1))[:max(size, len(body))]


def loaded(app: Any) -> dict[tuple[int, str], int]:
    """Load the plan; the ids of its actions by (eje, code)."""
    with unit_of_work(app) as ctx:
        plan, _ = load_plan(ctx, read_plan_file(PLAN_FILE))
        ctx.session.commit()
        return {(a.eje_number, a.code): a.id for a in ctx.session.scalars(select(Action))} | {(0, "plan"): plan.id}


def plan_id(ids: dict[tuple[int, str], int]) -> int:
    return ids[(0, "plan")]


def progress_rows(app: Any) -> list[Progress]:
    with unit_of_work(app) as ctx:
        return list(ctx.session.scalars(select(Progress)))


def blobs(app: Any) -> list[Path]:
    return sorted(p for p in Path(app.config["ATTACHMENTS_DIR"]).rglob("*") if p.is_file())


def send(browser: Any, url: str, fields: dict[str, Any], content: bytes | None = None, name: str = "acta.pdf") -> Any:
    values = MultiDict(list(fields.items()))
    if content is not None:
        values.add("evidence", FileStorage(io.BytesIO(content), name, content_type="application/octet-stream"))
    boundary, body = encode_multipart(values)
    return browser.client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def report_url(ids: dict[tuple[int, str], int], eje: int, code: str) -> str:
    return f"/plan/{plan_id(ids)}/acciones/{ids[(eje, code)]}/avance"


def audit_events(app: Any) -> list[AuditEvent]:
    """The plan's audit events after its loading (`plan.load`), in order."""
    with unit_of_work(app) as ctx:
        return list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action.like("plan.%"),
                                                                 AuditEvent.action != "plan.load")
                                        .order_by(AuditEvent.seq)))


# -- who reports ------------------------------------------------------------------------------------


@both_backends
def test_a_focal_point_reports_her_institutions_action_with_evidence_sealed(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    focal = make_browser()
    focal.login(FOCAL_PAV)
    url = report_url(ids, 2, "2.1")  # eje 2 is PAV's
    fields = hidden_inputs(focal.get(url).text)
    answer = send(focal, url, {**fields, "status": "en_curso", "value_0": "6", "value_1": "140",
                               "reference": REFERENCE_TEXT}, pdf(), "Acta Ñuble.pdf")
    assert answer.status_code == 303 and answer.headers["Location"] == f"/plan/{plan_id(ids)}/ejes/2"
    (row,) = progress_rows(app)
    assert (row.status, row.values, row.reference) == ("en_curso", [6, 140], REFERENCE_TEXT)
    page = focal.get(f"/plan/{plan_id(ids)}/ejes/2").text
    assert "Acta Ñuble.pdf" in page and "<strong>140</strong>" in page
    assert "Atrasada" in page  # reported «en curso», but its meta (30-06-2025) has passed
    got = focal.get(f"/plan/{plan_id(ids)}/avances/{row.id}/evidencia")
    assert got.status_code == 200 and got.data == pdf() and got.headers["Content-Type"] == "application/pdf"
    # sealed: neither the content nor the file name is on disk or in the database
    stored, on_disk = database_bytes(app), b"".join(p.read_bytes() for p in blobs(app))
    assert len(on_disk) > 200_000
    for secret in (MARKER, "Acta Ñuble".encode(), pdf()[-4096:]):
        assert secret not in stored and secret not in on_disk, secret
    auditor = make_browser()
    auditor.login(AUDITOR)  # auditors read the plan (no victim data), evidence included
    assert auditor.get(f"/plan/{plan_id(ids)}/avances/{row.id}/evidencia").data == pdf()
    actions = [e.action for e in audit_events(app)]
    assert actions.count("plan.progress.create") == 1 and actions.count("plan.evidence.download") == 2


def test_a_focal_point_cannot_report_for_another_institutions_action(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    focal = make_browser()
    focal.login(FOCAL_PAV)
    url = report_url(ids, 3, "1.3")  # eje 3 is the División Jurídica's, not PAV's
    assert focal.get(url).status_code == 403
    fields = hidden_inputs(focal.get(report_url(ids, 2, "2.1")).text)  # a real token from her own page
    answer = send(focal, url, {**fields, "status": "cumplida", "value_0": "si"}, pdf())
    assert answer.status_code == 403
    assert progress_rows(app) == [] and blobs(app) == []
    with unit_of_work(app) as ctx, pytest.raises(NotYourAction):
        record_progress(ctx, user(ctx, FOCAL_PAV), plan_id(ids), ids[(3, "1.3")],
                        ProgressInput("cumplida", ("si",), ""), uuid.uuid4().hex)
    assert progress_rows(app) == [] and audit_events(app) == []
    # the secretariat reports for any institution
    secretariat = make_browser()
    secretariat.login(SECRETARIAT)
    fields = hidden_inputs(secretariat.get(url).text)
    assert send(secretariat, url, {**fields, "status": "cumplida", "value_0": "si"}).status_code == 303
    assert [r.status for r in progress_rows(app)] == ["cumplida"]


@pytest.mark.parametrize("who", [AUDITOR, CASE_WORKER, FOCAL_PAV])
def test_only_the_secretariat_edits_the_plan(app: Any, make_browser: Any, who: str) -> None:
    ids = loaded(app)
    intruder = make_browser()
    intruder.login(who)
    action = f"/plan/{plan_id(ids)}/acciones/{ids[(2, '2.1')]}/editar"
    data = {"description": "Otra", "goal": "Otra meta", "indicator_0": "x", "indicator_kind_0": "numero"}
    for path in (action, f"/plan/{plan_id(ids)}/instituciones/spd-pav/editar", "/plan/nuevo",
                 f"/plan/{plan_id(ids)}/ejes/2/lineas/1/nueva-accion"):
        assert intruder.post(path, data).status_code == 403, path
    with unit_of_work(app) as ctx:
        assert ctx.session.get(Action, ids[(2, "2.1")]).meta.startswith("Al menos diez capacitaciones")
        assert ctx.session.scalar(select(func.count()).select_from(Plan)) == 1
    assert audit_events(app) == []
    if who == CASE_WORKER:  # and a case worker does not even read it
        assert intruder.get(f"/plan/{plan_id(ids)}").status_code == 403


def test_a_double_submitted_report_is_recorded_once(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    focal = make_browser()
    focal.login(FOCAL_PAV)
    url = report_url(ids, 2, "1.1")
    fields = hidden_inputs(focal.get(url).text)
    for _click in range(2):
        answer = send(focal, url, {**fields, "status": "cumplida", "value_0": "si"}, pdf())
        assert answer.status_code == 303
    assert len(progress_rows(app)) == 1 and len(blobs(app)) == 1
    with unit_of_work(app) as ctx, pytest.raises(ProgressAlreadyRecorded):
        record_progress(ctx, user(ctx, FOCAL_PAV), plan_id(ids), ids[(2, "1.1")],
                        ProgressInput("cumplida", ("si",), ""), progress_rows(app)[0].token)


def test_bad_input_is_refused_and_what_was_typed_is_kept(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    focal = make_browser()
    focal.login(FOCAL_PAV)
    url = report_url(ids, 2, "2.1")
    fields = hidden_inputs(focal.get(url).text)
    answer = send(focal, url, {**fields, "status": "atrasada", "value_0": "muchas", "value_1": "-3",
                               "reference": "Acta de la sesión de marzo"})
    assert answer.status_code == 400
    assert "muchas" in answer.text and "Acta de la sesión de marzo" in answer.text
    assert "Escriba un número entero" in answer.text and "Elija una opción de la lista" in answer.text
    assert progress_rows(app) == []
    secretariat = make_browser()
    secretariat.login(SECRETARIAT)
    edit = f"/plan/{plan_id(ids)}/acciones/{ids[(2, '2.1')]}/editar"
    answer = secretariat.submit(edit, {"goal": "Meta nueva escrita", "due_on": "31-12-2025"})
    assert answer.status_code == 400 and "Meta nueva escrita" in answer.text and "AAAA-MM-DD" in answer.text


def test_evidence_of_a_wrong_type_or_too_large_is_refused_and_nothing_is_kept(app: Any, make_browser: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ids = loaded(app)
    focal = make_browser()
    focal.login(FOCAL_PAV)
    url = report_url(ids, 2, "2.1")
    fields = hidden_inputs(focal.get(url).text)
    answer = send(focal, url, {**fields, "status": "en_curso"}, b"MZ\x90\x00" + b"\x00" * 5000, "acta.pdf")
    assert answer.status_code == 400 and "no es PDF, JPEG ni PNG" in answer.text
    monkeypatch.setattr(evidence_module, "MAX_BYTES", 100_000)
    fields = hidden_inputs(focal.get(url).text)
    answer = send(focal, url, {**fields, "status": "en_curso"}, pdf(100_001))
    assert answer.status_code == 400 and "supera el tamaño máximo" in answer.text
    assert progress_rows(app) == [] and blobs(app) == []
    with unit_of_work(app) as ctx, pytest.raises(InvalidInput) as refused:
        record_progress(ctx, user(ctx, FOCAL_PAV), plan_id(ids), ids[(2, "2.1")],
                        ProgressInput("en_curso", (), "", "a.pdf", io.BytesIO(b"").read), uuid.uuid4().hex)
    assert refused.value.errors["evidence"][0].es == "El archivo está vacío."


# -- editing, audited --------------------------------------------------------------------------------


def test_the_secretariat_edits_an_action_and_an_institution_and_each_change_is_audited(app: Any,
                                                                                        make_browser: Any) -> None:
    ids = loaded(app)
    secretariat = make_browser()
    secretariat.login(SECRETARIAT)
    edit = f"/plan/{plan_id(ids)}/acciones/{ids[(3, '1.3')]}/editar"
    answer = secretariat.submit(edit, {"description": "Implementación de Seminario de Lavados de Activos en el delito "
                                                      "de trata de personas.",
                                       "indicator_0": "Seminario de lavados de activos implementado (si/no).",
                                       "indicator_kind_0": "si_no", "goal": "Un seminario al 31 de marzo de 2025.",
                                       "due_on": "2025-03-31", "responsible": "spd-pav"})
    assert answer.status_code == 303
    with unit_of_work(app) as ctx:
        action = ctx.session.get(Action, ids[(3, "1.3")])
        assert (action.meta, action.due_on, action.responsible.key) == (
            "Un seminario al 31 de marzo de 2025.", dt.date(2025, 3, 31), "spd-pav")
    # now PAV's focal point reports for it
    focal = make_browser()
    focal.login(FOCAL_PAV)
    assert focal.get(report_url(ids, 3, "1.3")).status_code == 200
    institution = f"/plan/{plan_id(ids)}/instituciones/interior-dj/editar"
    name = "Subsecretaría del Interior - División Jurídica"
    refused = secretariat.submit(institution, {"name": name, "node_codes": "SUBINTERIOR NO-EXISTE"})
    assert refused.status_code == 400 and "NO-EXISTE" in refused.text
    assert secretariat.submit(institution, {"name": name, "node_codes": "SUBINTERIOR FISCALIA-CL-RM"}).status_code == 303
    events = audit_events(app)
    assert [e.action for e in events] == ["plan.action.update", "plan.institution.update"]
    text = " ".join(f"{e.subject} {e.details}" for e in events)
    assert "seminario" not in text and "marzo" not in text
    assert "'fields': ['meta', 'due_on', 'responsible_id']" in text and "'fields': ['node_codes']" in text


def test_a_new_plan_copies_the_structure_of_another_without_dates_or_progress(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    secretariat = make_browser()
    secretariat.login(SECRETARIAT)
    answer = secretariat.submit("/plan/nuevo", {"key": "pan-trata-2027-2030", "title": "Plan 2027-2030",
                                                "starts_on": "2027-01-01", "ends_on": "2030-12-31",
                                                "copy_from": str(plan_id(ids))})
    assert answer.status_code == 303
    with unit_of_work(app) as ctx:
        new = ctx.session.scalar(select(Plan).where(Plan.key == "pan-trata-2027-2030"))
        copied = list(ctx.session.scalars(select(Action).where(Action.plan_id == new.id)))
        assert len(copied) == 43 and all(a.due_on is None for a in copied)
        assert len(new.ejes) == 4 and new.ejes[1].coordinator.key == "spd-pav"
    again = secretariat.submit("/plan/nuevo", {"key": "pan-trata-2027-2030", "title": "Otro",
                                               "starts_on": "2027-01-01", "ends_on": "2026-12-31"})
    assert again.status_code == 400 and "Ya existe un plan con esa clave" in again.text
    assert "El término no puede ser anterior al inicio" in again.text and "Otro" in again.text


# -- monitoring and the semester report -------------------------------------------------------------


def test_monitoring_counts_late_done_and_on_time_and_the_semester_report_prints_and_downloads(
        app: Any, make_browser: Any, clock: Any) -> None:
    ids = loaded(app)
    with unit_of_work(app) as ctx:
        pav, secretariat = user(ctx, FOCAL_PAV), user(ctx, SECRETARIAT)
        record_progress(ctx, pav, plan_id(ids), ids[(2, "1.3")], ProgressInput("cumplida", ("si",), ""), "t1")
        record_progress(ctx, secretariat, plan_id(ids), ids[(4, "3.1")], ProgressInput("en_curso", ("3",), ""), "t2")
        ctx.session.commit()
        today = ctx.local_now().date()
        late = {(d.eje_number, d.code) for d in plan_deadlines(ctx, today, 0)}
    assert (2, "1.3") not in late and (3, "1.3") in late  # done is never late; a meta of 2024 not done is
    reader = make_browser()
    reader.login(AUDITOR)
    overview = reader.get(f"/plan/{plan_id(ids)}")
    assert overview.status_code == 200 and "<svg" in overview.text and "<script" not in overview.text.split("</head>")[1]
    eje2 = reader.get(f"/plan/{plan_id(ids)}/ejes/2").text
    assert "Cumplida" in eje2 and "Atrasada" in eje2 and "Reportar avance" not in eje2 and "Editar acción" not in eje2
    semester = f"{today.year}-{1 if today.month <= 6 else 2}"
    printed = reader.get(f"/plan/{plan_id(ids)}/informe?semestre={semester}")
    assert printed.status_code == 200 and "Informe de avance del semestre" in printed.text
    assert "Acciones con avance reportado en el semestre" in printed.text and "2 / 43" in printed.text
    sheet = reader.get(f"/plan/{plan_id(ids)}/informe?semestre={semester}&formato=xlsx")
    assert sheet.status_code == 200 and sheet.data[:2] == b"PK"
    with zipfile.ZipFile(io.BytesIO(sheet.data)) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "Institución responsable" in strings and "Subsecretaría de Prevención del Delito" in strings
    assert "Cumplida" in strings and "Atrasada" in strings
    assert reader.get(f"/plan/{plan_id(ids)}/informe?semestre=2025-3").status_code == 400
    # an earlier semester shows what was reported by its end: nothing yet
    earlier = reader.get(f"/plan/{plan_id(ids)}/informe?semestre=2024-1").text
    assert "0 / 43" in earlier


def test_the_focal_point_sees_her_pending_actions_and_the_navigation_link(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    focal = make_browser()
    focal.login(FOCAL_PAV)
    home = focal.get("/")
    assert home.status_code == 302 and home.headers["Location"] == "/plan"
    page = focal.get(f"/plan/{plan_id(ids)}").text
    assert "Acciones que usted reporta, pendientes" in page and "Plan de Acción" in page
    assert page.count("/avance") == 9  # the nine actions of eje 2, PAV's



def test_evidence_stays_readable_after_a_master_key_rotation_under_the_new_key_alone(app: Any) -> None:
    import base64
    import os

    from referral.keys.rotation import rotate_master
    from referral.plan.evidence import open_evidence
    from referral.vault import MasterKey, MasterKeyring, Vault

    from ..conftest import MASTER_KEY

    ids = loaded(app)
    with unit_of_work(app) as ctx:
        row = record_progress(ctx, user(ctx, FOCAL_PAV), plan_id(ids), ids[(2, "1.2")], ProgressInput(
            "cumplida", ("si",), "", "guia.pdf", io.BytesIO(pdf()).read), uuid.uuid4().hex)
        ctx.session.commit()
        progress_id = row.id
    old, new = MasterKey(base64.b64decode(MASTER_KEY)), MasterKey(os.urandom(32))
    app.extensions["referral.vault"] = Vault(MasterKeyring(new, [old]))
    assert rotate_master(lambda: unit_of_work(app)).retired == [old.key_id]
    app.extensions["referral.vault"] = Vault(new)  # the old master key removed
    with unit_of_work(app) as ctx:
        document = open_evidence(ctx, ctx.session.get(Progress, progress_id))
        assert (document.name, b"".join(document.chunks)) == ("guia.pdf", pdf())

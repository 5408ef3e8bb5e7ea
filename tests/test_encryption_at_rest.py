"""No person field is in plaintext in the database after the demo data is loaded, in the file or a dump."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from referral.kernel.models import Case, FormRecord
from referral.kernel.records import open_values
from referral.kernel.keystore import cipher_for
from referral.context import Context
from referral.demo.loader import load_demo
from referral.extensions import database
from referral.network.models import Assignment
from referral.vault import Cell, DecryptionFailed

from .backends import both_backends

PERSONAL_FIELDS = ("nombres", "apellidos", "numero_documento", "telefono_seguro", "relato")


def personal_values(ctx: Context) -> set[str]:
    """Every personal value of every demo Ficha, read the legitimate way (through the vault)."""
    found: set[str] = set()
    for record in ctx.session.scalars(select(FormRecord).where(FormRecord.form_key == "ficha")):
        case = ctx.session.get(Case, record.case_id)
        ctx.act_as(case.detecting_node_id)  # the detecting node holds a wrap of every case it filed
        values = open_values(ctx, case, record)
        found.update(str(values[key]) for key in PERSONAL_FIELDS if values.get(key))
    return found


def database_bytes(app: Any) -> bytes:
    engine = database.engine(app)
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", url.database or ""],
        check=True, capture_output=True,
    )
    return dump.stdout


@both_backends
def test_after_the_demo_load_no_person_field_is_stored_in_plaintext(app: Any, ctx: Context) -> None:
    load_demo(app, cases=26, seed=11, progress=lambda _line: None)
    secrets = personal_values(ctx)
    assert len(secrets) > 60  # names, surnames, documents, phones, accounts of 26 people
    stored = database_bytes(app)
    assert len(stored) > 100_000
    leaked = sorted(value for value in secrets if value.encode() in stored or value.lower().encode() in stored)
    assert leaked == []


def test_a_form_ciphertext_copied_into_another_case_or_row_does_not_open(app: Any, ctx: Context) -> None:
    load_demo(app, cases=2, seed=3, progress=lambda _line: None)
    first, second = ctx.session.scalars(select(FormRecord).where(FormRecord.form_key == "ficha")).all()
    first_case, second_case = ctx.session.get(Case, first.case_id), ctx.session.get(Case, second.case_id)
    national = ctx.session.scalar(select(Assignment.node_id).where(Assignment.function == "coordinacion_nacional"))
    ctx.act_as(national)  # national coordination takes part in every case, so it holds both keys
    stolen = first.data
    second.data = stolen  # someone with write access to the database swaps sealed content
    with pytest.raises(DecryptionFailed):
        open_values(ctx, second_case, second)
    with pytest.raises(DecryptionFailed):  # same case key, another row
        cipher_for(ctx, first_case).open(stolen, Cell("form_records", "data", second.id))
    assert open_values(ctx, first_case, first)["nombres"]  # the original still opens where it belongs


@both_backends
def test_a_document_name_and_content_are_never_stored_in_clear(app: Any) -> None:
    """Case documents (issue 16 item 3): a marker in the file name and one in the content reach neither the
    database nor the documents folder (its file names included); the audit events carry ids only."""
    from referral.audit.models import AuditEvent

    from .test_case_attachments import CONTENT_MARKER, FILE_MARKER, LEAD, blobs, download, pdf, upload
    from .steps import activate, file_case

    reference = file_case(app)
    activate(app, reference)
    attachment = upload(app, LEAD, reference, pdf(300_000))
    assert download(app, LEAD, reference, attachment) == pdf(300_000)
    stored, files = database_bytes(app), b"".join(p.read_bytes() for p in blobs(app))
    paths = " ".join(str(p) for p in Path(app.config["ATTACHMENTS_DIR"]).rglob("*"))
    for marker in (FILE_MARKER.encode(), CONTENT_MARKER, FILE_MARKER.lower().encode()):
        assert marker not in stored and marker not in files, marker
    assert FILE_MARKER not in paths and reference not in paths and str(attachment) not in paths
    with database.factory(app)() as session:
        payloads = " ".join(f"{e.subject} {e.details}" for e in session.scalars(select(AuditEvent)))
    assert FILE_MARKER not in payloads and "informe_medico" not in payloads
def test_nothing_of_a_case_meeting_is_stored_logged_or_audited_in_clear(app: Any, clock: Any,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 16 item 5: the place and purpose of a mesa de caso, its minutes, its agreements and the note that
    closes one are sealed; none reaches the database, a log line or the audit log in clear."""
    import logging

    from referral.audit.models import AuditEvent

    from .clocks import tick
    from .test_meetings import AGREEMENT, DONE_NOTE, NARRATIVE, PLACE, PURPOSE, hold, mark_done, record, setup_case
    from .units import unit_of_work

    caplog.set_level(logging.DEBUG)
    reference = setup_case(app)
    (agreement,) = record(app, reference, hold(app, reference))
    mark_done(app, reference, agreement)
    tick(app, clock.now)
    stored = database_bytes(app)
    with unit_of_work(app) as ctx:
        audit_text = " ".join(f"{e.action} {e.subject} {e.details}" for e in ctx.session.scalars(select(AuditEvent)))
    for secret in (PLACE, PURPOSE, NARRATIVE, AGREEMENT, DONE_NOTE, "Agustinas", "Quilicura", "Maipú", "Marisol"):
        assert secret.encode() not in stored, secret
        assert secret not in caplog.text, secret
        assert secret not in audit_text, secret
